//! A client that leaves while its connection waits for a forwarded answer is noticed soon (the
//! watch starts a few ms into the wait, `WATCH_AFTER` in `server/connection/watch.rs`), not when
//! the forward ends; a client that keeps pipelining meanwhile loses nothing.
//!
//! The key's owner is frozen (SIGSTOP: its kernel accepts the forward, nobody answers) and
//! `cluster.request_timeout` is 10 s, so without the watch the forwarding node would learn of the
//! departure only after 10 s. Each test runs once per I/O driver (io_uring and epoll differ in
//! how the watch's readiness wait is dropped).

#[path = "common/cluster.rs"]
mod cluster_common;
#[path = "common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use cluster_common::{key_path, metric_sum, metrics, owner, Probing, ProcCluster};
use common::{build, Reader};

/// Probing that never marks the frozen owner down during a test, and forwards to it that wait
/// 10 s (`request_ms`) before they give up.
const FROZEN_STAYS_UP: Probing = Probing {
    interval_ms: 300,
    timeout_ms: 300,
    fail_after: 100,
    recover_after: 1,
    connect_ms: 500,
    request_ms: 10_000,
};
/// Well below `request_ms`: the departure must be noticed by the watch, not by the timeout.
const NOTICED_WITHIN: Duration = Duration::from_secs(5);
/// Long enough for the forward to be queued and the connection to be waiting for it.
const SETTLE: Duration = Duration::from_millis(300);

fn client_gone(c: &ProcCluster) -> f64 {
    metric_sum(&metrics(c.addrs[0]), "cache_client_gone_total")
}

fn run(test_no: u8, driver: &str) {
    let extra = format!("replicas: 1\nio_driver: {driver}\n");
    let tag = format!("client-gone-{driver}");
    let c = ProcCluster::start_with(test_no, &tag, 1, FROZEN_STAYS_UP, &extra);
    let (addrs, ring) = (c.addrs.clone(), c.ring.clone());
    let victim = 2;
    let keys_of = |node: usize, prefix: &str| -> Vec<String> {
        (0..400)
            .map(|i| format!("{prefix}-{i}"))
            .filter(|k| owner(&ring, k) == node)
            .take(3)
            .collect()
    };
    let (far, near) = (keys_of(victim, "far"), keys_of(0, "near"));
    let r = cluster_common::put(addrs[0], &near[0], "{\"value\":\"here\"}");
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(client_gone(&c), 0.0);

    c.signal(victim, libc::SIGSTOP);

    // A client asks for a key of the frozen owner, then leaves.
    let mut leaving = Reader::connect(addrs[0]);
    leaving.send(build("GET", &key_path(&far[0]), None).as_bytes());
    std::thread::sleep(SETTLE);
    drop(leaving);
    let left = Instant::now();
    while client_gone(&c) < 1.0 {
        assert!(
            left.elapsed() < NOTICED_WITHIN,
            "{driver}: the node did not notice the client leave within {NOTICED_WITHIN:?} \
             (request_timeout {} ms)",
            FROZEN_STAYS_UP.request_ms
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!(
        "{driver}: client departure noticed after {:?}",
        left.elapsed()
    );

    // A client that stays and pipelines more requests while the forward waits: everything it
    // sent is answered, in order, once the owner answers.
    let mut staying = Reader::connect(addrs[0]);
    staying.set_timeout(Duration::from_secs(30));
    staying.send(build("GET", &key_path(&far[1]), None).as_bytes());
    std::thread::sleep(SETTLE);
    let more: String = near
        .iter()
        .map(|k| build("GET", &key_path(k), None))
        .collect();
    // In two writes, so the node takes them in (at least) two reads while it waits.
    let (a, b) = more.split_at(more.len() / 2);
    staying.send(a.as_bytes());
    std::thread::sleep(SETTLE);
    staying.send(b.as_bytes());
    std::thread::sleep(SETTLE);
    c.signal(victim, libc::SIGCONT);
    let first = staying.response(false).expect("the forwarded answer");
    assert_eq!(first.json()["key"], far[1].as_str(), "{}", first.text());
    for (i, k) in near.iter().enumerate() {
        let r = staying
            .response(false)
            .unwrap_or_else(|| panic!("{driver}: no answer for pipelined {k}"));
        assert_eq!(
            r.json()["key"],
            k.as_str(),
            "{driver}: answers in request order"
        );
        let want = if i == 0 { 200 } else { 404 };
        assert_eq!(r.status, want, "{driver}: {k}: {}", r.text());
    }
    // The connection is still usable, and nobody else was counted as gone.
    staying.send(build("GET", &key_path(&near[0]), None).as_bytes());
    let again = staying
        .response(false)
        .expect("answer on the same connection");
    assert_eq!(again.json()["value"], "here", "{}", again.text());
    assert_eq!(client_gone(&c), 1.0);
}

#[test]
fn a_client_leaving_during_a_forward_is_noticed_at_once_uring() {
    run(120, "uring");
}

#[test]
fn a_client_leaving_during_a_forward_is_noticed_at_once_epoll() {
    run(121, "epoll");
}
