//! Request ids and trace context (issue 12): every answer echoes the client's `X-Request-Id`
//! exactly as sent (any well-formed id, not only numbers): local, cross-core, pipelined,
//! forwarded, replicated, failed over, errors and admin answers; a `traceparent` and the
//! client's id reach the node that coordinates the request, whose log lines carry them; every
//! 503 carries `Retry-After`. Real nodes, raw bytes.

#[path = "common/cluster.rs"]
mod cluster_common;
mod common;

use cluster_common::{
    call, key_path, node_of, owner, owner_without, raw, replicas_of, replicas_yaml, InProc,
    ProcCluster, FAST, IDS, STEADY,
};
use common::{Reader, Resp};

const UUID: &str = "3f1c2a9e-8d4b-4c1e-9f7a-0b6d5e4c3b2a";
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

/// Ids a client may send, each echoed byte for byte: a UUID, the longest allowed, punctuation,
/// numbers with leading zeros (not canonical numbers: kept as text), and a plain number.
fn ids() -> Vec<String> {
    vec![
        UUID.to_string(),
        "~".repeat(256),
        "a/b:c{d}[e]!$&'()*+,;=?@^`|".to_string(),
        "007".to_string(),
        "0".to_string(),
        "18446744073709551615".to_string(),
        "12345".to_string(),
    ]
}

fn with_id(r: &Resp) -> Option<&str> {
    r.header("x-request-id")
}

fn assert_echo(r: &Resp, id: &str, ctx: &str) {
    assert_eq!(with_id(r), Some(id), "{ctx}: {} {}", r.status, r.text());
}

/// One request on `conn` with `X-Request-Id: id` (and more headers).
fn send(
    conn: &mut cluster_common::Conn,
    method: &str,
    path: &str,
    id: &str,
    more: &[(&str, &str)],
    body: Option<&str>,
) -> Resp {
    let mut headers = vec![("X-Request-Id", id)];
    headers.extend_from_slice(more);
    conn.call(method, path, &headers, body.map(str::as_bytes))
}

#[test]
fn every_local_answer_echoes_the_id_as_sent() {
    // Two cores: some keys live on the other core (a cross-core answer, encoded later).
    let node = common::run_single(2, "");
    let mut conn = cluster_common::Conn::open(node.addr());
    for (i, id) in ids().iter().enumerate() {
        for k in 0..4 {
            let key = key_path(&format!("ids-{i}-{k}"));
            let put = send(&mut conn, "PUT", &key, id, &[], Some("{\"value\":1}"));
            assert_eq!(put.status, 201, "{}", put.text());
            assert_echo(&put, id, "PUT");
            assert_echo(&send(&mut conn, "GET", &key, id, &[], None), id, "GET");
            assert_echo(&send(&mut conn, "HEAD", &key, id, &[], None), id, "HEAD");
            assert_echo(
                &send(&mut conn, "DELETE", &key, id, &[], None),
                id,
                "DELETE",
            );
            let miss = send(&mut conn, "GET", &key, id, &[], None);
            assert_eq!(miss.status, 404);
            assert_echo(&miss, id, "404");
        }
        let bad = send(&mut conn, "PUT", &key_path("b"), id, &[], Some("{nope"));
        assert_eq!(bad.status, 400, "{}", bad.text());
        assert_echo(&bad, id, "400");
        let not_allowed = send(&mut conn, "POST", &key_path("b"), id, &[], Some("{}"));
        assert_eq!(not_allowed.status, 405);
        assert_echo(&not_allowed, id, "405");
        assert_echo(
            &send(&mut conn, "GET", "/nowhere", id, &[], None),
            id,
            "404 route",
        );
        assert_echo(
            &send(&mut conn, "OPTIONS", &key_path("b"), id, &[], None),
            id,
            "OPTIONS",
        );
        assert_echo(
            &send(&mut conn, "GET", "/api/v1/health", id, &[], None),
            id,
            "health",
        );
        assert_echo(
            &send(&mut conn, "GET", "/admin/cluster", id, &[], None),
            id,
            "admin",
        );
        assert_echo(
            &send(&mut conn, "GET", "/metrics", id, &[], None),
            id,
            "metrics",
        );
    }
    // No id sent: none echoed.
    let r = conn.call("GET", &key_path("none"), &[], None);
    assert_eq!(with_id(&r), None);
    assert!(node.stop());
}

