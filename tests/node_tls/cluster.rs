//! Three nodes in this process with TLS between them (a CA, one certificate per node for its
//! loopback IP): forwards, replica copies, probes and catch-up all go over TLS (the listeners
//! speak nothing else), and a client certificate signed by the CA makes its holder a peer.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::Duration;

use dcache::cluster::ring::Ring;
use dcache::{Config, Node};
use rustls::ClientConfig;

use crate::cluster_common::{
    cluster_addrs, key_path, node_of, owner, raw, replicas_of, ring, Probing, IDS,
};
use crate::common::{eventually, Resp};
use crate::tls_common::{request, Pki};

/// Probing for these tests: a healthy peer is never marked down on a busy machine, and a probe
/// happens every 200 ms so the test sees one soon.
const PROBING: Probing = Probing {
    interval_ms: 200,
    timeout_ms: 200,
    fail_after: 25,
    recover_after: 1,
    connect_ms: 1000,
    request_ms: 5000,
};

/// A cluster secret (tokens need mode 0600).
const SECRET: &str = "tls-test-cluster-secret-3f9a1c7e5b";

struct TlsCluster {
    nodes: Vec<Option<Node>>,
    addrs: Vec<SocketAddr>,
    ring: Ring,
    pki: Pki,
    /// A client trusting the CA, without a certificate.
    client: Arc<ClientConfig>,
}

impl TlsCluster {
    /// `test_no`: see `cluster_addrs` (this suite uses 60 and 61). `secret`: configure
    /// `auth.cluster_secret_file` on every node.
    fn start(test_no: u8, secret: bool) -> TlsCluster {
        let addrs = cluster_addrs(test_no);
        let pki = Pki::new("cluster");
        let auth = if secret {
            let path = pki.write("cluster.secret", &format!("{SECRET}\n"));
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
            format!("auth:\n  cluster_secret_file: \"{path}\"\n")
        } else {
            String::new()
        };
        let mut nodes = Vec::new();
        for (i, id) in IDS.iter().enumerate() {
            let ip = addrs[i].ip().to_string();
            let leaf = pki.leaf(id, &[&ip]);
            let extra = format!("{}{auth}", pki.yaml(&leaf, true, true));
            let yaml = crate::cluster_common::node_yaml(i, &addrs, 1, &PROBING, &extra);
            let cfg = Config::from_yaml_str(&yaml, "<tls cluster>").expect("valid config");
            // From a throwaway thread, as `InProc` does (io_uring probe teardown, see there).
            let node = std::thread::spawn(move || Node::start(cfg))
                .join()
                .expect("start thread")
                .unwrap_or_else(|e| panic!("{id} starts: {e}"));
            nodes.push(Some(node));
        }
        let client = pki.client(None);
        let c = TlsCluster {
            nodes,
            addrs,
            ring: ring(),
            pki,
            client,
        };
        c.wait_probed();
        c
    }

    fn call(&self, i: usize, req: &[u8]) -> Resp {
        request(self.addrs[i], &self.client, req)
    }

