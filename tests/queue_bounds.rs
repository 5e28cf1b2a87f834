//! The queue bounds inside a node, reached and recovered from, speaking bytes to real nodes.
//!
//! - A core's mailbox (`limits.max_queued_per_core`): key calls past it are answered 503 with
//!   `Retry-After: 1` ("core N of node X is overloaded"), in their place in the pipeline; once the
//!   core has answered, the same requests are served again.
//! - One connection never has more than `limits.max_pipeline` requests in flight: with the
//!   mailbox bound equal to it, a long pipeline never reaches the bound.
//! - The per-peer forward queue (`cluster.max_queued_per_peer`): with the key's owner frozen
//!   (SIGSTOP: its kernel accepts, nobody answers, and probing is slow enough not to mark it down)
//!   a flood of forwards gets 503 + `Retry-After` at once beyond the bound, never a hang; after
//!   SIGCONT forwards succeed again.

#[path = "common/cluster.rs"]
mod cluster_common;
#[path = "common/mod.rs"]
mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use cluster_common::{key_path, metric_sum, metrics, node_of, owner, Probing, ProcCluster, IDS};
use common::{build, Reader, Resp};

/// `n` GETs of distinct keys `{prefix}{i}` in one write.
fn pipeline(prefix: &str, n: usize) -> (Vec<String>, String) {
    let keys: Vec<String> = (0..n).map(|i| format!("{prefix}{i}")).collect();
    let wire = keys
        .iter()
        .map(|k| build("GET", &format!("/api/v1/cache/{k}"), None))
        .collect();
    (keys, wire)
}

/// A 503 from a bound: temporary (`Retry-After: 1`), a JSON error naming what is full.
fn assert_bounded_503(r: &Resp, says: &str, ctx: &str) {
    assert_eq!(r.status, 503, "{ctx}: {}", r.text());
    assert_eq!(r.header("retry-after"), Some("1"), "{ctx}");
    let j = r.json();
    assert_eq!(j["status"], 503, "{ctx}: {j}");
    let error = j["error"].as_str().unwrap_or_default();
    assert!(error.contains(says), "{ctx}: {error:?} should say {says:?}");
}

