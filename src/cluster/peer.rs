//! This core's client for its peers: a keep-alive pool, per-peer batchers, and request ids.
//!
//! The server layer hands it a request for a peer and gets an owned answer back ([`Answered`]);
//! nothing here knows about the client connection the request came from. Forwards go through
//! the batcher ([`super::batch`]), so the forwards of many client connections to one peer share
//! one write and one read. Node-to-node admin calls ([`PeerClient::call`]) use a pooled
//! connection of their own. A request that failed on a reused keep-alive connection before any
//! answer byte arrived is retried once on a new connection (the peer may have closed it while
//! idle), and only when it is idempotent.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use monoio::io::AsyncWriteRentExt;

use super::batch::{self, PeerQueue};
use super::error::{Broken, FwdError};
use super::pool::{CheckoutError, PeerPool, Pooled};
use super::wire::{read_answer, serialize, Answer, Outgoing};
use super::Cluster;
use crate::auth::LocalKeyring;
use crate::deadline::Deadline;
use crate::mesh::{Pending, Ticket};
use crate::util::{race, Either};

/// Answer bytes accepted per request beyond the largest value (JSON wrapping, headers).
const RESPONSE_SLACK: usize = 64 * 1024;
/// Bits of a request id that count; the top byte holds the core number.
const ID_COUNTER_BITS: u32 = 56;

/// What a peer client needs from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct PeerSettings {
    pub connect_timeout: Duration,
    /// Bound on one whole forward or batch, from queueing to the last answer byte.
    pub request_timeout: Duration,
    /// The largest value a node stores (`max_value_bytes`): bounds an answer's size.
    pub max_value_bytes: usize,
    pub pool_max_idle: usize,
    pub pool_max_total: usize,
    /// Forwards per peer waiting for a dispatcher (`cluster.max_queued_per_peer`); past it a
    /// forward is refused with [`FwdError::QueueFull`] (see [`super::batch`]).
    pub max_queued: usize,
}

impl PeerSettings {
    /// The largest answer accepted from a peer.
    pub fn max_answer(&self) -> usize {
        self.max_value_bytes + RESPONSE_SLACK
    }
}

/// The owner's answer, owned (one allocation: the raw answer bytes).
#[derive(Debug)]
pub struct Answered {
    pub status: u16,
    pub raw: Vec<u8>,
    pub content_type: std::ops::Range<usize>,
    pub node: std::ops::Range<usize>,
    /// Values of the [`RELAYED`](super::wire::RELAYED) headers (empty = absent), in `raw`.
    pub relayed: super::wire::Relayed,
    pub content_length: usize,
    pub body: std::ops::Range<usize>,
}

impl Answered {
    /// Copy answer `a` out of a connection's read buffer.
    pub(crate) fn copy(buf: &[u8], start: usize, a: &Answer) -> Answered {
        let shift = |r: &std::ops::Range<usize>| r.start - start..r.end - start;
        Answered {
            status: a.status,
            raw: buf[start..a.end].to_vec(),
            content_type: shift(&a.content_type),
            node: shift(&a.node),
            relayed: a
                .relayed
                .clone()
                .map(|r| if r.is_empty() { 0..0 } else { shift(&r) }),
            content_length: a.content_length,
            body: shift(&a.body),
        }
    }

    pub fn body(&self) -> &[u8] {
        &self.raw[self.body.clone()]
    }
}

pub type Outcome = Result<Answered, FwdError>;

/// One core's client for every peer.
pub struct PeerClient {
    pub(crate) cluster: Arc<Cluster>,
    /// This core's copy of the secrets: every request to a peer carries the cluster secret.
    pub(crate) auth: Rc<LocalKeyring>,
    pub(crate) pool: Rc<PeerPool>,
    pub(crate) settings: PeerSettings,
    pub(crate) queues: RefCell<Vec<PeerQueue>>,
    pub(crate) results: Rc<Pending<Outcome>>,
    core: usize,
    next_id: Cell<u64>,
    /// Queued forwards dropped unsent because their waiter had gone (cumulative).
    pub(crate) abandoned: Cell<u64>,
    /// Batches written to peers (cumulative; a batch retried on a new connection counts once):
    /// forwards, and the replica copies and invalidations that use the batchers too.
    pub(crate) batches: Cell<u64>,
}

