//! One worker per core: its monoio runtime, its shard, its listener and everything it serves.
//!
//! The worker owns a [`Shard`] that no other thread touches, accepts its own connections from a
//! `SO_REUSEPORT` listener, and runs three kinds of tasks: the accept loop, one task per connection,
//! and the mailbox task that executes calls from other cores on this core's shard and delivers
//! replies to the connections waiting here. Everything in [`Worker`] is core-local (`Rc`, `Cell`,
//! `RefCell`); only the mesh and [`Shared`] cross threads.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use monoio::net::{ListenerOpts, TcpListener};

use crate::cluster::pool::PeerPool;
use crate::cluster::Cluster;
use crate::config::Config;
use crate::http::response::DateCache;
use crate::mesh::{Mesh, Pending, Ticket};
use crate::metrics::{inc, CoreMetrics};
use crate::ops::{op_key, op_load, op_scan, Call, KeyOp, Msg, Reply};
use crate::storage::{Shard, ShardLimits};

/// How many mailbox messages a core handles before yielding to its connections, so a flood of
/// cross-core calls cannot starve local I/O.
const MAILBOX_BATCH: usize = 256;
/// Back-off after an accept error such as EMFILE, so a full fd table does not spin the core.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(20);
/// Listen backlog per worker socket (the kernel caps it at net.core.somaxconn).
pub const LISTEN_BACKLOG: i32 = 4096;

/// State shared by all cores of one node (read-mostly; atomics only on rare paths).
pub struct Shared {
    pub cfg: Config,
    pub mesh: Mesh<Msg>,
    pub started: Instant,
    pub started_wall: SystemTime,
    pub draining: AtomicBool,
    pub connections: AtomicUsize,
    pub local_addr: SocketAddr,
    /// Hash keys to cores: fixed seeds so every core agrees; independent of the ring hash.
    pub core_hasher: ahash::RandomState,
    pub cluster: Cluster,
    /// The clock TTLs are measured on (manual in tests).
    pub clock: crate::clock::Clock,
}

impl Shared {
    /// The core whose shard holds `key`.
    pub fn core_of(&self, key: &[u8]) -> usize {
        let n = self.mesh.cores();
        if n == 1 {
            return 0;
        }
        let h = self.core_hasher.hash_one(key);
        // Lemire's fast range: uniform over 0..n without a division.
        ((u128::from(h) * n as u128) >> 64) as usize
    }
}


/// Wakes every connection of this core when shutdown begins (idle keep-alive reads are cancelled).
#[derive(Default)]
pub struct ShutdownSignal {
    fired: Cell<bool>,
    wakers: RefCell<Vec<Option<Waker>>>,
    free: RefCell<Vec<usize>>,
}

impl ShutdownSignal {
    pub fn fired(&self) -> bool {
        self.fired.get()
    }

    pub fn fire(&self) {
        self.fired.set(true);
        let wakers: Vec<Waker> = self
            .wakers
            .borrow_mut()
            .iter_mut()
            .filter_map(Option::take)
            .collect();
        for w in wakers {
            w.wake();
        }
    }

    /// Register a listener slot (one per connection, reused across its reads).
    pub fn register(&self) -> usize {
        match self.free.borrow_mut().pop() {
            Some(i) => i,
            None => {
                let mut w = self.wakers.borrow_mut();
                w.push(None);
                w.len() - 1
            }
        }
    }

    pub fn unregister(&self, slot: usize) {
        if let Some(w) = self.wakers.borrow_mut().get_mut(slot) {
            *w = None;
        }
        self.free.borrow_mut().push(slot);
    }

    /// Resolves when shutdown fires.
    pub async fn wait(&self, slot: usize) {
        poll_fn(|cx| {
            if self.fired.get() {
                return Poll::Ready(());
            }
            let mut w = self.wakers.borrow_mut();
            if let Some(entry) = w.get_mut(slot) {
                match entry {
                    Some(old) if old.will_wake(cx.waker()) => {}
                    _ => *entry = Some(cx.waker().clone()),
                }
            }
            Poll::Pending
        })
        .await
    }
}

