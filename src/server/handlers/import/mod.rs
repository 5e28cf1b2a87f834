//! `POST /admin/import`: restore an export document onto every replica of each key.
//!
//! Entries keep the version their document gives; entries without one (an old backup) get a
//! fresh version here, one each, so they count as new writes. Every replica applies them
//! last-writer-wins: running the same import again changes nothing (safe to retry), and an
//! import never overwrites a write made since the export. `?if_absent=1` keeps live values
//! already present.
//!
//! Bounded: one import at a time per node ([`gate`]); the document is checked whole first,
//! without copying it and pausing for the core's other work every [`VALIDATE_STEP`] entries
//! (a corrupt document changes nothing), then applied a window of entries at a time, each
//! window the only owned copy ([`crate::server::document::ImportDoc::windows`]).
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
//!
//! `?scope=local` from a peer (what nodes send each other: sub-imports, hints, hand-overs)
//! applies the whole document on this node. From a client it never plants a key here that this
//! node does not replicate (a later ring change would push such a copy over the key's real
//! value): entries of keys this node replicates are applied here only, the others go to their
//! replicas as in a cluster import.

mod cluster;
mod gate;
mod report;
mod send;

pub(crate) use gate::{refuse_at_head, reserve_at_head, BodyPermit, ImportGate};
pub(crate) use report::ImportError;
pub(crate) use send::{send_import, send_move};

use std::rc::Rc;
use std::time::Duration;

use super::Req;
use crate::http::response::CONTENT_JSON;
use crate::mesh::oneshot::Canceled;
use crate::server::core::Core;
use crate::server::document::{has_param, Checked, DocError, ImportDoc, Limits, Scope, Validator};
use crate::server::respond::Meta;
use crate::storage::{Entry, Loaded};
use cluster::import_window;
use gate::Running;
use report::{report, Problem, Tally};

/// Entries sent to a core per load call, so one import does not monopolise a core.
pub(crate) const IMPORT_BATCH: usize = 1000;
/// Entries per sub-document sent to a peer on import.
const IMPORT_FORWARD_BATCH: usize = 5000;
/// Entries, and bytes of document, checked between two pauses of the validation pass: a few
/// milliseconds of work (about 250 MB/s), so the core keeps answering its connections, its
/// peers' probes and the other cores while a large document is checked.
const VALIDATE_STEP: usize = 2000;
const VALIDATE_STEP_BYTES: usize = 1024 * 1024;
/// Document text per window: what one window may copy out of the body at most (entries are
/// small in practice, so the entry count below usually ends a window first).
const WINDOW_BYTES: usize = 4 * 1024 * 1024;
/// Bodies from this size up are worth handing back to the OS after their import.
const RELEASE_AFTER_BYTES: usize = 16 * 1024 * 1024;
/// How long after its answer an import's memory is handed back: by then the connection has
/// let go of the body (it shrinks its read buffer when it next reads, or closes).
const RELEASE_DELAY: Duration = Duration::from_secs(1);

/// Where an import's entries go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// All on this node: a peer's local-scope import, or a cluster of one.
    Here,
    /// Each entry to every replica of its key: a cluster import.
    Replicas,
    /// A client's local-scope import: keys this node replicates are applied here only, the
    /// others go to their replicas (never kept here).
    OwnedHere,
}

/// Handle the import request.
pub(crate) async fn handle(c: &Rc<Core>, out: &mut Vec<u8>, m: Meta, req: &Req<'_>) {
    import(c, out, m, req).await;
    // Whatever the answer (a refused document too): the body goes once it is answered.
    if req.body.len() >= RELEASE_AFTER_BYTES {
        release_memory_later(c);
    }
}

/// Query parameter of a move's import: the membership epoch whose change moves the keys.
pub(super) const MOVE_EPOCH_PARAM: &str = "move_epoch";
/// The answer to a move this node is behind (409 Conflict: its membership conflicts with the
/// mover's for a moment; no other import answer uses it, so the mover can tell it apart).
pub(crate) const BEHIND_THE_MOVE: u16 = 409;

