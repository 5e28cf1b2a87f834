//! Counters (issue 12): `POST /api/v1/cache/{key}/incr` over raw sockets, on one node and on
//! three (owner elsewhere, owner down, owner frozen). Exact i64 arithmetic, 201/200, 409 on a
//! value that is not an integer or on overflow, the value shown by GET in the usual envelope,
//! copies to the other replica as a versioned PUT of the result, and an increment that may have
//! reached a frozen coordinator answered 504 rather than sent to another replica too.
//!
//! Races: 4 clients increment one key at once, through different nodes; the total is exact.
//! The figures are printed (`cargo test --test api_incr -- --nocapture`).

#[path = "common/cluster.rs"]
mod cluster_common;
mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use cluster_common::{
    call, etag, etag_version, key_path, node_of, replicas_of, Conn, InProc, Probing, ProcCluster,
    IDS, STEADY,
};
use common::Resp;

fn incr_path(key: &str) -> String {
    format!("{}/incr", key_path(key))
}

fn incr(a: SocketAddr, key: &str, body: Option<&str>) -> Resp {
    call(a, "POST", &incr_path(key), &[], body.map(str::as_bytes))
}

/// `{"key":k,"value":n}` with an ETag, and the status.
fn assert_counted(r: &Resp, key: &str, value: i64, status: u16) {
    assert_eq!(r.status, status, "{}", r.text());
    assert_eq!(r.json(), serde_json::json!({ "key": key, "value": value }));
    etag(r);
}

