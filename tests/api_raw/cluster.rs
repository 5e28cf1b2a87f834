//! Raw values across three nodes: forwarded to the owner, copied to the replica with their
//! content type and TTL, served by the replica when the owner is gone, and carried by a
//! cluster export and import.

use std::time::Duration;

use crate::cluster_common::{
    key_path, metric_sum, metrics, node_of, owner, replicas_of, wait_serving, InProc, IDS, STEADY,
};
use crate::common::Resp;
use crate::{get, put_raw, send, BINARY};

/// What must be the same whichever node answers a GET of the value.
fn served(r: &Resp) -> (u16, Vec<u8>, Option<String>, Option<String>, Option<String>) {
    let h = |n: &str| r.header(n).map(str::to_string);
    (
        r.status,
        r.body.clone(),
        h("content-type"),
        h("etag"),
        h("last-modified"),
    )
}

fn max_age(r: &Resp) -> u64 {
    r.header("cache-control")
        .and_then(|c| c.strip_prefix("max-age="))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no max-age: {:?}", r.header("cache-control")))
}

/// A key owned by node `n` whose replicas (2, the default) are `n` and another node.
fn key_owned_by(c: &InProc, n: usize, prefix: &str) -> String {
    (0..)
        .map(|i| format!("{prefix}-{i}"))
        .find(|k| owner(&c.ring, k) == n)
        .expect("some key")
}

pub fn three_nodes_serve_the_same_bytes_and_headers_and_the_replica_after_the_owner_stops() {
    let mut c = InProc::start(70, 1, STEADY, "");
    wait_serving(&c.addrs, &[0, 1, 2], Duration::from_secs(10));
    let owner_node = 0;
    let key = key_owned_by(&c, owner_node, "raw");
    let replicas = replicas_of(&c.ring, &key, 2);
    assert_eq!(replicas[0], owner_node);
    let replica = replicas[1];
    let outsider = (0..3)
        .find(|n| !replicas.contains(n))
        .expect("a third node");
    let path = key_path(&key);

    // Written through the node that holds no copy: forwarded to the owner, copied to the replica.
    let ttl = [("X-Cache-TTL", "1000")];
    let p = put_raw(c.addr(outsider), &path, "image/png", &ttl, BINARY);
    assert_eq!(p.status, 201, "{}", p.text());
    assert_eq!(node_of(&p), IDS[owner_node]);
    let etag = p.header("etag").expect("ETag").to_string();

    let first = get(c.addr(owner_node), &path);
    assert_eq!(first.body, BINARY);
    assert_eq!(first.header("content-type"), Some("image/png"));
    assert_eq!(first.header("etag"), Some(&*etag));
    assert!(max_age(&first) > 900);
    for (n, id) in IDS.iter().enumerate() {
        let g = get(c.addr(n), &path);
        assert_eq!(served(&g), served(&first), "GET via {id}");
        assert_eq!(node_of(&g), IDS[owner_node], "the owner answers");
        assert!(
            max_age(&g) > 900,
            "Cache-Control relayed on a forwarded answer"
        );
        let h = send(c.addr(n), "HEAD", &path, &[], None);
        assert_eq!(
            (h.status, h.body.len(), h.header("content-length")),
            (200, 0, Some(&*BINARY.len().to_string())),
            "HEAD via {id}"
        );
    }

    // The replica took its copy as sent (a copy parsed as JSON would have been refused).
    let copies =
        |name: &str| -> f64 { (0..3).map(|n| metric_sum(&metrics(c.addr(n)), name)).sum() };
    assert_eq!(copies("cache_replica_writes_total"), 1.0);
    assert_eq!(copies("cache_replica_write_failures_total"), 0.0);

    // The owner stops: the replica serves the same bytes, type, version and the TTL it was
    // copied with (a copy without it would show no-cache).
    c.stop(owner_node);
    wait_serving(&c.addrs, &[replica, outsider], Duration::from_secs(10));
    for n in [replica, outsider] {
        let g = get(c.addr(n), &path);
        assert_eq!(
            served(&g),
            served(&first),
            "GET via {} with the owner down",
            IDS[n]
        );
        assert_eq!(node_of(&g), IDS[replica], "the replica answers");
        let left = max_age(&g);
        assert!(left > 900 && left <= 1000, "max-age {left}");
    }
    // A raw write while the owner is down lands on the replica and reads back the same way.
    let p = put_raw(c.addr(outsider), &path, "text/plain", &[], b"second");
    assert_eq!(p.status, 200, "{}", p.text());
    let g = get(c.addr(replica), &path);
    assert_eq!(g.body, b"second");
    assert_eq!(g.header("content-type"), Some("text/plain"));
    assert_eq!(g.header("cache-control"), Some("no-cache"));
}

pub fn a_cluster_export_and_import_carry_raw_values() {
    let c = InProc::start(71, 1, STEADY, "");
    wait_serving(&c.addrs, &[0, 1, 2], Duration::from_secs(10));
    let keys: Vec<String> = (0..3).map(|n| key_owned_by(&c, n, "exp")).collect();
    for (i, key) in keys.iter().enumerate() {
        let body = [BINARY, &[i as u8]].concat();
        let r = put_raw(
            c.addr((i + 1) % 3),
            &key_path(key),
            "application/x-thing",
            &[],
            &body,
        );
        assert_eq!(r.status, 201, "{}", r.text());
    }
    let export = get(c.addr(0), "/admin/export");
    assert_eq!(export.status, 200, "{}", export.text());
    let doc = export.json();
    let raw: Vec<&serde_json::Value> = doc["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["content_type"] == "application/x-thing")
        .collect();
    assert_eq!(
        raw.len(),
        3,
        "each key once, from whichever node exported it"
    );

    // Deleted everywhere, then restored over the deletes with ?overwrite=1.
    for key in &keys {
        assert_eq!(
            send(c.addr(0), "DELETE", &key_path(key), &[], None).status,
            200
        );
    }
    let r = send(
        c.addr(2),
        "POST",
        "/admin/import?overwrite=1",
        &[],
        Some(&export.body),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    for (i, key) in keys.iter().enumerate() {
        let want = [BINARY, &[i as u8]].concat();
        for (n, id) in IDS.iter().enumerate() {
            let g = get(c.addr(n), &key_path(key));
            assert_eq!(g.status, 200, "{key} via {id}");
            assert_eq!(g.body, want, "{key} via {id}");
            assert_eq!(g.header("content-type"), Some("application/x-thing"));
        }
    }
}
