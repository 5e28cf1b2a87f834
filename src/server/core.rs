//! The per-core context, composed of narrow parts, and the typed calls between cores.
//!
//! [`Core`] is what a connection task of core N holds (`Rc`, never shared with another thread).
//! Each part has one job: [`ShardExec`] owns this core's shard and runs key operations on
//! whichever core owns a key; [`Responder`] encodes and counts responses; `Authz` checks
//! credentials; [`PeerClient`] talks to other nodes; [`ShutdownSignal`] wakes idle connections at shutdown. Handlers take the part
//! they need; only the few that need several take the whole `Core`.
//!
//! Cross-core work is typed: a key operation is a [`KeyOp`] answered by exactly a [`KeyReply`]
//! (hot path, a slot in a per-core table, no allocation); anything else is a closure run on the
//! owning core whose typed result comes back through a oneshot ([`Core::on_core`]). Key calls are
//! bounded per destination core (`limits.max_queued_per_core`, see [`crate::mesh::Calls`]): a
//! call past the bound is refused at once with [`Full`], which the handlers answer 503.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::respond::Responder;
use super::shared::NodeShared;
use super::shutdown::ShutdownSignal;
use crate::cluster::{PeerClient, PeerSettings};
use crate::config::{Config, IdlePoll};
use crate::mesh::{oneshot, Calls, Full, Ticket};
use crate::metrics::{inc, CoreMetrics};
use crate::storage::{KeyOp, KeyReply, Shard, ShardLimits};

/// The mailbox message type of this node: closures see the receiving core's context.
pub(crate) type Msg = crate::mesh::Msg<Rc<Core>>;

/// One core's shard and the key-operation calls to the other cores' shards.
pub(crate) struct ShardExec {
    pub core: usize,
    pub shard: RefCell<Shard>,
    calls: Calls<KeyReply>,
    node: Arc<NodeShared>,
    /// [`Self::now_ms`] while a connection answers a batch of pipelined requests (`pin_now`).
    pinned_ms: Cell<Option<u64>>,
    /// Until when this core's mailbox task polls instead of parking (`tasks::mailbox_loop`).
    pub spin_until: Cell<Option<Instant>>,
    /// `idle_poll: always`: spin this long after each key call, so the reply finds this core
    /// awake ([`crate::mesh::SPIN_AFTER_CALL`]); `None` otherwise.
    spin_after_call: Option<Duration>,
}

impl ShardExec {
    fn new(core: usize, node: Arc<NodeShared>) -> ShardExec {
        let cores = node.placement.cores();
        let cfg = &node.cfg;
        // Split the node's limits evenly across cores; round up so the node total is never below
        // the configured cache_size.
        let limits = ShardLimits {
            max_entries: cfg.cache_size.div_ceil(cores).max(1),
            max_bytes: if cfg.max_memory == 0 {
                0
            } else {
                cfg.max_memory.div_ceil(cores as u64)
            },
            // Kept by a node alone too: a delete must win over an older write replayed later
            // (an import of an earlier export), as on a cluster.
            tombstone_ttl_ms: cfg.tombstone_ttl.as_millis() as u64,
        };
        let mut shard = Shard::new(limits);
        // Every mutation bumps the node's write epochs: copies on other cores see it.
        shard.set_stripes(Arc::clone(&node.stripes));
        ShardExec {
            core,
            shard: RefCell::new(shard),
            calls: Calls::new(cores, cfg.limits.max_queued_per_core),
            spin_after_call: (cfg.idle_poll == IdlePoll::Always)
                .then_some(crate::mesh::SPIN_AFTER_CALL),
            node,
            pinned_ms: Cell::new(None),
            spin_until: Cell::new(None),
        }
    }

    /// Cores of this node.
    pub(crate) fn cores(&self) -> usize {
        self.node.placement.cores()
    }

    /// The core whose shard holds `key`.
    pub(crate) fn core_of(&self, key: &[u8]) -> usize {
        self.node.placement.core_of(key)
    }