/// Everything one core owns.
pub struct Worker {
    pub core: usize,
    pub shared: Arc<Shared>,
    pub shard: RefCell<Shard>,
    pub pending: Rc<Pending<Reply>>,
    pub metrics: CoreMetrics,
    pub date: RefCell<DateCache>,
    pub shutdown: ShutdownSignal,
    /// Node id as a header value, ready to copy.
    pub node_header: Bytes,
    /// Reusable buffer for small response bodies (never held across an await).
    pub scratch: RefCell<Vec<u8>>,
    /// Reusable buffer for a PUT value being minified (never held across an await).
    pub value_buf: RefCell<Vec<u8>>,
    /// This core's keep-alive connections to peers.
    pub pool: Rc<PeerPool>,
    /// A forwarded write stored a key this node does not own (the sender's ring view differed):
    /// the next sweep tick hands such keys to their owner.
    pub foreign_keys: Cell<bool>,
    /// This core's per-peer forward queues.
    pub batcher: Rc<crate::cluster::batch::Batcher>,
    next_id: Cell<u64>,
    /// This core's handle on the node's TTL clock.
    pub clock: crate::clock::Clock,
}

impl Worker {
    pub fn new(core: usize, shared: Arc<Shared>) -> Worker {
        let cores = shared.mesh.cores();
        let cfg = &shared.cfg;
        // Split the node's limits evenly across cores; round up so the node total is never below
        // the configured cache_size.
        let limits = ShardLimits {
            max_entries: cfg.cache_size.div_ceil(cores).max(1),
            max_bytes: if cfg.max_memory == 0 {
                0
            } else {
                cfg.max_memory.div_ceil(cores as u64)
            },
        };
        let node_header = Bytes::from(cfg.node_id.clone().into_bytes());
        let peers = shared.cluster.members.len();
        let pool = PeerPool::new(peers, cfg.cluster.pool_max_idle, cfg.cluster.pool_max_total);
        Worker {
            core,
            shard: RefCell::new(Shard::new(limits)),
            pending: Rc::new(Pending::default()),
            metrics: CoreMetrics::new(peers),
            date: RefCell::new(DateCache::default()),
            shutdown: ShutdownSignal::default(),
            node_header,
            scratch: RefCell::new(Vec::with_capacity(256)),
            value_buf: RefCell::new(Vec::new()),
            pool,
            batcher: crate::cluster::batch::Batcher::new(peers),
            foreign_keys: Cell::new(false),
            next_id: Cell::new(0),
            clock: shared.clock.clone(),
            shared,
        }
    }

    /// A request id unique within this process: core number in the top byte, a counter below.
    pub fn next_request_id(&self) -> u64 {
        let n = self.next_id.get().wrapping_add(1) & ((1 << 56) - 1);
        self.next_id.set(n);
        ((self.core as u64) << 56) | n
    }

    /// Now on the TTL clock, in milliseconds.
    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    pub fn cfg(&self) -> &Config {
        &self.shared.cfg
    }

    pub fn draining(&self) -> bool {
        self.shutdown.fired() || self.shared.draining.load(Ordering::Relaxed)
    }

    /// Send `call` to core `dst`; the returned ticket resolves to the reply.
    pub fn call(&self, dst: usize, call: Call) -> Ticket<Reply> {
        let ticket = self.pending.reserve();
        self.shared.mesh.send(
            dst,
            Msg::Call {
                from: self.core as u16,
                slot: ticket.id(),
                call,
            },
        );
        ticket
    }

    /// Run `call` on this core's own shard, synchronously.
    pub fn execute(&self, call: Call) -> Reply {
        let now = self.now_ms();
        match call {
            Call::Key { op, key } => {
                Reply::Key(op_key(&mut self.shard.borrow_mut(), op, &key, now))
            }
            Call::Stats => Reply::Stats(self.shard.borrow().stats()),
            Call::Snapshot => {
                let stats = self.shard.borrow().stats();
                Reply::Snapshot(Box::new(self.metrics.snapshot(self.core, stats)))
            }
            Call::Scan { cursor, max } => {
                let (entries, next) = op_scan(&self.shard.borrow(), cursor, max, now);
                Reply::Scan { entries, next }
            }
            Call::Load {
                entries,
                only_missing,
            } => {
                let (stored, rejected) =
                    op_load(&mut self.shard.borrow_mut(), entries, only_missing, now);
                Reply::Loaded { stored, rejected }
            }
        }
    }