/// Why this node refuses a move's import: it has not adopted the epoch that moves the keys yet
/// (the mover got the document first; the leader pushes it to the members one by one). A
/// hand-over of the older epoch may be forgetting the same keys here (to it they are foreign),
/// and a copy that arrived as a no-op before that would be lost; the mover retries, by when
/// this node has the document.
fn behind_the_move(c: &Core, req: &Req<'_>) -> Option<String> {
    let epoch: u64 = crate::server::document::param(req.query, MOVE_EPOCH_PARAM.as_bytes())
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|v| v.parse().ok())?;
    let cl = &c.node.cluster;
    let mine = cl.epoch();
    (mine < epoch).then(|| {
        format!(
            "node {} is at membership epoch {mine}, behind the move of epoch {epoch}; retry once it adopted it",
            cl.self_id()
        )
    })
}

async fn import(c: &Rc<Core>, out: &mut Vec<u8>, m: Meta, req: &Req<'_>) {
    let cl = &c.node.cluster;
    let local = Scope::from_query(req.query).is_local();
    let from_peer = local && req.peer;
    if let Some(msg) = behind_the_move(c, req).filter(|_| from_peer) {
        return c.resp.error(out, m, BEHIND_THE_MOVE, &msg, None, &[]);
    }
    // A peer's sub-import belongs to an import running on that peer (see `gate`).
    let running = if from_peer {
        None
    } else {
        match c.node.imports.start(c.node.clock.now_ms()) {
            Ok(r) => Some(r),
            Err(busy) => return busy.answer(c, out, m),
        }
    };
    let limits = Limits {
        max_key: c.cfg().max_key_bytes,
        max_value: c.cfg().max_value_bytes,
    };
    let doc = match validate(req.body, limits).await {
        Ok(d) => d,
        Err(e) => return c.resp.error(out, m, e.status(), &e.to_string(), None, &[]),
    };
    let mode = match (from_peer || cl.is_standalone(), local) {
        (true, _) => Mode::Here,
        (false, true) => Mode::OwnedHere,
        (false, false) => Mode::Replicas,
    };
    // `?overwrite=1` (a cluster import only): restore the backup over anything written or
    // deleted since, by giving every entry a fresh version, i.e. importing it as new writes.
    let overwrite = !local && has_param(req.query, b"overwrite=1");
    let only_missing = has_param(req.query, b"if_absent=1");
    let tally = apply_document(c, &doc, mode, overwrite, only_missing, running.as_ref()).await;
    // Read copies of hot keys elsewhere are gone before the answer (hints and hand-overs too).
    crate::server::hot::lease::wait_all(c).await;
    let ids: Vec<&str> = (0..cl.slot_count())
        .map(|i| cl.member(i).id.as_str())
        .collect();
    let (status, body) = report(&ids, &tally);
    c.resp
        .send(out, m, status, CONTENT_JSON, body.as_bytes(), &[]);
}

/// Check the whole document, pausing for the core's other work every [`VALIDATE_STEP`]
/// entries.
async fn validate(body: &[u8], limits: Limits) -> Result<ImportDoc<'_>, DocError> {
    let mut v = Validator::new(body, limits);
    loop {
        match v.step(VALIDATE_STEP, VALIDATE_STEP_BYTES)? {
            Checked::Done(doc) => return Ok(doc),
            Checked::More => pause().await,
        }
    }
}

