//! A single copy of each key (`replicas: 1`): the dead or frozen owner's keys go to a stand-in
//! and come back to it, and a stale copy of its own never beats a write made meanwhile.

use std::time::{Duration, Instant};

use crate::cluster_common::{
    cluster_info, get, local_entries, metric, metric_sum, metrics, node_of, owner, owner_without,
    put, replicas_yaml, ProcCluster, Rng, FAST, IDS,
};
use crate::common::eventually;
use crate::helpers::{assert_owner_unreachable, bounded, detection_bound, timed, wait_state};
use serde_json::json;

/// Single copy: the killed owner's keys go to a stand-in at once and come back to it.
pub fn a_killed_node_is_stood_in_for_at_once_then_its_keys_come_back() {
    let mut c = ProcCluster::start_with(30, "failover-kill", 1, FAST, &replicas_yaml(1));
    let addrs = c.addrs.clone();
    let ring = c.ring.clone();
    let victim = 1;
    let survivors = [0, 2];
    let keys: Vec<String> = (0..90).map(|i| format!("fo-{i}")).collect();
    let victim_keys: Vec<&String> = keys.iter().filter(|k| owner(&ring, k) == victim).collect();
    let other_keys: Vec<&String> = keys.iter().filter(|k| owner(&ring, k) != victim).collect();
    assert!(victim_keys.len() >= 10, "enough keys on {}", IDS[victim]);
    let mut rng = Rng(7);
    for key in &keys {
        let r = put(addrs[rng.below(3)], key, "{\"value\":\"before\"}");
        assert_eq!(r.status, 201, "{}", r.text());
        assert_eq!(node_of(&r), IDS[owner(&ring, key)]);
    }

    c.kill9(victim);
    let killed = Instant::now();

    // Before detection: a forward to the dead owner fails at once (refused) and the request goes
    // on to the next live node, which stands in for the owner. A write is taken there (and
    // handed to the owner when it is back, checked below); a read is a quick 503 naming the
    // owner (single copy: the stand-in cannot know the value, and a 404 would claim it is gone).
    // No request waits.
    let early = victim_keys[0];
    let (r, took) = timed(|| put(addrs[2], early, "{\"value\":\"early\"}"));
    assert_eq!(r.status, 201, "first PUT right after kill -9: {}", r.text());
    assert!(
        took <= bounded(),
        "first PUT right after kill -9 took {took:?}"
    );
    assert_eq!(node_of(&r), IDS[owner_without(&ring, early, victim)]);
    let failovers = |n: usize| metric_sum(&metrics(addrs[n]), "cache_failovers_total");
    assert!(failovers(2) >= 1.0, "the PUT went to the dead owner first");
    while killed.elapsed() < Duration::from_millis(150) {
        for (i, key) in victim_keys.iter().enumerate().skip(1).take(6) {
            let at = survivors[i % 2];
            let (r, took) = timed(|| get(addrs[at], key));
            let ctx = format!("GET {key} via {} right after kill -9", IDS[at]);
            assert!(took <= bounded(), "{ctx}: took {took:?}");
            assert_eq!(r.status, 503, "{ctx}: {}", r.text());
            assert_eq!(r.header("retry-after"), Some("1"), "{ctx}");
            let msg = r.json()["error"].as_str().unwrap_or("").to_string();
            assert!(msg.contains(IDS[victim]), "{ctx}: names the owner: {msg}");
            assert_eq!(node_of(&r), IDS[owner_without(&ring, key, victim)], "{ctx}");
        }
    }
    let m = metrics(addrs[0]);
    let errors = metric(
        &m,
        "cache_forwarded_requests_total{peer=\"node2\",result=\"error\"}",
    );
    assert!(
        errors.unwrap_or(0.0) >= 1.0,
        "failed forwards are counted:\n{m}"
    );

    // Detection within fail_after probe rounds.
    let detected = wait_state(&addrs, &survivors, victim, "down", detection_bound());
    let took = killed.elapsed();
    assert!(
        detected,
        "{} not marked down within {:?}; logs:\n{}",
        IDS[victim],
        detection_bound(),
        c.logs()
    );
    for &s in &survivors {
        let info = cluster_info(addrs[s]);
        assert_eq!(info["nodes_up"], 2, "{info}");
        let row = &info["nodes"][victim];
        assert_eq!(row["state"], "down", "{info}");
        assert_eq!(row["live_share"], json!(0.0), "{info}");
        assert!(
            row["last_error"].as_str().is_some_and(|e| !e.is_empty()),
            "{info}"
        );
        let m = metrics(addrs[s]);
        assert_eq!(
            metric(&m, "cache_cluster_node_up{node=\"node2\"}"),
            Some(0.0)
        );
        assert_eq!(metric(&m, "cache_cluster_nodes_up"), Some(2.0));
        assert_eq!(metric(&m, "cache_ring_share{node=\"node2\"}"), Some(0.0));
        assert!(metric(&m, "cache_ring_changes_total").unwrap_or(0.0) >= 1.0);
    }
    eprintln!("{} marked down {took:?} after kill -9", IDS[victim]);

    // After detection: its keys live on the next live node (empty at first but for the write
    // it took before detection), writes work.
    let value_of = |i: usize| {
        if i == 0 {
            json!("early")
        } else {
            json!(format!("during-{i}"))
        }
    };
    for (i, key) in victim_keys.iter().enumerate().skip(1) {
        let new_owner = owner_without(&ring, key, victim);
        // No time bound here: a forward to a killed owner fails at once (refused) anyway.
        let r = get(addrs[survivors[i % 2]], key);
        assert_eq!(
            r.status,
            503,
            "{key}: the copy died with its owner, the stand-in cannot know it: {}",
            r.text()
        );
        assert_eq!(node_of(&r), IDS[new_owner]);
        let body = format!("{{\"value\":\"during-{i}\"}}");
        let r = put(addrs[survivors[(i + 1) % 2]], key, &body);
        assert_eq!(r.status, 201, "PUT {key} during the outage: {}", r.text());
        assert_eq!(node_of(&r), IDS[new_owner]);
    }
    for (i, key) in victim_keys.iter().enumerate() {
        for &s in &survivors {
            let r = get(addrs[s], key);
            assert_eq!(r.status, 200, "{key} via {}: {}", IDS[s], r.text());
            assert_eq!(r.json()["value"], value_of(i));
            assert_eq!(node_of(&r), IDS[owner_without(&ring, key, victim)]);
        }
    }
    for key in &other_keys {
        let r = get(addrs[survivors[0]], key);
        assert_eq!(r.status, 200, "{key} untouched by the failover");
        assert_eq!(r.json()["value"], "before");
        assert_eq!(node_of(&r), IDS[owner(&ring, key)]);
    }
    // What each survivor holds for the dead node (moved back to it later).
    let held: Vec<usize> = survivors
        .iter()
        .map(|&s| {
            victim_keys
                .iter()
                .filter(|k| owner_without(&ring, k, victim) == s)
                .count()
        })
        .collect();

    // Restart: ownership and the values written meanwhile return to it.
    c.restart(victim);
    assert!(
        wait_state(&addrs, &survivors, victim, "up", Duration::from_secs(5)),
        "{} not seen up again; logs:\n{}",
        IDS[victim],
        c.logs()
    );
    let migrated = eventually(Duration::from_secs(5), || {
        victim_keys.iter().enumerate().all(|(i, key)| {
            (0..3).all(|n| {
                let r = get(addrs[n], key);
                r.status == 200 && node_of(&r) == IDS[victim] && r.json()["value"] == value_of(i)
            })
        })
    });
    for (i, key) in victim_keys.iter().enumerate() {
        for (n, a) in addrs.iter().enumerate() {
            let r = get(*a, key);
            assert_eq!(
                (r.status, node_of(&r)),
                (200, IDS[victim]),
                "{key} via {} after {} returned: {}",
                IDS[n],
                IDS[victim],
                r.text()
            );
            assert_eq!(r.json()["value"], value_of(i), "{key}");
        }
    }
    assert!(migrated, "the outage's values reached the returned node");
    for (k, &s) in survivors.iter().enumerate() {
        // The outage's writes reach the returned node as hints, at once; the stand-in drops
        // its own copies in its next hand-over, at most `HINT_RETRY` (1 s) after the return,
        // so the values above can be there before the move is counted.
        let moved_of = || metric(&metrics(addrs[s]), "cache_ring_keys_moved_total").unwrap_or(0.0);
        eventually(Duration::from_secs(5), || moved_of() >= held[k] as f64);
        let m = metrics(addrs[s]);
        let moved = metric(&m, "cache_ring_keys_moved_total").unwrap_or(0.0);
        assert!(
            moved >= held[k] as f64,
            "{} held {} keys for {} but moved {moved}",
            IDS[s],
            held[k],
            IDS[victim]
        );
        let changes = metric(&m, "cache_ring_changes_total").unwrap_or(0.0);
        assert!(changes >= 2.0, "{}: down and up again: {changes}", IDS[s]);
        assert_eq!(metric(&m, "cache_cluster_nodes_up"), Some(3.0));
        assert_eq!(
            metric(&m, "cache_ring_share{node=\"node2\"}").map(|v| v > 0.2),
            Some(true)
        );
    }
    assert!(held.iter().sum::<usize>() > 0);
    // The copies were handed over, not duplicated: each node holds exactly the keys it owns.
    for (n, a) in addrs.iter().enumerate() {
        let own = keys.iter().filter(|k| owner(&ring, k) == n).count() as u64;
        assert_eq!(local_entries(*a), own, "entries on {}", IDS[n]);
    }
    for key in &other_keys {
        let r = get(addrs[victim], key);
        assert_eq!((r.status, node_of(&r)), (200, IDS[owner(&ring, key)]));
        assert_eq!(r.json()["value"], "before");
    }
}

