//! Hand-over: copies this core holds for keys this node does not replicate go to the key's
//! replicas.
//!
//! Such copies come from stand-in writes (every replica of the key was unreachable) and from
//! writes a peer sent here with another view of the cluster. Whenever that may have happened
//! (`NodeShared::foreign_epoch` moved) every core scans its shard, values and tombstones alike,
//! sends each such key to every replica that takes writes, and forgets exactly what a replica
//! confirmed. See [`migrate_foreign`].

use std::rc::Rc;
use std::sync::atomic::Ordering;

use super::import::send_import;
use crate::cluster::ring::Prefs;
use crate::server::core::Core;
use crate::storage::{Entry, Loaded};

/// Attempts to hand keys to their replicas before keeping them here for the next epoch.
const MIGRATE_ATTEMPTS: u32 = 5;
/// Pause between hand-over attempts (a node that just came back may still be warming up).
const MIGRATE_RETRY: std::time::Duration = std::time::Duration::from_millis(500);
/// Slots examined per scan step; the core serves its connections between steps.
const SCAN_SLOTS: usize = 16 * 1024;

/// Hand the copies this core holds for keys this node does not replicate to those keys'
/// replicas, then forget them here, so a stand-in copy is never served stale after a later
/// failure. Versioned and last-writer-wins: a replica keeps whichever of its copy and ours is
/// newer, and a tombstone travels like a value (a delete made during an outage is not undone).
/// A copy is removed only after some replica confirmed it, and only if its version is still
/// the one sent (a key rewritten here meanwhile stays for the next attempt). Replicas that could
/// not take it then get a hint. Keys none of whose replicas answered stay here and are retried.
pub(crate) async fn migrate_foreign(c: Rc<Core>) {
    for attempt in 1..=MIGRATE_ATTEMPTS {
        let mut pending = false;
        let mut cursor = Some(0);
        while cursor.is_some() {
            let batch = foreign_entries(&c, &mut cursor);
            if !batch.is_empty() {
                pending |= hand_over(&c, batch, attempt).await;
            }
            // A scan over a large shard is work, not a stall: let connections run in between.
            monoio::spawn(async {}).await;
        }
        if !pending {
            // A whole scan forgot what the settled change moved: nothing more to forget.
            let epoch = c.node.cluster.epoch();
            let mut moved = c.moved.borrow_mut();
            if moved.as_ref().is_some_and(|m| m.doc.epoch < epoch) {
                *moved = None;
            }
            return;
        }
        monoio::time::sleep(MIGRATE_RETRY).await;
    }
    crate::warn!(
        "core {}: keeping keys whose replicas are unreachable until the next hand-over",
        c.exec.core
    );
}

/// One bounded step of the scan of this core's shard from `cursor` (values and tombstones):
/// the copies of keys this node does not replicate; `cursor` becomes `None` at the end.
fn foreign_entries(c: &Core, cursor: &mut Option<usize>) -> Vec<Entry> {
    let Some(from) = *cursor else {
        return Vec::new();
    };
    let cl = &c.node.cluster;
    let now = c.exec.now_ms();
    let t = cl.topology_arc();
    let foreign = |k: &[u8]| is_foreign(&t, cl.me, k);
    let page = c
        .exec
        .shard
        .borrow()
        .page_where(from, SCAN_SLOTS, now, foreign);
    *cursor = page.next;
    forget_moved(c, &t, page.entries)
}

/// Whether node `me` neither replicates `key` in `t` nor holds it for a change in progress.
fn is_foreign(t: &crate::cluster::Topology, me: usize, key: &[u8]) -> bool {
    !t.prefs(key).contains(me)
        // A key a membership change is moving stays until the change settles: its new
        // replicas get it from `migrate` (paced), and reads may still ask this node for it.
        && !t.holder_prefs(key).is_some_and(|p| p.contains(me))
}

