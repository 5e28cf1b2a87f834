//! Hand-over: keys this core holds for another node go to their owner.
//!
//! After a membership change (or a forwarded write this node does not own) every core scans its
//! shard for keys another node owns now, sends them there as an import and forgets exactly what
//! was confirmed. See [`migrate_foreign`].

use std::rc::Rc;
use std::sync::atomic::Ordering;

use super::import::send_import;
use crate::server::core::Core;
use crate::storage::{Entry, Loaded};

/// Attempts to hand keys to their owner before keeping them here for the next ring check.
const MIGRATE_ATTEMPTS: u32 = 5;
/// Pause between hand-over attempts (a node that just came back may still be warming up).
const MIGRATE_RETRY: std::time::Duration = std::time::Duration::from_millis(500);

/// After a membership change (or a forwarded write this node does not own): hand the keys this
/// core holds for other nodes to their owner, then forget them here, so a copy made while its
/// owner was down can never be served stale after a later failure. The hand-over overwrites:
/// the owner's own copy predates its outage, while ours was written during it. Keys are only
/// forgotten after their owner confirmed them; if it cannot be reached they stay here.
pub(crate) async fn migrate_foreign(c: Rc<Core>) {
    let cl = &c.node.cluster;
    for attempt in 1..=MIGRATE_ATTEMPTS {
        let now = c.exec.now_ms();
        let mut per_node: Vec<Vec<Entry>> = (0..cl.members.len()).map(|_| Vec::new()).collect();
        {
            let shard = c.exec.shard.borrow();
            let mut cursor = Some(0);
            while let Some(c) = cursor {
                cursor = shard.scan(c, 1024, now, |k, v, ttl_ms| {
                    let owner = cl.owner(k);
                    if owner != cl.me {
                        per_node[owner].push(Entry {
                            key: bytes::Bytes::copy_from_slice(k),
                            value: bytes::Bytes::copy_from_slice(v),
                            ttl_ms,
                        });
                    }
                });
            }
        }
        let mut pending = false;
        for (idx, entries) in per_node.iter().enumerate() {
            if entries.is_empty() {
                continue;
            }
            match send_import(&c, idx, entries, false).await {
                Ok(Loaded { stored, rejected }) => {
                    // Forget exactly what was handed over (unless it changed here meanwhile).
                    let mut shard = c.exec.shard.borrow_mut();
                    let now = c.exec.now_ms();
                    let sent: std::collections::HashSet<&[u8]> =
                        entries.iter().map(|e| &e.key[..]).collect();
                    shard.retain(now, |k| !sent.contains(k) || cl.owner(k) == cl.me);
                    cl.keys_moved.fetch_add(stored, Ordering::Relaxed);
                    crate::info!(
                        "core {}: handed {stored} keys to their owner {} ({rejected} rejected)",
                        c.exec.core,
                        cl.members[idx].id
                    );
                }
                Err(e) => {
                    pending = true;
                    // Rate-limited: with many cores and retries an unreachable owner would
                    // otherwise write cores x attempts lines per membership change.
                    if let Some(suppressed) = crate::log::admit(crate::log::LogKind::HandoverFailed)
                    {
                        crate::warn!(
                            peer = cl.members[idx].id,
                            keys = entries.len(),
                            suppressed = (suppressed > 0).then_some(suppressed);
                            "core {}: could not hand {} keys to {} (attempt {attempt}/{MIGRATE_ATTEMPTS}): {e}; they stay here and are retried",
                            c.exec.core,
                            entries.len(),
                            cl.members[idx].id
                        );
                    }
                }
            }
        }
        if !pending {
            return;
        }
        monoio::time::sleep(MIGRATE_RETRY).await;
    }
    crate::warn!(
        "core {}: keeping keys of unreachable owners until the next membership change",
        c.exec.core
    );
}
