//! Singleflight of forwards (issue 13): identical GETs of one key, pipelined through a node that
//! does not coordinate the key, travel to the coordinator as one forward while it is queued, and
//! each still gets its own complete answer (its own `X-Request-Id`, the current value). Off with
//! `hot_keys.enabled: false`. Real in-process nodes, raw bytes.

#[path = "common/cluster.rs"]
mod cluster_common;
mod common;

use cluster_common::{
    get, key_path, metric_sum, metrics, put, raw, replicas_of, Conn, InProc, STEADY,
};

/// GETs pipelined in one write: one round of the entry node's connection loop.
const BURST: usize = 48;

/// A key whose replicas (the default 2 of 3) leave node 0 out: a GET through node 0 is forwarded.
fn key_away_from_node0(c: &InProc) -> String {
    (0..)
        .map(|i| format!("coalesce{i}"))
        .find(|k| !replicas_of(&c.ring, k, 2).contains(&0))
        .expect("a key not on node 0")
}

/// `BURST` GETs of `key` pipelined on `conn`, each with an id of its own; checks every answer
/// (status, value, its own id echoed, the coordinator named) and returns the bodies.
fn burst(conn: &mut Conn, key: &str, round: usize, owner: &str) -> Vec<String> {
    let path = key_path(key);
    let ids: Vec<String> = (0..BURST).map(|i| format!("r{round}-{i}")).collect();
    let mut bytes = Vec::new();
    for id in &ids {
        bytes.extend(raw("GET", &path, &[("X-Request-Id", id)], None));
    }
    conn.reader.send(&bytes);
    ids.iter()
        .map(|id| {
            let r = conn.reader.response(false).expect("an answer");
            assert_eq!(r.status, 200, "{id}: {}", r.text());
            assert_eq!(r.header("x-request-id"), Some(id.as_str()), "{id}'s own id");
            assert_eq!(r.header("x-cache-node"), Some(owner), "{id}");
            assert_eq!(r.header("x-cache-forwarded-by"), Some("node1"), "{id}");
            r.text()
        })
        .collect()
}

fn coalesced(c: &InProc) -> f64 {
    metric_sum(&metrics(c.addr(0)), "cache_forward_coalesced_total")
}

#[test]
fn identical_pipelined_gets_share_a_forward_and_each_gets_its_own_answer() {
    let c = InProc::start(130, 1, STEADY, "");
    let key = key_away_from_node0(&c);
    let owner = cluster_common::IDS[c.owner(&key)];
    assert_eq!(put(c.addr(0), &key, r#"{"value":"v1"}"#).status, 201);
    let mut conn = Conn::open(c.addr(0));
    for body in burst(&mut conn, &key, 0, owner) {
        assert_eq!(body, format!(r#"{{"key":"{key}","value":"v1"}}"#));
    }
    let after_first = coalesced(&c);
    assert!(after_first > 0.0, "no GET joined a queued forward");
    assert!(after_first < BURST as f64, "at least one forward was sent");
    // A write acknowledged before the next burst: every GET of it sees the new value.
    assert_eq!(put(c.addr(2), &key, r#"{"value":"v2"}"#).status, 200);
    for body in burst(&mut conn, &key, 1, owner) {
        assert_eq!(body, format!(r#"{{"key":"{key}","value":"v2"}}"#));
    }
    assert!(coalesced(&c) > after_first);
}

#[test]
fn nothing_is_coalesced_with_hot_keys_off() {
    let c = InProc::start(131, 1, STEADY, "hot_keys:\n  enabled: false\n");
    let key = key_away_from_node0(&c);
    let owner = cluster_common::IDS[c.owner(&key)];
    assert_eq!(put(c.addr(0), &key, r#"{"value":1}"#).status, 201);
    let before = forwards_and_batches(&c);
    let mut conn = Conn::open(c.addr(0));
    for body in burst(&mut conn, &key, 0, owner) {
        assert_eq!(body, format!(r#"{{"key":"{key}","value":1}}"#));
    }
    assert_eq!(coalesced(&c), 0.0);
    // Each GET was forwarded on its own, yet they left together: fewer batches than forwards.
    let after = forwards_and_batches(&c);
    assert_eq!(after.0 - before.0, BURST as f64, "every GET forwarded");
    let batches = after.1 - before.1;
    assert!(
        (1.0..BURST as f64 / 2.0).contains(&batches),
        "{BURST} pipelined forwards left in {batches} batches"
    );
    // A GET alone is a batch of its own.
    assert_eq!(get(c.addr(0), &key).status, 200);
    let alone = forwards_and_batches(&c);
    assert_eq!((alone.0 - after.0, alone.1 - after.1), (1.0, 1.0));
}

/// Node 0's forwards and the batches they left in (`cache_peer_batches_total`).
fn forwards_and_batches(c: &InProc) -> (f64, f64) {
    let text = metrics(c.addr(0));
    (
        metric_sum(&text, "cache_forwarded_requests_total"),
        metric_sum(&text, "cache_peer_batches_total"),
    )
}
