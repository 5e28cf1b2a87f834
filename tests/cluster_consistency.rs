//! A three-node cluster answers like one cache: every node gives the same answer for every key
//! (value, version, miss, TTL, delete, errors), `X-Cache-Node` always names the ring owner (the
//! first replica of the key, which coordinates it while every node is up), keys spread as the
//! ring says and are stored on their replicas (the default `replicas: 2`) and nowhere else,
//! forwarding stays correct under concurrent keep-alive load and pipelining, a request a peer
//! already forwarded is never forwarded again, and `/admin/cluster` and `/admin/metrics` describe
//! the cluster consistently on every node.
//!
//! Each test runs its own cluster in-process on loopback addresses of its own (see
//! `common/cluster.rs`), with probing that a busy machine cannot trip; each ends by checking that
//! no membership change happened, so a spurious failover cannot hide behind a wrong answer.

#[path = "common/cluster.rs"]
mod cluster_common;
mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use cluster_common::{
    call, cluster_info, comparable, etag, etag_version, get, is_replica, key_path, local_entries,
    metric, metric_sum, metrics, node_of, put, raw, replicas_of, ring_changes, wait_serving, Conn,
    InProc, Rng, IDS, MAX_VALUE, STEADY,
};
use common::Resp;
use dcache::clock::Clock;
use serde_json::{json, Value};

/// The error body shape shared by every error: `{"error": text, "status": N[, "key": k]}`.
fn assert_error(r: &Resp, status: u16, ctx: &str) {
    assert_eq!(r.status, status, "{ctx}: {}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"), "{ctx}");
    let j = r.json();
    assert!(
        j["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{ctx}: {j}"
    );
    assert_eq!(j["status"], status, "{ctx}: {j}");
}

/// The same answer from every node. A `ttl` in the body counts down in whole seconds between the
/// requests, so two answers may differ by one second there and nowhere else.
fn assert_same(answers: &[Resp], ctx: &str) {
    let first = &answers[0];
    for (i, other) in answers.iter().enumerate().skip(1) {
        let (mut a, mut b) = (comparable(first), comparable(other));
        if let (Ok(mut ja), Ok(mut jb)) = (
            serde_json::from_str::<Value>(&a.2),
            serde_json::from_str::<Value>(&b.2),
        ) {
            if let (Some(ta), Some(tb)) = (ja["ttl"].as_u64(), jb["ttl"].as_u64()) {
                assert!(ta.abs_diff(tb) <= 1, "{ctx}: ttl {ta} vs {tb}");
                ja["ttl"] = json!(0);
                jb["ttl"] = json!(0);
                a.2 = ja.to_string();
                b.2 = jb.to_string();
            }
        }
        assert_eq!(a, b, "{ctx}: node1 and {} answer differently", IDS[i]);
    }
}

/// Start cluster `test_no` (two cores per node, every key on 2 of the 3 nodes) and wait until it settled: every node
/// caught up from its peers and sees the others up. Returns it with each node's
/// `cache_ring_changes_total` at that point (a node counts its peers' start-up, syncing then up,
/// as membership changes), the baseline of [`assert_no_membership_change`].
fn start(test_no: u8, clock: Option<Clock>) -> (InProc, Vec<f64>) {
    let c = match clock {
        Some(clock) => InProc::start_with_clock(test_no, 2, STEADY, "", clock),
        None => InProc::start(test_no, 2, STEADY, ""),
    };
    wait_serving(&c.addrs, &[0, 1, 2], Duration::from_secs(10));
    let base = ring_changes(&c.addrs);
    (c, base)
}

/// [`assert_same`] for answers about different writes of a key (it was written again before
/// each request): every answer names a version in the same form (or none does), and apart from
/// the `ETag` they are the same.
fn assert_same_but_version(answers: &[Resp], ctx: &str) {
    let has_version = answers[0].header("etag").is_some();
    let stripped: Vec<Resp> = answers
        .iter()
        .enumerate()
        .map(|(i, r)| {
            assert_eq!(
                r.header("etag").is_some(),
                has_version,
                "{ctx}: node1 and {} differ in naming a version",
                IDS[i]
            );
            if has_version {
                etag(r);
            }
            let mut r = r.clone();
            r.headers.retain(|(n, _)| !n.eq_ignore_ascii_case("etag"));
            r
        })
        .collect();
    assert_same(&stripped, ctx);
}

/// Every node reports the membership it had once the cluster settled: no node was marked down
/// (or came back, or said it is draining) during the test.
fn assert_no_membership_change(c: &InProc, base: &[f64]) {
    for (i, now) in ring_changes(&c.addrs).iter().enumerate() {
        assert_eq!(
            *now, base[i],
            "{} saw a membership change (a peer marked down: machine overloaded?)",
            IDS[i]
        );
    }
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).expect("string to JSON")
}

/// The value written for key number `i`: several JSON shapes, escapes and non-ASCII text.
fn value_for(i: usize, key: &str, round: u32) -> Value {
    match i % 4 {
        0 => {
            json!({"i": i, "key": key, "round": round, "list": [1, 2.5, null, true], "s": "line1\nline2 \"q\" \u{e9}"})
        }
        1 => json!(format!("plain string {i} round {round} ключ")),
        2 => json!([i, round, {"nested": {"deep": [key]}}]),
        _ => json!(i as u64 * 1_000_003 + u64::from(round)),
    }
}

