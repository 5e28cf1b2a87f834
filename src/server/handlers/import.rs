//! `POST /admin/import`: restore an export document, each key on its owner (node, then core).
//!
//! `?scope=local` stores everything on this node (what nodes send each other);
//! `?if_absent=1` keeps entries already present (restoring a backup without clobbering what
//! was written since); the hand-over does not use it: its copies are newer than the owner's.

use std::fmt::Write as _;
use std::rc::Rc;

use super::Req;
use crate::cluster::{FwdError, Outgoing};
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
    let total = plan.entries.len();
    let cl = &c.node.cluster;
    let local_only = Scope::from_query(req.query) == Scope::Local || cl.is_standalone();
    let only_missing = has_param(req.query, b"if_absent=1");
    let mut per_node: Vec<Vec<Entry>> = (0..cl.members.len()).map(|_| Vec::new()).collect();
    for e in plan.entries {
        let owner = if local_only { cl.me } else { cl.owner(&e.key) };
        per_node[owner].push(e);
    }
    let mut done = Loaded::default();
    let mut per = String::new();
    let mut failures = Vec::new();
    for (idx, entries) in per_node.into_iter().enumerate() {
        if entries.is_empty() {
            continue;
        }
        let n = entries.len();
        let result = if idx == cl.me {
            load_local(c, entries, only_missing)
                .await
                .map_err(ImportError::Stopped)
        } else {
            send_import(c, idx, &entries, only_missing).await
        };
        match result {
            Ok(l) => {
                done += l;
                let sep = if per.is_empty() { "" } else { "," };
                let id = super::admin::json_str(&cl.members[idx].id);
                let _ = write!(per, "{sep}{id}:{}", l.stored);
            }
            Err(e) => failures.push(format!("{} ({n} entries): {e}", cl.members[idx].id)),
        }
    }
    let mut body = format!(
        "{{\"imported\":{},\"rejected\":{},\"total\":{total},\"nodes\":{{{per}}}",
        done.stored, done.rejected
    );
    if failures.is_empty() {
        body.push('}');
        c.resp.send(out, m, 200, CONTENT_JSON, body.as_bytes(), &[]);
    } else {
        let msg = format!("import incomplete: {}", failures.join("; "));
        let msg = super::admin::json_str(&msg);
        let _ = write!(body, ",\"error\":{msg},\"status\":502}}");
        c.resp.send(out, m, 502, CONTENT_JSON, body.as_bytes(), &[]);
    }
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

/// Send entries to `peer` as local-scope import documents, in batches.
pub(crate) async fn send_import(
    c: &Core,
    peer: usize,
    entries: &[Entry],
    only_missing: bool,
) -> Result<Loaded, ImportError> {
    let query: &[u8] = if only_missing {
        b"scope=local&if_absent=1"
    } else {
        b"scope=local"
    };
    let mut done = Loaded::default();
    let mut doc = Vec::with_capacity(64 * 1024);
    for batch in entries.chunks(IMPORT_FORWARD_BATCH) {
        doc.clear();
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
        };
        let a = c
            .peers
            .call(peer, &req, c.cfg().timeouts.body)
            .await
            .map_err(ImportError::Peer)?;
        done += read_import_answer(a.status, a.body())?;
    }
    Ok(done)
}

/// What a peer's import answer says it stored.
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

    #[test]
    fn import_answers_are_read_or_refused_with_the_peers_words() {
        let ok = read_import_answer(200, br#"{"imported":3,"rejected":1}"#).expect("ok");
        assert_eq!(
            ok,
            Loaded {
                stored: 3,
                rejected: 1
            }
        );
        let err =
            read_import_answer(400, br#"{"error":"bad doc","status":400}"#).expect_err("refused");
        assert_eq!(err.to_string(), "answered 400: bad doc");
        assert!(matches!(
            read_import_answer(200, b"<html>"),
            Err(ImportError::BadAnswer(_))
        ));
    }
}