#[test]
fn a_full_core_mailbox_answers_503_in_order_and_serves_again_once_drained() {
    // One call at a time toward each other core: a pipeline of keys owned by both cores reaches
    // the bound within one read of the connection (replies are taken only after it).
    let node = common::run_single(2, "limits:\n  max_queued_per_core: 1\n");
    let (keys, wire) = pipeline("mb", 40);
    let mut r = Reader::connect(node.addr());
    r.send(wire.as_bytes());
    let mut busy = Vec::new();
    for k in &keys {
        let resp = r.response(false).expect("an answer for every request");
        assert_eq!(
            resp.json()["key"],
            k.as_str(),
            "answers stay in request order"
        );
        match resp.status {
            404 => {}
            503 => {
                assert_bounded_503(&resp, "of node t1 is overloaded (mailbox full", k);
                busy.push(
                    resp.json()["error"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                );
            }
            s => panic!("{k}: unexpected {s}: {}", resp.text()),
        }
    }
    eprintln!(
        "{} of 40 pipelined requests refused: {:?}",
        busy.len(),
        busy.first()
    );
    assert!(
        !busy.is_empty(),
        "40 keys over 2 cores: the bound of 1 call was reached"
    );
    // Every refusal names the one other core.
    assert!(busy.iter().all(|e| e == &busy[0]), "{busy:?}");
    // Recovered: one request at a time (one call outstanding), every key is served.
    for k in &keys {
        r.send(build("GET", &format!("/api/v1/cache/{k}"), None).as_bytes());
        let resp = r.response(false).expect("answer");
        assert_eq!(resp.status, 404, "{k} after draining: {}", resp.text());
    }
    let m = metrics(node.addr());
    assert_eq!(
        metric_sum(&m, "cache_core_queue_full_total"),
        busy.len() as f64
    );
    assert!(node.stop());
}

#[test]
fn a_connection_never_has_more_than_max_pipeline_requests_in_flight() {
    // If one connection could have more than max_pipeline calls outstanding, the mailbox bound
    // (the same number) would refuse some of these 200 requests.
    let node = common::run_single(2, "limits:\n  max_pipeline: 4\n  max_queued_per_core: 4\n");
    let (keys, wire) = pipeline("cap", 200);
    let mut r = Reader::connect(node.addr());
    r.send(wire.as_bytes());
    for k in &keys {
        let resp = r.response(false).expect("answer");
        assert_eq!(
            (resp.status, resp.json()["key"].clone()),
            (404, serde_json::json!(k)),
            "{}",
            resp.text()
        );
    }
    let m = metrics(node.addr());
    assert_eq!(metric_sum(&m, "cache_core_queue_full_total"), 0.0);
    assert!(node.stop());
}

/// Probing that never marks the frozen node down during the test (100 failed probes of 300 ms),
/// and a `request_timeout` that keeps forwards to it waiting for the whole flood.
const FROZEN_STAYS_UP: Probing = Probing {
    interval_ms: 300,
    timeout_ms: 300,
    fail_after: 100,
    recover_after: 1,
    connect_ms: 500,
    request_ms: 4000,
};
/// Forwards waiting per peer on node1's one core; one dispatcher (`pool_max_total: 1`), whose
/// batch holds the first requests while the owner is frozen.
const MAX_QUEUED_PER_PEER: usize = 4;

/// Send `n` pipelined GETs of `keys` on a fresh connection to `addr` from a thread of its own;
/// each answer comes back with how long after the send it was complete.
fn flood(addr: SocketAddr, keys: Vec<String>) -> std::thread::JoinHandle<Vec<(Resp, Duration)>> {
    std::thread::spawn(move || {
        let mut r = Reader::connect(addr);
        r.set_timeout(Duration::from_secs(30));
        let wire: String = keys
            .iter()
            .map(|k| build("GET", &key_path(k), None))
            .collect();
        let sent = Instant::now();
        r.send(wire.as_bytes());
        keys.iter()
            .map(|k| {
                let resp = r
                    .response(false)
                    .unwrap_or_else(|| panic!("no answer for {k}"));
                (resp, sent.elapsed())
            })
            .collect()
    })
}

#[test]
fn a_full_peer_queue_answers_503_at_once_and_forwards_succeed_after_the_peer_recovers() {
    let extra = format!("  pool_max_total: 1\n  pool_max_idle: 1\n  max_queued_per_peer: {MAX_QUEUED_PER_PEER}\nreplicas: 1\n");
    let c = ProcCluster::start_with(50, "queue-bounds", 1, FROZEN_STAYS_UP, &extra);
    let (addrs, ring) = (c.addrs.clone(), c.ring.clone());
    let victim = 2;
    let keys: Vec<String> = (0..400)
        .map(|i| format!("flood-{i}"))
        .filter(|k| owner(&ring, k) == victim)
        .collect();
    assert!(keys.len() >= 60, "{} keys of the victim", keys.len());
    for k in &keys[..4] {
        let r = cluster_common::put(addrs[0], k, "{\"value\":\"kept\"}");
        assert_eq!(r.status, 201, "{}", r.text());
    }

    c.signal(victim, libc::SIGSTOP);
    // Ten connections of 4 forwards each, one after the other: the dispatcher's batch and the
    // queue take the first, everything beyond the bound is refused.
    let floods: Vec<_> = keys
        .chunks(4)
        .take(10)
        .map(|chunk| {
            let h = flood(addrs[0], chunk.to_vec());
            std::thread::sleep(Duration::from_millis(30));
            h
        })
        .collect();
    let per_conn: Vec<Vec<(Resp, Duration)>> = floods
        .into_iter()
        .map(|h| h.join().expect("flood thread"))
        .collect();
    let request_timeout = Duration::from_millis(FROZEN_STAYS_UP.request_ms);
    let (mut refused, mut all_refused_conns) = (0, 0);
    for answers in &per_conn {
        let mut all_refused = true;
        for (r, took) in answers {
            if r.status == 503 && r.text().contains("max_queued_per_peer") {
                assert_bounded_503(r, "cannot queue more requests for node node3", "flood");
                assert_eq!(node_of(r), IDS[0], "refused by the forwarding node");
                refused += 1;
            } else {
                all_refused = false;
            }
            // Queued before the bound: answered by a stand-in once `request_timeout` passed
            // (single copy: it cannot know the value), or by the owner: a bounded wait.
            assert!(
                *took < request_timeout * 3,
                "{} after {took:?}: {}",
                r.status,
                r.text()
            );
        }
        if all_refused {
            // Nothing of this connection was queued: answered at once, not after the frozen
            // owner's request_timeout.
            let took = answers.last().map(|(_, t)| *t).unwrap_or_default();
            assert!(took < request_timeout, "refusals took {took:?}");
            all_refused_conns += 1;
        }
    }
    let statuses: Vec<Vec<u16>> = per_conn
        .iter()
        .map(|a| a.iter().map(|(r, _)| r.status).collect())
        .collect();
    eprintln!("flood with the owner frozen: {refused} of 40 refused; statuses per connection {statuses:?}");
    // At most the dispatcher's one batch and the queue were accepted: everything else refused.
    assert!(
        refused >= 40 - 2 * MAX_QUEUED_PER_PEER,
        "{refused} of 40 refused"
    );
    assert!(all_refused_conns >= 1);
    let m = metrics(addrs[0]);
    assert_eq!(
        metric_sum(&m, "cache_peer_queue_full_total"),
        refused as f64,
        "every refusal counted"
    );

    c.signal(victim, libc::SIGCONT);
    // Recovered: forwards to the owner succeed again, with its data.
    let deadline = Instant::now() + Duration::from_secs(20);
    for k in &keys[..4] {
        loop {
            let r = cluster_common::get(addrs[0], k);
            if r.status == 200 {
                assert_eq!(node_of(&r), IDS[victim]);
                assert_eq!(r.json()["value"], "kept");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{k} not served after SIGCONT: {} {}",
                r.status,
                r.text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    // A new flood within the bound is served by the owner, none refused.
    let again = flood(addrs[0], keys[4..8].to_vec()).join().expect("flood");
    for (r, _) in &again {
        assert_eq!((r.status, node_of(r)), (404, IDS[victim]), "{}", r.text());
    }
}
