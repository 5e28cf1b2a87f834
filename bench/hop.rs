//! Cross-core hop micro-benchmark: a round trip through the node's [`Mesh`] mailboxes between two
//! monoio runtimes pinned to CPU 0 and CPU 1, with 1, 16 and 64 messages in flight, on both
//! drivers. One in flight measures two cross-core wake-ups; more in flight shows how the
//! wake-only-when-asleep mailbox amortizes them (see docs/benchmarks.md, which also gives the
//! flume + oneshot reference figures).
//!
//!     cargo bench --bench hop
//!
//! Last results (2026-11-25, 2-vCPU AMD EPYC Zen 3 KVM guest, Linux 6.18, shared with builds;
//! ns/op, median of 7 samples; all figures in docs/benchmarks.md):
//!   io_uring / epoll: 1 in flight 47,351 / 46,196; 16 in flight 2,657 / 2,759;
//!   64 in flight 530 / 503 (reference flume + oneshot: 17,400 and 590 at 1 and 16 in flight).

#[path = "harness.rs"]
mod harness;

use std::sync::Arc;
use std::time::Instant;

use dcache::mesh::{Calls, Mesh, Pending, Ticket};

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

/// Nanoseconds per message over `total` round trips, keeping `in_flight` messages outstanding
/// (a sliding window: each reply releases the next message, as a busy connection would).
fn round_trip(driver: Driver, in_flight: u64, total: u64) -> Option<f64> {
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
                let start = Instant::now();
                let mut sent = in_flight.min(total);
                for i in 0..sent {
                    mesh.send(1, i);
                }
                for _ in 0..total {
                    std::hint::black_box(mesh.recv(0).await);
                    if sent < total {
                        mesh.send(1, sent);
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
    for driver in [Driver::Uring, Driver::Epoll] {
        let name = if driver == Driver::Uring {
            "io_uring"
        } else {
            "epoll"
        };
        for in_flight in [1u64, 16, 64] {
            h.report(
                &format!("mesh round trip, {name}, {in_flight} in flight"),
                |smoke| {
                    // Lone hops are slow (two wake-ups each): fewer of them.
                    let messages: u64 = match (smoke, in_flight) {
                        (true, _) => 64,
                        (false, 1) => 50_000,
                        (false, _) => 1_000_000,
                    };
                    // Median of three runs: a hop's cost swings with what else the vCPUs do.
                    let mut runs: Vec<f64> = (0..if smoke { 1 } else { 3 })
                        .filter_map(|_| {
                            round_trip(driver, in_flight, (messages / in_flight).max(1))
                        })
                        .collect();
                    runs.sort_by(f64::total_cmp);
                    runs.get(runs.len() / 2).copied()
                },
            );
        }
    }
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