#[test]
fn every_node_answers_every_key_identically() {
    let (c, base) = start(1, None);
    let mut rng = Rng(1);
    let mut keys: Vec<String> = (0..60).map(|i| format!("cons-{i}")).collect();
    for k in [
        "ключ-ü",
        "with space",
        "a/b",
        "q?x&y=1#f",
        "emoji-🚀",
        "%41",
        "+plus+",
    ] {
        keys.push(k.to_string());
    }
    let mut conns: Vec<Conn> = c.addrs.iter().map(|a| Conn::open(*a)).collect();
    let mut owners_seen = [0usize; 3];
    let mut expected: HashMap<String, Value> = HashMap::new();
    // The version (ETag) each key's acknowledged write got.
    let mut versions: HashMap<String, String> = HashMap::new();

    // PUT each key via a random node: coordinated by its owner, whoever was asked.
    for (i, key) in keys.iter().enumerate() {
        let owner = c.owner(key);
        owners_seen[owner] += 1;
        let asked = rng.below(3);
        let value = value_for(i, key, 1);
        let body = if i % 2 == 0 {
            json!({"value": value, "ttl": 300})
        } else {
            json!({"value": value})
        };
        let r = conns[asked].call(
            "PUT",
            &key_path(key),
            &[],
            Some(body.to_string().as_bytes()),
        );
        assert_eq!(
            r.status,
            201,
            "PUT {key:?} via {}: {}",
            IDS[asked],
            r.text()
        );
        assert_eq!(node_of(&r), IDS[owner], "PUT {key:?} via {}", IDS[asked]);
        let by = r.header("x-cache-forwarded-by");
        if asked == owner {
            assert_eq!(by, None, "PUT {key:?} served by its owner");
        } else {
            assert_eq!(by, Some(IDS[asked]), "PUT {key:?} forwarded");
        }
        let mut ack = json!({"key": key, "created": true});
        if i % 2 == 0 {
            ack["ttl"] = json!(300);
        }
        assert_eq!(r.json(), ack, "PUT {key:?}");
        expected.insert(key.clone(), value);
        versions.insert(key.clone(), etag(&r));
    }
    assert!(
        owners_seen.iter().all(|&n| n > 5),
        "keys spread over every node: {owners_seen:?}"
    );

    // GET and HEAD via each node: the same answer, from the owner, at the acknowledged version.
    for (i, key) in keys.iter().enumerate() {
        let owner = c.owner(key);
        let gets: Vec<Resp> = (0..3)
            .map(|n| conns[n].call("GET", &key_path(key), &[], None))
            .collect();
        assert_same(&gets, &format!("GET {key:?}"));
        assert_eq!(
            etag(&gets[0]),
            versions[key],
            "GET {key:?}: the PUT's version"
        );
        for (n, g) in gets.iter().enumerate() {
            assert_eq!(g.status, 200, "GET {key:?} via {}: {}", IDS[n], g.text());
            assert_eq!(node_of(g), IDS[owner], "GET {key:?} via {}", IDS[n]);
            let j = g.json();
            assert_eq!(j["key"], json!(key));
            assert_eq!(j["value"], expected[key], "GET {key:?} via {}", IDS[n]);
            if i % 2 == 0 {
                let ttl = j["ttl"].as_u64().expect("ttl");
                assert!((295..=300).contains(&ttl), "GET {key:?} ttl {ttl}");
            } else {
                assert!(j.get("ttl").is_none(), "GET {key:?} has no ttl: {j}");
            }
        }
        let heads: Vec<Resp> = (0..3)
            .map(|n| conns[n].call("HEAD", &key_path(key), &[], None))
            .collect();
        assert_same(&heads, &format!("HEAD {key:?}"));
        for h in &heads {
            assert_eq!(h.status, 200);
            assert_eq!(node_of(h), IDS[owner]);
            assert_eq!(h.header("content-length"), gets[0].header("content-length"));
        }
    }

    // Misses via each node (GET, HEAD, DELETE).
    for i in 0..12 {
        let key = format!("never-written-{i}");
        let owner = c.owner(&key);
        for method in ["GET", "HEAD", "DELETE"] {
            let answers: Vec<Resp> = (0..3)
                .map(|n| conns[n].call(method, &key_path(&key), &[], None))
                .collect();
            assert_same(&answers, &format!("{method} miss {key}"));
            for a in &answers {
                assert_eq!(a.status, 404, "{method} {key}");
                assert_eq!(node_of(a), IDS[owner], "{method} {key}");
            }
            if method != "HEAD" {
                assert_error(&answers[0], 404, &key);
                assert_eq!(answers[0].json()["key"], json!(key));
            }
        }
    }

    // Replace half the keys via a random node, delete the other half via a random node.
    let mut live: Vec<String> = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let owner = c.owner(key);
        let asked = rng.below(3);
        if i % 2 == 0 {
            let value = value_for(i, key, 2);
            let body = json!({ "value": value }).to_string();
            let r = conns[asked].call("PUT", &key_path(key), &[], Some(body.as_bytes()));
            assert_eq!(r.status, 200, "replace {key:?}: {}", r.text());
            assert_eq!(r.json(), json!({"key": key, "created": false}));
            assert_eq!(node_of(&r), IDS[owner]);
            let version = etag(&r);
            assert!(
                etag_version(&version) > etag_version(&versions[key]),
                "replace {key:?}: version {version} after {}",
                versions[key]
            );
            expected.insert(key.clone(), value);
            versions.insert(key.clone(), version);
            live.push(key.clone());
        } else {
            let r = conns[asked].call("DELETE", &key_path(key), &[], None);
            assert_eq!(r.status, 200, "DELETE {key:?}: {}", r.text());
            assert_eq!(
                r.text(),
                format!("{{\"key\":{},\"deleted\":true}}", json_str(key))
            );
            assert_eq!(node_of(&r), IDS[owner]);
            for method in ["GET", "HEAD", "DELETE"] {
                let answers: Vec<Resp> = (0..3)
                    .map(|n| conns[n].call(method, &key_path(key), &[], None))
                    .collect();
                assert_same(&answers, &format!("{method} deleted {key:?}"));
                assert!(answers.iter().all(|a| a.status == 404), "{method} {key:?}");
            }
        }
    }
    for key in &live {
        let gets: Vec<Resp> = (0..3)
            .map(|n| conns[n].call("GET", &key_path(key), &[], None))
            .collect();
        assert_same(&gets, &format!("GET replaced {key:?}"));
        assert_eq!(gets[0].status, 200);
        assert_eq!(etag(&gets[0]), versions[key], "GET replaced {key:?}");
        let j = gets[0].json();
        assert_eq!(j["value"], expected[key]);
        assert!(
            j.get("ttl").is_none(),
            "a replace without ttl clears it: {j}"
        );
    }

    // Each live key is stored on each of its replicas (its preference list) and nowhere else,
    // at the acknowledged version; a deleted key is gone from every node. Asked with
    // `X-Cache-Forwarded`, a replica answers from its own memory; a node that holds no replica
    // of the key answers a miss with 503 (its miss says nothing about the key).
    for (n, id) in IDS.iter().enumerate() {
        let want = live.iter().filter(|k| is_replica(&c.ring, k, 2, n)).count() as u64;
        assert_eq!(local_entries(c.addr(n)), want, "entries on {id}");
    }
    for key in &keys {
        let replicas = replicas_of(&c.ring, key, 2);
        assert_eq!(replicas[0], c.owner(key));
        for (n, id) in IDS.iter().enumerate() {
            let r = call(
                c.addr(n),
                "GET",
                &key_path(key),
                &[("X-Cache-Forwarded", "test")],
                None,
            );
            assert_eq!(node_of(&r), *id, "{key:?} read on {id} itself");
            if live.contains(key) && replicas.contains(&n) {
                assert_eq!(r.status, 200, "{key:?} on its replica {id}: {}", r.text());
                assert_eq!(r.json()["value"], expected[key], "{key:?} on {id}");
                assert_eq!(etag(&r), versions[key], "{key:?} on {id}");
            } else if !replicas.contains(&n) {
                assert_eq!(
                    r.status,
                    503,
                    "{key:?} on {id}, not a replica ({replicas:?}): {}",
                    r.text()
                );
            } else {
                assert_eq!(
                    r.status,
                    404,
                    "{key:?} on {id} (replicas {replicas:?}): {}",
                    r.text()
                );
            }
        }
    }
    assert_no_membership_change(&c, &base);
}

