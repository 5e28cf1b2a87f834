//! A three-node cluster where every class has a token and the nodes share a cluster secret:
//! forwarding, replica copies, probes, catch-up, export fan-out and cluster import still work
//! (and no node ever refused another's request), `/internal/*` needs the secret, and forwarding
//! markers from a client are ignored: the value lands on its replicas like any client write.
//!
//! Cluster numbers (see `cluster_addrs`): 60 and 61.

use std::net::SocketAddr;
use std::time::Duration;

use dcache::cluster::ring::Ring;
use dcache::{Config, Node};

use crate::cluster_common::{
    call, cluster_addrs, key_path, metric, node_yaml, replicas_of, ring, Probing, IDS, STEADY,
};
use crate::common::{eventually, healthy, Resp};
use crate::tokens::*;

/// Copies per key (the default on three nodes).
const REPLICAS: usize = 2;

/// Probes every 100 ms, so the test sees several rounds (each must carry the secret), and a
/// peer is marked down only after 10 failures in a row (a busy machine cannot trip it).
const PROBING: Probing = Probing {
    interval_ms: 100,
    timeout_ms: 100,
    ..STEADY
};

/// Three nodes in this process with every token configured; stopped on drop.
struct Cluster {
    nodes: Vec<Node>,
    addrs: Vec<SocketAddr>,
    ring: Ring,
    _tokens: Tokens,
}

impl Cluster {
    fn start(test_no: u8) -> Cluster {
        let tokens = Tokens::new("cluster");
        let auth = tokens.all();
        let addrs = cluster_addrs(test_no);
        let mut nodes = Vec::new();
        for (i, id) in IDS.iter().enumerate() {
            let yaml = node_yaml(i, &addrs, 2, &PROBING, &auth);
            let cfg = Config::from_yaml_str(&yaml, "<auth cluster>").expect("config");
            // From a throwaway thread, as `InProc` does (io_uring probe teardown, see there).
            let node = std::thread::spawn(move || Node::start(cfg))
                .join()
                .expect("start thread")
                .unwrap_or_else(|e| panic!("{id} starts: {e}"));
            nodes.push(node);
        }
        let c = Cluster {
            nodes,
            addrs,
            ring: ring(),
            _tokens: tokens,
        };
        let settled = eventually(Duration::from_secs(20), || {
            (0..3).all(|n| healthy(c.addrs[n]) && c.sees_all_up(n))
        });
        assert!(
            settled,
            "the nodes did not all catch up and see each other probed and up (every node-to-node request needs the secret)"
        );
        c
    }

    /// Whether node `n` reports every member up and has probed each peer, the last probe
    /// answered (`/admin/cluster`, with the admin token). A probe without the secret would be
    /// refused: `last_error` would say so.
    fn sees_all_up(&self, n: usize) -> bool {
        let r = self.call(n, "GET", "/admin/cluster", Some(ADMIN), &[], None);
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .all(|m| {
                m["state"] == "self"
                    || (m["state"] == "up"
                        && m.get("last_probe_ms_ago").is_some()
                        && m.get("last_error").is_none())
            })
    }

