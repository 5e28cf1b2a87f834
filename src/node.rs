//! A running node: one pinned worker thread per core, each with its own monoio runtime, listener
//! and shard, wired together by the mesh. [`Node`] is the handle `main` and the tests use.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use crate::clock::Clock;
use crate::cluster::Cluster;
use crate::config::{Config, IoDriver, WorkerScheduling};
use crate::mesh::Mesh;
use crate::server::core::{Core, Msg};
use crate::server::shared::{CoreHash, NodeShared};
use crate::server::tasks;

pub mod idle;
pub mod uring;

use uring::RingSetup;

/// Why a node could not start (printed by `main`, returned to tests).
#[derive(Debug)]
pub struct StartError(pub String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

pub struct Node {
    shared: Arc<NodeShared>,
    threads: Vec<JoinHandle<()>>,
    prober: Option<JoinHandle<()>>,
    driver: IoDriver,
    /// `idle_poll: always`: the threads that keep the workers' CPUs awake (stopped on drop).
    _pollers: Option<idle::Pollers>,
}

/// The driver `auto` resolves to on this kernel.
pub fn resolve_driver(d: IoDriver) -> Result<IoDriver, StartError> {
    uring::resolve(d).map(|(driver, _)| driver)
}

impl Node {
    /// Bind, spawn the workers and return once every core is accepting.
    pub fn start(cfg: Config) -> Result<Node, StartError> {
        Node::start_with_clock(cfg, Clock::monotonic())
    }

    /// [`Node::start`] with the clock TTLs are measured on (tests pass [`Clock::manual`]).
    ///
    /// [`Clock::manual`]: crate::clock::Clock::manual
    pub fn start_with_clock(cfg: Config, clock: Clock) -> Result<Node, StartError> {
        let (driver, ring) = uring::resolve(cfg.io_driver)?;
        let auth = crate::auth::Keyring::start(&cfg).map_err(|e| StartError(e.to_string()))?;
        // Held until every core has bound its listener (see `listen`).
        let claim = crate::listen::claim(cfg.listen).map_err(StartError)?;
        let local_addr = claim.addr;
        let admin_claim = match cfg.admin_listen {
            Some(a) => Some(
                crate::listen::claim(a).map_err(|e| StartError(format!("admin_address: {e}")))?,
            ),
            None => None,
        };
        let admin_addr = admin_claim.as_ref().map(|c| c.addr);
        let cores = cfg.threads.max(1);
        if ring.explicit && driver == IoDriver::Uring {
            crate::info!(
                "io_uring ring set up as {} ({}/{})",
                ring.describe(),
                uring::SETUP_ENV,
                uring::ENTRIES_ENV
            );
        }
        let co = crate::cpus::co_location(&cfg.node_id, &cfg.address, &cfg.cluster_nodes);
        let batch = cfg.worker_scheduling == WorkerScheduling::Batch;
        if co.count > 1 {
            let cpus = crate::cpus::allowed().len();
            let pinning = if cfg.pin_threads {
                let plan = crate::cpus::plan(&cfg.node_id, &cfg.address, &cfg.cluster_nodes);
                format!("pinned to CPUs {plan:?}")
            } else if co.count > cpus && cpus > 0 {
                format!("not pinned: {} members share {cpus} CPUs, so none has a CPU of its own and the scheduler places them (pin_threads: true pins them anyway)", co.count)
            } else {
                "not pinned (pin_threads: false)".to_string()
            };
            crate::info!(
                "{} members of the cluster run on this host: {} worker threads, {pinning} (see threads and pin_threads in config/example.yaml)",
                co.count,
                cores,
            );
        }
        if batch {
            crate::info!(
                "worker threads run SCHED_BATCH (worker_scheduling: batch): a woken worker waits for the thread on its CPU to sleep or its slice to end"
            );
        }
        let mut cluster = Cluster::new(&cfg).map_err(|e| StartError(e.to_string()))?;
        // TLS for the listeners and the links to peers (checked as the peers will check it).
        let own = (!cluster.is_standalone()).then(|| cluster.member(cluster.me).addr.clone());
        cluster.tls = crate::tls::Tls::load(&cfg.tls, own.as_deref())
            .map_err(|e| StartError(e.to_string()))?;
        let cluster = Arc::new(cluster);
        if !cluster.is_standalone() {
            // Until it caught up from its peers this node coordinates nothing (see server::sync).
            cluster.set_state(cluster.me, crate::cluster::MemberState::Syncing);
        }
        let placement = CoreHash::new(cores);
        let preload = crate::server::snapshot::load(&cfg, &placement);
        let shared = Arc::new(NodeShared {
            mesh: Mesh::new(cores),
            placement,
            started: Instant::now(),
            started_wall: SystemTime::now(),
            draining: Arc::new(AtomicBool::new(false)),
            conns: Default::default(),
            local_addr,
            admin_addr,
            io_driver: driver,
            heartbeats: Arc::new(crate::watchdog::Heartbeats::new(cores)),
            hlc: crate::storage::version::Hlc::new(),
            sync: crate::server::sync::SyncState::default(),
            foreign_epoch: std::sync::atomic::AtomicU64::new(0),
            auth,
            imports: Default::default(),
            flushes: Default::default(),
            stripes: Default::default(),
            leases: crate::server::hot::lease::Leases::new(
                &cfg.hot_keys,
                crate::cluster::MAX_MEMBERS,
            ),
            cluster,
            clock,
            cfg,
        });
        let (tx, rx) = mpsc::channel::<Result<(), String>>();
        let mut threads = Vec::with_capacity(cores);
        for (core, entries) in preload.into_iter().enumerate() {
            let shared = Arc::clone(&shared);
            let tx = tx.clone();
            let name = format!("{}-w{core}", shared.cfg.node_id);
            let h = std::thread::Builder::new()
                .name(name)
                .spawn(move || worker_thread(core, shared, (driver, ring, batch), tx, entries))
                .map_err(|e| StartError(format!("cannot spawn worker thread {core}: {e}")))?;
            threads.push(h);
        }
        drop(tx);
        let mut failure = None;
        for _ in 0..cores {
            match rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    failure.get_or_insert(e);
                }
                Err(_) => {
                    failure
                        .get_or_insert_with(|| "a worker thread died during start-up".to_string());
                    break;
                }
            }
        }
        drop(claim);
        drop(admin_claim);
        let mut node = Node {
            shared,
            threads,
            driver,
            prober: None,
            _pollers: None,
        };
        if failure.is_none() {
            node._pollers = start_pollers(&node.shared, cores);
            node.prober = spawn_prober(&node.shared);
            if !node.shared.cluster.is_standalone() {
                node.shared
                    .mesh
                    .send(0, Msg::Run(Box::new(crate::server::sync::request)));
            }
        }
        if let Some(e) = failure {
            node.shutdown();
            node.wait(Duration::from_secs(2));
            return Err(StartError(e));
        }
        if let Some(admin) = node.shared.admin_addr {
            crate::info!(
                "serving /admin/* on {admin} (admin_address); {} answers /admin/* with 404 except to the other nodes",
                node.shared.local_addr
            );
        }
        Ok(node)
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr
    }

    /// Where `/admin/*` is served when `admin_address` is set (the bound address; `None` when
    /// `/admin` is served on [`Node::local_addr`]).
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.shared.admin_addr
    }

    pub fn driver(&self) -> IoDriver {
        self.driver
    }

    /// The cluster view (membership, ring), for tests and tools.
    pub fn cluster(&self) -> &Cluster {
        &self.shared.cluster
    }

    pub fn threads(&self) -> usize {
        self.shared.mesh.cores()
    }

    /// The cores' progress counters, for the systemd watchdog (`watchdog::spawn`).
    pub fn heartbeats(&self) -> Arc<crate::watchdog::Heartbeats> {
        Arc::clone(&self.shared.heartbeats)
    }

    /// SIGHUP: re-read the secrets and the `tls:` files. What fails to load keeps its previous version in force;
    /// each part logs what changed or why it did not. Cores pick the new secrets up on their
    /// next request (the keyring's generation moved).
    pub fn reload(&self) {
        let _ = self.shared.auth.reload_logged();
        if let Some(tls) = &self.shared.cluster.tls {
            match tls.reload() {
                Ok(()) => crate::info!("tls: certificate, key and CA reloaded (tls.cert_file {}); new connections use them", self.shared.cfg.tls.cert_file),
                Err(e) => crate::warn!("tls: reload failed, the previous certificate stays in use: {e}"),
            }
        }
    }

    /// The state every core shares (tests reach a core through its mailbox).
    #[cfg(test)]
    pub(crate) fn shared(&self) -> &Arc<NodeShared> {
        &self.shared
    }

    /// Stop accepting, let in-flight requests finish, close idle connections.
    pub fn shutdown(&self) {
        if self.shared.draining.swap(true, Ordering::SeqCst) {
            return;
        }
        let cl = &self.shared.cluster;
        if !cl.is_standalone() {
            cl.set_state(cl.me, crate::cluster::MemberState::Draining);
            let secrets = self.shared.auth.current();
            let auth = secrets.cluster_authorization();
            crate::cluster::probe::notify_leaving(cl, &self.shared.cfg.cluster, auth);
        }
        for core in 0..self.shared.mesh.cores() {
            self.shared
                .mesh
                .send(core, Msg::Run(Box::new(|c| c.shutdown.fire())));
        }
    }

    /// Wait for the workers to finish, at most `limit`; true when all did.
    pub fn wait(self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self
                .threads
                .iter()
                .chain(self.prober.iter())
                .all(|t| t.is_finished())
            {
                for t in self.threads.into_iter().chain(self.prober) {
                    let _ = t.join();
                }
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }
}

