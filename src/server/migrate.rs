//! Moving keys after a membership change (issue 10), one task per core.
//!
//! When a document with a previous ring is adopted, every core scans its shard for the keys
//! whose replica set changed and that this node held before the change, and sends each to the
//! replicas that are new for it, in bounded batches paced to `cluster.migration_rate` (split
//! over the cores). Of a key's previous replicas only the first one that is up sends it, so a
//! move costs one copy per new replica. Nothing is deleted here: until the change settles a key
//! is read from its previous holders too; the hand-over after the settle forgets what this node
//! no longer replicates. Values and tombstones travel with their versions and land
//! last-writer-wins, so a move never overwrites a newer write. When every core finished, the
//! node reports the epoch as moved (`migrated` in its health answer), which the leader waits for
//! before it settles the change.

use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::core::Core;
use super::handlers::import::{send_move, ImportError, BEHIND_THE_MOVE};
use crate::cluster::ring::Prefs;
use crate::cluster::{Cluster, Topology, MAX_MEMBERS};
use crate::storage::Entry;

/// Slots examined per scan step; the core serves its connections between steps.
const SCAN_SLOTS: usize = 4096;
/// Bytes sent to one peer in one import: the receiving core applies a batch in one go, so a
/// small one keeps its other requests waiting only briefly (a 1 MiB batch of small entries is
/// several milliseconds of work; 64 KiB a fraction of one), while still amortizing the request.
const BATCH_BYTES: usize = 64 * 1024;
/// Pause before a batch a peer refused is tried again (it may be starting).
const RETRY_PAUSE: Duration = Duration::from_millis(500);
/// Attempts per batch before it becomes hints for the peer.
const ATTEMPTS: u32 = 3;
/// Pause before a batch is sent again to a peer that is behind the move's epoch: the leader
/// pushes a new document to the members one after the other, so a mover can be a push or two
/// ahead of the new replica (a millisecond or so on a LAN).
const BEHIND_PAUSE: Duration = Duration::from_millis(10);
/// Waits for a peer behind the move before its refusals count as failed attempts (2 s: past
/// that the peer missed the push and fetches the document at its next probe).
const BEHIND_WAITS: u32 = 200;

/// Start this core's move of `topo`'s change, unless one of that epoch ran already; then, when
/// a member went down since, a pass over the same change: the keys that member was to send
/// fall to the next previous replica (see [`sends`]).
pub(crate) fn start(c: &Rc<Core>, topo: Arc<Topology>) {
    if topo.previous.is_none() {
        return;
    }
    let cl = &c.node.cluster;
    let down = cl.peers().into_iter().filter(|&p| !cl.is_alive(p)).count();
    if c.moving_epoch.get() >= topo.doc.epoch {
        if down > c.moving_down.replace(down) {
            // Reported as not moved until it ends, so the change does not settle meanwhile.
            cl.repasses.fetch_add(1, Ordering::AcqRel);
            let c = Rc::clone(c);
            monoio::spawn(async move {
                pass(Rc::clone(&c), topo).await;
                c.node.cluster.repasses.fetch_sub(1, Ordering::AcqRel);
            });
        }
        return;
    }
    c.moving_epoch.set(topo.doc.epoch);
    c.moving_down.set(down);
    cl.migration
        .start(topo.doc.epoch, crate::cluster::unix_ms());
    monoio::spawn(run(Rc::clone(c), topo));
}

/// The first pass of a change on this core: counted, and reported when every core is done.
async fn run(c: Rc<Core>, topo: Arc<Topology>) {
    let cl = Arc::clone(&c.node.cluster);
    let epoch = topo.doc.epoch;
    let clean = pass(Rc::clone(&c), Arc::clone(&topo)).await;
    if cl.epoch() == epoch {
        *c.moved.borrow_mut() = clean.then(|| Arc::clone(&topo));
    }
    if cl
        .migration
        .core_done(epoch, c.exec.cores(), crate::cluster::unix_ms())
    {
        cl.migrated.fetch_max(epoch, Ordering::AcqRel);
        crate::info!(
            "cluster: moved this node's keys for membership epoch {epoch}: {} keys, {} bytes",
            cl.migration.keys_moved.load(Ordering::Relaxed),
            cl.migration.bytes_moved.load(Ordering::Relaxed)
        );
    }
}