/// Errors are the same whichever node is asked. Those found before the owner is known (bad key,
/// method, oversized body) come from the asked node; those the owner finds (bad value) from the
/// owner, through the forward.
#[test]
fn every_node_answers_errors_identically() {
    let (c, base) = start(2, None);
    let long_key = "k".repeat(251);
    let request_errors: Vec<(&str, String, Option<Vec<u8>>, u16)> = vec![
        ("GET", "/api/v1/cache/".into(), None, 400),
        ("DELETE", "/api/v1/cache/".into(), None, 400),
        ("GET", "/api/v1/cache/a/b".into(), None, 400),
        ("GET", "/api/v1/cache/%FF%FE".into(), None, 400),
        ("GET", format!("/api/v1/cache/{long_key}"), None, 414),
        (
            "POST",
            key_path("err-0"),
            Some(b"{\"value\":1}".to_vec()),
            405,
        ),
        (
            "PATCH",
            key_path("err-1"),
            Some(b"{\"value\":1}".to_vec()),
            405,
        ),
        (
            "PUT",
            key_path("err-2"),
            Some(vec![b'x'; MAX_VALUE + 4096 + 1000]),
            413,
        ),
    ];
    for (method, path, body, status) in &request_errors {
        let answers: Vec<Resp> = c
            .addrs
            .iter()
            .map(|a| call(*a, method, path, &[], body.as_deref()))
            .collect();
        let ctx = format!("{method} {path:.60}");
        assert_same(&answers, &ctx);
        for (n, a) in answers.iter().enumerate() {
            assert_error(a, *status, &ctx);
            assert_eq!(node_of(a), IDS[n], "{ctx}: answered where asked");
        }
        if *status == 405 {
            assert_eq!(
                answers[0].header("allow"),
                Some("GET, HEAD, PUT, DELETE, OPTIONS")
            );
        }
    }

    // One key per owner, so each error crosses every forwarding path.
    let mut per_owner: Vec<String> = Vec::new();
    for n in 0..3 {
        let key = (0..)
            .map(|i| format!("bad-value-{i}"))
            .find(|k| c.owner(k) == n)
            .expect("a key for each node");
        per_owner.push(key);
    }
    let big = format!("{{\"value\":\"{}\"}}", "v".repeat(MAX_VALUE + 10));
    let bodies: Vec<(Option<&[u8]>, u16, &str)> = vec![
        (
            Some(big.as_bytes()),
            413,
            "value larger than max_value_bytes",
        ),
        (Some(b"not json"), 400, "invalid JSON body"),
        (Some(b"{\"value\":1,\"extra\":2}"), 400, "invalid JSON body"),
        (Some(b"{\"ttl\":5}"), 400, "invalid JSON body"),
        (Some(b"{\"value\":1,\"ttl\":999999999999}"), 400, "ttl"),
        (Some(b"{\"value\":1,\"ttl\":-1}"), 400, "invalid JSON body"),
        (None, 411, "PUT needs a JSON body"),
    ];
    for key in &per_owner {
        let owner = c.owner(key);
        for (body, status, text) in &bodies {
            let ctx = format!(
                "PUT {key} {:?}",
                body.map(|b| String::from_utf8_lossy(&b[..b.len().min(40)]).into_owned())
            );
            let answers: Vec<Resp> = c
                .addrs
                .iter()
                .map(|a| call(*a, "PUT", &key_path(key), &[], *body))
                .collect();
            assert_same(&answers, &ctx);
            for a in &answers {
                assert_error(a, *status, &ctx);
                assert!(
                    a.json()["error"].as_str().unwrap_or("").contains(text),
                    "{ctx}: {}",
                    a.text()
                );
                assert_eq!(a.json()["key"], json!(key), "{ctx}");
                assert_eq!(node_of(a), IDS[owner], "{ctx}: the owner decides");
            }
        }
        for a in &c.addrs {
            assert_eq!(get(*a, key).status, 404, "a refused PUT stores nothing");
        }
    }
    for (n, id) in IDS.iter().enumerate() {
        assert_eq!(local_entries(c.addr(n)), 0, "{id} stores nothing");
    }
    assert_no_membership_change(&c, &base);
}

