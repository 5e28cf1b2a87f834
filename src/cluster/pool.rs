//! Per-core pools of keep-alive HTTP/1.1 connections to each peer.
//!
//! Each core owns its pool (`Rc`, no locks, no cross-thread sharing). A [`Pooled`] connection goes
//! back to the idle list only through [`Pooled::release`], which the forwarder calls after it read
//! a response to its end; a connection dropped any other way (error, timeout, a client that went
//! away and cancelled the forward) is closed, so a half-read response can never be handed to the
//! next request (monoio-transports' return-on-drop, made explicit). Connections are plain or TLS
//! ([`PeerStream`], see `super::link`); the pool does not care which.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::error::ConnectError;
use super::link::{self, PeerStream};
use super::Cluster;

/// Per-connection buffer size for requests and responses to peers.
const PEER_BUF: usize = 16 * 1024;

/// Longest a pooled connection may have been idle to carry a request that must not be sent twice
/// (an increment, see [`PeerPool::checkout`]): far below a node's keep-alive idle timeout
/// (`timeouts.idle`, 60 s by default, one setting for the whole cluster), so the peer cannot have
/// closed it for idleness, and a failure on it is not the stale keep-alive race that idempotent
/// requests simply retry.
pub(crate) const NON_REPLAYABLE_MAX_IDLE: Duration = Duration::from_secs(2);

#[derive(Default)]
struct PeerSlot {
    /// Idle connections with their buffers and when they were released, oldest first.
    idle: Vec<(PeerStream, Vec<u8>, Vec<u8>, Instant)>,
    /// Connections open to this peer from this core (idle + in use + connecting).
    open: usize,
}

/// This core's connections to every peer (indexed by ring node index).
pub(crate) struct PeerPool {
    slots: RefCell<Vec<PeerSlot>>,
    max_idle: usize,
    max_total: usize,
}

/// Why a connection could not be had.
#[derive(Debug)]
pub(crate) enum CheckoutError {
    /// `pool_max_total` connections are already open to this peer from this core.
    Exhausted,
    /// Every address refused or timed out; the error names the last one tried.
    Connect(ConnectError),
}

pub(crate) struct Pooled {
    /// Always `Some` until release or drop.
    stream: Option<PeerStream>,
    /// Reusable buffers that live with the connection.
    pub rbuf: Vec<u8>,
    pub wbuf: Vec<u8>,
    /// Came from the idle list (a stale keep-alive connection may fail on first use).
    pub reused: bool,
    peer: usize,
    pool: Rc<PeerPool>,
}

impl PeerPool {
    pub(crate) fn new(peers: usize, max_idle: usize, max_total: usize) -> Rc<PeerPool> {
        Rc::new(PeerPool {
            slots: RefCell::new((0..peers).map(|_| PeerSlot::default()).collect()),
            max_idle,
            max_total,
        })
    }

    /// An idle connection to `peer`, or a new one to the first of its addresses that accepts.
    /// With `max_idle_age`, only an idle connection released less than that long ago is taken
    /// (older ones stay for other requests): for requests that must not be retried, see
    /// [`NON_REPLAYABLE_MAX_IDLE`].
    pub(crate) async fn checkout(
        self: &Rc<Self>,
        peer: usize,
        cl: &Cluster,
        connect_timeout: Duration,
        max_idle_age: Option<Duration>,
    ) -> Result<Pooled, CheckoutError> {
        {
            let mut slots = self.slots.borrow_mut();
            let slot = &mut slots[peer];
            let idle = match max_idle_age {
                None => slot.idle.pop(),
                Some(age) => {
                    let fresh = slot.idle.iter().rposition(|i| i.3.elapsed() < age);
                    if fresh.is_none() && slot.open >= self.max_total && !slot.idle.is_empty() {
                        // Only older idle connections, and no room for a new one: close the
                        // oldest rather than refuse.
                        slot.idle.remove(0);
                        slot.open -= 1;
                    }
                    fresh.map(|at| slot.idle.remove(at))
                }
            };
            if let Some((stream, rbuf, wbuf, _)) = idle {
                return Ok(self.wrap(peer, stream, rbuf, wbuf, true));
            }
            if slot.open >= self.max_total {
                return Err(CheckoutError::Exhausted);
            }
            slot.open += 1;
        }
        // The slot is reserved; give it back if no address works. Resolve only when a new
        // connection is needed (the cached list is cloned under a lock).
        match link::connect(cl, peer, &cl.addrs(peer), connect_timeout).await {
            Ok(stream) => Ok(self.wrap(
                peer,
                stream,
                Vec::with_capacity(PEER_BUF),
                Vec::with_capacity(PEER_BUF),
                false,
            )),
            Err(e) => {
                self.slots.borrow_mut()[peer].open -= 1;
                Err(CheckoutError::Connect(e))
            }
        }
    }

    fn wrap(
        self: &Rc<Self>,
        peer: usize,
        stream: PeerStream,
        rbuf: Vec<u8>,
        wbuf: Vec<u8>,
        reused: bool,
    ) -> Pooled {
        Pooled {
            stream: Some(stream),
            rbuf,
            wbuf,
            reused,
            peer,
            pool: Rc::clone(self),
        }
    }
}

impl Pooled {
    pub(crate) fn stream(&mut self) -> &mut PeerStream {
        // Invariant: `stream` is only taken in `release`, which consumes `self`.
        self.stream
            .as_mut()
            .expect("pooled stream present until release")
    }

    /// Return the connection for reuse. Only call after a complete response was read.
    pub(crate) fn release(mut self) {
        let Some(stream) = self.stream.take() else {
            return;
        };
        let mut slots = self.pool.slots.borrow_mut();
        let slot = &mut slots[self.peer];
        if slot.idle.len() < self.pool.max_idle {
            let rbuf = std::mem::take(&mut self.rbuf);
            let wbuf = std::mem::take(&mut self.wbuf);
            slot.idle.push((stream, rbuf, wbuf, Instant::now()));
        } else {
            slot.open = slot.open.saturating_sub(1);
        }
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        // Not released: the connection closes here (its state is unknown), freeing its slot.
        if self.stream.is_some() {
            if let Some(slot) = self.pool.slots.borrow_mut().get_mut(self.peer) {
                slot.open = slot.open.saturating_sub(1);
            }
        }
    }
}

impl PeerPool {
    /// Close every idle connection to `peer` (one turned out stale: the peer likely restarted).
    pub(crate) fn discard_idle(&self, peer: usize) {
        let mut slots = self.slots.borrow_mut();
        if let Some(slot) = slots.get_mut(peer) {
            let n = slot.idle.len();
            slot.idle.clear();
            slot.open = slot.open.saturating_sub(n);
        }
    }
}

#[cfg(test)]
#[path = "pool_tests.rs"]
mod tests;