    fn call(
        &self,
        n: usize,
        method: &str,
        path: &str,
        token: Option<&str>,
        extra: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Resp {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers: Vec<(&str, &str)> = extra.to_vec();
        if let Some(a) = &auth {
            headers.push(("Authorization", a));
        }
        call(self.addrs[n], method, path, &headers, body)
    }

    /// What node `n` holds for `key` itself: a peer's forwarded read (secret + marker). On a
    /// node that is no replica of the key a miss is 503 (it says nothing about the key), a key
    /// planted there is 200.
    fn local(&self, n: usize, key: &str) -> Resp {
        let marker = [("X-Cache-Forwarded", "test")];
        self.call(n, "GET", &key_path(key), Some(SECRET), &marker, None)
    }

    fn replicas(&self, key: &str) -> Vec<usize> {
        replicas_of(&self.ring, key, REPLICAS)
    }

    /// The node that holds no copy of `key`.
    fn outsider(&self, key: &str) -> usize {
        let r = self.replicas(key);
        (0..3)
            .find(|n| !r.contains(n))
            .expect("a node without a copy")
    }

    fn metrics(&self, n: usize) -> String {
        let r = self.call(n, "GET", "/admin/metrics", Some(METRICS), &[], None);
        assert_eq!(r.status, 200, "{}", r.text());
        r.text()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for n in &self.nodes {
            n.shutdown();
        }
        for n in self.nodes.drain(..) {
            n.wait(Duration::from_secs(5));
        }
    }
}

/// Writes through a node without a copy reach both replicas; reads work everywhere; export
/// and import span the cluster; no node refused a peer (probes, catch-up, forwards, copies).
pub fn forwarding_replication_export_and_import_carry_the_secret() {
    let c = Cluster::start(60);
    let keys: Vec<String> = (0..12).map(|i| format!("auth-key-{i}")).collect();
    for (i, k) in keys.iter().enumerate() {
        let at = c.outsider(k);
        let body = format!("{{\"value\":{i}}}");
        let r = c.call(
            at,
            "PUT",
            &key_path(k),
            Some(CLIENT),
            &[],
            Some(body.as_bytes()),
        );
        assert_eq!(r.status, 201, "PUT {k} via node {at}: {}", r.text());
    }
    for (i, k) in keys.iter().enumerate() {
        for n in 0..3 {
            let r = c.call(n, "GET", &key_path(k), Some(READ), &[], None);
            assert_eq!(
                (r.status, r.json()["value"].as_u64()),
                (200, Some(i as u64)),
                "{k} on {n}"
            );
        }
        for n in c.replicas(k) {
            let copied = eventually(Duration::from_secs(5), || c.local(n, k).status == 200);
            assert!(copied, "{k}: replica {n} has no copy");
        }
        assert_eq!(
            c.local(c.outsider(k), k).status,
            503,
            "{k}: stored outside its replicas"
        );
    }

    // Export fan-out: every key once, from every node's part.
    let export = c.call(0, "GET", "/admin/export", Some(ADMIN), &[], None);
    assert_eq!(export.status, 200, "{}", export.text());
    let doc = export.text();
    for k in &keys {
        assert!(
            doc.contains(&format!("\"key\":\"{k}\"")),
            "{k} missing from the export"
        );
    }
    // Cluster import: node 0 sends each entry to its replicas with the secret.
    let deleted = &keys[0];
    let r = c.call(
        c.outsider(deleted),
        "DELETE",
        &key_path(deleted),
        Some(CLIENT),
        &[],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = c.call(
        0,
        "POST",
        "/admin/import?overwrite=1",
        Some(ADMIN),
        &[],
        Some(doc.as_bytes()),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let report = r.json();
    assert_eq!(report["failed"], serde_json::json!({}), "{report}");
    let back = c.call(1, "GET", &key_path(deleted), Some(READ), &[], None);
    assert_eq!(
        back.status,
        200,
        "the import restored {deleted}: {}",
        back.text()
    );

    // Nothing between the nodes was refused, and nobody flapped.
    for n in 0..3 {
        let m = c.metrics(n);
        assert_eq!(
            metric(&m, "cache_auth_unauthorized_total"),
            Some(0.0),
            "node {n}"
        );
        assert_eq!(
            metric(&m, "cache_auth_forbidden_total"),
            Some(0.0),
            "node {n}"
        );
        assert!(c.sees_all_up(n), "node {n}");
    }

    // `/internal/*` needs the secret: the admin token is not enough.
    let leave = "/internal/cluster/leave?node=node2";
    let r = c.call(
        0,
        "POST",
        leave,
        None,
        &[("X-Cache-Forwarded", "node2")],
        Some(b""),
    );
    assert_refused(&r, 401, None, "leave notice without the secret");
    let r = c.call(0, "POST", leave, Some(ADMIN), &[], Some(b""));
    assert_refused(
        &r,
        403,
        Some("insufficient_scope"),
        "leave notice with the admin token",
    );
    let r = c.call(0, "GET", "/internal/cluster/health", Some(WRONG), &[], None);
    assert_refused(&r, 401, Some("invalid_token"), "health with a wrong token");
    assert_eq!(
        c.call(
            0,
            "GET",
            "/internal/cluster/health",
            Some(SECRET),
            &[],
            None
        )
        .status,
        200
    );
    assert!(c.sees_all_up(0), "a refused leave notice changed nothing");
}

/// `X-Cache-Forwarded` / `X-Cache-Version` from a client (no secret) are not honoured: a write
/// sent to a node without a copy ends on the key's replicas, and a forged version does not
/// make the value win over later writes. With the secret the same marker is honoured.
pub fn spoofed_forwarding_headers_are_ignored() {
    let c = Cluster::start(61);
    let key = "spoofed-key";
    let at = c.outsider(key);
    let marker = [("X-Cache-Forwarded", "node9")];
    let r = c.call(
        at,
        "PUT",
        &key_path(key),
        Some(CLIENT),
        &marker,
        Some(b"{\"value\":\"client\"}"),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        c.local(at, key).status,
        503,
        "a client's marker planted the key on node {at}"
    );
    for n in c.replicas(key) {
        let copied = eventually(Duration::from_secs(5), || c.local(n, key).status == 200);
        assert!(copied, "replica {n} lacks the client's write");
    }
    let m = c.metrics(at);
    assert!(
        metric(&m, "cache_forwarding_headers_ignored_total") >= Some(1.0),
        "{m}"
    );

    // A forged version (the highest there is) is dropped: a later write still wins.
    let owner = c.replicas(key)[0];
    let forged = [("X-Cache-Version", "ffffffffffffffff")];
    let r = c.call(
        owner,
        "PUT",
        &key_path(key),
        Some(CLIENT),
        &forged,
        Some(b"{\"value\":\"forged\"}"),
    );
    assert!(r.status == 200 || r.status == 201, "{}", r.text());
    assert_ne!(
        r.header("etag"),
        Some("\"ffffffffffffffff\""),
        "the forged version was kept"
    );
    let r = c.call(
        owner,
        "PUT",
        &key_path(key),
        Some(CLIENT),
        &[],
        Some(b"{\"value\":\"later\"}"),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    for n in 0..3 {
        let r = c.call(n, "GET", &key_path(key), Some(READ), &[], None);
        assert_eq!(r.json()["value"], "later", "node {n}: {}", r.text());
    }

    // The control: the same marker with the secret is a peer's, served where it was sent.
    let other = "peer-planted-key";
    let out = c.outsider(other);
    let r = c.call(
        out,
        "PUT",
        &key_path(other),
        Some(SECRET),
        &marker,
        Some(b"{\"value\":1}"),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        c.local(out, other).status,
        200,
        "with the secret the marker counts"
    );
}
