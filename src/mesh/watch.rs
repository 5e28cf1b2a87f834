//! The clock of a mailbox's watcher stamps, and how fresh a stamp must be for a sender to leave
//! the wake-up to the watcher (see [`super::mailbox`]).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How recent a watcher's last round must be for a sender to skip its own wake-up.
///
/// A round is a `sched_yield` and a few loads (about 1 µs here); a stamp older than this means
/// another thread has kept the watcher off its CPU, and the sender's own wake-up (10-40 µs on
/// the VMs measured) is then the quicker way. A watcher taken off its CPU just after a fresh
/// stamp can still delay a message: [`BACKSTOP`] bounds that.
pub const FRESH: Duration = Duration::from_micros(20);

/// How often a watched core looks at its own mailbox anyway (`server::tasks`): the bound on how
/// late a message can be when its watcher was taken off the CPU right after a fresh stamp (a
/// busy thread of normal priority on the same CPU starves a `SCHED_IDLE` watcher for as long as
/// it runs). A timer wake-up a millisecond on CPUs that `idle_poll: always` keeps busy anyway.
pub const BACKSTOP: Duration = Duration::from_millis(1);

/// Nanoseconds since the first call in this process, never 0 (0 means "no watcher").
pub fn now() -> u64 {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    let origin = *ORIGIN.get_or_init(Instant::now);
    (origin.elapsed().as_nanos() as u64).saturating_add(1)
}

/// `stamp` (from [`now`]) is less than [`FRESH`] old.
#[cfg(not(loom))]
pub(super) fn is_fresh(stamp: u64) -> bool {
    now().saturating_sub(stamp) < FRESH.as_nanos() as u64
}

/// Under loom every stamp is fresh: the model explores the senders that leave the wake-up to
/// the watcher, the case the retire handshake must cover.
#[cfg(loom)]
pub(super) fn is_fresh(_stamp: u64) -> bool {
    true
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn stamps_are_nonzero_and_age() {
        let a = now();
        assert_ne!(a, 0);
        assert!(is_fresh(a), "a stamp just taken is fresh");
        let old = a.saturating_sub(FRESH.as_nanos() as u64 + 1).max(1);
        // Either the origin is older than FRESH (then `old` is a stale stamp) or it is too
        // young for any stamp to be stale yet.
        if a > FRESH.as_nanos() as u64 + 1 {
            assert!(!is_fresh(old), "a stamp older than FRESH is stale");
        }
    }
}