    /// The entries node `i` holds (its own row of `/admin/cluster`).
    fn entries(&self, i: usize) -> u64 {
        let info = self
            .call(i, &raw("GET", "/admin/cluster", &[], None))
            .json();
        info["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .find(|n| n["state"] == "self")
            .and_then(|n| n["entries"].as_u64())
            .expect("entries of self")
    }

    /// Every node sees every other up, and has probed it successfully (its incarnation is
    /// known: only a health answer read over TLS carries it).
    fn wait_probed(&self) {
        let ok = eventually(Duration::from_secs(20), || {
            (0..3).all(|at| {
                let r = self.call(at, &raw("GET", "/admin/cluster", &[], None));
                let info = r.json();
                info["nodes"].as_array().expect("nodes").iter().all(|n| {
                    n["state"] == "self"
                        || (n["state"] == "up"
                            && n["last_error"].is_null()
                            && n["incarnation"]
                                .as_str()
                                .is_some_and(|s| s != "0000000000000000"))
                })
            })
        });
        let views: Vec<String> = (0..3)
            .map(|i| {
                self.call(i, &raw("GET", "/admin/cluster", &[], None))
                    .text()
            })
            .collect();
        assert!(
            ok,
            "the nodes did not probe each other over TLS: {views:#?}"
        );
    }
}

impl Drop for TlsCluster {
    fn drop(&mut self) {
        for n in self.nodes.iter_mut().filter_map(Option::take) {
            n.shutdown();
            n.wait(Duration::from_secs(10));
        }
    }
}

/// A key none of whose replicas (2 of 3) is node 0, and one whose owner is not node 0.
fn keys(ring: &Ring) -> (String, String) {
    let mut not_replica = None;
    let mut not_owned = None;
    for i in 0..1000 {
        let k = format!("tls-key-{i}");
        if not_replica.is_none() && !replicas_of(ring, &k, 2).contains(&0) {
            not_replica = Some(k.clone());
        }
        if not_owned.is_none() && owner(ring, &k) != 0 {
            not_owned = Some(k);
        }
    }
    (not_replica.expect("a key"), not_owned.expect("a key"))
}

pub fn cluster_forwards_and_replicates_over_tls() {
    let c = TlsCluster::start(60, false);
    let (elsewhere, not_owned) = keys(&c.ring);
    for (n, key) in [&elsewhere, &not_owned].into_iter().enumerate() {
        let put = format!("{{\"value\":{n}}}");
        let r = c.call(0, &raw("PUT", &key_path(key), &[], Some(put.as_bytes())));
        assert!(
            r.status < 300,
            "PUT {key} via node1: {} {}",
            r.status,
            r.text()
        );
        if n == 0 {
            // The first key went to its two replicas (a forward, then a replica copy), and
            // node1, which forwarded it, holds nothing.
            let mut want = [0u64; 3];
            for at in replicas_of(&c.ring, key, 2) {
                want[at] = 1;
            }
            assert!(
                eventually(Duration::from_secs(5), || (0..3)
                    .all(|at| c.entries(at) == want[at])),
                "entries per node: {:?}, expected {want:?}",
                (0..3).map(|at| c.entries(at)).collect::<Vec<_>>()
            );
        }
        let body = format!("{{\"key\":\"{key}\",\"value\":{n}}}");
        for at in [1, 2] {
            let r = c.call(at, &raw("GET", &key_path(key), &[], None));
            assert_eq!(
                (r.status, r.text()),
                (200, body.clone()),
                "GET {key} via {}",
                IDS[at]
            );
        }
    }
    // Peers speak TLS to each other: each probe is a new connection, so a node accepts more
    // handshakes than this test's own metrics calls make once a peer probed it. Polled, not
    // timed: probes come every probe interval.
    let handshakes = |at: usize| {
        let r = c.call(at, &raw("GET", "/admin/metrics", &[], None));
        crate::cluster_common::metric(&r.text(), "cache_tls_handshakes_total").unwrap()
    };
    for (at, id) in IDS.iter().enumerate() {
        let first = handshakes(at);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        // This test's own metrics calls since `first`, each a handshake of its own.
        let mut own = 0.0;
        loop {
            let now = handshakes(at);
            own += 1.0;
            if now - first > own {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{id} accepted no peer handshake within 20 s ({first} -> {now})"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

pub fn client_certificate_signed_by_the_ca_marks_a_peer() {
    let c = TlsCluster::start(61, true);
    let (elsewhere, _) = keys(&c.ring);
    let holder = c.pki.leaf("operator-tool", &["tool.example"]);
    let with_cert = c.pki.client(Some(&holder));
    let r = c.call(
        1,
        &raw("PUT", &key_path(&elsewhere), &[], Some(br#"{"value":"v"}"#)),
    );
    assert!(r.status < 300, "{} {}", r.status, r.text());
    // `/internal/*` needs the cluster secret or a peer certificate.
    let health = raw("GET", "/internal/cluster/health", &[], None);
    assert_eq!(request(c.addrs[0], &with_cert, &health).status, 200);
    assert_eq!(c.call(0, &health).status, 401);
    // A forwarding marker counts only from a peer: a peer's request is served where it arrives
    // (node1 holds no copy of the key, so it cannot answer 200), a client's goes to the key's
    // replicas.
    let marked = raw(
        "GET",
        &key_path(&elsewhere),
        &[("X-Cache-Forwarded", "node2")],
        None,
    );
    let r = request(c.addrs[0], &with_cert, &marked);
    assert_eq!(node_of(&r), "node1", "{} {}", r.status, r.text());
    assert_ne!(r.status, 200, "{}", r.text());
    let r = c.call(0, &marked);
    assert_eq!(
        r.status, 200,
        "the marker of a client without a certificate is ignored"
    );
    assert_ne!(node_of(&r), "node1");
}