/// Start the prober; membership changes it sees reach every core as a closure in its mailbox.
fn spawn_prober(shared: &Arc<NodeShared>) -> Option<JoinHandle<()>> {
    let node = Arc::clone(shared);
    let on_change = Box::new(move || {
        for core in 0..node.mesh.cores() {
            node.mesh
                .send(core, Msg::Run(Box::new(tasks::on_ring_change)));
        }
    });
    crate::cluster::probe::spawn(
        Arc::clone(&shared.cluster),
        shared.cfg.cluster.clone(),
        shared.cfg.node_id.clone(),
        Arc::clone(&shared.draining),
        on_change,
        Arc::clone(&shared.auth),
    )
}

/// With `idle_poll: always`, one poller on each CPU the workers run on (this node's share of
/// the host, as the workers are pinned to it). With the workers pinned, each poller also
/// watches the mailboxes of the workers on its CPU ([`MailboxWatch`]).
fn start_pollers(shared: &Arc<NodeShared>, cores: usize) -> Option<idle::Pollers> {
    let cfg = &shared.cfg;
    if cfg.idle_poll != crate::config::IdlePoll::Always {
        return None;
    }
    let plan = crate::cpus::plan(&cfg.node_id, &cfg.address, &cfg.cluster_nodes);
    if plan.is_empty() {
        crate::warn!("idle_poll: always: the CPUs this node may run on are unknown; no pollers");
        return None;
    }
    let cpus: Vec<usize> = (0..cores).map(|core| plan[core % plan.len()]).collect();
    crate::info!(
        "idle_poll: always: CPUs {cpus:?} are kept awake by lowest-priority (SCHED_IDLE) pollers; they show as busy in top"
    );
    Some(idle::Pollers::start_with(&cfg.node_id, &cpus, |cpu| {
        // Unpinned workers may run anywhere: a wake-up from the poller's CPU would save nothing.
        if !cfg.pin_threads {
            return None;
        }
        let cores = (0..cores).filter(|&c| cpus[c] == cpu).collect();
        let shared = Arc::clone(shared);
        Some(Box::new(MailboxWatch { shared, cores }) as Box<dyn idle::Duty>)
    }))
}