    /// The node's TTL clock at `at`, a monotonic reading just taken (see `Clock::ms_at`).
    #[inline]
    pub(crate) fn ms_at(&self, at: std::time::Instant) -> u64 {
        self.node.clock.ms_at(at)
    }

    /// Now on the node's TTL clock, in milliseconds.
    #[inline]
    pub(crate) fn now_ms(&self) -> u64 {
        match self.pinned_ms.get() {
            Some(ms) => ms,
            None => self.node.clock.now_ms(),
        }
    }

    /// Make [`Self::now_ms`] return `ms` until [`Self::unpin_now`]: the requests of one pipelined
    /// batch arrived together, so one clock read serves them all (set only around synchronous
    /// work, never across an await, so no other task sees a stale time).
    #[inline]
    pub(crate) fn pin_now(&self, ms: u64) {
        self.pinned_ms.set(Some(ms));
    }

    #[inline]
    pub(crate) fn unpin_now(&self) {
        self.pinned_ms.set(None);
    }

    /// Run `op` on this core's shard.
    pub(crate) fn execute(&self, op: KeyOp, key: &[u8]) -> KeyReply {
        self.shard.borrow_mut().execute(op, key, self.now_ms())
    }

    /// Send `op` to core `dst`; the ticket resolves to its reply. [`Full`] when this core has
    /// its whole share of `limits.max_queued_per_core` outstanding at `dst` already (`dst` is
    /// stalled or overloaded): nothing is sent then.
    #[inline]
    pub(crate) fn call(&self, dst: usize, op: KeyOp, key: &[u8]) -> Result<Ticket<KeyReply>, Full> {
        let ticket = self.calls.reserve(dst)?;
        let msg = Msg::Key {
            from: self.core as u16,
            slot: ticket.id(),
            op,
            key: crate::mesh::CallKey::new(key),
        };
        self.node.mesh.send(dst, msg);
        if let Some(window) = self.spin_after_call {
            self.spin_at_least(window);
        }
        Ok(ticket)
    }

    /// Keep this core's mailbox polling for at least `window` from now (never shortens a
    /// later deadline), waking its task if it had parked.
    pub(crate) fn spin_at_least(&self, window: Duration) {
        let until = Instant::now() + window;
        if self.spin_until.get().is_none_or(|t| t < until) {
            self.spin_until.set(Some(until));
            self.node.mesh.nudge(self.core);
        }
    }

    /// A reply from core `from` to one of this core's calls arrived (mailbox task): it also
    /// returns the call's credit toward `from`.
    pub(crate) fn deliver(&self, from: usize, slot: u32, reply: KeyReply) {
        self.calls.complete(from, slot, reply);
    }
}

/// Everything one core owns, as separate parts.
pub(crate) struct Core {
    pub exec: ShardExec,
    pub resp: Responder,
    /// The access check: this core's copy of the secrets and the token classes.
    pub authz: super::authz::Authz,
    pub peers: Rc<PeerClient>,
    pub node: Arc<NodeShared>,
    pub shutdown: ShutdownSignal,
    /// Reusable buffer for a PUT value being minified (never held across an await).
    pub value_buf: RefCell<Vec<u8>>,
    /// Writes kept for replicas that could not take them (this core's share).
    pub hints: RefCell<super::hints::Hints>,
    /// The `foreign_epoch` this core last swept for keys it does not replicate.
    pub foreign_seen: Cell<u64>,
    /// When this core's heartbeat last ran: a much later "now" means the process was stopped
    /// (SIGSTOP, a VM pause) and may have missed writes (see `sync::check_stall`).
    pub last_beat: Cell<std::time::Instant>,
    /// A hint delivery runs on this core (one at a time).
    pub delivering: Cell<bool>,
    /// This core's hot-key tracker (reads counted, copies and coalescing decided on it).
    pub hot: super::hot::HotKeys,
    /// This core's read copies of hot keys other cores own (`hot::local`).
    pub copies: super::hot::local::LocalCopies,
    /// The membership epoch this core last reacted to, and the last one it started moving keys
    /// for (`migrate`).
    pub seen_epoch: Cell<u64>,
    pub moving_epoch: Cell<u64>,
    /// Members down in this node's view when this core last started a pass of that move.
    pub moving_down: Cell<usize>,
    /// The change whose keys this core finished moving with every batch delivered: after it
    /// settles, the copies it no longer replicates are forgotten without being sent again.
    pub moved: RefCell<Option<Arc<crate::cluster::Topology>>>,
    /// This core's copy of the membership in force, for routing key requests.
    pub topology: crate::cluster::local::LocalTopology,
}