    /// Run `call` on core `dst`: directly when it is this core, else over the mesh.
    pub async fn run_on(&self, dst: usize, call: Call) -> Reply {
        if dst == self.core {
            return self.execute(call);
        }
        inc(&self.metrics.cross_core_calls);
        self.call(dst, call).wait().await
    }

    /// Run a key op on whichever core owns the key.
    pub async fn key_op(&self, key: Bytes, op: KeyOp) -> Reply {
        let dst = self.shared.core_of(&key);
        self.run_on(dst, Call::Key { op, key }).await
    }
}

/// Drain this core's mailbox forever: execute calls on our shard, deliver replies locally.
async fn mailbox_loop(w: Rc<Worker>) {
    let mesh = &w.shared.mesh;
    loop {
        let first = mesh.recv(w.core).await;
        let mut msg = Some(first);
        let mut handled = 0;
        while let Some(m) = msg {
            match m {
                Msg::Call { from, slot, call } => {
                    let reply = w.execute(call);
                    mesh.send(from as usize, Msg::Reply { slot, reply });
                }
                Msg::Reply { slot, reply } => w.pending.complete(slot, reply),
                Msg::Shutdown => w.shutdown.fire(),
                Msg::RingChanged => {
                    // A peer restarted or vanished: its idle keep-alive connections are dead.
                    for peer in 0..w.shared.cluster.members.len() {
                        w.pool.discard_idle(peer);
                    }
                    monoio::spawn(crate::cluster_api::migrate_foreign(Rc::clone(&w)));
                }
            }
            handled += 1;
            if handled >= MAILBOX_BATCH {
                break;
            }
            msg = mesh.try_recv(w.core);
        }
        if handled >= MAILBOX_BATCH {
            monoio::spawn(async {}).await;
        }
    }
}

/// Active TTL expiry: a bounded sweep every tick.
async fn sweep_loop(w: Rc<Worker>) {
    let every = w.cfg().storage.sweep_interval;
    let budget = w.cfg().storage.sweep_budget;
    loop {
        monoio::time::sleep(every).await;
        w.shard.borrow_mut().sweep(w.now_ms(), budget);
        if w.foreign_keys.replace(false) {
            monoio::spawn(crate::cluster_api::migrate_foreign(Rc::clone(&w)));
        }
    }
}

/// Bind this core's listener on `addr` with SO_REUSEPORT (the node already checked that no other
/// process holds the port).
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let mut opts = ListenerOpts::new().reuse_port(true).reuse_addr(true);
    opts = opts.backlog(LISTEN_BACKLOG);
    TcpListener::bind_with_config(addr, &opts)
}

/// The worker's main task: accept until shutdown, then wait for connections to finish.
pub async fn run(w: Rc<Worker>, listener: TcpListener) {
    monoio::spawn(mailbox_loop(Rc::clone(&w)));
    monoio::spawn(sweep_loop(Rc::clone(&w)));
    let slot = w.shutdown.register();
    loop {
        let accepted = {
            let accept = listener.accept();
            let stop = w.shutdown.wait(slot);
            match crate::util::race(accept, stop).await {
                crate::util::Either::Left(r) => r,
                crate::util::Either::Right(()) => break,
            }
        };
        match accepted {
            Ok((stream, peer)) => {
                let limit = w.cfg().limits.max_connections;
                let prev = w.shared.connections.fetch_add(1, Ordering::Relaxed);
                inc(&w.metrics.connections_accepted);
                if prev >= limit {
                    inc(&w.metrics.connections_rejected);
                    monoio::spawn(crate::connection::reject(Rc::clone(&w), stream));
                    continue;
                }
                monoio::spawn(crate::connection::serve(Rc::clone(&w), stream, peer));
            }
            Err(e) => {
                crate::warn!("accept failed on {}: {e}", w.shared.local_addr);
                monoio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
            }
        }
    }
    w.shutdown.unregister(slot);
    drop(listener);
    // Drain: connections see the signal and close once their in-flight requests are answered.
    let deadline = Instant::now() + w.cfg().timeouts.shutdown;
    while w.metrics.connections_active.get() > 0 && Instant::now() < deadline {
        monoio::time::sleep(Duration::from_millis(5)).await;
    }
}
