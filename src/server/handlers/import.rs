//! `POST /admin/import`: restore an export document onto every replica of each key.
//!
//! Entries keep the version their document gives; entries without one (an old backup) get a
//! fresh version here, one each, so they count as new writes. Every replica applies them
//! last-writer-wins: running the same import again changes nothing (safe to retry), and an
//! import never overwrites a write made since the export. `?scope=local` applies a document on
//! this node only (what nodes send each other); `?if_absent=1` keeps live values already present.
//!
//! A cluster import sends each entry to every replica of its key, in rounds: round `p` carries
//! the entries to the `p`-th member of their preference list, as one local-scope sub-import per
//! batch ([`IMPORT_FORWARD_BATCH`]), each bounded by `cluster.request_timeout`. An entry is
//! counted once, by the first replica that confirms it (its share of a round is sent as batches
//! of its own, so that answer counts exactly those entries); later copies count only under
//! their member. A member that does not take writes (down, draining) gets its copies as hints,
//! and so does one whose call failed or went unanswered, without further calls in this import:
//! a paused member costs one timeout, not one per batch. [`report`] turns the per-member
//! outcomes into the answer: 200 when every entry reached a replica, 502 when some reached none.

use std::fmt::Write as _;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::admin::json_str;
use super::Req;
use crate::cluster::ring::Prefs;
use crate::cluster::{Broken, FwdError, Outgoing};
use crate::http::response::CONTENT_JSON;
use crate::http::Method;
use crate::mesh::oneshot::Canceled;
use crate::server::core::Core;
use crate::server::document::{
    has_param, parse_import, write_entry, Scope, EXPORT_FORMAT, EXPORT_VERSION,
};
use crate::server::respond::Meta;
use crate::storage::{Entry, Loaded};

/// Entries sent to a core per load call, so one import does not monopolise a core.
pub(crate) const IMPORT_BATCH: usize = 1000;
/// Entries per sub-document sent to a peer on import.
const IMPORT_FORWARD_BATCH: usize = 5000;

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
            ImportError::Peer(FwdError::Connect(_) | FwdError::Exhausted) => false,
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

/// Handle the import request.
pub(crate) async fn handle(c: &Rc<Core>, out: &mut Vec<u8>, m: Meta, req: &Req<'_>) {
    let plan = match parse_import(req.body, c.cfg().max_key_bytes, c.cfg().max_value_bytes) {
        Ok(p) => p,
        Err(e) => return c.resp.error(out, m, e.status(), &e.to_string(), None, &[]),
    };
    let mut entries = plan.entries;
    // `?overwrite=1` (a cluster import only): restore the backup over anything written or
    // deleted since, by giving every entry a fresh version, i.e. importing it as new writes.
    let local = Scope::from_query(req.query).is_local();
    stamp(
        c,
        &mut entries,
        !local && has_param(req.query, b"overwrite=1"),
    );
    let cl = &c.node.cluster;
    let only_missing = has_param(req.query, b"if_absent=1");
    let tally = if local || cl.is_standalone() {
        import_here(c, entries, only_missing).await
    } else {
        import_cluster(c, entries, only_missing).await
    };
    let ids: Vec<&str> = cl.members.iter().map(|m| m.id.as_str()).collect();
    let (status, body) = report(&ids, &tally);
    c.resp
        .send(out, m, status, CONTENT_JSON, body.as_bytes(), &[]);
}

/// Make this node's clock pass every version given (later writes here order after them), then
/// give each unversioned entry (every entry with `overwrite`) a fresh version of its own: a new
/// write.
fn stamp(c: &Core, entries: &mut [Entry], overwrite: bool) {
    if let Some(max) = entries.iter().map(|e| e.version).max().filter(|&v| v > 0) {
        c.node.hlc.observe(max);
    }
    for e in entries.iter_mut().filter(|e| overwrite || e.version == 0) {
        e.version = c.node.next_version();
    }
}