/// One scan of this core's shard sending what [`sends`] says; false when some went to hints.
async fn pass(c: Rc<Core>, topo: Arc<Topology>) -> bool {
    let cl = Arc::clone(&c.node.cluster);
    let epoch = topo.doc.epoch;
    let mut cursor = Some(0);
    let mut clean = true;
    while let Some(from) = cursor {
        if cl.epoch() != epoch {
            // A newer change superseded this one; its own move takes over.
            break;
        }
        let page = {
            let now = c.exec.now_ms();
            let shard = c.exec.shard.borrow();
            shard.page_where(from, SCAN_SLOTS, now, |k| sends(&cl, &topo, k))
        };
        cursor = page.next;
        cl.migration
            .keys_scanned
            .fetch_add(page.entries.len() as u64, Ordering::Relaxed);
        if !page.entries.is_empty() {
            clean &= send(&c, &topo, page.entries).await;
        }
        // A scan over a large shard is work, not a stall: let connections run in between.
        monoio::spawn(async {}).await;
    }
    clean
}

/// Whether this node sends `key` in the move of `topo`: the key's replicas changed, this node
/// was one of them, and it is the first of them that is up in its view, or it stops being a
/// replica (it forgets its copy after the settle, so it makes sure itself that the new replicas
/// have it: the first previous replica may have died unnoticed). A key may thus travel twice;
/// last writer wins makes the second copy a no-op. A member found down mid-move also makes
/// every core pass again ([`start`]), and the leader does not settle until every member had
/// time to notice (`cluster::agree`).
fn sends(cl: &Cluster, topo: &Topology, key: &[u8]) -> bool {
    let Some(prev) = topo.previous_prefs(key) else {
        return false;
    };
    if !prev.contains(cl.me) {
        return false;
    }
    if !topo.prefs(key).contains(cl.me) {
        return true;
    }
    let first = prev.iter().find(|&i| cl.is_alive(i));
    first == Some(cl.me)
}

/// The replicas `key` gains in `topo`'s change (never this node).
fn new_replicas(cl: &Cluster, topo: &Topology, key: &[u8]) -> Prefs {
    let cur = topo.prefs(key);
    let prev = topo.previous_prefs(key).unwrap_or(cur);
    let mut gained = Prefs::default();
    for i in cur.iter().filter(|&i| !prev.contains(i) && i != cl.me) {
        gained.push(i);
    }
    gained
}

/// Send one page of entries to their new replicas, paced; false when some went to hints.
async fn send(c: &Rc<Core>, topo: &Topology, entries: Vec<Entry>) -> bool {
    let cl = &c.node.cluster;
    let mut per_node: Vec<Vec<Entry>> = (0..MAX_MEMBERS).map(|_| Vec::new()).collect();
    for e in entries {
        for r in new_replicas(cl, topo, &e.key).iter() {
            per_node[r].push(e.clone());
        }
    }
    let epoch = topo.doc.epoch;
    let mut clean = true;
    for (peer, entries) in per_node.into_iter().enumerate() {
        let mut batch = Vec::new();
        let mut bytes = 0;
        for e in entries {
            bytes += e.key.len() + e.value.len();
            batch.push(e);
            if bytes >= BATCH_BYTES {
                clean &= send_batch(c, peer, std::mem::take(&mut batch), bytes, epoch).await;
                bytes = 0;
            }
        }
        if !batch.is_empty() {
            clean &= send_batch(c, peer, batch, bytes, epoch).await;
        }
    }
    clean
}

