//! The long-running tasks of one core: the mailbox, the TTL sweep, and the accept loop.
//!
//! The mailbox task executes key calls from other cores on this core's shard, delivers replies
//! to the connections waiting here, and runs cold-path closures (admin fan-out, shutdown, ring
//! changes). The accept loops take this core's connections from its own `SO_REUSEPORT` listeners
//! (`address`, and `admin_address` when set) and admit them against the connection limits.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use monoio::net::{ListenerOpts, TcpListener, TcpStream};

use super::admission::{self, Admission, Listener};
use super::core::{Core, Msg};
use super::handlers::handover::migrate_foreign;
use super::handlers::import::send_import;
use crate::config::IdlePoll;
use crate::metrics::inc;
use crate::util::{race, Either};

/// How many mailbox messages a core handles before yielding to its connections, so a flood of
/// cross-core calls cannot starve local I/O.
const MAILBOX_BATCH: usize = 256;
/// Back-off after an accept error such as EMFILE, so a full fd table does not spin the core.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(20);
/// Listen backlog per worker socket (the kernel caps it at net.core.somaxconn).
pub(crate) const LISTEN_BACKLOG: i32 = 4096;
/// How often the drain at shutdown checks whether this core's connections are gone.
const DRAIN_POLL: Duration = Duration::from_millis(5);

/// Handle one mailbox message on core `c`.
fn handle(c: &Rc<Core>, msg: Msg) {
    match msg {
        Msg::Key {
            from,
            slot,
            op,
            key,
        } => {
            let reply = c.exec.execute(op, key.as_slice());
            c.node.mesh.send(
                from as usize,
                Msg::KeyDone {
                    from: c.exec.core as u16,
                    slot,
                    reply,
                },
            );
        }
        Msg::KeyDone { from, slot, reply } => c.exec.deliver(from as usize, slot, reply),
        Msg::Run(task) => {
            // The gap before the closure may be a stop (SIGSTOP): note it first. A closure can
            // be a core's first act after SIGCONT (the prober's ring change reaches every core
            // at once), and the beat it refreshes below would otherwise hide the stop, leaving
            // the node serving copies it never caught up.
            let began = Instant::now();
            crate::server::sync::check_stall(c, began);
            let cpu = crate::server::sync::thread_cpu();
            task(c);
            // A closure may hold the core for a while (a digest over the whole shard): that is
            // work, not a stall. A stop *during* it is one: the beat moves on by the time the
            // closure ran on the CPU only, so the next check sees the time it stood still.
            let ran = crate::server::sync::thread_cpu().saturating_sub(cpu);
            c.last_beat.set(began + ran);
        }
    }
}

/// Drain this core's mailbox forever.
async fn mailbox_loop(c: Rc<Core>) {
    let mesh = &c.node.mesh;
    let me = c.exec.core;
    // After handling messages, keep polling briefly before parking (see SPIN_AFTER_ACTIVITY;
    // longer with `idle_poll: always`, whose CPUs are the node's alone).
    let relay = crate::mesh::Relay::spawn();
    let always = c.cfg().idle_poll == IdlePoll::Always;
    let window = match c.cfg().idle_poll {
        IdlePoll::Brief => crate::mesh::SPIN_AFTER_ACTIVITY,
        IdlePoll::Always => crate::mesh::SPIN_AFTER_CALL,
    };
    loop {
        let first = mesh
            .recv_spinning_until(me, &c.exec.spin_until, &relay, always)
            .await;
        handle(&c, first);
        let mut handled = 1;
        while handled < MAILBOX_BATCH {
            let Some(m) = mesh.try_recv(me) else { break };
            handle(&c, m);
            handled += 1;
        }
        c.exec.spin_at_least(window);
        if handled >= MAILBOX_BATCH {
            monoio::spawn(async {}).await;
        }
    }
}

/// A core whose mailbox a poller watches (`idle_poll: always`, pinned workers) looks at it
/// itself every [`crate::mesh::watch::BACKSTOP`]: a sender that left the wake-up to the poller
/// just before another thread took the poller's CPU is then late by that much at most.
async fn watch_backstop(c: Rc<Core>) {
    loop {
        monoio::time::sleep(crate::mesh::watch::BACKSTOP).await;
        c.node.mesh.wake_if_mail(c.exec.core);
    }
}

/// How often a core retries delivering hints to peers that take writes again (the prober's
/// "up" also triggers a delivery at once).
const HINT_RETRY: Duration = Duration::from_secs(1);

/// Active TTL expiry: a bounded sweep every tick; also hands over keys stored here that this
/// node does not replicate (a stand-in write, another ring view), and retries hint delivery.
async fn sweep_loop(c: Rc<Core>) {
    let every = c.cfg().storage.sweep_interval;
    let budget = c.cfg().storage.sweep_budget;
    let mut last_hints = Instant::now();
    let mut last_handover = Instant::now();
    loop {
        monoio::time::sleep(every).await;
        let now = c.exec.now_ms();
        c.exec.shard.borrow_mut().sweep(now, budget);
        // A hand-over scans the whole shard: at most once per HINT_RETRY however many stand-in
        // writes bumped the epoch meanwhile.
        let epoch = c.node.foreign_epoch.load(Ordering::Relaxed);
        if c.foreign_seen.get() != epoch && last_handover.elapsed() >= HINT_RETRY {
            c.foreign_seen.set(epoch);
            last_handover = Instant::now();
            monoio::spawn(migrate_foreign(Rc::clone(&c)));
        }
        if last_hints.elapsed() >= HINT_RETRY {
            last_hints = Instant::now();
            monoio::spawn(deliver_hints(Rc::clone(&c)));
        }
    }
}