/// A frozen owner (SIGSTOP: its kernel still accepts connections, nobody answers) costs a
/// request at most `request_timeout` (504), never a hang; once it is marked down its keys are
/// served elsewhere at once, and after SIGCONT it serves its own data again.
pub fn a_frozen_node_costs_at_most_request_timeout_and_is_routed_around() {
    let c = ProcCluster::start_with(31, "failover-stop", 1, FAST, &replicas_yaml(1));
    let addrs = c.addrs.clone();
    let ring = c.ring.clone();
    let victim = 2;
    let keys: Vec<String> = (0..40)
        .map(|i| format!("frozen-{i}"))
        .filter(|k| owner(&ring, k) == victim)
        .collect();
    assert!(keys.len() >= 5);
    for key in &keys {
        assert_eq!(put(addrs[0], key, "{\"value\":\"kept\"}").status, 201);
    }

    c.signal(victim, libc::SIGSTOP);
    let stopped = Instant::now();
    let (r, took) = timed(|| get(addrs[0], &keys[0]));
    if r.status != 404 {
        assert_owner_unreachable(&r, victim, took, "GET right after SIGSTOP");
    }
    if r.status == 504 {
        assert!(
            took >= Duration::from_millis(FAST.request_ms - 50),
            "504 after {took:?}"
        );
        let m = metrics(addrs[0]);
        let timeouts = metric(
            &m,
            "cache_forwarded_requests_total{peer=\"node3\",result=\"timeout\"}",
        );
        assert_eq!(timeouts, Some(1.0), "the timed-out forward is counted");
    }
    eprintln!("GET right after SIGSTOP: {} in {took:?}", r.status);
    let (r, took) = timed(|| get(addrs[1], &keys[1]));
    if r.status != 404 {
        assert_owner_unreachable(&r, victim, took, "second GET after SIGSTOP");
    }
    let detected = wait_state(&addrs, &[0, 1], victim, "down", detection_bound());
    assert!(
        detected,
        "frozen node marked down within {:?}",
        detection_bound()
    );
    eprintln!(
        "frozen node marked down {:?} after SIGSTOP",
        stopped.elapsed()
    );
    for key in &keys {
        // The point: no request waits for the frozen owner's `request_timeout` (1 s) any more.
        // A routed-around GET needs a few ms, so 1 s is far more than 5x that.
        let (r, took) = timed(|| get(addrs[1], key));
        assert!(
            took < Duration::from_millis(FAST.request_ms),
            "routed around: {took:?}"
        );
        // Single copy: the stand-in cannot know the frozen owner's value (503, not a false 404).
        assert_eq!(r.status, 503, "{}", r.text());
        assert_eq!(node_of(&r), IDS[owner_without(&ring, key, victim)]);
    }

    c.signal(victim, libc::SIGCONT);
    assert!(
        wait_state(&addrs, &[0, 1], victim, "up", Duration::from_secs(5)),
        "frozen node seen up after SIGCONT; logs:\n{}",
        c.logs()
    );
    for key in &keys {
        for a in &addrs {
            let r = get(*a, key);
            assert_eq!((r.status, node_of(&r)), (200, IDS[victim]), "{}", r.text());
            assert_eq!(r.json()["value"], "kept");
        }
    }
    let m = metrics(addrs[0]);
    assert!(metric(&m, "cache_ring_changes_total").unwrap_or(0.0) >= 2.0);
}