/// A forward on its way: queued on the peer's batcher, answer not yet read.
pub struct InFlight {
    /// The answer's slot, or why the forward was not even queued.
    ticket: Result<Ticket<Outcome>, FwdError>,
    pub peer: usize,
    pub started: Instant,
    deadline: Instant,
    timeout_ms: u64,
    /// It joined an identical queued forward ([`PeerClient::forward_joining`]).
    joined: bool,
}

impl InFlight {
    /// Whether this forward took the answer of an identical queued one instead of being sent.
    pub fn joined(&self) -> bool {
        self.joined
    }

    /// The owner's answer, or why there is none (at most `request_timeout` after the start, a
    /// tick of the coarse clock late at most: `crate::deadline`).
    pub async fn wait(self) -> Outcome {
        let mut ticket = self.ticket?;
        match race(ticket.wait(), Deadline::at(self.deadline)).await {
            Either::Left(r) => r,
            Either::Right(()) => Err(FwdError::Timeout {
                ms: self.timeout_ms,
            }),
        }
    }
}

impl PeerClient {
    pub fn new(
        core: usize,
        cluster: Arc<Cluster>,
        settings: PeerSettings,
        auth: Rc<LocalKeyring>,
    ) -> Rc<PeerClient> {
        let peers = super::MAX_MEMBERS;
        Rc::new(PeerClient {
            auth,
            pool: PeerPool::new(peers, settings.pool_max_idle, settings.pool_max_total),
            queues: RefCell::new((0..peers).map(|_| PeerQueue::default()).collect()),
            results: Rc::new(Pending::default()),
            cluster,
            settings,
            core,
            next_id: Cell::new(0),
            abandoned: Cell::new(0),
            batches: Cell::new(0),
        })
    }

    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// A request id unique within this process: core number in the top byte, a counter below.
    pub fn next_request_id(&self) -> u64 {
        let n = self.next_id.get().wrapping_add(1) & ((1 << ID_COUNTER_BITS) - 1);
        self.next_id.set(n);
        ((self.core as u64) << ID_COUNTER_BITS) | n
    }

    /// Queued forwards dropped unsent so far because their waiter had gone (the server layer
    /// reports it as `cache_forwards_abandoned_total`).
    pub fn abandoned(&self) -> u64 {
        self.abandoned.get()
    }

    /// Batches sent to peers so far (`cache_peer_batches_total`): with the forwards and
    /// replica copies, how many share one write to a peer.
    pub fn batches(&self) -> u64 {
        self.batches.get()
    }

    /// Queue `req` for `peer` now (so pipelined forwards share a batch); await [`InFlight::wait`],
    /// which fails at once with [`FwdError::QueueFull`] when the peer's queue was full.
    pub fn forward(self: &Rc<Self>, peer: usize, req: &Outgoing<'_>) -> InFlight {
        self.submit(peer, req, false)
    }

    /// [`PeerClient::forward`], or, for a GET that asks exactly what a forward still queued for
    /// `peer` asks, a share of that forward's answer (singleflight: the batcher's `join` rules,
    /// only while that forward is not yet written, so no acknowledged write is missed).
    pub fn forward_joining(self: &Rc<Self>, peer: usize, req: &Outgoing<'_>) -> InFlight {
        self.submit(peer, req, true)
    }

    fn submit(self: &Rc<Self>, peer: usize, req: &Outgoing<'_>, join: bool) -> InFlight {
        let id = self.next_request_id();
        let started = Instant::now();
        let (ticket, joined) = match batch::submit(self, peer, req, id, join) {
            Ok((t, joined)) => (Ok(t), joined),
            Err(e) => (Err(e), false),
        };
        InFlight {
            ticket,
            peer,
            started,
            deadline: started + self.settings.request_timeout,
            timeout_ms: self.settings.request_timeout.as_millis() as u64,
            joined,
        }
    }

    /// Close every idle connection (a membership change: peers may have restarted).
    pub fn discard_idle_all(&self) {
        for peer in 0..self.cluster.slot_count() {
            self.pool.discard_idle(peer);
        }
    }