/// Send this core's hints to every peer that takes writes again, in bounded batches; a batch
/// that fails goes back to the front of its queue.
pub(crate) async fn deliver_hints(c: Rc<Core>) {
    if c.delivering.replace(true) {
        return;
    }
    let cl = &c.node.cluster;
    let timeout = c.cfg().cluster.request_timeout;
    for peer in cl.peers() {
        while c.hints.borrow().pending(peer) > 0 && cl.routable(peer) {
            let now = c.exec.now_ms();
            let batch = c.hints.borrow_mut().take(peer, HINT_BATCH_BYTES, now);
            if batch.is_empty() {
                break;
            }
            match send_import(&c, peer, &batch, false, timeout).await {
                Ok(_) => c.hints.borrow_mut().delivered(batch.len() as u64),
                Err(e) => {
                    crate::info!(peer = cl.member(peer).id; "core {}: could not deliver {} hints to {}: {e}; kept", c.exec.core, batch.len(), cl.member(peer).id);
                    c.hints.borrow_mut().put_back(peer, batch, c.exec.now_ms());
                    break;
                }
            }
        }
    }
    c.delivering.set(false);
}

/// Bytes of hinted keys and values per delivery batch (one import document).
const HINT_BATCH_BYTES: u64 = 1024 * 1024;

/// Prove this core's executor still runs tasks: the watchdog thread pings systemd only while
/// every core's counter moves (a core stuck in a busy loop or a blocking call stops this task).
async fn heartbeat_loop(c: Rc<Core>) {
    loop {
        c.node.heartbeats.beat(c.exec.core);
        monoio::time::sleep(crate::watchdog::HEARTBEAT_INTERVAL).await;
    }
}

/// Cluster membership changed (runs on every core): idle connections to peers may be dead,
/// and keys this core holds for another node go to their owner.
pub(crate) fn on_ring_change(c: &Rc<Core>) {
    c.peers.discard_idle_all();
    super::migrate::on_epoch(c);
    monoio::spawn(migrate_foreign(Rc::clone(c)));
    monoio::spawn(deliver_hints(Rc::clone(c)));
}

/// Accept on one listener until shutdown; each connection is counted and admitted
/// ([`admission::admit`]) before it is served or refused.
async fn accept_loop(c: Rc<Core>, listener: TcpListener, kind: Listener) {
    let addr = match kind {
        Listener::Main => c.node.local_addr,
        Listener::Admin => c.node.admin_addr.unwrap_or(c.node.local_addr),
    };
    let slot = c.shutdown.register();
    loop {
        let accepted = match race(listener.accept(), c.shutdown.wait(slot)).await {
            Either::Left(r) => r,
            Either::Right(()) => break,
        };
        match accepted {
            Ok((stream, peer)) => {
                inc(&c.resp.metrics.connections_accepted);
                let admission = admission::admit(&c.node, peer.ip(), kind);
                let _ = stream.set_nodelay(true);
                spawn_conn(&c, stream, admission);
            }
            Err(e) => {
                crate::warn!("accept failed on {addr}: {e}");
                monoio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
            }
        }
    }
    c.shutdown.unregister(slot);
}

/// Serve or refuse one accepted connection on its own task (over TLS when configured).
fn spawn_conn(c: &Rc<Core>, stream: TcpStream, admission: Admission) {
    if super::tls_accept::enabled(c) {
        monoio::spawn(super::tls_accept::serve(Rc::clone(c), stream, admission));
        return;
    }
    match admission {
        Admission::Serve(a) => {
            monoio::spawn(super::connection::serve(Rc::clone(c), stream, false, a));
        }
        Admission::Refuse(r) => {
            monoio::spawn(super::connection::reject(Rc::clone(c), stream, r));
        }
    }
}

/// Bind this core's listener on `addr` with SO_REUSEPORT (the node already checked that no other
/// process holds the port).
pub(crate) fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let opts = ListenerOpts::new()
        .reuse_port(true)
        .reuse_addr(true)
        .backlog(LISTEN_BACKLOG);
    TcpListener::bind_with_config(addr, &opts)
}

