//! `idle_poll: always` on a real node, speaking bytes: keys on both cores are stored and read
//! back (cross-core calls with the after-call spin), the worker timers still fire (a stalled head
//! gets its 408: a worker that never parked would starve them, as a first design did), and the
//! poller threads exist while the node runs and are gone once it stopped.

#[path = "common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{request, Reader};

/// Names of this process's threads that are `idle_poll` pollers of node `t1`.
fn pollers() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
        .map(|c| c.trim().to_owned())
        .filter(|c| c.starts_with("t1-idle"))
        .collect()
}

#[test]
fn idle_poll_always_serves_every_core_keeps_timers_and_stops_its_pollers() {
    let node = common::run_single(2, "idle_poll: always\ntimeouts: {header: \"300ms\"}\n");
    let addr = node.addr();
    // A thread takes its name itself once it runs (std names it from inside), so a poller just
    // spawned may still carry its parent's name: wait for the names, with a generous bound.
    let deadline = Instant::now() + Duration::from_secs(10);
    while pollers().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        !pollers().is_empty(),
        "no poller thread while the node runs"
    );

    // 40 keys land on both cores; each GET after a pause finds the other core idle.
    for i in 0..40 {
        let path = format!("/api/v1/cache/idle:{i}");
        let put = request(addr, "PUT", &path, Some(&format!("{{\"value\":\"v{i}\"}}")));
        assert!(put.status == 200 || put.status == 201, "{}", put.text());
    }
    for i in 0..40 {
        std::thread::sleep(Duration::from_millis(2));
        let path = format!("/api/v1/cache/idle:{i}");
        let got = request(addr, "GET", &path, None);
        assert_eq!(got.status, 200, "{path}: {}", got.text());
        assert_eq!(got.json()["value"], format!("v{i}"), "{path}");
    }

    // A head that never completes: the header deadline (a worker timer) answers 408.
    let mut r = Reader::connect(addr);
    let t0 = Instant::now();
    r.send(b"GET /api/v1/health HTTP/1.1\r\n");
    let resp = r.response(false).expect("408 within the read timeout");
    assert_eq!(resp.status, 408, "{}", resp.text());
    assert!(
        t0.elapsed() >= Duration::from_millis(280),
        "{:?}",
        t0.elapsed()
    );

    assert!(node.stop(), "the node did not stop");
    assert_eq!(pollers(), Vec::<String>::new(), "pollers left after stop");
}