/// Local scope (or a cluster of one): everything on this node's cores.
async fn import_here(c: &Rc<Core>, entries: Vec<Entry>, only_missing: bool) -> Tally {
    let cl = &c.node.cluster;
    let total = entries.len();
    let mut t = Tally::new(total, cl.members.len());
    let me = &mut t.members[cl.me];
    match apply_with(c, entries, only_missing).await {
        Ok(l) => {
            me.loaded = l;
            me.answered = true;
            t.first = l;
        }
        Err(e) => {
            me.problem = Some(Problem::Unknown(ImportError::Stopped(e).to_string()));
            me.unreached = total as u64;
            t.unreached = total as u64;
        }
    }
    t
}

/// Cluster scope: every entry to every replica of its key, in rounds (see the module doc).
async fn import_cluster(c: &Rc<Core>, entries: Vec<Entry>, only_missing: bool) -> Tally {
    let cl = &c.node.cluster;
    let prefs: Vec<Prefs> = entries
        .iter()
        .map(|e| cl.ring.preference(&e.key, cl.replicas))
        .collect();
    let mut t = Tally::new(entries.len(), cl.members.len());
    let mut reached = vec![false; entries.len()];
    let rounds = prefs.iter().map(Prefs::len).max().unwrap_or(0);
    for round in 0..rounds {
        let shares = round_shares(&prefs, &reached, round, cl.members.len());
        for (idx, share) in shares.into_iter().enumerate() {
            for (first, list) in [(true, share.first), (false, share.copies)] {
                for chunk in list.chunks(IMPORT_FORWARD_BATCH) {
                    let batch: Vec<Entry> = chunk.iter().map(|&i| entries[i].clone()).collect();
                    let Some(l) = deliver(c, idx, batch, only_missing, &mut t).await else {
                        continue;
                    };
                    if first {
                        t.first += l;
                        chunk.iter().for_each(|&i| reached[i] = true);
                    }
                }
            }
        }
    }
    stand_ins(c, &entries, &prefs, &mut reached, only_missing, &mut t).await;
    for (p, _) in prefs.iter().zip(&reached).filter(|(_, &r)| !r) {
        t.unreached += 1;
        p.iter().for_each(|m| t.members[m].unreached += 1);
    }
    t
}