/// TTLs on one manual clock shared by the three nodes: every node shows the same remaining
/// seconds before the deadline and the same 404 (GET and HEAD) from it on, with no sleeping.
#[test]
fn ttl_expires_the_same_via_every_node() {
    let (c, base) = start(3, Some(Clock::manual()));
    let keys: Vec<String> = (0..9).map(|i| format!("ttl-{i}")).collect();
    for (i, key) in keys.iter().enumerate() {
        let r = put(c.addr(i % 3), key, "{\"value\":\"short\",\"ttl\":1}");
        assert_eq!(r.status, 201, "{}", r.text());
        assert_eq!(r.json()["ttl"], 1);
    }
    let r = put(c.addr(0), "ttl-long", "{\"value\":\"long\",\"ttl\":3600}");
    assert_eq!(r.status, 201);
    // 1 ms before the deadline: still there everywhere, ttl rounded up to 1 s.
    c.advance(Duration::from_millis(999));
    for key in &keys {
        let answers: Vec<Resp> = c.addrs.iter().map(|a| get(*a, key)).collect();
        assert_same(&answers, key);
        for a in &answers {
            assert_eq!(a.status, 200, "{key} before expiry: {}", a.text());
            assert_eq!(a.json()["ttl"], 1, "{key}");
            assert_eq!(node_of(a), IDS[c.owner(key)]);
        }
    }
    c.advance(Duration::from_millis(1));
    for key in &keys {
        for method in ["GET", "HEAD"] {
            let answers: Vec<Resp> = c
                .addrs
                .iter()
                .map(|a| call(*a, method, &key_path(key), &[], None))
                .collect();
            assert_same(&answers, &format!("{method} expired {key}"));
            for a in &answers {
                assert_eq!(a.status, 404, "{method} {key} after its ttl");
                assert_eq!(node_of(a), IDS[c.owner(key)]);
            }
        }
    }
    for a in &c.addrs {
        let g = get(*a, "ttl-long");
        assert_eq!(g.status, 200);
        assert_eq!(g.json()["ttl"], 3599, "exactly 1 s of 3600 gone");
    }
    assert_no_membership_change(&c, &base);
}