    /// A pooled connection to `peer`; `replayable: false` (a request that must not be sent
    /// twice) takes only a recently used one (see `pool::NON_REPLAYABLE_MAX_IDLE`).
    pub(crate) async fn checkout(&self, peer: usize, replayable: bool) -> Result<Pooled, FwdError> {
        let age = (!replayable).then_some(super::pool::NON_REPLAYABLE_MAX_IDLE);
        self.pool
            .checkout(peer, &self.cluster, self.settings.connect_timeout, age)
            .await
            .map_err(|e| match e {
                CheckoutError::Exhausted => FwdError::Exhausted,
                CheckoutError::Connect(c) => FwdError::Connect(c),
            })
    }

    /// Send `req` to `peer` on a connection of its own and return the answer (node-to-node
    /// admin calls such as a hand-over or an import batch), within `timeout`.
    pub async fn call(&self, peer: usize, req: &Outgoing<'_>, timeout: Duration) -> Outcome {
        self.call_sized(peer, req, timeout, self.settings.max_answer())
            .await
    }

    /// [`PeerClient::call`] for answers up to `max_answer` bytes (catch-up documents).
    pub async fn call_sized(
        &self,
        peer: usize,
        req: &Outgoing<'_>,
        timeout: Duration,
        max_answer: usize,
    ) -> Outcome {
        let id = self.next_request_id();
        let ms = timeout.as_millis() as u64;
        match monoio::time::timeout(timeout, self.exchange(peer, req, id, max_answer)).await {
            Ok(r) => r,
            Err(_) => Err(FwdError::Timeout { ms }),
        }
    }

    async fn exchange(
        &self,
        peer: usize,
        req: &Outgoing<'_>,
        id: u64,
        max_answer: usize,
    ) -> Outcome {
        let m = &self.cluster.member(peer);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut conn = self.checkout(peer, req.idempotent()).await?;
            let mut wbuf = std::mem::take(&mut conn.wbuf);
            wbuf.clear();
            let secrets = self.auth.current();
            let authorization = secrets.cluster_authorization();
            serialize(
                &mut wbuf,
                req,
                &m.addr,
                self.cluster.self_id(),
                id,
                authorization,
            );
            let (res, wbuf) = conn.stream().write_all(wbuf).await;
            conn.wbuf = wbuf;
            conn.rbuf.clear();
            let outcome = match res {
                Ok(_) => {
                    let head = req.method == crate::http::Method::Head;
                    read_answer(&mut conn, 0, head, id, max_answer).await
                }
                Err(e) => Err(super::wire::ReadFailure {
                    nothing_read: true,
                    why: Broken::Write(e.kind()),
                }),
            };
            match outcome {
                Ok(a) => {
                    let answered = Answered::copy(&conn.rbuf, 0, &a);
                    // Bytes beyond the one answer we asked for: the connection is out of step.
                    if a.keep_alive && a.end == conn.rbuf.len() {
                        conn.release();
                    }
                    return Ok(answered);
                }
                // A stale keep-alive connection: the peer closed it while idle. Retry once, fresh.
                Err(f) if f.nothing_read && conn.reused && req.idempotent() && attempt == 1 => {
                    self.pool.discard_idle(peer);
                }
                Err(f) => return Err(FwdError::Broken(f.why)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_carry_the_core_and_never_repeat_soon() {
        let cfg = crate::config::Config::from_yaml_str(
            "node_id: a\naddress: \"127.0.0.1:0\"\ncache_size: 10\n",
            "<test>",
        )
        .expect("config");
        let cluster = Arc::new(Cluster::new(&cfg).expect("cluster"));
        let settings = PeerSettings {
            connect_timeout: Duration::from_millis(10),
            request_timeout: Duration::from_millis(10),
            max_value_bytes: 10,
            pool_max_idle: 1,
            pool_max_total: 1,
            max_queued: 1,
        };
        let keys = LocalKeyring::new(crate::auth::Keyring::open());
        let p = PeerClient::new(3, cluster, settings, keys);
        let a = p.next_request_id();
        let b = p.next_request_id();
        assert_eq!(a >> ID_COUNTER_BITS, 3);
        assert_ne!(a, b);
    }
}
