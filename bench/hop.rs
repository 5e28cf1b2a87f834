//! Cross-core hop micro-benchmark: a round trip through the node's [`Mesh`] mailboxes between two
//! monoio runtimes pinned to CPU 0 and CPU 1, with 1, 16 and 64 messages in flight, on both
//! drivers. One in flight measures two cross-core wake-ups; more in flight shows how the
//! wake-only-when-asleep mailbox amortizes them (see docs/benchmarks.md, which also gives the
//! flume + oneshot reference figures).
//!
//!     cargo bench --bench hop
//!
//! Besides "park at once" (a core parks as soon as its mailbox is empty) it measures the node's
//! mailbox loop (`spin after activity`: polls `dcache::mesh::SPIN_AFTER_ACTIVITY` before it
//! parks), a longer window, round trips that start after both sides were idle for 1 ms, the
//! same with `SCHED_IDLE` pollers keeping both CPUs awake (`dcache::node::idle`, the node's
//! `idle_poll: always`, which also spins `SPIN_AFTER_CALL` after sending), and a reference futex
//! ping-pong of two plain threads (the cost of waking an idle CPU, whatever the mechanism).
//!
//! 2026-12-04 evening, another 2-vCPU KVM guest (load ~1.3; io_uring / epoll, after 1 ms idle):
//! pollers whose senders wake the loop themselves 32,936 / 27,734; `idle_poll: always`, the
//! pollers waking their own CPU's loop (`dcache::mesh::watch`), 8,685 / 9,684; park at once
//! 87,986 / 105,143. Reference thread park/unpark round trip: 67,186.
//!
//! Earlier results (2026-12-04, 2-vCPU KVM guest, load ~1; ns/op, median of 3 samples of 3 runs),
//! io_uring / epoll, 1 in flight, after 1 ms idle: park at once 66,179 / 60,214; spin after
//! activity (the node's default) 75,847 / 62,976; spin 50 µs after activity and send 53,097 /
//! 43,072; pollers with the node's spin 26,174 / 24,353; `idle_poll: always` 14,767 / 13,303.
//! Back to back: park at once 21,750 / 19,972, spin after activity 2,568 / 1,456; 16 in flight
//! 394 / 183, 64 in flight 319 / 161. Reference thread park/unpark round trip: 11,037.
//! (2026-12-03: park at once 44,163 / 48,418, after 1 ms idle 98,354 / 72,562; 2026-11-25:
//! 1 in flight 47,351 / 46,196; flume + oneshot reference: 17,400 and 590 at 1 and 16 in flight.)

#[path = "harness.rs"]
mod harness;

use std::sync::Arc;
use std::time::{Duration, Instant};

use dcache::mesh::{Calls, Mesh, Pending, Relay, Ticket};

/// Sent to core 1 to end its echo loop.
const STOP: u64 = u64::MAX;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Driver {
    Uring,
    Epoll,
}