/// Keys land where the ring says: owners in the ring's proportions, copies on each key's
/// preference list; `/admin/cluster` and `/admin/metrics` agree on every node.
#[test]
fn keys_follow_the_ring_and_every_node_describes_the_same_cluster() {
    let (c, base) = start(4, None);
    let shares = c.ring.shares();
    let version = format!("0x{:016x}", c.ring.version());
    let mut conns: Vec<Conn> = c.addrs.iter().map(|a| Conn::open(*a)).collect();
    let total = 900;
    // Keys owned by each node, and copies held by each node (keys it is a replica of).
    let mut counts = [0u64; 3];
    let mut held = [0u64; 3];
    for i in 0..total {
        let key = format!("share-{i}");
        let r = conns[i % 3].call("PUT", &key_path(&key), &[], Some(b"{\"value\":1}"));
        assert_eq!(r.status, 201, "{}", r.text());
        let owner = c.owner(&key);
        assert_eq!(node_of(&r), IDS[owner], "{key}");
        counts[owner] += 1;
        for n in replicas_of(&c.ring, &key, 2) {
            held[n] += 1;
        }
    }
    assert_eq!(
        held.iter().sum::<u64>(),
        2 * total as u64,
        "two copies of each key"
    );
    for n in 0..3 {
        let seen = counts[n] as f64 / total as f64;
        assert!(
            (seen - shares[n]).abs() < 0.06,
            "{} owns {seen:.3} of the keys but {:.3} of the ring",
            IDS[n],
            shares[n]
        );
        assert_eq!(local_entries(c.addr(n)), held[n], "entries on {}", IDS[n]);
    }

    // /admin/cluster: same ring everywhere, peers' probe reports agree.
    for (n, a) in c.addrs.iter().enumerate() {
        let ok = common::eventually(Duration::from_secs(5), || {
            let info = cluster_info(*a);
            info["nodes"].as_array().is_some_and(|ns| {
                ns.iter().enumerate().all(|(m, node)| {
                    node["ring_version"] == json!(version)
                        && node["ring_agrees"] == json!(true)
                        && node["entries"] == json!(held[m])
                })
            })
        });
        let info = cluster_info(*a);
        assert!(
            ok,
            "{} never saw every peer's ring and entries: {info}",
            IDS[n]
        );
        assert_eq!(info["node_id"], IDS[n]);
        assert_eq!(info["ring_version"], json!(version));
        assert_eq!(info["virtual_nodes"], 150);
        assert_eq!(info["threads"], 2);
        assert_eq!(info["nodes_up"], 3);
        assert_eq!(info["nodes_total"], 3);
        assert_eq!(
            info["ring_changes"].as_f64(),
            Some(base[n]),
            "changes since it settled"
        );
        assert_eq!(info["replicas"], 2, "the default on three nodes");
        let nodes = info["nodes"].as_array().expect("nodes");
        assert_eq!(nodes.len(), 3, "{info}");
        for (m, node) in nodes.iter().enumerate() {
            assert_eq!(node["id"], IDS[m]);
            assert_eq!(node["address"], json!(c.addr(m).to_string()));
            assert_eq!(node["state"], if m == n { "self" } else { "up" }, "{info}");
            for field in ["ring_share", "live_share"] {
                let s = node[field].as_f64().expect("share");
                assert!(
                    (s - shares[m]).abs() < 0.0001,
                    "{field} {s} vs {}",
                    shares[m]
                );
            }
            if m != n {
                assert!(node["last_probe_ms_ago"].as_u64().is_some(), "{node}");
                assert!(node.get("last_error").is_none(), "{node}");
            }
        }
    }

    // /admin/metrics: ring shares and forward counters per peer.
    for (n, a) in c.addrs.iter().enumerate() {
        let m = metrics(*a);
        for (p, id) in IDS.iter().enumerate() {
            let share = metric(&m, &format!("cache_ring_share{{node=\"{id}\"}}"))
                .unwrap_or_else(|| panic!("cache_ring_share for {id} on {}", IDS[n]));
            assert!((share - shares[p]).abs() < 1e-5, "{share} vs {}", shares[p]);
            assert_eq!(
                metric(&m, &format!("cache_cluster_node_up{{node=\"{id}\"}}")),
                Some(1.0)
            );
            if p != n {
                let ok = metric(
                    &m,
                    &format!("cache_forwarded_requests_total{{peer=\"{id}\",result=\"ok\"}}"),
                )
                .unwrap_or(0.0);
                assert!(ok > 0.0, "{} forwarded nothing to {id}:\n{m}", IDS[n]);
            }
        }
        assert_eq!(metric(&m, "cache_cluster_nodes_up"), Some(3.0));
        assert_eq!(metric(&m, "cache_ring_keys_moved_total"), Some(0.0));
        assert!(
            !m.contains("result=\"error\"") && !m.contains("result=\"timeout\""),
            "no failed forwards on {}",
            IDS[n]
        );
        assert!(
            m.contains(&format!(
                "cache_ring_info{{version=\"{version}\",virtual_nodes=\"150\"}} 1"
            )),
            "ring info on {}",
            IDS[n]
        );
    }
    assert_no_membership_change(&c, &base);
}

