//! Failover with the real binary: three `cache-node` processes, each on a loopback IP of its own
//! (fixed before start, so a restarted node binds the same address again), one of them killed
//! with SIGKILL (or frozen with SIGSTOP).
//!
//! With a single copy of each key (`replicas: 1`): a request for the dead node's keys never
//! hangs: a forward that fails goes on to the next live node, which stands in for the owner
//! (before and after the others mark it down); when the owner comes back its keys return to it
//! with the values written meanwhile, and a stale copy of its own never beats them.
//!
//! With two copies (the default): the other replica answers for the dead or frozen node at once,
//! nothing written is lost, and the node catches up (hints and repair) before it serves again.
//!
//! Probing is fast (every 100 ms, down after 2 failures, `request_timeout` 1 s), so each test
//! takes a few seconds. Children are killed when a test ends, pass or fail (`ProcCluster`'s Drop).

#[path = "common/cluster.rs"]
mod cluster_common;
mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use cluster_common::{
    call, cluster_info, coordinator_without, etag, get, local_entries, metric, metric_sum, metrics,
    node_of, owner, owner_without, put, replicas_of, replicas_yaml, state_seen, ProcCluster, Rng,
    FAST, IDS,
};
use common::{eventually, Resp};
use serde_json::json;

/// Longest a request may take while the owner is unreachable. The slowest case (a frozen owner)
/// needs `request_timeout` (1 s); the bound is 5x that, for a loaded 2-core machine. It still
/// tells "at most `request_timeout`" from a hang (the test connection waits 15 s).
fn bounded() -> Duration {
    Duration::from_millis(FAST.request_ms) * 5
}

/// Latest time by which survivors must have marked a dead peer down: 5x the `fail_after` probe
/// rounds (each at most `probe_timeout` + `probe_interval`, one more for the first probe to
/// start) that detection needs. A wait limit, not a measurement: detection normally ends the
/// wait after about 0.4 s.
fn detection_bound() -> Duration {
    let round = Duration::from_millis(FAST.interval_ms + FAST.timeout_ms);
    round * (FAST.fail_after + 1) * 5
}

fn timed(f: impl FnOnce() -> Resp) -> (Resp, Duration) {
    let t = Instant::now();
    let r = f();
    (r, t.elapsed())
}

