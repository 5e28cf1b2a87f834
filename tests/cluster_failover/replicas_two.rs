//! Two copies of each key (the default `replicas: 2`): the other replica answers for a dead or
//! frozen node at once, and the node catches up before it serves again.

use std::time::{Duration, Instant};

use crate::cluster_common::{
    self, call, coordinator_without, etag, get, local_entries, metric, metric_sum, metrics,
    node_of, owner, put, replicas_of, ProcCluster, Rng, FAST, IDS,
};
use crate::common::{eventually, Resp};
use crate::helpers::{bounded, detection_bound, held_by, sum_over, timed, wait_state};
use serde_json::json;

/// The twin of the single-copy kill test: the other replica answers for the killed node at once
/// (before and after it is marked down: no miss, no error), writes are acknowledged and kept as
/// hints for it, and once it is back (healthy = caught up) it holds every value written while it
/// was down and serves its keys again.
pub fn with_two_copies_a_killed_nodes_keys_stay_served_and_it_catches_up_before_serving() {
    let mut c = ProcCluster::start(35, "failover-kill-r2", 1, FAST);
    let addrs = c.addrs.clone();
    let ring = c.ring.clone();
    let victim = 1;
    let survivors = [0, 2];
    let keys: Vec<String> = (0..90).map(|i| format!("fo2-{i}")).collect();
    let owned: Vec<&String> = keys.iter().filter(|k| owner(&ring, k) == victim).collect();
    // Every key with a copy on the victim (owned or replicated).
    let copies: Vec<&String> = keys
        .iter()
        .filter(|k| replicas_of(&ring, k, 2).contains(&victim))
        .collect();
    assert!(owned.len() >= 10, "enough keys on {}", IDS[victim]);
    assert!(copies.len() > owned.len());
    let mut rng = Rng(35);
    for key in &keys {
        let r = put(addrs[rng.below(3)], key, "{\"value\":\"before\"}");
        assert_eq!(r.status, 201, "{}", r.text());
        assert_eq!(node_of(&r), IDS[owner(&ring, key)]);
    }

    c.kill9(victim);
    let killed = Instant::now();
    let failovers_before = sum_over(&addrs, &survivors, "cache_failovers_total");
    // Right away: its keys are read from their other replica, quickly.
    for (i, key) in owned.iter().enumerate() {
        let at = survivors[i % 2];
        let (r, took) = timed(|| get(addrs[at], key));
        let ctx = format!(
            "GET {key} via {} {:?} after kill -9",
            IDS[at],
            killed.elapsed()
        );
        assert!(took <= bounded(), "{ctx}: took {took:?}");
        assert_eq!(r.status, 200, "{ctx}: {}", r.text());
        assert_eq!(r.json()["value"], "before", "{ctx}");
        assert_eq!(
            node_of(&r),
            IDS[coordinator_without(&ring, key, 2, &[victim])],
            "{ctx}"
        );
    }
    assert!(
        sum_over(&addrs, &survivors, "cache_failovers_total") > failovers_before,
        "some reads went to the dead node first (before it was marked down)"
    );
    let detected = wait_state(&addrs, &survivors, victim, "down", detection_bound());
    assert!(
        detected,
        "{} not marked down; logs:\n{}",
        IDS[victim],
        c.logs()
    );

    // Writes during the outage: acknowledged by the live replica, kept as hints for the victim.
    let hints_before = sum_over(&addrs, &survivors, "cache_hints_queued_total");
    for (i, key) in copies.iter().enumerate() {
        let body = format!("{{\"value\":\"during-{i}\"}}");
        let r = put(addrs[survivors[i % 2]], key, &body);
        assert_eq!(r.status, 200, "PUT {key} during the outage: {}", r.text());
        assert_eq!(r.json()["created"], false, "{key}: the live replica had it");
        assert_eq!(
            node_of(&r),
            IDS[coordinator_without(&ring, key, 2, &[victim])]
        );
    }
    let hinted = sum_over(&addrs, &survivors, "cache_hints_queued_total") - hints_before;
    assert!(
        hinted >= copies.len() as f64,
        "{hinted} hints for {} writes",
        copies.len()
    );
    for (i, key) in copies.iter().enumerate() {
        for &s in &survivors {
            let r = get(addrs[s], key);
            assert_eq!(r.status, 200, "{key} via {}: {}", IDS[s], r.text());
            assert_eq!(r.json()["value"], json!(format!("during-{i}")));
        }
    }

    // Back: healthy only once caught up, so its own copies are complete at once.
    c.restart(victim);
    let own_copies: Vec<Resp> = copies
        .iter()
        .map(|k| {
            call(
                addrs[victim],
                "GET",
                &cluster_common::key_path(k),
                &[("X-Cache-Forwarded", "t")],
                None,
            )
        })
        .collect();
    for (i, (key, r)) in copies.iter().zip(&own_copies).enumerate() {
        assert_eq!(
            (r.status, node_of(r)),
            (200, IDS[victim]),
            "{key}: not caught up when healthy: {}",
            r.text()
        );
        assert_eq!(r.json()["value"], json!(format!("during-{i}")), "{key}");
    }
    let m = metrics(addrs[victim]);
    let caught = metric_sum(&m, "cache_sync_hints_received_total")
        + metric_sum(&m, "cache_repair_keys_total");
    assert!(
        caught >= copies.len() as f64,
        "caught up {caught} of {} writes",
        copies.len()
    );
    assert!(
        wait_state(&addrs, &survivors, victim, "up", Duration::from_secs(5)),
        "{} not seen up again; logs:\n{}",
        IDS[victim],
        c.logs()
    );
    for (i, key) in copies.iter().enumerate() {
        for (n, a) in addrs.iter().enumerate() {
            let r = get(*a, key);
            assert_eq!(r.status, 200, "{key} via {}: {}", IDS[n], r.text());
            assert_eq!(node_of(&r), IDS[owner(&ring, key)], "{key} via {}", IDS[n]);
            assert_eq!(r.json()["value"], json!(format!("during-{i}")), "{key}");
        }
    }
    for key in keys.iter().filter(|k| !copies.contains(k)) {
        let r = get(addrs[victim], key);
        assert_eq!((r.status, node_of(&r)), (200, IDS[owner(&ring, key)]));
        assert_eq!(r.json()["value"], "before");
    }
    // Each node holds exactly the keys it replicates: nothing lost, nothing left over.
    let held = held_by(&ring, &keys);
    let settled = eventually(Duration::from_secs(5), || {
        (0..3).all(|n| local_entries(addrs[n]) == held[n])
    });
    for (n, a) in addrs.iter().enumerate() {
        assert_eq!(local_entries(*a), held[n], "entries on {}", IDS[n]);
    }
    assert!(settled);
}