/// Entries none of whose replicas took them go to the node that would coordinate a write of the
/// key now (the first routable node clockwise), as a PUT would: it keeps them and hands them to
/// the replicas when one is back (their replicas hold hints too).
async fn stand_ins(
    c: &Rc<Core>,
    entries: &[Entry],
    prefs: &[Prefs],
    reached: &mut [bool],
    only_missing: bool,
    t: &mut Tally,
) {
    let cl = &c.node.cluster;
    let mut per_node: Vec<Vec<usize>> = (0..cl.members.len()).map(|_| Vec::new()).collect();
    for (i, p) in prefs.iter().enumerate().filter(|(i, _)| !reached[*i]) {
        let stand_in = cl.placement(&entries[i].key).coordinator;
        if let Some(s) = stand_in.filter(|s| !p.contains(*s)) {
            per_node[s].push(i);
        }
    }
    for (idx, list) in per_node.into_iter().enumerate() {
        for chunk in list.chunks(IMPORT_FORWARD_BATCH) {
            let batch: Vec<Entry> = chunk.iter().map(|&i| entries[i].clone()).collect();
            if let Some(l) = deliver(c, idx, batch, only_missing, t).await {
                t.first += l;
                chunk.iter().for_each(|&i| reached[i] = true);
                if idx == cl.me {
                    c.node.foreign_epoch.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

/// One batch to member `idx`: applied here, sent as a local-scope import, or kept as hints
/// (the member does not take writes, or an earlier call of this import to it went wrong).
/// `Some` with what it applied when it confirmed the batch.
async fn deliver(
    c: &Rc<Core>,
    idx: usize,
    batch: Vec<Entry>,
    only_missing: bool,
    t: &mut Tally,
) -> Option<Loaded> {
    let cl = &c.node.cluster;
    let m = &mut t.members[idx];
    if idx == cl.me {
        if m.problem.is_some() {
            return None;
        }
        return match apply_with(c, batch, only_missing).await {
            Ok(l) => Some(m.confirmed(l)),
            Err(e) => {
                m.problem = Some(Problem::Unknown(ImportError::Stopped(e).to_string()));
                None
            }
        };
    }
    if m.problem.is_none() && !cl.takes_writes(idx) {
        m.problem = Some(Problem::NotTakingWrites(cl.state(idx).as_str()));
    }
    if m.problem.is_none() {
        let timeout = c.cfg().cluster.request_timeout;
        match send_batch(c, idx, &batch, only_missing, timeout).await {
            Ok(l) => return Some(m.confirmed(l)),
            Err(e) if e.outcome_unknown() => m.problem = Some(Problem::Unknown(e.to_string())),
            Err(e) => m.problem = Some(Problem::Failed(e.to_string())),
        }
    }
    let now = c.exec.now_ms();
    let mut hints = c.hints.borrow_mut();
    for e in batch {
        if hints.push(idx, e, now) {
            t.hinted += 1;
        } else {
            t.hints_dropped += 1;
        }
    }
    None
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
    fn confirmed(&mut self, l: Loaded) -> Loaded {
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
    fn new(total: usize, members: usize) -> Tally {
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

/// Apply entries (a hint or repair payload) on this node: each on the core that owns its key,
/// last-writer-wins, after this node's clock observed their versions.
pub(crate) async fn apply_local(c: &Rc<Core>, entries: Vec<Entry>) -> Result<Loaded, Canceled> {
    apply_with(c, entries, false).await
}

async fn apply_with(
    c: &Rc<Core>,
    mut entries: Vec<Entry>,
    only_missing: bool,
) -> Result<Loaded, Canceled> {
    stamp(c, &mut entries, false);
    load_local(c, entries, only_missing).await
}

/// Store `entries` on this node's cores (each key to the core that owns it), in batches.
pub(crate) async fn load_local(
    c: &Rc<Core>,
    entries: Vec<Entry>,
    only_missing: bool,
) -> Result<Loaded, Canceled> {
    let mut per_core: Vec<Vec<Entry>> = (0..c.exec.cores()).map(|_| Vec::new()).collect();
    let mut done = Loaded::default();
    for e in entries {
        let core = c.exec.core_of(&e.key);
        per_core[core].push(e);
        if per_core[core].len() >= IMPORT_BATCH {
            let batch = std::mem::take(&mut per_core[core]);
            done += load_on(c, core, batch, only_missing).await?;
        }
    }
    for (core, batch) in per_core.into_iter().enumerate() {
        if !batch.is_empty() {
            done += load_on(c, core, batch, only_missing).await?;
        }
    }
    Ok(done)
}

async fn load_on(
    c: &Rc<Core>,
    core: usize,
    batch: Vec<Entry>,
    only_missing: bool,
) -> Result<Loaded, Canceled> {
    c.on_core(core, move |c| {
        let now = c.exec.now_ms();
        c.exec.shard.borrow_mut().load(batch, only_missing, now)
    })
    .await
}

/// Send entries (versions and tombstones included) to `peer` as local-scope import documents,
/// in batches, each call within `timeout`. Stops at the first batch that fails.
pub(crate) async fn send_import(
    c: &Core,
    peer: usize,
    entries: &[Entry],
    only_missing: bool,
    timeout: Duration,
) -> Result<Loaded, ImportError> {
    let mut done = Loaded::default();
    for batch in entries.chunks(IMPORT_FORWARD_BATCH) {
        done += send_batch(c, peer, batch, only_missing, timeout).await?;
    }
    Ok(done)
}

/// One local-scope import document to `peer`, within `timeout`.
async fn send_batch(
    c: &Core,
    peer: usize,
    batch: &[Entry],
    only_missing: bool,
    timeout: Duration,
) -> Result<Loaded, ImportError> {
    let query: &[u8] = if only_missing {
        b"scope=local&if_absent=1"
    } else {
        b"scope=local"
    };
    let mut doc = Vec::with_capacity(64 * 1024);
    let _ = write!(
        ByteWriter(&mut doc),
        "{{\"format\":\"{EXPORT_FORMAT}\",\"version\":{EXPORT_VERSION},\"entries\":["
    );
    for (i, e) in batch.iter().enumerate() {
        if i > 0 {
            doc.push(b',');
        }
        write_entry(&mut doc, e);
    }
    let _ = write!(ByteWriter(&mut doc), "],\"count\":{}}}", batch.len());
    let req = Outgoing {
        method: Method::Post,
        path: b"/admin/import",
        query: Some(query),
        body: Some(&doc),
        version: None,
    };
    let a = c
        .peers
        .call(peer, &req, timeout)
        .await
        .map_err(ImportError::Peer)?;
    read_import_answer(a.status, a.body())
}

/// What a peer's import answer says it applied (`superseded` is 0 from a node without versions).
fn read_import_answer(status: u16, body: &[u8]) -> Result<Loaded, ImportError> {
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

/// `write!` into a byte buffer.
struct ByteWriter<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for ByteWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::ring::Ring;
    use std::io::ErrorKind;

    fn loaded(stored: u64, rejected: u64, superseded: u64) -> Loaded {
        Loaded {
            stored,
            rejected,
            superseded,
        }
    }

    #[test]
    fn import_answers_are_read_or_refused_with_the_peers_words() {
        let ok = read_import_answer(
            200,
            br#"{"imported":3,"rejected":1,"superseded":2,"total":6,"nodes":{},"unknown":[],"failed":{},"hinted":0,"hints_dropped":0}"#,
        )
        .expect("ok");
        assert_eq!(ok, loaded(3, 1, 2));
        let old = read_import_answer(200, br#"{"imported":3,"rejected":1}"#).expect("ok");
        assert_eq!(old, loaded(3, 1, 0), "a node without versions");
        let err =
            read_import_answer(400, br#"{"error":"bad doc","status":400}"#).expect_err("refused");
        assert_eq!(err.to_string(), "answered 400: bad doc");
        assert!(!err.outcome_unknown());
        let bad = read_import_answer(200, b"<html>").expect_err("bad answer");
        assert!(matches!(bad, ImportError::BadAnswer(_)));
        assert!(
            bad.outcome_unknown(),
            "it answered 200: it applied something"
        );
    }

    #[test]
    fn timeouts_and_broken_answers_leave_the_outcome_unknown() {
        let peer = |e| ImportError::Peer(e).outcome_unknown();
        assert!(peer(FwdError::Timeout { ms: 5 }));
        assert!(peer(FwdError::Broken(Broken::Closed)));
        assert!(peer(FwdError::Broken(Broken::Read(
            ErrorKind::ConnectionReset
        ))));
        assert!(!peer(FwdError::Broken(Broken::Write(
            ErrorKind::BrokenPipe
        ))));
        assert!(!peer(FwdError::Exhausted));
        assert!(ImportError::Stopped(Canceled).outcome_unknown());
    }

    #[test]
    fn each_round_splits_a_members_share_into_first_copies_and_later_ones() {
        let ring = Ring::new(&["a", "b", "c"], 20).expect("ring");
        let keys: Vec<String> = (0..200).map(|i| format!("k{i}")).collect();
        let prefs: Vec<Prefs> = keys
            .iter()
            .map(|k| ring.preference(k.as_bytes(), 2))
            .collect();
        let mut reached = vec![false; keys.len()];
        let r0 = round_shares(&prefs, &reached, 0, 3);
        assert!(r0.iter().all(|s| s.copies.is_empty()));
        let firsts: usize = r0.iter().map(|s| s.first.len()).sum();
        assert_eq!(firsts, keys.len(), "every entry once, at its owner");
        for (m, s) in r0.iter().enumerate() {
            assert!(s.first.iter().all(|&i| prefs[i].get(0) == Some(m)));
        }
        // Member 1 confirmed its share; 0 and 2 did not.
        r0[1].first.iter().for_each(|&i| reached[i] = true);
        let r1 = round_shares(&prefs, &reached, 1, 3);
        for (m, s) in r1.iter().enumerate() {
            assert!(s
                .first
                .iter()
                .all(|&i| !reached[i] && prefs[i].get(1) == Some(m)));
            assert!(s
                .copies
                .iter()
                .all(|&i| reached[i] && prefs[i].get(1) == Some(m)));
        }
        let n: usize = r1.iter().map(|s| s.first.len() + s.copies.len()).sum();
        assert_eq!(n, keys.len(), "two replicas each");
        assert!(round_shares(&prefs, &reached, 2, 3)
            .iter()
            .all(|s| s.first.is_empty() && s.copies.is_empty()));
    }

    fn member(
        loaded: Loaded,
        answered: bool,
        problem: Option<Problem>,
        unreached: u64,
    ) -> MemberOutcome {
        MemberOutcome {
            loaded,
            answered,
            problem,
            unreached,
        }
    }

    #[test]
    fn a_full_import_reports_each_member_and_counts_entries_once() {
        let t = Tally {
            total: 5,
            first: loaded(4, 0, 1),
            unreached: 0,
            members: vec![
                member(loaded(3, 0, 1), true, None, 0),
                member(
                    loaded(2, 0, 0),
                    true,
                    Some(Problem::NotTakingWrites("down")),
                    0,
                ),
                member(
                    loaded(0, 0, 0),
                    false,
                    Some(Problem::Unknown("no answer".into())),
                    0,
                ),
            ],
            hinted: 4,
            hints_dropped: 0,
        };
        let (status, body) = report(&["node1", "node2", "node3"], &t);
        assert_eq!(status, 200);
        assert_eq!(
            body,
            concat!(
                r#"{"imported":4,"rejected":0,"superseded":1,"total":5,"#,
                r#""nodes":{"node1":{"applied":3,"superseded":1,"rejected":0},"node2":{"applied":2,"superseded":0,"rejected":0}},"#,
                r#""unknown":["node3"],"failed":{},"hinted":4,"hints_dropped":0}"#
            )
        );
        let v: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert_eq!(v["nodes"]["node1"]["applied"], 3);
    }

    #[test]
    fn an_entry_no_replica_confirmed_makes_a_502_naming_members_and_counts() {
        let t = Tally {
            total: 10,
            first: loaded(7, 0, 0),
            unreached: 3,
            members: vec![
                member(loaded(7, 0, 0), true, None, 0),
                member(
                    Loaded::default(),
                    false,
                    Some(Problem::Failed("answered 400: no".into())),
                    3,
                ),
                member(
                    Loaded::default(),
                    false,
                    Some(Problem::NotTakingWrites("down")),
                    2,
                ),
            ],
            hinted: 5,
            hints_dropped: 0,
        };
        let (status, body) = report(&["a", "b", "c"], &t);
        assert_eq!(status, 502);
        let v: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert_eq!(v["status"], 502);
        assert_eq!(v["failed"]["b"], "answered 400: no");
        assert_eq!(v["imported"], 7);
        assert_eq!(
            v["error"],
            "import incomplete: 3 of 10 entries reached no replica: b (3 entries): answered 400: no; c (2 entries): down; their copies are kept as hints"
        );
        let unknown = Tally {
            members: vec![member(
                Loaded::default(),
                false,
                Some(Problem::Unknown(
                    "no answer within cluster.request_timeout (5 ms)".into(),
                )),
                1,
            )],
            total: 1,
            unreached: 1,
            hints_dropped: 1,
            ..Tally::default()
        };
        let (status, body) = report(&["a"], &unknown);
        assert_eq!(status, 502);
        let v: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert_eq!(v["unknown"][0], "a");
        assert_eq!(
            v["error"],
            "import incomplete: 1 of 1 entries reached no replica: a (1 entries): no answer within cluster.request_timeout (5 ms); it may have applied part; some copies could not be kept as hints (hint bound reached)"
        );
    }
}
