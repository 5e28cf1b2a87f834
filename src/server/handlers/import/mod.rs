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
//! a paused member costs one timeout, not one per batch. [`report`](fn@report) turns the per-member
//! outcomes into the answer: 200 when every entry reached a replica, 502 when some reached none.

mod cluster;
mod report;

pub(crate) use report::ImportError;

use std::fmt::Write as _;
use std::rc::Rc;
use std::time::Duration;

use super::Req;
use crate::cluster::Outgoing;
use crate::http::response::CONTENT_JSON;
use crate::http::Method;
use crate::mesh::oneshot::Canceled;
use crate::server::core::Core;
use crate::server::document::{
    has_param, parse_import, write_entry, Scope, EXPORT_FORMAT, EXPORT_VERSION,
};
use crate::server::respond::Meta;
use crate::storage::{Entry, Loaded};
use cluster::import_cluster;
use report::{read_import_answer, report, Problem, Tally};

/// Entries sent to a core per load call, so one import does not monopolise a core.
pub(crate) const IMPORT_BATCH: usize = 1000;
/// Entries per sub-document sent to a peer on import.
const IMPORT_FORWARD_BATCH: usize = 5000;

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

/// `write!` into a byte buffer.
struct ByteWriter<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for ByteWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}