/// Apply a checked document a window at a time (see the module doc for where entries go).
async fn apply_document(
    c: &Rc<Core>,
    doc: &ImportDoc<'_>,
    mode: Mode,
    overwrite: bool,
    only_missing: bool,
    running: Option<&Running<'_>>,
) -> Tally {
    let cl = &c.node.cluster;
    // This node's clock passes every version given first: later writes here order after them.
    if doc.max_version > 0 {
        c.node.hlc.observe(doc.max_version);
    }
    let mut t = Tally::new(doc.live, crate::cluster::MAX_MEMBERS);
    let window = match mode {
        // A full load batch for each core, a full sub-import for each member.
        Mode::Here => IMPORT_BATCH * c.exec.cores(),
        Mode::Replicas | Mode::OwnedHere => IMPORT_FORWARD_BATCH * cl.topology().ring.node_count(),
    };
    let mut done = 0;
    for mut entries in doc.windows(window, WINDOW_BYTES) {
        fresh_versions(c, &mut entries, overwrite);
        let n = entries.len();
        if mode == Mode::Here {
            if let Err(e) = import_here(c, entries, only_missing, &mut t).await {
                let left = (doc.live - done) as u64;
                let me = &mut t.members[cl.me];
                me.problem = Some(Problem::Unknown(ImportError::Stopped(e).to_string()));
                me.unreached += left;
                t.unreached += left;
                break;
            }
        } else {
            import_window(c, entries, mode == Mode::OwnedHere, only_missing, &mut t).await;
        }
        done += n;
        if let Some(r) = running {
            r.progress(done, doc.live);
        }
        pause().await;
    }
    if mode == Mode::Here && t.members[cl.me].problem.is_none() {
        t.members[cl.me].answered = true; // even for an empty document
    }
    t
}

/// Give each unversioned entry (every entry with `overwrite`) a fresh version of its own: a
/// new write.
fn fresh_versions(c: &Core, entries: &mut [Entry], overwrite: bool) {
    for e in entries.iter_mut().filter(|e| overwrite || e.version == 0) {
        e.version = c.node.next_version();
    }
}

/// One window on this node's cores.
async fn import_here(
    c: &Rc<Core>,
    entries: Vec<Entry>,
    only_missing: bool,
    t: &mut Tally,
) -> Result<(), Canceled> {
    let l = apply_with(c, entries, only_missing).await?;
    t.first += t.members[c.node.cluster.me].confirmed(l);
    Ok(())
}

/// Let the core's other work run before going on. A plain yield is not enough: monoio takes in
/// the wakeups other cores send (replies to cross-core calls, the mailbox, so a probe answered
/// with every core's totals) only when a core has no task ready, so the import sleeps until
/// the next timer tick (under a millisecond; measured: with a plain yield a probe of the
/// importing node waited 2 s, as long as the whole check).
async fn pause() {
    monoio::time::sleep(Duration::ZERO).await;
}

/// Hand the memory of a large import back to the OS, [`RELEASE_DELAY`] after its answer.
/// mimalloc keeps freed pages for reuse, and nothing else makes it return them while the node
/// is idle: after one 200 MB import RSS stayed about 190 MB above the stored data (measured,
/// docs/operations.md). `mi_collect(true)` returns what each core's heap holds unused.
fn release_memory_later(c: &Rc<Core>) {
    let c = Rc::clone(c);
    monoio::spawn(async move {
        monoio::time::sleep(RELEASE_DELAY).await;
        let _ = c
            .on_every_core(|_| {
                // SAFETY: mi_collect only returns pages the calling thread's heap holds unused;
                // mimalloc allows it at any time on any thread (mimalloc.h).
                unsafe { libmimalloc_sys::mi_collect(true) }
            })
            .await;
    });
}

/// Apply entries (a hint or repair payload) on this node: each on the core that owns its key,
/// last-writer-wins, after this node's clock observed their versions.
pub(crate) async fn apply_local(c: &Rc<Core>, entries: Vec<Entry>) -> Result<Loaded, Canceled> {
    apply_with(c, entries, false).await
}

/// Make this node's clock pass every version given, stamp the unversioned entries, and store
/// them here.
async fn apply_with(
    c: &Rc<Core>,
    mut entries: Vec<Entry>,
    only_missing: bool,
) -> Result<Loaded, Canceled> {
    if let Some(max) = entries.iter().map(|e| e.version).max().filter(|&v| v > 0) {
        c.node.hlc.observe(max);
    }
    fresh_versions(c, &mut entries, false);
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
