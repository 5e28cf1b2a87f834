//! What an import reports: the per-member outcomes ([`Tally`]), the answer built from them
//! ([`report`]), how a round's entries are shared out, and how a peer's answer is read.

use std::fmt::Write as _;

use crate::cluster::ring::Prefs;
use crate::cluster::{Broken, FwdError};
use crate::mesh::oneshot::Canceled;
use crate::server::handlers::admin::json_str;
use crate::storage::Loaded;

/// Why part of an import did not land.
#[derive(Debug)]
pub(crate) enum ImportError {
    /// The peer could not be reached or did not answer.
    Peer(FwdError),
    /// The peer answered with an error status (its message, if any).
    Refused { status: u16, message: String },
    /// The peer's answer is not the JSON an import returns.
    BadAnswer(String),
    /// A core of this node stopped (shutdown) before storing its share.
    Stopped(Canceled),
}

impl ImportError {
    /// Whether the member may have applied (part of) the call: it got the whole request but its
    /// answer never arrived whole. Otherwise it refused or never got the request.
    pub(crate) fn outcome_unknown(&self) -> bool {
        match self {
            ImportError::Peer(FwdError::Timeout { .. }) => true,
            ImportError::Peer(FwdError::Broken(Broken::Write(_))) => false,
            ImportError::Peer(FwdError::Broken(_)) => true,
            ImportError::Peer(
                FwdError::Connect(_) | FwdError::Exhausted | FwdError::QueueFull { .. },
            ) => false,
            ImportError::Refused { .. } => false,
            ImportError::BadAnswer(_) | ImportError::Stopped(_) => true,
        }
    }
}

impl std::fmt::Display for ImportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ImportError::Peer(e) => write!(f, "{e}"),
            ImportError::Refused { status, message } => write!(f, "answered {status}: {message}"),
            ImportError::BadAnswer(e) => write!(f, "bad import answer: {e}"),
            ImportError::Stopped(e) => write!(f, "{e}"),
        }
    }
}

/// Member `m`'s share of one round: the entries whose `round`-th replica it is, split into
/// those no replica confirmed yet (`first`: this copy's answer counts them) and the others.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Share {
    pub first: Vec<usize>,
    pub copies: Vec<usize>,
}

/// Every member's [`Share`] of round `round` (entry indices, in document order).
pub(crate) fn round_shares(
    prefs: &[Prefs],
    reached: &[bool],
    round: usize,
    members: usize,
) -> Vec<Share> {
    let mut shares = vec![Share::default(); members];
    for (i, p) in prefs.iter().enumerate() {
        if let Some(s) = p.get(round).and_then(|m| shares.get_mut(m)) {
            if reached[i] {
                s.copies.push(i);
            } else {
                s.first.push(i);
            }
        }
    }
    shares
}

/// Why a member did not confirm (part of) its share of an import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Problem {
    /// It does not take writes (its state: down, draining): its copies were hinted, unsent.
    NotTakingWrites(&'static str),
    /// It refused, or never got the request: nothing of that call was applied.
    Failed(String),
    /// The request went out but no whole answer came back: it may have applied part of it.
    Unknown(String),
}

/// What one member did with its share of an import.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct MemberOutcome {
    /// The sum of the answers to every call it confirmed.
    pub loaded: Loaded,
    /// It confirmed at least one call (it is listed under `nodes`).
    pub answered: bool,
    /// The first problem met; no later call of this import went to it.
    pub problem: Option<Problem>,
    /// Copies of entries that no replica confirmed which were meant for it.
    pub unreached: u64,
}

impl MemberOutcome {
    pub(super) fn confirmed(&mut self, l: Loaded) -> Loaded {
        self.loaded += l;
        self.answered = true;
        l
    }
}

/// Everything an import answer reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    /// Entries in the document (without those expired in transit).
    pub total: usize,
    /// Each entry counted once, by the first of its replicas that confirmed it.
    pub first: Loaded,
    /// Entries that no replica confirmed.
    pub unreached: u64,
    /// Per member, in ring order.
    pub members: Vec<MemberOutcome>,
    /// Copies kept as hints for members that could not take them.
    pub hinted: u64,
    /// Copies that could not be kept as hints (this core's hint bound was reached).
    pub hints_dropped: u64,
}

impl Tally {
    pub(super) fn new(total: usize, members: usize) -> Tally {
        Tally {
            total,
            members: vec![MemberOutcome::default(); members],
            ..Tally::default()
        }
    }
}

/// The answer to an import: its status and JSON body (`ids`: member ids in ring order). 200
/// when every entry reached a replica; 502, with an error naming the members whose copies did
/// not land and why, when some entry reached none.
pub(crate) fn report(ids: &[&str], t: &Tally) -> (u16, String) {
    let (mut nodes, mut unknown, mut failed, mut why) =
        (String::new(), String::new(), String::new(), Vec::new());
    let sep = |s: &String| if s.is_empty() { "" } else { "," };
    for (m, id) in t.members.iter().zip(ids) {
        let name = json_str(id);
        if m.answered {
            let l = m.loaded;
            let _ = write!(
                nodes,
                "{}{name}:{{\"applied\":{},\"superseded\":{},\"rejected\":{}}}",
                sep(&nodes),
                l.stored,
                l.superseded,
                l.rejected
            );
        }
        let reason = match &m.problem {
            Some(Problem::Unknown(e)) => {
                let _ = write!(unknown, "{}{name}", sep(&unknown));
                format!("{e}; it may have applied part")
            }
            Some(Problem::Failed(e)) => {
                let _ = write!(failed, "{}{name}:{}", sep(&failed), json_str(e));
                e.clone()
            }
            Some(Problem::NotTakingWrites(state)) => state.to_string(),
            None => "not sent".to_string(),
        };
        if m.unreached > 0 {
            why.push(format!("{id} ({} entries): {reason}", m.unreached));
        }
    }
    let mut body = format!(
        "{{\"imported\":{},\"rejected\":{},\"superseded\":{},\"total\":{},\"nodes\":{{{nodes}}},\"unknown\":[{unknown}],\"failed\":{{{failed}}},\"hinted\":{},\"hints_dropped\":{}",
        t.first.stored, t.first.rejected, t.first.superseded, t.total, t.hinted, t.hints_dropped
    );
    if t.unreached == 0 {
        body.push('}');
        return (200, body);
    }
    let mut msg = format!(
        "import incomplete: {} of {} entries reached no replica: {}",
        t.unreached,
        t.total,
        why.join("; ")
    );
    msg.push_str(match t.hints_dropped {
        0 => "; their copies are kept as hints",
        _ => "; some copies could not be kept as hints (hint bound reached)",
    });
    let _ = write!(body, ",\"error\":{},\"status\":502}}", json_str(&msg));
    (502, body)
}

/// What a peer's import answer says it applied (`superseded` is 0 from a node without versions).
pub(super) fn read_import_answer(status: u16, body: &[u8]) -> Result<Loaded, ImportError> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| ImportError::BadAnswer(e.to_string()))?;
    if status != 200 {
        let message = v.get("error").and_then(|e| e.as_str()).unwrap_or("");
        return Err(ImportError::Refused {
            status,
            message: message.to_string(),
        });
    }
    let num = |k: &str| v.get(k).and_then(serde_json::Value::as_u64).unwrap_or(0);
    Ok(Loaded {
        stored: num("imported"),
        rejected: num("rejected"),
        superseded: num("superseded"),
    })
}

#[cfg(test)]
#[path = "report_tests.rs"]
mod tests;