fn pin(cpu: usize) {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET writes inside it, and
    // sched_setaffinity(0, ...) only reads it for the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu % cpus, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

fn block_on<F: std::future::Future>(driver: Driver, f: F) -> Option<F::Output> {
    match driver {
        Driver::Uring => monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
            .build()
            .ok()
            .map(|mut rt| rt.block_on(f)),
        Driver::Epoll => monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .build()
            .ok()
            .map(|mut rt| rt.block_on(f)),
    }
}

/// How the two loops wait for their next message (the node's mailbox loop does what `Spin`
/// says, see `dcache::mesh::SPIN_AFTER_ACTIVITY`).
#[derive(Clone, Copy, PartialEq, Eq)]
struct Wait {
    /// Keep polling this long after handling a message before parking (None: park at once).
    spin: Option<Duration>,
    /// A lowest-priority (`SCHED_IDLE`) busy thread on each of the two CPUs, so neither CPU
    /// ever halts while its loop is parked.
    pollers: bool,
    /// The pollers also watch the two mailboxes and wake a parked loop from its own CPU, so
    /// that senders leave the wake-up to them (`dcache::mesh::watch`, as the node's pollers do).
    watch: bool,
    /// The caller also spins right after sending a call, however long it was idle before.
    spin_after_send: bool,
    /// The caller waits this long between round trips (1 in flight only), so that both sides
    /// are idle (parked) when each round trip starts; only the round trips are timed.
    idle_gap: Option<Duration>,
}

const PARK: Wait = Wait {
    spin: None,
    pollers: false,
    watch: false,
    spin_after_send: false,
    idle_gap: None,
};

fn spin_until(spin: Option<Duration>) -> Option<Instant> {
    spin.map(|d| Instant::now() + d)
}

/// Nanoseconds per message over `total` round trips, keeping `in_flight` messages outstanding
/// (a sliding window: each reply releases the next message, as a busy connection would).
fn round_trip(driver: Driver, in_flight: u64, total: u64, wait: Wait) -> Option<f64> {
    let mesh: Arc<Mesh<u64>> = Arc::new(Mesh::new(2));
    let _pollers = wait.pollers.then(|| {
        dcache::node::idle::Pollers::start_with("hop", &[0, 1], |cpu| {
            let duty = Watch {
                mesh: Arc::clone(&mesh),
                cores: [cpu],
            };
            wait.watch
                .then(|| Box::new(duty) as Box<dyn dcache::node::idle::Duty>)
        })
    });
    let echo = {
        let mesh = Arc::clone(&mesh);
        std::thread::spawn(move || {
            pin(1);
            block_on(driver, async move {
                let relay = Relay::spawn();
                let mut until = None;
                loop {
                    let m = mesh.recv_spinning(1, until, &relay).await;
                    if m == STOP {
                        break;
                    }
                    mesh.send(0, m);
                    until = spin_until(wait.spin);
                }
            })
        })
    };
    let caller = {
        let mesh = Arc::clone(&mesh);
        std::thread::spawn(move || {
            pin(0);
            block_on(driver, async move {
                let relay = Relay::spawn();
                let mut timed = Duration::ZERO;
                let mut start = Instant::now();
                let mut sent = in_flight.min(total);
                for i in 0..sent {
                    mesh.send(1, i);
                }
                let mut until = if wait.spin_after_send {
                    spin_until(wait.spin)
                } else {
                    None
                };
                for _ in 0..total {
                    std::hint::black_box(mesh.recv_spinning(0, until, &relay).await);
                    until = spin_until(wait.spin);
                    if let Some(gap) = wait.idle_gap {
                        timed += start.elapsed();
                        std::thread::sleep(gap);
                        start = Instant::now();
                    }
                    if sent < total {
                        mesh.send(1, sent);
                        sent += 1;
                        if wait.spin_after_send {
                            until = spin_until(wait.spin);
                        }
                    }
                }
                timed += start.elapsed();
                let ns = timed.as_nanos() as f64 / total as f64;
                mesh.send(1, STOP);
                ns
            })
        })
    };
    let ns = caller.join().ok().flatten();
    if ns.is_none() {
        mesh.send(1, STOP);
    }
    let _ = echo.join();
    ns
}

/// A poller's duty as the node's: watch the mailbox of the loop on its CPU (core = CPU here).
struct Watch {
    mesh: Arc<Mesh<u64>>,
    cores: [usize; 1],
}

impl dcache::node::idle::Duty for Watch {
    fn round(&mut self) {
        self.mesh.watch_round(&self.cores);
    }

    fn retire(&mut self) {
        self.mesh.unwatch(&self.cores);
    }
}

/// Reference: nanoseconds per round trip of two plain threads pinned to CPU 0 and CPU 1 that
/// wake each other with `Thread::unpark` (a futex), no runtime and no eventfd. When this costs
/// as much as a parked [`round_trip`], the time goes to waking an idle CPU, not to how the
/// runtime is woken (eventfd or a message through the ring would not help; only not parking
/// does).
fn thread_ping_pong(total: u64) -> f64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    let turn = Arc::new(AtomicU64::new(0));
    let caller = std::thread::current();
    let echo = {
        let turn = Arc::clone(&turn);
        std::thread::spawn(move || {
            pin(1);
            for i in 0..total {
                while turn.load(Ordering::Acquire) != 2 * i + 1 {
                    std::thread::park();
                }
                turn.store(2 * i + 2, Ordering::Release);
                caller.unpark();
            }
        })
    };
    pin(0);
    let start = Instant::now();
    for i in 0..total {
        turn.store(2 * i + 1, Ordering::Release);
        echo.thread().unpark();
        while turn.load(Ordering::Acquire) != 2 * i + 2 {
            std::thread::park();
        }
    }
    let ns = start.elapsed().as_nanos() as f64 / total as f64;
    let _ = echo.join();
    ns
}