/// One batch of the move of `epoch` to `peer`, retried, then kept as hints; paced to this
/// core's share of the rate.
async fn send_batch(
    c: &Rc<Core>,
    peer: usize,
    batch: Vec<Entry>,
    bytes: usize,
    epoch: u64,
) -> bool {
    let cl = &c.node.cluster;
    let cfg = c.cfg();
    let timeout = cfg.cluster.request_timeout;
    let (mut attempt, mut behind) = (1, 0);
    while attempt <= ATTEMPTS {
        if !cl.takes_writes(peer) {
            break;
        }
        match send_move(c, peer, &batch, epoch, timeout).await {
            Ok(_) => {
                cl.migration.moved(batch.len() as u64, bytes as u64);
                pace(cfg.cluster.migration_rate, c.exec.cores(), bytes).await;
                return true;
            }
            // The peer has not adopted this epoch yet (its push is on the way): soon it has.
            Err(ImportError::Refused { status, .. })
                if status == BEHIND_THE_MOVE && behind < BEHIND_WAITS =>
            {
                behind += 1;
                monoio::time::sleep(BEHIND_PAUSE).await;
            }
            Err(e) => {
                crate::warn!(
                    peer = cl.member(peer).id;
                    "core {}: moving {} keys to node {} failed (attempt {attempt}/{ATTEMPTS}): {e}",
                    c.exec.core,
                    batch.len(),
                    cl.member(peer).id
                );
                monoio::time::sleep(RETRY_PAUSE).await;
                attempt += 1;
            }
        }
    }
    // Kept for the peer: delivered when it is up again, or it catches up from its peers.
    let now = c.exec.now_ms();
    let mut hints = c.hints.borrow_mut();
    for e in batch {
        hints.push(peer, e, now);
    }
    false
}

/// Pass a copy that landed during a change on to the key's new replicas when this node is the
/// one that moves the key (see `handlers::cache::late_move`). Best effort, in the background: a
/// copy the new replicas have already is a no-op there (last writer wins).
pub(crate) fn pass_on(c: &Core, entry: Entry) {
    let cl = &c.node.cluster;
    let topo = cl.topology_arc();
    if !sends(cl, &topo, &entry.key) {
        return;
    }
    let targets = new_replicas(cl, &topo, &entry.key);
    if targets.is_empty() {
        return;
    }
    let epoch = topo.doc.epoch;
    // Through this core's own mailbox: the task needs the core's `Rc`.
    let task: crate::mesh::Task<Rc<Core>> = Box::new(move |c: &Rc<Core>| {
        let c = Rc::clone(c);
        monoio::spawn(async move {
            for peer in targets.iter() {
                let bytes = entry.key.len() + entry.value.len();
                send_batch(&c, peer, vec![entry.clone()], bytes, epoch).await;
            }
        });
    });
    c.node.mesh.send(c.exec.core, super::core::Msg::Run(task));
}

/// Sleep as long as `bytes` take at `rate` bytes/s split over `cores` (0 = no limit).
async fn pace(rate: u64, cores: usize, bytes: usize) {
    if rate == 0 {
        return;
    }
    let per_core = (rate / cores.max(1) as u64).max(1);
    let micros = (bytes as u64).saturating_mul(1_000_000) / per_core;
    if micros > 0 {
        monoio::time::sleep(Duration::from_micros(micros)).await;
    }
}

/// Ring changes reach each core here: for an adopted document, forget read copies whose leases
/// the new owner does not know, and start the move of a new change (or another pass of it).
pub(crate) fn on_epoch(c: &Rc<Core>) {
    let topo = c.node.cluster.topology_arc();
    if c.seen_epoch.replace(topo.doc.epoch) != topo.doc.epoch {
        super::hot::remote::clear_all();
    }
    // Also on the other ring changes: a member that went down mid-move leaves keys to others.
    start(c, topo);
}