/// One thread's share of the load test: its own keys, a keep-alive connection to every node, and
/// a model of what each key must hold.
fn load_worker(t: usize, addrs: &[SocketAddr], ring: &dcache::cluster::ring::Ring) -> usize {
    let mut rng = Rng(1000 + t as u64);
    let mut conns: Vec<Conn> = addrs.iter().map(|a| Conn::open(*a)).collect();
    let keys: Vec<String> = (0..24).map(|i| format!("load-{t}-{i}")).collect();
    let mut model: HashMap<String, Value> = HashMap::new();
    let mut forwarded = 0;
    for n in 0..200 {
        let key = &keys[rng.below(keys.len())];
        let at = rng.below(3);
        let owner = cluster_common::owner(ring, key);
        let path = key_path(key);
        let ctx = format!("thread {t} op {n} via {} on {key}", IDS[at]);
        let r = match rng.below(20) {
            0..=7 => {
                let pad = "p".repeat(rng.below(3000));
                let value = json!({"t": t, "n": n, "pad": pad});
                let body = json!({ "value": value }).to_string();
                let r = conns[at].call("PUT", &path, &[], Some(body.as_bytes()));
                let want = if model.contains_key(key) { 200 } else { 201 };
                assert_eq!(r.status, want, "{ctx}: {}", r.text());
                model.insert(key.clone(), value);
                r
            }
            8..=14 => {
                let r = conns[at].call("GET", &path, &[], None);
                match model.get(key) {
                    Some(v) => {
                        assert_eq!(r.status, 200, "{ctx}: {}", r.text());
                        assert_eq!(&r.json()["value"], v, "{ctx}");
                    }
                    None => assert_eq!(r.status, 404, "{ctx}: {}", r.text()),
                }
                r
            }
            15..=16 => {
                let r = conns[at].call("HEAD", &path, &[], None);
                let want = if model.contains_key(key) { 200 } else { 404 };
                assert_eq!(r.status, want, "{ctx}");
                r
            }
            _ => {
                let r = conns[at].call("DELETE", &path, &[], None);
                let want = if model.remove(key).is_some() {
                    200
                } else {
                    404
                };
                assert_eq!(r.status, want, "{ctx}: {}", r.text());
                r
            }
        };
        assert_eq!(node_of(&r), IDS[owner], "{ctx}");
        if at != owner {
            forwarded += 1;
            assert_eq!(r.header("x-cache-forwarded-by"), Some(IDS[at]), "{ctx}");
        }
    }
    // Final state, via every node.
    for key in &keys {
        for conn in conns.iter_mut() {
            let r = conn.call("GET", &key_path(key), &[], None);
            match model.get(key) {
                Some(v) => assert_eq!(&r.json()["value"], v, "final {key}"),
                None => assert_eq!(r.status, 404, "final {key}"),
            }
        }
    }
    forwarded
}

#[test]
fn concurrent_mixed_load_through_every_node_stays_correct() {
    let (c, base) = start(5, None);
    let before: f64 = c
        .addrs
        .iter()
        .map(|a| metric_sum(&metrics(*a), "cache_forwarded_requests_total"))
        .sum();
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let addrs = c.addrs.clone();
            let ring = c.ring.clone();
            std::thread::spawn(move || load_worker(t, &addrs, &ring))
        })
        .collect();
    let mut forwarded = 0;
    for h in handles {
        forwarded += h.join().expect("load thread passed");
    }
    assert!(forwarded > 500, "most requests were forwarded: {forwarded}");
    let mut ok = 0.0;
    for a in &c.addrs {
        let m = metrics(*a);
        assert!(!m.contains("result=\"error\""), "no failed forward:\n{m}");
        assert!(
            !m.contains("result=\"timeout\""),
            "no timed-out forward:\n{m}"
        );
        ok += metric_sum(&m, "cache_forwarded_requests_total");
    }
    // Every forwarded request of the load (and of the final reads) is counted once, as "ok".
    assert!(
        ok - before >= forwarded as f64,
        "forwards counted {} < {forwarded}",
        ok - before
    );
    assert_no_membership_change(&c, &base);
}

/// Pipelined requests on one connection, most for keys owned elsewhere: answered in order.
#[test]
fn pipelined_requests_for_other_owners_come_back_in_order() {
    let (c, base) = start(6, None);
    for (n, addr) in c.addrs.iter().enumerate() {
        let keys: Vec<String> = (0..20).map(|i| format!("pipe-{n}-{i}")).collect();
        let mut batch = Vec::new();
        // (method, key, expected status, expected value)
        let mut want: Vec<(&str, &str, u16, Option<Value>)> = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            let path = key_path(key);
            let value = json!({"n": n, "i": i});
            let body = json!({ "value": value }).to_string();
            batch.extend(raw("GET", &path, &[], None));
            want.push(("GET", key, 404, None));
            batch.extend(raw("PUT", &path, &[], Some(body.as_bytes())));
            want.push(("PUT", key, 201, None));
            batch.extend(raw("HEAD", &path, &[], None));
            want.push(("HEAD", key, 200, None));
            batch.extend(raw("GET", &path, &[], None));
            want.push(("GET", key, 200, Some(value)));
            if i % 3 == 0 {
                batch.extend(raw("DELETE", &path, &[], None));
                want.push(("DELETE", key, 200, None));
            }
        }
        assert!(want.len() < 128, "within max_pipeline");
        let mut conn = Conn::open(*addr);
        conn.reader.send(&batch);
        for (k, (method, key, status, value)) in want.iter().enumerate() {
            let r = conn
                .reader
                .response(*method == "HEAD")
                .unwrap_or_else(|| panic!("response {k} ({method} {key})"));
            let ctx = format!("pipelined #{k} {method} {key} via {}", IDS[n]);
            assert_eq!(r.status, *status, "{ctx}: {}", r.text());
            assert_eq!(node_of(&r), IDS[c.owner(key)], "{ctx}");
            if *method != "HEAD" {
                assert_eq!(r.json()["key"], json!(key), "{ctx}: answer out of order");
            }
            if let Some(v) = value {
                assert_eq!(&r.json()["value"], v, "{ctx}");
            }
        }
        // The connection is still usable and nothing extra arrived.
        assert!(conn.reader.pending().is_empty(), "no stray bytes");
        let h = conn.call("GET", "/api/v1/health", &[], None);
        assert_eq!(h.status, 200);
    }
    assert_no_membership_change(&c, &base);
}