/// A poller's duty: watch the mailboxes of `cores`, the workers pinned to its CPU, waking them
/// from their own CPU (`mesh::watch`).
struct MailboxWatch {
    shared: Arc<NodeShared>,
    cores: Vec<usize>,
}

impl idle::Duty for MailboxWatch {
    fn round(&mut self) {
        self.shared.mesh.watch_round(&self.cores);
    }

    fn retire(&mut self) {
        self.shared.mesh.unwatch(&self.cores);
    }
}

fn worker_thread(
    core: usize,
    shared: Arc<NodeShared>,
    (driver, ring, batch): (IoDriver, RingSetup, bool),
    ready: mpsc::Sender<Result<(), String>>,
    preload: Vec<crate::storage::Entry>,
) {
    crate::log::set_thread_node(&shared.cfg.node_id);
    if batch {
        if let Err(e) = crate::cpus::schedule_batch() {
            crate::warn!("worker {core}: cannot run SCHED_BATCH ({e}); scheduled as normal");
        }
    }
    if shared.cfg.pin_threads {
        // This node's share of the host's CPUs (all of them unless other members of the
        // cluster run on this host too).
        let cfg = &shared.cfg;
        let cpus = crate::cpus::plan(&cfg.node_id, &cfg.address, &cfg.cluster_nodes);
        if !cpus.is_empty() {
            crate::cpus::pin(cpus[core % cpus.len()]);
        }
    }
    let fut = worker_main(core, shared, ready.clone(), preload);
    let built = match driver {
        IoDriver::Uring => uring_runtime(ring).map(|mut rt| rt.block_on(fut)),
        _ => monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .map(|mut rt| rt.block_on(fut)),
    };
    if let Err(e) = built {
        let ring = match driver {
            IoDriver::Uring => format!(" (ring: {})", ring.describe()),
            _ => String::new(),
        };
        let _ = ready.send(Err(format!(
            "core {core}: cannot build the {driver} runtime{ring}: {e}"
        )));
    }
}

