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

use dcache::mesh::Mesh;

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
}
