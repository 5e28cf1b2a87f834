//! A core's key calls to the other cores, bounded per destination: credit-based flow control.
//!
//! A core's mailbox is bounded for requests only: a reply (`KeyDone`), a shutdown or a ring
//! change must never be refused (refusing a reply would lose it, and the others are rare and
//! bounded by their callers). So the bound is kept where the requests start, not in the shared
//! queue: each core may have at most `share` key calls outstanding at each other core (sent and
//! not yet answered), where `share` is the mailbox bound split evenly across the cores that
//! send to it (Seastar bounds its per-pair cross-core queues the same way). A core's mailbox then
//! holds at most `share * (cores - 1)` requests, whatever the senders do.
//!
//! The count is core-local (`Cell`s, no atomics, nothing shared with the receiving core; the
//! reply names the core it comes from), so the bound costs the hot path a load, a compare and a
//! store on each side, and it leaves the mailbox's sleep/wake handshake (and its loom model)
//! untouched. A call counts until its reply is delivered on the calling core, whether or not its
//! caller still waits for it.

use std::cell::Cell;
use std::rc::Rc;

use super::pending::{Pending, Ticket};

/// Core `core` already has `limit` calls from this core outstanding: it is not keeping up.
/// Small, so `Result<Ticket, Full>` is no larger than the ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full {
    pub core: u16,
    pub limit: u32,
}

impl std::fmt::Display for Full {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "core {}'s mailbox is full ({} calls from this core not answered yet)",
            self.core, self.limit
        )
    }
}

impl std::error::Error for Full {}

/// One core's outstanding key calls: their reply slots and the credits left per destination.
pub struct Calls<R> {
    pending: Rc<Pending<R>>,
    /// Calls outstanding per destination core.
    outstanding: Box<[Cell<u32>]>,
    share: u32,
}

impl<R> Calls<R> {
    /// Calls from one of `cores` cores, with at most `max_queued` requests in any core's mailbox.
    pub fn new(cores: usize, max_queued: usize) -> Calls<R> {
        Calls {
            pending: Rc::new(Pending::default()),
            outstanding: (0..cores).map(|_| Cell::new(0)).collect(),
            share: share(cores, max_queued),
        }
    }

    /// Reserve a reply slot for a call to core `dst`, or refuse when `dst` has this core's whole
    /// share outstanding already.
    #[inline]
    pub fn reserve(&self, dst: usize) -> Result<Ticket<R>, Full> {
        let n = &self.outstanding[dst];
        if n.get() >= self.share {
            return Err(Full {
                core: dst as u16,
                limit: self.share,
            });
        }
        n.set(n.get() + 1);
        Ok(self.pending.reserve())
    }

    /// The reply from core `from` for slot `slot` arrived (the mailbox task of the calling
    /// core): return the credit toward `from` and wake the caller, if it still waits.
    #[inline]
    pub fn complete(&self, from: usize, slot: u32, reply: R) {
        let n = &self.outstanding[from];
        n.set(n.get().saturating_sub(1));
        self.pending.complete(slot, reply);
    }

    /// Calls outstanding at core `dst`.
    pub fn outstanding(&self, dst: usize) -> usize {
        self.outstanding[dst].get() as usize
    }

    /// The most calls this core may have outstanding at any one other core.
    pub fn share(&self) -> usize {
        self.share as usize
    }
}

/// `max_queued` split across the cores that can send to one core, rounded up (and at least 1),
/// so the sum of the shares is never below the configured bound.
fn share(cores: usize, max_queued: usize) -> u32 {
    let senders = cores.saturating_sub(1).max(1);
    max_queued.div_ceil(senders).clamp(1, u32::MAX as usize) as u32
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_costs_no_room_in_the_result() {
        assert_eq!(
            std::mem::size_of::<Result<Ticket<u64>, Full>>(),
            std::mem::size_of::<Ticket<u64>>()
        );
    }

    #[test]
    fn the_bound_is_split_across_the_sending_cores() {
        assert_eq!(share(1, 100), 100);
        assert_eq!(share(2, 100), 100);
        assert_eq!(share(4, 100), 34);
        assert_eq!(share(8, 3), 1);
        assert_eq!(share(2, 0), 1);
    }

    #[test]
    fn a_destination_refuses_past_its_share_until_a_reply_returns_a_credit() {
        let calls: Calls<u8> = Calls::new(3, 4);
        assert_eq!(calls.share(), 2);
        let a = calls.reserve(1).expect("first call to core 1");
        let b = calls.reserve(1).expect("second call to core 1");
        assert_eq!(calls.reserve(1).err(), Some(Full { core: 1, limit: 2 }));
        // Another destination has its own credits.
        let c = calls.reserve(2).expect("core 2 is not full");
        assert_eq!(calls.outstanding(1), 2);
        // A caller that gave up still holds the credit: its request is still queued there.
        let bid = b.id();
        drop(b);
        assert!(calls.reserve(1).is_err(), "abandoned call still counts");
        calls.complete(1, bid, 0);
        assert_eq!(calls.outstanding(1), 1);
        let d = calls.reserve(1).expect("credit returned by the reply");
        calls.complete(1, a.id(), 1);
        calls.complete(1, d.id(), 2);
        calls.complete(2, c.id(), 3);
        assert_eq!((calls.outstanding(1), calls.outstanding(2)), (0, 0));
    }
}
