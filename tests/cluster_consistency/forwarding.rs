//! Forwarding: pipelined requests for other owners come back in order, and a request a peer
//! already forwarded is served where it arrives, never forwarded again.

use std::net::SocketAddr;
use std::time::Duration;

use crate::cluster_common::{
    call, etag, key_path, local_entries, metric_sum, metrics, node_of, raw, replicas_of, Conn, IDS,
};
use crate::common;
use crate::helpers::{assert_no_membership_change, start};
use serde_json::{json, Value};

/// Pipelined requests on one connection, most for keys owned elsewhere: answered in order.
pub fn pipelined_requests_for_other_owners_come_back_in_order() {
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
pub fn a_forwarded_request_is_served_locally_and_never_forwarded_again() {
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