#[test]
fn pipelined_requests_keep_their_own_ids_in_order() {
    let node = common::run_single(2, "");
    let mut r = Reader::connect(node.addr());
    let mut batch = Vec::new();
    let mut sent = Vec::new();
    for i in 0..48 {
        let id = match i % 3 {
            0 => format!("text-{i}-{UUID}"),
            1 => format!("{}", 1000 + i),
            _ => format!("00{i}"),
        };
        let key = key_path(&format!("pipe-{}", i / 2));
        let req = if i % 2 == 0 {
            raw(
                "PUT",
                &key,
                &[("X-Request-Id", &id)],
                Some(b"{\"value\":2}"),
            )
        } else {
            raw("GET", &key, &[("X-Request-Id", &id)], None)
        };
        batch.extend_from_slice(&req);
        sent.push(id);
    }
    r.send(&batch);
    for (i, id) in sent.iter().enumerate() {
        let resp = r.response(false).expect("an answer per request");
        assert!(resp.status < 300, "#{i}: {} {}", resp.status, resp.text());
        assert_echo(&resp, id, &format!("pipelined #{i}"));
    }
    assert!(node.stop());
}

#[test]
fn a_refused_body_echoes_the_id_and_a_bad_traceparent_is_ignored() {
    let node = common::run_single(1, "max_value_bytes: 1024\n");
    let a = node.addr();
    // Too large: refused before its body is read (413), with the id.
    let mut r = Reader::connect(a);
    let big = format!("{{\"value\":\"{}\"}}", "x".repeat(64 * 1024));
    r.send(&raw(
        "PUT",
        &key_path("big"),
        &[("X-Request-Id", UUID)],
        Some(big.as_bytes()),
    ));
    let resp = r.response(false).expect("413");
    assert_eq!(resp.status, 413, "{}", resp.text());
    assert_echo(&resp, UUID, "413");
    // A traceparent that breaks the spec is ignored: served as if absent, never a 400.
    for tp in [
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        "garbage",
        TRACEPARENT,
    ] {
        let resp = call(
            a,
            "PUT",
            &key_path("tp"),
            &[("traceparent", tp), ("X-Request-Id", "t-1")],
            Some(b"{\"value\":3}"),
        );
        assert!(resp.status < 300, "{tp}: {} {}", resp.status, resp.text());
        assert_echo(&resp, "t-1", tp);
    }
    assert!(node.stop());
}

#[test]
fn a_refused_connection_gets_retry_after_with_its_503() {
    let node = common::run_single(
        1,
        "limits: {max_connections_per_ip: 1, reserved_peer_connections: 0}\n",
    );
    let a = node.addr();
    let mut first = cluster_common::Conn::open(a);
    assert_eq!(first.call("GET", "/api/v1/health", &[], None).status, 200);
    let mut second = Reader::connect(a);
    let r = second.response(false).expect("503 at accept");
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.header("retry-after"), Some("1"), "{:?}", r.headers);
    drop(first);
    assert!(node.stop());
}

/// `count` keys that node `n` owns, named `<tag>-<i>`.
fn keys_owned_by(c: &InProc, n: usize, tag: &str, count: usize) -> Vec<String> {
    (0..)
        .map(|i| format!("{tag}-{i}"))
        .filter(|k| c.owner(k) == n)
        .take(count)
        .collect()
}