/// The core's main task: accept until shutdown (on `address`, and on `admin_address` when set),
/// then wait for connections to finish.
pub(crate) async fn run(c: Rc<Core>, listener: TcpListener, admin: Option<TcpListener>) {
    monoio::spawn(mailbox_loop(Rc::clone(&c)));
    monoio::spawn(sweep_loop(Rc::clone(&c)));
    monoio::spawn(heartbeat_loop(Rc::clone(&c)));
    monoio::spawn(super::sync::stall_loop(Rc::clone(&c)));
    if c.cfg().idle_poll == IdlePoll::Always && c.cfg().pin_threads {
        monoio::spawn(watch_backstop(Rc::clone(&c)));
    }
    // A saved membership in the middle of a change: this core's part of the move restarts.
    super::migrate::on_epoch(&c);
    if c.exec.core == 0 {
        monoio::spawn(super::sync::anti_entropy_loop(Rc::clone(&c)));
    }
    if let Some(admin) = admin {
        monoio::spawn(accept_loop(Rc::clone(&c), admin, Listener::Admin));
    }
    accept_loop(Rc::clone(&c), listener, Listener::Main).await;
    // Drain: connections see the signal and close once their in-flight requests are answered.
    let deadline = Instant::now() + c.cfg().timeouts.shutdown;
    while c.resp.metrics.connections_active.get() > 0 && Instant::now() < deadline {
        monoio::time::sleep(DRAIN_POLL).await;
    }
    if !c.cfg().data_dir.is_empty() {
        super::snapshot::save(&c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A node of a two-member cluster whose peer is not there (nothing answers port 1); a gap of
    /// 200 ms is a stall for it (`sync::stall_threshold`: half of 2 probes 100 ms apart, the floor).
    fn clustered_node() -> crate::Node {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let yaml = format!(
            "node_id: a\naddress: \"127.0.0.1:{port}\"\ncache_size: 10\nthreads: 1\npin_threads: false\n\
             cluster_nodes:\n  a: \"127.0.0.1:{port}\"\n  b: \"127.0.0.1:1\"\n\
             cluster: {{probe_interval: 100ms, probe_timeout: 80ms, fail_after: 2}}\n"
        );
        let cfg = crate::Config::from_yaml_str(&yaml, "<test>").expect("config");
        // From a throwaway thread, as every in-process node starts (see tests/common/cluster).
        std::thread::spawn(move || crate::Node::start(cfg))
            .join()
            .expect("start thread")
            .expect("node starts")
    }

    /// Run `f` on core 0 of a [`clustered_node`], stop the node, return what `f` returned.
    fn on_core0<T: Send + 'static>(f: impl FnOnce(&Rc<Core>) -> T + Send + 'static) -> T {
        let node = clustered_node();
        let (tx, rx) = std::sync::mpsc::channel();
        let probe: crate::mesh::Task<Rc<Core>> = Box::new(move |c| {
            let _ = tx.send(f(c));
        });
        node.shared().mesh.send(0, Msg::Run(probe));
        let got = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("core 0 ran the probe");
        node.shutdown();
        node.wait(Duration::from_secs(5));
        got
    }

    #[test]
    fn a_closure_that_is_a_cores_first_act_after_a_stop_does_not_hide_the_stop() {
        let noticed = on_core0(|c| {
            // As after SIGCONT: the core last ran long ago, and a mailbox closure comes first.
            let stopped = Instant::now() - Duration::from_secs(30);
            c.last_beat.set(stopped);
            let before = c.node.sync.stalls.load(Ordering::Relaxed);
            handle(c, Msg::Run(Box::new(|_| {})));
            c.node.sync.stalls.load(Ordering::Relaxed) - before
        });
        assert_eq!(noticed, 1, "the stop before the closure counts as a stall");
    }

    #[test]
    fn a_stop_during_a_closure_is_noticed_and_its_work_is_not() {
        let seen = on_core0(|c| {
            let stalls = || c.node.sync.stalls.load(Ordering::Relaxed);
            let before = stalls();
            // Work: 400 ms on the CPU is not a stall. A test host busy enough to keep this thread
            // off its CPU for a stall's worth of that time makes it one (rightly: the process
            // was starved), so such a round says nothing and runs again.
            for _ in 0..STARVED_ROUNDS {
                let (wall, cpu) = (Instant::now(), crate::server::sync::thread_cpu());
                handle(c, Msg::Run(Box::new(|_| spin(Duration::from_millis(400)))));
                crate::server::sync::check_stall(c, Instant::now());
                let off_cpu = wall
                    .elapsed()
                    .saturating_sub(crate::server::sync::thread_cpu().saturating_sub(cpu));
                if off_cpu < crate::server::sync::stall_threshold(c.cfg()) / 2 {
                    break;
                }
                c.node.sync.stalls.store(before, Ordering::Relaxed);
            }
            let after_work = stalls() - before;
            // A thread that does not run for 400 ms (as under SIGSTOP) is one.
            let idle = || std::thread::sleep(Duration::from_millis(400));
            handle(c, Msg::Run(Box::new(move |_| idle())));
            crate::server::sync::check_stall(c, Instant::now());
            (after_work, stalls() - before)
        });
        assert_eq!(seen, (0, 1), "(stalls after working, after standing still)");
    }

    /// Rounds of work tried before the host is taken as too busy to tell work from a stall.
    const STARVED_ROUNDS: usize = 5;

    fn spin(d: Duration) {
        let t = Instant::now();
        while t.elapsed() < d {
            std::hint::spin_loop();
        }
    }
}