/// The twin of the frozen-node and stale-copy tests: a frozen owner costs a request at most
/// `request_timeout` and then its other replica answers (read and write); once it is marked down
/// no request waits at all; when it wakes up it catches up before it serves, so neither its stale
/// copy nor the forwarded write still queued in its socket undoes a write acknowledged later.
pub fn with_two_copies_a_frozen_owner_is_routed_around_and_wakes_up_without_undoing_writes() {
    let c = ProcCluster::start(36, "failover-stop-r2", 1, FAST);
    let addrs = c.addrs.clone();
    let ring = c.ring.clone();
    // node1 owns the keys, node2 is their other replica, requests go through node3.
    let (victim, replica, via) = (0, 1, 2);
    let keys: Vec<String> = (0..400)
        .map(|i| format!("frozen2-{i}"))
        .filter(|k| replicas_of(&ring, k, 2) == [victim, replica])
        .take(8)
        .collect();
    assert!(keys.len() >= 5);
    for key in &keys {
        let r = put(addrs[via], key, "{\"value\":\"old\"}");
        assert_eq!((r.status, node_of(&r)), (201, IDS[victim]), "{}", r.text());
    }

    c.signal(victim, libc::SIGSTOP);
    // A read and a write at once, before anyone noticed: each forward reaches the frozen owner's
    // socket and gets no answer within request_timeout, then the replica answers. The write
    // stays queued in the frozen process.
    let (put_at, get_at) = (addrs[via], addrs[via]);
    let (put_key, get_key) = (keys[1].clone(), keys[0].clone());
    let writer =
        std::thread::spawn(move || timed(|| put(put_at, &put_key, "{\"value\":\"queued\"}")));
    let reader = std::thread::spawn(move || timed(|| get(get_at, &get_key)));
    let (w, w_took) = writer.join().expect("writer");
    let (r, r_took) = reader.join().expect("reader");
    assert_eq!(w.status, 200, "PUT right after SIGSTOP: {}", w.text());
    assert_eq!(node_of(&w), IDS[replica]);
    assert_eq!(r.status, 200, "GET right after SIGSTOP: {}", r.text());
    assert_eq!(r.json()["value"], "old");
    assert_eq!(node_of(&r), IDS[replica]);
    for (what, took) in [("PUT", w_took), ("GET", r_took)] {
        assert!(
            took <= bounded(),
            "{what} right after SIGSTOP took {took:?}"
        );
        assert!(
            took >= Duration::from_millis(FAST.request_ms - 50),
            "{what} waited for the owner first: {took:?}"
        );
    }
    let timeouts = metric(
        &metrics(addrs[via]),
        "cache_forwarded_requests_total{peer=\"node1\",result=\"timeout\"}",
    );
    assert!(
        timeouts.unwrap_or(0.0) >= 2.0,
        "the timed-out forwards are counted: {timeouts:?}"
    );

    assert!(
        wait_state(&addrs, &[replica, via], victim, "down", detection_bound()),
        "frozen node marked down"
    );
    let mut acked = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let (r, took) = timed(|| get(addrs[via], key));
        assert!(
            took < Duration::from_millis(FAST.request_ms),
            "routed around: {took:?}"
        );
        assert_eq!((r.status, node_of(&r)), (200, IDS[replica]), "{}", r.text());
        let r = put(addrs[via], key, &format!("{{\"value\":\"new-{i}\"}}"));
        assert_eq!((r.status, node_of(&r)), (200, IDS[replica]), "{}", r.text());
        acked.push(etag(&r));
    }

    c.signal(victim, libc::SIGCONT);
    assert!(
        wait_state(
            &addrs,
            &[replica, via],
            victim,
            "up",
            Duration::from_secs(5)
        ),
        "node seen up after SIGCONT; logs:\n{}",
        c.logs()
    );
    let m = metrics(addrs[victim]);
    assert!(
        metric_sum(&m, "cache_stalls_total") >= 1.0,
        "the pause was noticed:\n{m}"
    );
    for (i, key) in keys.iter().enumerate() {
        for (n, a) in addrs.iter().enumerate() {
            let r = get(*a, key);
            assert_eq!((r.status, node_of(&r)), (200, IDS[victim]), "{}", r.text());
            assert_eq!(
                r.json()["value"],
                json!(format!("new-{i}")),
                "{key} via {}: the value acknowledged while node1 was frozen was undone; logs:\n{}",
                IDS[n],
                c.logs()
            );
            assert_eq!(etag(&r), acked[i], "{key} via {}", IDS[n]);
        }
    }
}