/// What the caller does around each message, as `ShardExec::call` and `deliver` do.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Slots {
    /// A reply slot per call (`Pending`): the call path without the mailbox bound.
    Slot,
    /// A reply slot and a credit toward the destination core (`Calls`: the mailbox bound).
    SlotAndCredit,
}

/// [`round_trip`] with each message a call: a reply slot reserved before the send and completed
/// when the echo arrives (plus the credit, for [`Slots::SlotAndCredit`]). The A/B of the two
/// modes in one run is the hot-path cost of the mailbox bound.
fn round_trip_calls(driver: Driver, in_flight: u64, total: u64, slots: Slots) -> Option<f64> {
    let mesh: Arc<Mesh<u64>> = Arc::new(Mesh::new(2));
    let echo = {
        let mesh = Arc::clone(&mesh);
        std::thread::spawn(move || {
            pin(1);
            block_on(driver, async move {
                loop {
                    let m = mesh.recv(1).await;
                    if m == STOP {
                        break;
                    }
                    mesh.send(0, m);
                }
            })
        })
    };
    let caller = {
        let mesh = Arc::clone(&mesh);
        std::thread::spawn(move || {
            pin(0);
            block_on(driver, async move {
                let pending: std::rc::Rc<Pending<u64>> = std::rc::Rc::default();
                // A bound far above the window: never refuses, only counts.
                let calls: Calls<u64> = Calls::new(2, 1 << 20);
                let mut tickets = std::collections::VecDeque::new();
                let call = |tickets: &mut std::collections::VecDeque<Ticket<u64>>| {
                    let t = match slots {
                        Slots::Slot => pending.reserve(),
                        Slots::SlotAndCredit => calls.reserve(1).expect("below the bound"),
                    };
                    mesh.send(1, u64::from(t.id()));
                    tickets.push_back(t);
                };
                let start = Instant::now();
                let mut sent = in_flight.min(total);
                for _ in 0..sent {
                    call(&mut tickets);
                }
                for _ in 0..total {
                    let slot = mesh.recv(0).await as u32;
                    match slots {
                        Slots::Slot => pending.complete(slot, 0),
                        Slots::SlotAndCredit => calls.complete(1, slot, 0),
                    }
                    // Echoes come back in order: this is the slot's ticket; dropping it frees it.
                    std::hint::black_box(tickets.pop_front());
                    if sent < total {
                        call(&mut tickets);
                        sent += 1;
                    }
                }
                let ns = start.elapsed().as_nanos() as f64 / total as f64;
                mesh.send(1, STOP);
                ns
            })
        })
    };
    let ns = caller.join().ok().flatten();
    if ns.is_none() {
        mesh.send(1, STOP);
    }
    let _ = echo.join();
    ns
}

