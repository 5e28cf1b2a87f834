//! Flushes a member missed (it could not be reached when they ran), kept until it takes them.
//!
//! Every node that took part in a flush keeps it for the members that did not answer the
//! coordinator's clock round, and the coordinator also for those whose apply failed. It is
//! delivered when the member catches up: the member asks each peer for its hints
//! (`/internal/sync/hints`), and the peer first sends it the flushes it missed, so the hints that
//! follow (older writes) meet the barrier. The coordinator also retries on its own every
//! [`RETRY_EVERY`] while the member is routable (a member that never went down but did not
//! answer in time). Delivering the same flush twice, or late, changes nothing that should stay:
//! it carries its original version.
//!
//! Kept in memory only, like hints: a node that restarts forgets what it kept, and the member
//! then gets each flush from any other node that took part.

use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;

use super::remote::send_apply;
use crate::server::core::Core;

/// Missed flushes kept per member. A flush that covers an older one (a shorter or equal prefix
/// at a newer version) replaces it, so this is reached only by this many distinct prefixes
/// flushed while the member is away; past it the oldest is dropped, with a warning.
const MAX_PENDING_PER_MEMBER: usize = 1024;
/// How often the coordinator retries a member that is routable but missed a flush.
const RETRY_EVERY: Duration = Duration::from_secs(1);

/// One missed flush: its prefix (empty = every key) and version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Missed {
    pub prefix: Bytes,
    pub version: u64,
}

impl Missed {
    /// Whether applying `self` does everything `other` would.
    fn covers(&self, other: &Missed) -> bool {
        other.prefix.starts_with(&self.prefix) && self.version >= other.version
    }
}

/// The flushes each member missed, shared by every core (rare path: a lock is fine).
#[derive(Default)]
pub(crate) struct PendingFlushes {
    per_member: Mutex<Vec<Vec<Missed>>>,
    /// A retry task runs (on the core of the flush that started it).
    retrying: AtomicBool,
}

impl PendingFlushes {
    fn with<T>(&self, f: impl FnOnce(&mut Vec<Vec<Missed>>) -> T) -> T {
        // A panic elsewhere ends the process (panic hook), so a poisoned lock is never seen
        // by a running node; take the data anyway rather than panic again.
        let mut g = self.per_member.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut g)
    }

    /// Keep `m` for `member`; false when the bound dropped an older one.
    pub(crate) fn keep(&self, member: usize, m: Missed) -> bool {
        self.with(|all| {
            if all.len() <= member {
                all.resize_with(member + 1, Vec::new);
            }
            let list = &mut all[member];
            if list.iter().any(|old| old.covers(&m)) {
                return true;
            }
            list.retain(|old| !m.covers(old));
            let room = list.len() < MAX_PENDING_PER_MEMBER;
            if !room {
                list.remove(0);
            }
            list.push(m);
            room
        })
    }

    /// The flushes `member` missed, oldest first.
    pub(crate) fn of(&self, member: usize) -> Vec<Missed> {
        self.with(|all| all.get(member).cloned().unwrap_or_default())
    }

    /// `member` took `m`.
    fn delivered(&self, member: usize, m: &Missed) {
        self.with(|all| {
            if let Some(list) = all.get_mut(member) {
                list.retain(|x| x != m);
            }
        });
    }

    /// Members with flushes waiting.
    fn waiting(&self) -> Vec<usize> {
        self.with(|all| (0..all.len()).filter(|&i| !all[i].is_empty()).collect())
    }
}

/// Send `member` every flush it missed, oldest first; stops at the first that fails (the text
/// says which and why). Ok with how many it delivered.
pub(crate) async fn deliver_pending(c: &Core, member: usize) -> Result<usize, String> {
    let pending = &c.node.flushes;
    let missed = pending.of(member);
    for (n, m) in missed.iter().enumerate() {
        if let Err(e) = send_apply(c, member, &m.prefix, m.version, None, b"").await {
            let id = &c.node.cluster.member(member).id;
            return Err(format!(
                "could not deliver a flush node {id} missed (version {}): {e}",
                crate::storage::version::to_hex(m.version)
            ));
        }
        pending.delivered(member, m);
        if n == 0 {
            crate::info!(
                "delivered {} missed flushes to node {}",
                missed.len(),
                c.node.cluster.member(member).id
            );
        }
    }
    Ok(missed.len())
}

/// Retry the members with missed flushes every [`RETRY_EVERY`] while they are routable, until
/// none is left (one task per node).
pub(super) fn retry_later(c: &Rc<Core>) {
    if c.node.flushes.retrying.swap(true, Ordering::AcqRel) {
        return;
    }
    let c = Rc::clone(c);
    monoio::spawn(async move {
        loop {
            monoio::time::sleep(RETRY_EVERY).await;
            let waiting = c.node.flushes.waiting();
            if waiting.is_empty() || c.draining() {
                break;
            }
            for member in waiting {
                if c.node.cluster.routable(member) {
                    // Failures are retried; the member's catch-up also asks for them.
                    let _ = deliver_pending(&c, member).await;
                }
            }
        }
        c.node.flushes.retrying.store(false, Ordering::Release);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(prefix: &'static str, version: u64) -> Missed {
        Missed {
            prefix: Bytes::from_static(prefix.as_bytes()),
            version,
        }
    }

    #[test]
    fn covered_flushes_collapse_and_the_bound_drops_the_oldest() {
        let p = PendingFlushes::default();
        assert!(p.keep(2, m("a/b", 5)));
        assert!(p.keep(2, m("a/c", 6)));
        assert!(p.keep(2, m("a/b/c", 4)), "covered: nothing to add");
        assert_eq!(p.of(2), vec![m("a/b", 5), m("a/c", 6)]);
        assert!(p.keep(2, m("a/", 7)));
        assert_eq!(p.of(2), vec![m("a/", 7)]);
        assert_eq!((p.of(0), p.waiting()), (vec![], vec![2]));
        p.delivered(2, &m("a/", 7));
        assert!(p.waiting().is_empty());
        for i in 0..MAX_PENDING_PER_MEMBER as u64 {
            assert!(p.keep(
                1,
                Missed {
                    prefix: Bytes::from(format!("k{i}")),
                    version: 10 + i
                }
            ));
        }
        assert!(!p.keep(1, m("z", 1)));
        let list = p.of(1);
        assert_eq!(list.len(), MAX_PENDING_PER_MEMBER);
        assert_eq!(list[0].version, 11, "the oldest went");
    }
}