/// A failed forward: 502/503/504 with the standard JSON error naming the owner.
fn assert_owner_unreachable(r: &Resp, owner: usize, took: Duration, ctx: &str) {
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

fn wait_state(addrs: &[SocketAddr], at: &[usize], of: usize, state: &str, limit: Duration) -> bool {
    eventually(limit, || {
        at.iter().all(|&n| state_seen(addrs[n], of) == state)
    })
}

/// Single copy: the killed owner's keys go to a stand-in at once and come back to it.
#[test]
fn a_killed_node_is_stood_in_for_at_once_then_its_keys_come_back() {
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
#[test]
fn a_frozen_node_costs_at_most_request_timeout_and_is_routed_around() {
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
#[test]
fn a_write_made_during_an_outage_beats_the_stale_copy_of_the_returning_owner() {
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

/// Backup and restore while a member has just died and is not yet marked down, single copy: the
/// export must not look complete without that member's data (it is cut short, or lists the
/// member under `missing`), and an import reports 502 naming the member while everyone else's
/// keys reach their owners (already there at the exported versions: superseded).
#[test]
fn export_and_import_right_after_a_kill_never_fail_silently() {
    let mut c = ProcCluster::start_with(33, "failover-backup", 1, FAST, &replicas_yaml(1));
    let addrs = c.addrs.clone();
    let ring = c.ring.clone();
    let victim = 2;
    let keys: Vec<String> = (0..60).map(|i| format!("bk-kill-{i}")).collect();
    for (i, key) in keys.iter().enumerate() {
        assert_eq!(
            put(addrs[i % 3], key, &format!("{{\"value\":{i}}}")).status,
            201
        );
    }
    let full = call(addrs[0], "GET", "/admin/export", &[], None);
    assert_eq!(full.status, 200);
    assert_eq!(full.json()["count"], json!(keys.len()));
    let on_victim = keys.iter().filter(|k| owner(&ring, k) == victim).count();
    assert!(on_victim > 5);

    c.kill9(victim);
    let t = Instant::now();
    let mut conn = cluster_common::Conn::open(addrs[0]);
    conn.reader
        .send(b"GET /admin/export HTTP/1.1\r\nHost: t\r\n\r\n");
    let export = conn.reader.response(false);
    assert!(t.elapsed() <= bounded(), "export took {:?}", t.elapsed());
    eprintln!(
        "export {:?} after kill -9: {}",
        t.elapsed(),
        if export.is_some() {
            "complete"
        } else {
            "cut short"
        }
    );
    if let Some(r) = export {
        // Only acceptable complete answer: the dead member is listed as missing.
        let doc = r.json();
        assert_eq!(
            doc["missing"],
            json!(["node3"]),
            "a complete export without node3's data"
        );
        assert_eq!(doc["count"], json!(keys.len() - on_victim));
    }

    let t = Instant::now();
    let r = call(addrs[1], "POST", "/admin/import", &[], Some(&full.body));
    assert!(t.elapsed() <= bounded(), "import took {:?}", t.elapsed());
    let j = r.json();
    eprintln!("import {:?} after kill -9: {}", t.elapsed(), r.status);
    if r.status == 502 {
        let msg = j["error"].as_str().unwrap_or("");
        assert!(msg.contains("node3"), "names the member: {msg}");
        assert!(
            msg.contains(&format!("{on_victim} of {} entries", keys.len())),
            "counts what reached no replica: {msg}"
        );
        assert_eq!(j["status"], 502);
        assert_eq!(j["total"], json!(keys.len()));
        assert_eq!(j["imported"], 0, "{j}");
        assert_eq!(j["superseded"], json!(keys.len() - on_victim), "{j}");
        assert!(j["nodes"].get("node3").is_none(), "{j}");
        assert_eq!(
            j["hinted"],
            json!(on_victim),
            "node3's entries kept for it: {j}"
        );
    } else {
        assert_eq!(r.status, 200, "{j}");
        let reached = j["imported"].as_u64().unwrap_or(0) + j["superseded"].as_u64().unwrap_or(0);
        assert_eq!(reached, keys.len() as u64, "{j}");
    }
    for (i, key) in keys.iter().enumerate() {
        if owner(&ring, key) != victim {
            let r = get(addrs[i % 2], key);
            assert_eq!(r.status, 200, "{key}: {}", r.text());
            assert_eq!(r.json()["value"], json!(i), "{key}");
        }
    }

    assert!(wait_state(
        &addrs,
        &[0, 1],
        victim,
        "down",
        detection_bound()
    ));
    let r = call(addrs[0], "GET", "/admin/export", &[], None);
    assert_eq!(r.status, 200);
    let doc = r.json();
    assert_eq!(doc["missing"], json!(["node3"]));
    assert_eq!(doc["count"], json!(keys.len() - on_victim));
}

/// The hand-over to a returning node must not depend on which pooled connections happen to be
/// idle: here node1 still holds a keep-alive connection it opened to node2 before node2 was
/// killed (nothing used it since), and node1 holds keys for node2 when node2 comes back.
#[test]
fn keys_held_for_a_returning_node_survive_a_stale_pooled_connection() {
    let mut c = ProcCluster::start_with(34, "failover-pool", 1, FAST, &replicas_yaml(1));
    let addrs = c.addrs.clone();
    let ring = c.ring.clone();
    let (holder, victim) = (0, 1);
    let keys: Vec<String> = (0..400)
        .map(|i| format!("pool-{i}"))
        .filter(|k| owner(&ring, k) == victim && owner_without(&ring, k, victim) == holder)
        .take(12)
        .collect();
    assert!(keys.len() >= 5);
    // Forwards from node1 to node2 leave an idle keep-alive connection in node1's pool.
    for key in &keys {
        let r = put(addrs[holder], key, "{\"value\":\"before\"}");
        assert_eq!((r.status, node_of(&r)), (201, IDS[victim]), "{}", r.text());
    }
    c.kill9(victim);
    assert!(wait_state(
        &addrs,
        &[0, 2],
        victim,
        "down",
        detection_bound()
    ));
    // During the outage node1 owns these keys: the writes stay on node1, no forward.
    for (i, key) in keys.iter().enumerate() {
        let r = put(addrs[holder], key, &format!("{{\"value\":\"during-{i}\"}}"));
        assert_eq!((r.status, node_of(&r)), (201, IDS[holder]), "{}", r.text());
    }
    c.restart(victim);
    assert!(wait_state(
        &addrs,
        &[0, 2],
        victim,
        "up",
        Duration::from_secs(5)
    ));
    let handed_over = eventually(Duration::from_secs(3), || {
        local_entries(addrs[victim]) == keys.len() as u64
    });
    for (i, key) in keys.iter().enumerate() {
        let r = get(addrs[2], key);
        assert_eq!(
            (r.status, node_of(&r)),
            (200, IDS[victim]),
            "{key}: written during the outage, lost in the hand-over: {}; node1's log:\n{}",
            r.text(),
            c.log(holder)
        );
        assert_eq!(r.json()["value"], json!(format!("during-{i}")));
    }
    assert!(handed_over);
    assert_eq!(local_entries(addrs[holder]), 0, "node1 forgot its copies");
}

// ---- two copies of each key (the default `replicas: 2`) --------------------------------------

/// Keys of `keys` of which node `n` is a replica (two copies), per node.
fn held_by(ring: &dcache::cluster::ring::Ring, keys: &[String]) -> [u64; 3] {
    let mut held = [0u64; 3];
    for k in keys {
        for n in replicas_of(ring, k, 2) {
            held[n] += 1;
        }
    }
    held
}

/// Sum of one metric over the nodes `at`.
fn sum_over(addrs: &[SocketAddr], at: &[usize], name: &str) -> f64 {
    at.iter()
        .map(|&n| metric_sum(&metrics(addrs[n]), name))
        .sum()
}

/// The twin of the single-copy kill test: the other replica answers for the killed node at once
/// (before and after it is marked down: no miss, no error), writes are acknowledged and kept as
/// hints for it, and once it is back (healthy = caught up) it holds every value written while it
/// was down and serves its keys again.
#[test]
fn with_two_copies_a_killed_nodes_keys_stay_served_and_it_catches_up_before_serving() {
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
#[test]
fn with_two_copies_a_frozen_owner_is_routed_around_and_wakes_up_without_undoing_writes() {
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

/// The twin of the backup test after a kill: with two copies the survivors have every key, so
/// an export right after the kill is complete (or cut short, never silently partial) and an
/// import right after it reaches a live replica of every entry (200), keeping the dead node's
/// copies as hints.
#[test]
fn with_two_copies_export_and_import_right_after_a_kill_lose_nothing() {
    let mut c = ProcCluster::start(37, "failover-backup-r2", 1, FAST);
    let addrs = c.addrs.clone();
    let ring = c.ring.clone();
    let victim = 2;
    let keys: Vec<String> = (0..60).map(|i| format!("bk2-kill-{i}")).collect();
    for (i, key) in keys.iter().enumerate() {
        assert_eq!(
            put(addrs[i % 3], key, &format!("{{\"value\":{i}}}")).status,
            201
        );
    }
    let held = held_by(&ring, &keys);
    let full = call(addrs[0], "GET", "/admin/export", &[], None);
    assert_eq!(full.status, 200);
    assert_eq!(full.json()["count"], json!(keys.len()));
    let complete = |doc: &serde_json::Value, ctx: &str| {
        assert_eq!(doc["missing"], json!([]), "{ctx}: {doc}");
        assert_eq!(doc["count"], json!(keys.len()), "{ctx}");
        let entries = doc["entries"].as_array().expect("entries");
        assert_eq!(entries.len(), keys.len(), "{ctx}");
        for e in entries {
            let key = e["key"].as_str().expect("key");
            let i: usize = key["bk2-kill-".len()..].parse().expect("index");
            assert_eq!(e["value"], json!(i), "{ctx}: {key}");
        }
    };

    c.kill9(victim);
    let t = Instant::now();
    let mut conn = cluster_common::Conn::open(addrs[0]);
    conn.reader
        .send(b"GET /admin/export HTTP/1.1\r\nHost: t\r\n\r\n");
    let export = conn.reader.response(false);
    assert!(t.elapsed() <= bounded(), "export took {:?}", t.elapsed());
    eprintln!(
        "export {:?} after kill -9: {}",
        t.elapsed(),
        if export.is_some() {
            "complete"
        } else {
            "cut short"
        }
    );
    if let Some(r) = export {
        complete(&r.json(), "export right after kill -9");
    }

    let t = Instant::now();
    let r = call(addrs[1], "POST", "/admin/import", &[], Some(&full.body));
    assert!(t.elapsed() <= bounded(), "import took {:?}", t.elapsed());
    let j = r.json();
    assert_eq!(r.status, 200, "every entry has a live replica: {j}");
    assert_eq!(j["total"], json!(keys.len()));
    assert_eq!(
        j["superseded"],
        json!(keys.len()),
        "already there at these versions: {j}"
    );
    assert!(j["nodes"].get("node3").is_none(), "{j}");
    assert_eq!(
        j["hinted"],
        json!(held[victim]),
        "node3's copies kept for it: {j}"
    );

    assert!(wait_state(
        &addrs,
        &[0, 1],
        victim,
        "down",
        detection_bound()
    ));
    for at in [0, 1] {
        let r = call(addrs[at], "GET", "/admin/export", &[], None);
        assert_eq!(r.status, 200);
        complete(
            &r.json(),
            &format!("export via {} with node3 down", IDS[at]),
        );
    }
}

/// The twin of the stale-pool test: node1 keeps hints for node2 (the writes it coordinated while
/// node2 was down) and still has an idle keep-alive connection to node2 from before the kill;
/// node2 comes back with every one of those writes, and node1 keeps its own copies (it is a
/// replica of these keys).
#[test]
fn with_two_copies_hints_for_a_returning_node_survive_a_stale_pooled_connection() {
    let mut c = ProcCluster::start(38, "failover-pool-r2", 1, FAST);
    let addrs = c.addrs.clone();
    let ring = c.ring.clone();
    let (holder, victim) = (0, 1);
    let keys: Vec<String> = (0..400)
        .map(|i| format!("pool2-{i}"))
        .filter(|k| replicas_of(&ring, k, 2) == [victim, holder])
        .take(12)
        .collect();
    assert!(keys.len() >= 5);
    // Forwards from node1 to node2 (and node2's copies back) leave idle pooled connections.
    for key in &keys {
        let r = put(addrs[holder], key, "{\"value\":\"before\"}");
        assert_eq!((r.status, node_of(&r)), (201, IDS[victim]), "{}", r.text());
    }
    c.kill9(victim);
    assert!(wait_state(
        &addrs,
        &[0, 2],
        victim,
        "down",
        detection_bound()
    ));
    // During the outage node1 coordinates these keys: no forward, a hint each for node2.
    for (i, key) in keys.iter().enumerate() {
        let r = put(addrs[holder], key, &format!("{{\"value\":\"during-{i}\"}}"));
        assert_eq!((r.status, node_of(&r)), (200, IDS[holder]), "{}", r.text());
    }
    c.restart(victim);
    assert!(wait_state(
        &addrs,
        &[0, 2],
        victim,
        "up",
        Duration::from_secs(5)
    ));
    for (i, key) in keys.iter().enumerate() {
        let r = get(addrs[2], key);
        assert_eq!(
            (r.status, node_of(&r)),
            (200, IDS[victim]),
            "{key}: written during the outage, lost on the way back: {}; node1's log:\n{}",
            r.text(),
            c.log(holder)
        );
        assert_eq!(r.json()["value"], json!(format!("during-{i}")));
    }
    assert_eq!(local_entries(addrs[victim]), keys.len() as u64);
    assert_eq!(
        local_entries(addrs[holder]),
        keys.len() as u64,
        "node1 keeps its copies"
    );
}