/// Of `entries` (copies this node no longer replicates), forget those the last settled change
/// moved to their new replicas with every batch delivered (`Core::moved`): they are there
/// already, and sending them again would repeat the whole move unpaced. The rest is returned.
fn forget_moved(c: &Core, now: &crate::cluster::Topology, entries: Vec<Entry>) -> Vec<Entry> {
    let moved = c.moved.borrow();
    let settled = now.previous.is_none() && now.lingering.is_none();
    let Some(change) = moved
        .as_ref()
        .filter(|m| settled && now.doc.epoch > m.doc.epoch)
    else {
        return entries;
    };
    let me = c.node.cluster.me;
    let at = c.exec.now_ms();
    let mut forgotten = 0u64;
    let mut rest = Vec::new();
    for e in entries {
        if change
            .previous_prefs(&e.key)
            .is_some_and(|p| p.contains(me))
        {
            let removed = c
                .exec
                .shard
                .borrow_mut()
                .remove_if_version(&e.key, e.version, at);
            forgotten += u64::from(removed);
        } else {
            rest.push(e);
        }
    }
    if forgotten > 0 {
        crate::info!(
            "core {}: forgot {forgotten} keys moved to their new replicas at membership epoch {}",
            c.exec.core,
            change.doc.epoch
        );
    }
    rest
}

/// Send `batch` to every replica of each key that takes writes; forget what some replica
/// confirmed and hint the replicas that did not get it. True when keys stay (none confirmed).
async fn hand_over(c: &Rc<Core>, batch: Vec<Entry>, attempt: u32) -> bool {
    let cl = &c.node.cluster;
    let timeout = c.cfg().cluster.request_timeout;
    let prefs: Vec<Prefs> = batch.iter().map(|e| cl.topology().prefs(&e.key)).collect();
    let mut per_node: Vec<Vec<Entry>> = (0..crate::cluster::MAX_MEMBERS)
        .map(|_| Vec::new())
        .collect();
    for (e, p) in batch.iter().zip(&prefs) {
        for r in p.iter().filter(|&r| r != cl.me && cl.takes_writes(r)) {
            per_node[r].push(e.clone());
        }
    }
    let mut took = vec![false; crate::cluster::MAX_MEMBERS];
    for (idx, entries) in per_node.iter().enumerate() {
        if entries.is_empty() {
            continue;
        }
        match send_import(c, idx, entries, false, timeout).await {
            Ok(Loaded {
                stored,
                rejected,
                superseded,
            }) => {
                took[idx] = true;
                crate::info!(
                    "core {}: handed {stored} keys to their replica {} ({superseded} already newer there, {rejected} rejected)",
                    c.exec.core,
                    cl.member(idx).id
                );
            }
            Err(e) => {
                // Rate-limited: with many cores and retries an unreachable replica would
                // otherwise write cores x attempts lines per hand-over.
                if let Some(suppressed) = crate::log::admit(crate::log::LogKind::HandoverFailed) {
                    crate::warn!(
                        peer = cl.member(idx).id,
                        keys = entries.len(),
                        suppressed = (suppressed > 0).then_some(suppressed);
                        "core {}: could not hand {} keys to {} (attempt {attempt}/{MIGRATE_ATTEMPTS}): {e}; they stay here unless another replica took them",
                        c.exec.core,
                        entries.len(),
                        cl.member(idx).id
                    );
                }
            }
        }
    }
    let (mut kept, mut moved) = (false, 0u64);
    let now = c.exec.now_ms();
    // The membership may have changed while the imports were on the wire: a key this node
    // replicates again (a leave can give back what a join took) stays. Its new move may have
    // arrived meanwhile as a no-op (the same version), so forgetting it would lose the copy.
    let t = cl.topology_arc();
    for (e, p) in batch.into_iter().zip(&prefs) {
        if !p.iter().any(|r| took[r]) {
            kept = true;
            continue;
        }
        if is_foreign(&t, cl.me, &e.key)
            && c.exec
                .shard
                .borrow_mut()
                .remove_if_version(&e.key, e.version, now)
        {
            moved += 1;
        }
        let mut hints = c.hints.borrow_mut();
        for r in p.iter().filter(|&r| r != cl.me && !took[r]) {
            hints.push(r, e.clone(), now);
        }
    }
    cl.keys_moved.fetch_add(moved, Ordering::Relaxed);
    kept
}
