//! What the failover tests share: time bounds, timing a request, waiting for a membership state,
//! and per-node sums over the keys and metrics of two-copy clusters.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::cluster_common::{metric_sum, metrics, replicas_of, state_seen, FAST, IDS};
use crate::common::{eventually, Resp};

/// Longest a request may take while the owner is unreachable. The slowest case (a frozen owner)
/// needs `request_timeout` (1 s); the bound is 5x that, for a loaded 2-core machine. It still
/// tells "at most `request_timeout`" from a hang (the test connection waits 15 s).
pub fn bounded() -> Duration {
    Duration::from_millis(FAST.request_ms) * 5
}

/// Latest time by which survivors must have marked a dead peer down: 5x the `fail_after` probe
/// rounds (each at most `probe_timeout` + `probe_interval`, one more for the first probe to
/// start) that detection needs. A wait limit, not a measurement: detection normally ends the
/// wait after about 0.4 s.
pub fn detection_bound() -> Duration {
    let round = Duration::from_millis(FAST.interval_ms + FAST.timeout_ms);
    round * (FAST.fail_after + 1) * 5
}

pub fn timed(f: impl FnOnce() -> Resp) -> (Resp, Duration) {
    let t = Instant::now();
    let r = f();
    (r, t.elapsed())
}

/// A failed forward: 502/503/504 with the standard JSON error naming the owner.
pub fn assert_owner_unreachable(r: &Resp, owner: usize, took: Duration, ctx: &str) {
    assert!(
        matches!(r.status, 502..=504),
        "{ctx}: expected 502/503/504, got {}: {}",
        r.status,
        r.text()
    );
    assert!(took <= bounded(), "{ctx}: took {took:?}");
    assert_eq!(r.header("content-type"), Some("application/json"), "{ctx}");
    let j = r.json();
    assert_eq!(j["status"], r.status, "{ctx}: {j}");
    let msg = j["error"].as_str().unwrap_or("");
    assert!(
        msg.contains(IDS[owner]),
        "{ctx}: error names the owner: {msg}"
    );
}

pub fn wait_state(
    addrs: &[SocketAddr],
    at: &[usize],
    of: usize,
    state: &str,
    limit: Duration,
) -> bool {
    eventually(limit, || {
        at.iter().all(|&n| state_seen(addrs[n], of) == state)
    })
}

/// Keys of `keys` of which node `n` is a replica (two copies), per node.
pub fn held_by(ring: &dcache::cluster::ring::Ring, keys: &[String]) -> [u64; 3] {
    let mut held = [0u64; 3];
    for k in keys {
        for n in replicas_of(ring, k, 2) {
            held[n] += 1;
        }
    }
    held
}

/// Sum of one metric over the nodes `at`.
pub fn sum_over(addrs: &[SocketAddr], at: &[usize], name: &str) -> f64 {
    at.iter()
        .map(|&n| metric_sum(&metrics(addrs[n]), name))
        .sum()
}