fn main() {
    let h = harness::Harness::from_args();
    // The node's window, and a long one (longer than waking a parked core takes).
    let spin = Wait {
        spin: Some(dcache::mesh::SPIN_AFTER_ACTIVITY),
        ..PARK
    };
    let long = Wait {
        spin: Some(dcache::mesh::SPIN_AFTER_CALL),
        ..PARK
    };
    let gap = Some(Duration::from_millis(1));
    let cases = [
        ("park at once", PARK),
        ("spin after activity (node)", spin),
        ("spin 50 us after activity", long),
        (
            "after 1 ms idle, park at once",
            Wait {
                idle_gap: gap,
                ..PARK
            },
        ),
        (
            "after 1 ms idle, spin after activity (node)",
            Wait {
                idle_gap: gap,
                ..spin
            },
        ),
        (
            "after 1 ms idle, spin 50 us after activity and send",
            Wait {
                idle_gap: gap,
                spin_after_send: true,
                ..long
            },
        ),
        (
            "after 1 ms idle, SCHED_IDLE pollers, spin after activity (node)",
            Wait {
                idle_gap: gap,
                pollers: true,
                ..spin
            },
        ),
        (
            "after 1 ms idle, SCHED_IDLE pollers, spin 50 us after activity and send, senders wake",
            Wait {
                idle_gap: gap,
                spin_after_send: true,
                pollers: true,
                ..long
            },
        ),
        (
            "after 1 ms idle, idle_poll: always (SCHED_IDLE pollers that wake their CPU's loop, spin 50 us after activity and send)",
            Wait {
                idle_gap: gap,
                spin_after_send: true,
                pollers: true,
                watch: true,
                ..long
            },
        ),
    ];
    for driver in [Driver::Uring, Driver::Epoll] {
        let name = if driver == Driver::Uring {
            "io_uring"
        } else {
            "epoll"
        };
        for in_flight in [1u64, 16, 64] {
            for (label, wait) in cases {
                if wait.idle_gap.is_some() && in_flight > 1 {
                    continue;
                }
                h.report(
                    &format!("mesh round trip, {name}, {in_flight} in flight, {label}"),
                    |smoke| {
                        // Lone hops are slow (two wake-ups each): fewer of them.
                        let messages: u64 = match (smoke, in_flight, wait.idle_gap) {
                            (true, _, _) => 64,
                            (false, _, Some(_)) => 2_000,
                            (false, 1, None) => 50_000,
                            (false, _, None) => 1_000_000,
                        };
                        // Median of three runs: a hop's cost swings with what else the vCPUs do.
                        let mut runs: Vec<f64> = (0..if smoke { 1 } else { 3 })
                            .filter_map(|_| {
                                round_trip(driver, in_flight, (messages / in_flight).max(1), wait)
                            })
                            .collect();
                        runs.sort_by(f64::total_cmp);
                        runs.get(runs.len() / 2).copied()
                    },
                );
            }
        }
    }
    h.report("reference: thread park/unpark round trip", |smoke| {
        let total = if smoke { 64 } else { 20_000 };
        std::thread::spawn(move || thread_ping_pong(total))
            .join()
            .ok()
    });
    // The mailbox bound's cost: the same call round trip with and without the credit, one run.
    for in_flight in [1u64, 64] {
        for (slots, label) in [
            (Slots::Slot, "slot"),
            (Slots::SlotAndCredit, "slot + credit"),
        ] {
            h.report(
                &format!("mesh call, epoll, {in_flight} in flight, {label}"),
                |smoke| {
                    let messages: u64 = match (smoke, in_flight) {
                        (true, _) => 64,
                        (false, 1) => 10_000,
                        (false, _) => 1_000_000,
                    };
                    let mut runs: Vec<f64> = (0..if smoke { 1 } else { 5 })
                        .filter_map(|_| round_trip_calls(Driver::Epoll, in_flight, messages, slots))
                        .collect();
                    runs.sort_by(f64::total_cmp);
                    runs.get(runs.len() / 2).copied()
                },
            );
        }
    }
}