/// `X-Cache-Forwarded` means "a peer already routed this": serve it here, never forward again.
/// Serving a write means coordinating it: it is stored here and copied to the key's replicas
/// (copies are not forwards: they carry a version and are applied as they are).
#[test]
fn a_forwarded_request_is_served_locally_and_never_forwarded_again() {
    let (c, base) = start(7, None);
    // Owned by node2, with node1 as its other replica.
    let key = (0..)
        .map(|i| format!("fwd-{i}"))
        .find(|k| replicas_of(&c.ring, k, 2) == [1, 0])
        .expect("a key of node2 and node1");
    let (n1, n2, n3) = (c.addr(0), c.addr(1), c.addr(2));
    let fwd_sum = |a: SocketAddr| metric_sum(&metrics(a), "cache_forwarded_requests_total");
    let before = (fwd_sum(n1), fwd_sum(n2), fwd_sum(n3));
    let hdr = [("X-Cache-Forwarded", "x")];

    let mut conn = Conn::open(n1);
    let r = conn.call(
        "PUT",
        &key_path(&key),
        &hdr,
        Some(b"{\"value\":\"on node1\"}"),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(node_of(&r), "node1", "served where asked, not by the owner");
    assert_eq!(r.header("x-cache-forwarded-by"), None);
    let version = etag(&r);
    let r = conn.call("GET", &key_path(&key), &hdr, None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(node_of(&r), "node1");
    assert_eq!(r.json()["value"], "on node1");
    assert_eq!(etag(&r), version);
    let r = conn.call("HEAD", &key_path(&key), &hdr, None);
    assert_eq!((r.status, node_of(&r)), (200, "node1"));
    assert_eq!(
        (fwd_sum(n1), fwd_sum(n2), fwd_sum(n3)),
        before,
        "requests marked forwarded were not forwarded"
    );

    // Without the header the request goes to the owner, which got node1's copy of the write.
    let r = conn.call("GET", &key_path(&key), &[], None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(node_of(&r), "node2");
    assert_eq!(r.header("x-cache-forwarded-by"), Some("node1"));
    assert_eq!(r.json()["value"], "on node1");
    assert_eq!(etag(&r), version, "the owner holds the version node1 gave");
    assert_eq!(fwd_sum(n1), before.0 + 1.0, "one forward from node1");
    assert_eq!(fwd_sum(n2), before.1, "node2 served the forward itself");

    // Asking each node directly with the header: the replicas have it, node3 (not a replica of
    // the key) never got a copy.
    let r = call(n2, "GET", &key_path(&key), &hdr, None);
    assert_eq!((r.status, node_of(&r)), (200, "node2"), "{}", r.text());
    assert_eq!(etag(&r), version);
    let r = call(n3, "GET", &key_path(&key), &hdr, None);
    assert_eq!((r.status, node_of(&r)), (503, "node3"), "{}", r.text());
    assert_eq!(local_entries(n3), 0);

    // A delete served on node1 reaches the owner too.
    let r = conn.call("DELETE", &key_path(&key), &hdr, None);
    assert_eq!((r.status, node_of(&r)), (200, "node1"));
    let r = call(n2, "GET", &key_path(&key), &hdr, None);
    assert_eq!((r.status, node_of(&r)), (404, "node2"), "{}", r.text());
    assert_eq!(local_entries(n1), 0);
    assert_eq!(local_entries(n2), 0);

    // A key node1 does not replicate (node2 and node3 do): node1 serves the write and copies it
    // to both replicas, then hands its own copy over and forgets it (no stale copy stays on a
    // node outside the key's preference list).
    let foreign = (0..)
        .map(|i| format!("fwd-foreign-{i}"))
        .find(|k| replicas_of(&c.ring, k, 2) == [1, 2])
        .expect("a key of node2 and node3");
    let r = conn.call(
        "PUT",
        &key_path(&foreign),
        &hdr,
        Some(b"{\"value\":\"via node1\"}"),
    );
    assert_eq!((r.status, node_of(&r)), (201, "node1"), "{}", r.text());
    let version = etag(&r);
    for n in [1, 2] {
        let r = call(c.addr(n), "GET", &key_path(&foreign), &hdr, None);
        assert_eq!(r.status, 200, "{foreign} on {}: {}", IDS[n], r.text());
        assert_eq!(r.json()["value"], "via node1");
        assert_eq!(etag(&r), version, "{foreign} on {}", IDS[n]);
    }
    // Once forgotten, node1 (no replica of the key) answers its miss with 503.
    let forgotten = common::eventually(Duration::from_secs(10), || {
        call(n1, "GET", &key_path(&foreign), &hdr, None).status == 503
    });
    assert!(forgotten, "node1 still holds its copy of {foreign}");
    assert_eq!(local_entries(n1), 0);
    let r = conn.call("GET", &key_path(&foreign), &[], None);
    assert_eq!((r.status, node_of(&r)), (200, "node2"), "{}", r.text());
    assert_eq!(etag(&r), version);
    assert_eq!(
        (fwd_sum(n1), fwd_sum(n2), fwd_sum(n3)),
        (before.0 + 2.0, before.1, before.2)
    );
    assert_no_membership_change(&c, &base);
}

/// Raw request variants (chunked body, `Expect: 100-continue`, HTTP/1.0, `Connection: close`,
/// a numeric `X-Request-Id`, a query string, OPTIONS) get the same answer from the owner and from
/// a node that forwards them.
#[test]
fn request_variants_are_answered_the_same_through_a_forward() {
    let (c, base) = start(8, None);
    let key = (0..)
        .map(|i| format!("variant-{i}"))
        .find(|k| c.owner(k) == 1)
        .expect("a key owned by node2");
    let path = key_path(&key);
    let body = b"{\"value\":{\"via\":\"variant\"},\"ttl\":600}";
    let chunked = {
        let mut v = format!(
            "PUT {path} HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n",
            10
        )
        .into_bytes();
        v.extend_from_slice(&body[..10]);
        v.extend_from_slice(format!("\r\n{:x}\r\n", body.len() - 10).as_bytes());
        v.extend_from_slice(&body[10..]);
        v.extend_from_slice(b"\r\n0\r\n\r\n");
        v
    };
    // (name, request bytes, the key exists before it is sent, expected status, connection closes)
    let variants: Vec<(&str, Vec<u8>, bool, u16, bool)> = vec![
        ("chunked PUT", chunked, false, 201, false),
        (
            "HTTP/1.0 GET",
            format!("GET {path} HTTP/1.0\r\n\r\n").into_bytes(),
            true,
            200,
            true,
        ),
        (
            "HTTP/1.0 keep-alive GET",
            format!("GET {path} HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").into_bytes(),
            true,
            200,
            false,
        ),
        (
            "Connection: close GET",
            format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").into_bytes(),
            true,
            200,
            true,
        ),
        (
            "GET with a query",
            format!("GET {path}?a=1&b=%20 HTTP/1.1\r\nHost: t\r\n\r\n").into_bytes(),
            true,
            200,
            false,
        ),
        (
            "DELETE with a query",
            format!("DELETE {path}?x=y HTTP/1.1\r\nHost: t\r\n\r\n").into_bytes(),
            true,
            200,
            false,
        ),
        (
            "OPTIONS",
            format!("OPTIONS {path} HTTP/1.1\r\nHost: t\r\n\r\n").into_bytes(),
            true,
            204,
            false,
        ),
    ];
    for (name, bytes, exists, status, closes) in &variants {
        let mut answers = Vec::new();
        for a in &c.addrs {
            call(c.addr(1), "DELETE", &path, &[], None);
            if *exists {
                assert_eq!(call(c.addr(1), "PUT", &path, &[], Some(body)).status, 201);
            }
            let mut conn = Conn::open(*a);
            conn.reader.send(bytes);
            let r = conn.reader.response(false).expect("an answer");
            assert_eq!(r.status, *status, "{name} via {a}: {}", r.text());
            if *closes {
                assert!(conn.reader.is_closed(), "{name} via {a}: connection closes");
            } else {
                let h = conn.call("GET", "/api/v1/health", &[], None);
                assert_eq!(h.status, 200, "{name} via {a}: connection stays usable");
            }
            assert_eq!(
                r.header("etag").is_some(),
                matches!(*status, 200 | 201) && !name.contains("DELETE"),
                "{name} via {a}: a value or a write names its version"
            );
            answers.push(r);
        }
        assert_same_but_version(&answers, name);
    }
    // Expect: 100-continue: the interim answer, then the owner's final answer.
    let mut answers = Vec::new();
    for a in &c.addrs {
        call(c.addr(1), "DELETE", &path, &[], None);
        let mut conn = Conn::open(*a);
        conn.reader.send(
            format!(
                "PUT {path} HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        );
        let interim = conn.reader.response(false).expect("100 Continue");
        assert_eq!(interim.status, 100, "via {a}");
        conn.reader.send(body);
        let r = conn.reader.response(false).expect("final answer");
        assert_eq!(r.status, 201, "via {a}: {}", r.text());
        assert_eq!(node_of(&r), "node2");
        answers.push(r);
    }
    assert_same_but_version(&answers, "Expect: 100-continue PUT");
    assert_no_membership_change(&c, &base);
}

/// docs/api.md: "A numeric `X-Request-Id` request header is echoed in the response" — for every
/// response, so also when the node the client asked relays the owner's answer.
#[test]
fn a_numeric_request_id_is_echoed_whichever_node_answers() {
    let (c, base) = start(9, None);
    let key = (0..)
        .map(|i| format!("reqid-{i}"))
        .find(|k| c.owner(k) == 2)
        .expect("a key owned by node3");
    assert_eq!(put(c.addr(2), &key, "{\"value\":7}").status, 201);
    for (n, a) in c.addrs.iter().enumerate() {
        for method in ["GET", "HEAD", "DELETE", "PUT"] {
            let id = format!("{}", 4242 + n);
            let body: Option<&[u8]> = (method == "PUT").then_some(b"{\"value\":7}");
            let r = call(*a, method, &key_path(&key), &[("X-Request-Id", &id)], body);
            assert!(r.status < 300, "{method} via {}: {}", IDS[n], r.text());
            assert_eq!(node_of(&r), "node3");
            assert_eq!(
                r.header("x-request-id"),
                Some(id.as_str()),
                "{method} via {} (owner node3): the client's X-Request-Id is echoed",
                IDS[n]
            );
        }
    }
    assert_no_membership_change(&c, &base);
}