impl Core {
    pub(crate) fn new(core: usize, node: Arc<NodeShared>) -> Core {
        let cfg = &node.cfg;
        let c = &cfg.cluster;
        let settings = PeerSettings {
            connect_timeout: c.connect_timeout,
            request_timeout: c.request_timeout,
            max_value_bytes: cfg.max_value_bytes,
            pool_max_idle: c.pool_max_idle,
            pool_max_total: c.pool_max_total,
            max_queued: c.max_queued_per_peer,
        };
        let peers = crate::cluster::MAX_MEMBERS;
        // One copy of the secrets per core, for the access check and the peer client alike.
        let keys = crate::auth::LocalKeyring::new(Arc::clone(&node.auth));
        Core {
            exec: ShardExec::new(core, Arc::clone(&node)),
            resp: Responder::new(
                &cfg.node_id,
                CoreMetrics::new(peers),
                cfg.access_log_every,
                &cfg.cache_control_no_ttl,
            ),
            peers: PeerClient::new(core, Arc::clone(&node.cluster), settings, Rc::clone(&keys)),
            authz: super::authz::Authz::new(keys, cfg.tls.peer_client_certs),
            shutdown: ShutdownSignal::default(),
            value_buf: RefCell::new(Vec::new()),
            hints: RefCell::new(super::hints::Hints::new(
                peers,
                c.hint_max_entries.div_ceil(node.placement.cores()),
                c.hint_max_bytes.div_ceil(node.placement.cores() as u64),
            )),
            foreign_seen: Cell::new(0),
            last_beat: Cell::new(std::time::Instant::now()),
            delivering: Cell::new(false),
            hot: super::hot::HotKeys::new(&cfg.hot_keys),
            copies: super::hot::local::LocalCopies::new(&cfg.hot_keys),
            seen_epoch: Cell::new(0),
            moving_epoch: Cell::new(0),
            moving_down: Cell::new(0),
            moved: RefCell::new(None),
            topology: crate::cluster::local::LocalTopology::new(Arc::clone(&node.cluster)),
            node,
        }
    }

    pub(crate) fn cfg(&self) -> &Config {
        &self.node.cfg
    }

    pub(crate) fn draining(&self) -> bool {
        self.shutdown.fired() || self.node.draining.load(Ordering::Relaxed)
    }

    /// Run `f` on core `dst` with that core's context and return its result (cold path: one
    /// allocation for the closure and one for the answer). Fails only when core `dst` stopped.
    pub(crate) async fn on_core<T, F>(
        self: &Rc<Self>,
        dst: usize,
        f: F,
    ) -> Result<T, oneshot::Canceled>
    where
        T: Send + 'static,
        F: FnOnce(&Rc<Core>) -> T + Send + 'static,
    {
        if dst == self.exec.core {
            return Ok(f(self));
        }
        inc(&self.resp.metrics.cross_core_calls);
        let (tx, rx) = oneshot::channel();
        let task: crate::mesh::Task<Rc<Core>> = Box::new(move |c| tx.send(f(c)));
        self.node.mesh.send(dst, Msg::Run(task));
        rx.recv().await
    }

    /// Run `f` on every core, one after the other, and collect the results in core order.
    pub(crate) async fn on_every_core<T, F>(
        self: &Rc<Self>,
        f: F,
    ) -> Result<Vec<T>, oneshot::Canceled>
    where
        T: Send + 'static,
        F: Fn(&Rc<Core>) -> T + Send + Clone + 'static,
    {
        let mut out = Vec::with_capacity(self.exec.cores());
        for core in 0..self.exec.cores() {
            out.push(self.on_core(core, f.clone()).await?);
        }
        Ok(out)
    }
}