/// A worker's io_uring runtime, its ring set up as [`RingSetup`] says (see `node/uring.rs` for
/// the flags and why `coop` is the default). Built on the worker thread itself: with
/// `single_defer` the kernel accepts submissions only from the thread that created the ring.
fn uring_runtime(
    ring: RingSetup,
) -> std::io::Result<monoio::Runtime<monoio::time::TimeDriver<monoio::IoUringDriver>>> {
    monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
        .with_entries(ring.entries)
        .uring_builder(ring.builder())
        .enable_timer()
        .build()
}

async fn worker_main(
    core: usize,
    shared: Arc<NodeShared>,
    ready: mpsc::Sender<Result<(), String>>,
    preload: Vec<crate::storage::Entry>,
) {
    let bound = bind_core(core, shared.local_addr, "address").and_then(|main| {
        let admin = shared
            .admin_addr
            .map(|a| bind_core(core, a, "admin_address"));
        Ok((main, admin.transpose()?))
    });
    let (listener, admin) = match bound {
        Ok(l) => l,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let c = Rc::new(Core::new(core, shared));
    if !preload.is_empty() {
        // Versions written before the restart must stay older than the ones issued after it.
        let newest = preload.iter().map(|e| e.version).max().unwrap_or(0);
        c.node.hlc.observe(newest);
        let now = c.exec.now_ms();
        c.exec.shard.borrow_mut().load(preload, false, now);
        // Loading is work, not a stall (see server::sync).
        c.last_beat.set(Instant::now());
    }
    let _ = ready.send(Ok(()));
    drop(ready);
    tasks::run(c, listener, admin).await;
}

/// This core's `SO_REUSEPORT` listener on `addr` (the `what` setting), or why not.
fn bind_core(
    core: usize,
    addr: SocketAddr,
    what: &str,
) -> Result<monoio::net::TcpListener, String> {
    tasks::bind(addr).map_err(|e| {
        let why = if e.kind() == std::io::ErrorKind::AddrInUse {
            "address already in use".to_string()
        } else {
            e.to_string()
        };
        format!("core {core}: bind {what} {addr}: {why}")
    })
}