#[test]
fn increments_on_one_node() {
    let node = common::run_single(2, "");
    let a = node.addr();
    assert_counted(&incr(a, "c", None), "c", 1, 201);
    assert_counted(&incr(a, "c", Some("{}")), "c", 2, 200);
    assert_counted(&incr(a, "c", Some(r#"{"delta":40}"#)), "c", 42, 200);
    assert_counted(&incr(a, "c", Some(r#"{"delta":-50}"#)), "c", -8, 200);
    // The counter is an ordinary JSON integer: GET shows it in the envelope, with its ETag.
    let g = cluster_common::get(a, "c");
    assert_eq!(g.text(), r#"{"key":"c","value":-8}"#);
    let last = incr(a, "c", Some(r#"{"delta":0}"#));
    assert!(etag_version(&etag(&last)) > etag_version(&etag(&g)));
    // A PUT value that is an integer counts on from there.
    cluster_common::put(a, "p", r#"{"value":100}"#);
    assert_counted(&incr(a, "p", Some(r#"{"delta":1}"#)), "p", 101, 200);

    // ttl applies to a missing key; an existing key keeps its TTL.
    assert_counted(&incr(a, "t", Some(r#"{"delta":3,"ttl":100}"#)), "t", 3, 201);
    incr(a, "t", Some(r#"{"delta":1,"ttl":5000}"#));
    let t = cluster_common::get(a, "t").json();
    assert_eq!(t["value"], 4);
    assert!(t["ttl"].as_u64().is_some_and(|s| s <= 100 && s > 90), "{t}");
    assert!(node.stop());
}

#[test]
fn conflicts_and_bad_requests_change_nothing() {
    let node = common::run_single(1, "");
    let a = node.addr();
    for (key, value) in [("s", r#""5""#), ("f", "1.5"), ("o", r#"{"n":1}"#)] {
        cluster_common::put(a, key, &format!("{{\"value\":{value}}}"));
        let r = incr(a, key, None);
        assert_eq!(r.status, 409, "{key}: {}", r.text());
        assert!(r.json()["error"]
            .as_str()
            .unwrap_or_default()
            .contains("not a JSON integer"));
        assert_eq!(r.json()["key"], key);
        assert_eq!(
            cluster_common::get(a, key).json()["value"].to_string(),
            value
        );
    }
    cluster_common::put(a, "max", r#"{"value":9223372036854775807}"#);
    let over = incr(a, "max", None);
    assert_eq!(over.status, 409, "{}", over.text());
    assert!(over.json()["error"]
        .as_str()
        .unwrap_or_default()
        .contains("64-bit"));
    assert_counted(
        &incr(a, "max", Some(r#"{"delta":-9223372036854775807}"#)),
        "max",
        0,
        200,
    );
    cluster_common::put(a, "min", r#"{"value":-9223372036854775808}"#);
    assert_eq!(incr(a, "min", Some(r#"{"delta":-1}"#)).status, 409);

    for body in [
        r#"{"delta":1.5}"#,
        r#"{"by":1}"#,
        r#"{"delta":"1"}"#,
        "[1]",
        r#"{"ttl":-1}"#,
    ] {
        let r = incr(a, "b", Some(body));
        assert_eq!(r.status, 400, "{body}: {}", r.text());
        assert!(
            r.json()["error"]
                .as_str()
                .unwrap_or_default()
                .contains("incr body"),
            "{}",
            r.text()
        );
    }
    assert_eq!(cluster_common::get(a, "b").status, 404, "nothing created");
    let wrong_method = call(a, "GET", &incr_path("b"), &[], None);
    assert_eq!(wrong_method.status, 405);
    assert_eq!(wrong_method.header("allow"), Some("POST, OPTIONS"));

    // Conditions apply as on a PUT.
    let tag = etag(&incr(a, "cas", None));
    let stale = call(
        a,
        "POST",
        &incr_path("cas"),
        &[("If-Match", "\"0000000000000001\"")],
        None,
    );
    assert_eq!(stale.status, 412, "{}", stale.text());
    assert_eq!(stale.header("etag"), Some(tag.as_str()));
    let fresh = call(a, "POST", &incr_path("cas"), &[("If-Match", &tag)], None);
    assert_counted(&fresh, "cas", 2, 200);
    let only_new = call(
        a,
        "POST",
        &incr_path("cas"),
        &[("If-None-Match", "*")],
        None,
    );
    assert_eq!(only_new.status, 412);
    assert!(node.stop());
}

/// `clients` threads, client `i` through `via[i % via.len()]`, each sending `per_client`
/// increments of `delta(i)` on its own keep-alive connection. Returns the answers' values.
fn hammer(via: &[SocketAddr], key: &str, clients: usize, per_client: usize) -> Vec<i64> {
    let handles: Vec<_> = (0..clients)
        .map(|i| {
            let (a, key) = (via[i % via.len()], key.to_string());
            std::thread::spawn(move || {
                let mut conn = Conn::open(a);
                let body = format!("{{\"delta\":{}}}", delta(i));
                (0..per_client)
                    .map(|_| {
                        let r = conn.call("POST", &incr_path(&key), &[], Some(body.as_bytes()));
                        assert!(r.status == 200 || r.status == 201, "{}", r.text());
                        r.json()["value"].as_i64().expect("value")
                    })
                    .collect::<Vec<i64>>()
            })
        })
        .collect();
    handles
        .into_iter()
        .flat_map(|h| h.join().expect("client"))
        .collect()
}

/// Client `i` adds `delta(i)`: different per client, so a lost or doubled increment shows.
fn delta(i: usize) -> i64 {
    [1, 10, 100, -1000][i % 4]
}

fn expected(clients: usize, per_client: usize) -> i64 {
    (0..clients).map(|i| delta(i) * per_client as i64).sum()
}

#[test]
fn four_concurrent_clients_on_one_node_sum_exactly() {
    let node = common::run_single(2, "");
    let a = node.addr();
    let (clients, per) = (4, 500);
    let t = Instant::now();
    let values = hammer(&[a], "n", clients, per);
    let took = t.elapsed();
    let total = cluster_common::get(a, "n").json()["value"].as_i64();
    println!(
        "incr race, 1 node: {clients} clients x {per} increments: total {total:?} (expected {}), {:.2?}, {:.0} incr/s",
        expected(clients, per),
        took,
        (clients * per) as f64 / took.as_secs_f64()
    );
    assert_eq!(total, Some(expected(clients, per)));
    // The last answer of all is the total (the others are intermediate states).
    assert!(values.contains(&expected(clients, per)));
    assert!(node.stop());
}

#[test]
fn four_clients_through_three_nodes_sum_exactly_and_the_copy_follows() {
    let mut c = InProc::start(82, 2, STEADY, "");
    let key = (0..)
        .map(|i| format!("n-{i}"))
        .find(|k| replicas_of(&c.ring, k, 2)[0] == 0)
        .expect("a key");
    let [owner, second] = <[usize; 2]>::try_from(replicas_of(&c.ring, &key, 2)).expect("2");
    let third = 3 - owner - second;
    let via = [c.addr(0), c.addr(1), c.addr(2), c.addr(third)];
    let (clients, per) = (4, 200);
    let t = Instant::now();
    hammer(&via, &key, clients, per);
    let took = t.elapsed();
    let want = expected(clients, per);
    let totals: Vec<Option<i64>> = (0..3)
        .map(|n| cluster_common::get(c.addr(n), &key).json()["value"].as_i64())
        .collect();
    println!(
        "incr race, 3 nodes: {clients} clients through nodes {:?} x {per} increments: totals read via each node {totals:?} (expected {want}), {:.2?}, {:.0} incr/s",
        [0, 1, 2, third].map(|n| IDS[n]),
        took,
        (clients * per) as f64 / took.as_secs_f64()
    );
    assert!(totals.iter().all(|t| *t == Some(want)), "{totals:?}");
    // The other replica holds the result at the coordinator's version.
    let owner_view = cluster_common::get(c.addr(owner), &key);
    let local = call(
        c.addr(second),
        "GET",
        &key_path(&key),
        &[("X-Cache-Forwarded", "t")],
        None,
    );
    assert_eq!(
        local.json()["value"].as_i64(),
        Some(want),
        "{}",
        local.text()
    );
    assert_eq!(etag(&local), etag(&owner_view));

    // Owner down: the next replica goes on from the copy.
    c.stop(owner);
    let deadline = Instant::now() + Duration::from_secs(10);
    let r = loop {
        let r = incr(c.addr(third), &key, Some(r#"{"delta":1}"#));
        if r.status != 503 || Instant::now() > deadline {
            break r;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_counted(&r, &key, want + 1, 200);
    assert_eq!(node_of(&r), IDS[second]);
}

/// Down only after 10 failed probes (3 s and more), a forward times out after 1 s: a frozen
/// owner stays the coordinator while the increment waits for it.
const SLOW_DETECTION: Probing = Probing {
    interval_ms: 300,
    timeout_ms: 300,
    fail_after: 10,
    recover_after: 1,
    connect_ms: 300,
    request_ms: 1000,
};

#[test]
fn an_increment_that_may_have_reached_a_frozen_owner_is_not_sent_elsewhere() {
    let c = ProcCluster::start(83, "incr-frozen", 1, SLOW_DETECTION);
    let key = (0..)
        .map(|i| format!("f-{i}"))
        .find(|k| replicas_of(&c.ring, k, 2)[0] == 0)
        .expect("a key");
    let [owner, second] = <[usize; 2]>::try_from(replicas_of(&c.ring, &key, 2)).expect("2");
    let third = 3 - owner - second;
    let via = c.addrs[third];
    assert_counted(&incr(via, &key, Some(r#"{"delta":5}"#)), &key, 5, 201);

    c.signal(owner, libc::SIGSTOP);
    let t = Instant::now();
    let r = incr(via, &key, Some(r#"{"delta":1}"#));
    let waited = t.elapsed();
    c.signal(owner, libc::SIGCONT);
    assert_eq!(r.status, 504, "{}", r.text());
    let msg = r.json()["error"].as_str().unwrap_or_default().to_string();
    assert!(
        msg.contains(IDS[owner]) && msg.contains("may have been applied"),
        "{msg}"
    );
    assert!(waited < Duration::from_secs(5), "waited {waited:?}");
    // Resumed, the owner applied what it had received at most once (a node that stood still
    // catches up before serving, so it may refuse it), and nobody else applied it: both replicas
    // settle on the same value, 5 or 6, never 7.
    let local = |n: usize| {
        let path = key_path(&key);
        let r = call(
            c.addrs[n],
            "GET",
            &path,
            &[("X-Cache-Forwarded", "t")],
            None,
        );
        r.json()["value"].as_i64()
    };
    let settled = common::eventually(Duration::from_secs(10), || {
        local(owner).is_some() && local(owner) == local(second)
    });
    let (o, s) = (local(owner), local(second));
    assert!(settled, "replicas disagree: {o:?} / {s:?}");
    assert!(matches!(o, Some(5 | 6)), "{o:?}");
    println!(
        "frozen owner: the increment was answered 504 after {waited:.2?} and applied {} time(s)",
        o.unwrap_or(5) - 5
    );
}