#[test]
fn ids_are_echoed_on_forwarded_and_replicated_answers() {
    let c = InProc::start(110, 2, STEADY, "");
    let entry = 0;
    let mut conn = cluster_common::Conn::open(c.addr(entry));
    for (i, id) in ids().into_iter().enumerate() {
        // The owner is elsewhere: forwarded (and the owner copies it to the other replica).
        for key in keys_owned_by(&c, 1, &format!("fwd{i}"), 2) {
            let path = key_path(&key);
            let put = send(&mut conn, "PUT", &path, &id, &[], Some("{\"value\":1}"));
            assert_eq!(put.status, 201, "{}", put.text());
            assert_eq!(node_of(&put), IDS[1]);
            assert_echo(&put, &id, "forwarded PUT");
            let get = send(&mut conn, "GET", &path, &id, &[], None);
            assert_eq!(get.status, 200);
            assert_echo(&get, &id, "forwarded GET");
            let del = send(&mut conn, "DELETE", &path, &id, &[], None);
            assert_echo(&del, &id, "forwarded DELETE");
            let miss = send(&mut conn, "GET", &path, &id, &[], None);
            assert_eq!(miss.status, 404);
            assert_echo(&miss, &id, "forwarded 404");
        }
        // This node coordinates: a replicated write, waiting for its copy on another node.
        for key in keys_owned_by(&c, entry, &format!("rep{i}"), 2) {
            assert_eq!(replicas_of(&c.ring, &key, 2).len(), 2);
            let put = send(
                &mut conn,
                "PUT",
                &key_path(&key),
                &id,
                &[],
                Some("{\"value\":2}"),
            );
            assert_eq!(put.status, 201, "{}", put.text());
            assert_eq!(node_of(&put), IDS[entry]);
            assert_echo(&put, &id, "replicated PUT");
        }
    }
    // Numeric ids keep working as before, and peers still match their answers (no desync
    // would leave a forward unanswered).
    for key in keys_owned_by(&c, 2, "num", 3) {
        let r = send(&mut conn, "GET", &key_path(&key), "77", &[], None);
        assert_eq!(r.status, 404);
        assert_echo(&r, "77", "numeric, forwarded");
    }
}

/// `replicas: 1`, the owner killed: the request fails over to the stand-in, whose answer (a write
/// taken, a read it cannot know: 503 with `Retry-After`) echoes the client's id; the stand-in got
/// the client's id and trace from the node the client talked to, and its WARN line for the 503
/// carries both.
#[test]
fn failover_echoes_the_id_and_the_coordinator_logs_it_with_the_trace() {
    let mut c = ProcCluster::start_with(111, "ids-failover", 1, FAST, &replicas_yaml(1));
    let (entry, victim, stand_in) = (0, 1, 2);
    let ring = c.ring.clone();
    let key = (0..)
        .map(|i| format!("fo-{i}"))
        .find(|k| owner(&ring, k) == victim && owner_without(&ring, k, victim) == stand_in)
        .expect("a key of the victim stood in for by the third node");
    let written = (0..)
        .map(|i| format!("fw-{i}"))
        .find(|k| owner(&ring, k) == victim && owner_without(&ring, k, victim) == stand_in)
        .expect("another such key");
    c.kill9(victim);
    let id = format!("client-{UUID}");
    let trace = [("X-Request-Id", id.as_str()), ("traceparent", TRACEPARENT)];
    let put = call(
        c.addrs[entry],
        "PUT",
        &key_path(&written),
        &trace,
        Some(b"{\"value\":\"stood in\"}"),
    );
    assert_eq!(put.status, 201, "{}", put.text());
    assert_eq!(node_of(&put), IDS[stand_in]);
    assert_echo(&put, &id, "failed-over PUT");
    let get = call(c.addrs[entry], "GET", &key_path(&key), &trace, None);
    assert_eq!(get.status, 503, "{}", get.text());
    assert_eq!(node_of(&get), IDS[stand_in]);
    assert_echo(&get, &id, "failed-over 503");
    assert_eq!(get.header("retry-after"), Some("1"));
    // The stand-in wrote its WARN line before it answered.
    let log = c.log(stand_in);
    let line = log
        .lines()
        .find(|l| l.contains("answered 503") && l.contains(&format!("request_id={id}")))
        .unwrap_or_else(|| panic!("no 503 line with the client's id:\n{}", c.logs()));
    assert!(line.contains(&format!("trace_id={TRACE_ID}")), "{line}");
    assert!(
        !c.log(entry).contains("answered 503"),
        "the entry node relayed the answer, it did not fail:\n{}",
        c.log(entry)
    );
}