/// A write acknowledged while the owner was unreachable must not be undone when the owner comes
/// back with its older copy: the module doc of `src/cluster/mod.rs` promises the returned owner
/// keeps its value only when it is *newer*.
pub fn a_write_made_during_an_outage_beats_the_stale_copy_of_the_returning_owner() {
    let c = ProcCluster::start_with(32, "failover-stale", 1, FAST, &replicas_yaml(1));
    let addrs = c.addrs.clone();
    let ring = c.ring.clone();
    let victim = 0;
    let key = (0..)
        .map(|i| format!("stale-{i}"))
        .find(|k| owner(&ring, k) == victim)
        .expect("a key of node1");
    assert_eq!(put(addrs[1], &key, "{\"value\":\"old\"}").status, 201);

    c.signal(victim, libc::SIGSTOP);
    assert!(
        wait_state(&addrs, &[1, 2], victim, "down", detection_bound()),
        "frozen node marked down"
    );
    let r = put(addrs[1], &key, "{\"value\":\"new\"}");
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(node_of(&r), IDS[owner_without(&ring, &key, victim)]);
    c.signal(victim, libc::SIGCONT);
    assert!(
        wait_state(&addrs, &[1, 2], victim, "up", Duration::from_secs(5)),
        "node seen up after SIGCONT"
    );
    // Give the hand-over time to finish, then read via every node.
    let settled = eventually(Duration::from_secs(3), || {
        let r = get(addrs[2], &key);
        r.status == 200 && node_of(&r) == IDS[victim] && r.json()["value"] == "new"
    });
    for (n, a) in addrs.iter().enumerate() {
        let r = get(*a, &key);
        assert_eq!(node_of(&r), IDS[victim]);
        assert_eq!(
            r.json()["value"],
            "new",
            "via {}: the value acknowledged during the outage (201) was lost; the returning \
             owner's older copy won",
            IDS[n]
        );
    }
    assert!(settled);
}
