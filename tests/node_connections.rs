//! Connections: `/admin` on its own address (`admin_address`), the connections reserved for the
//! other nodes beyond `limits.max_connections`, the per-address limit, and idle connections
//! giving their buffers back.
//!
//! Cluster numbers (see `cluster_addrs`): 60 (admin_address), 61 (peer reserve).

#[path = "common/cluster.rs"]
mod cluster_common;
mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use cluster_common::{
    call, cluster_addrs, key_path, metric, node_yaml, raw, replicas_of, ring, state_seen,
    wait_all_up, InProc, Probing, IDS,
};
use common::{build, Reader};
use dcache::{Config, Node};

/// A node stopped when dropped (also when an assertion failed).
struct Stopping(Vec<Node>);

impl Drop for Stopping {
    fn drop(&mut self) {
        for n in &self.0 {
            n.shutdown();
        }
        for n in self.0.drain(..) {
            assert!(n.wait(Duration::from_secs(10)), "node stops");
        }
    }
}

fn start(yaml: &str) -> Node {
    let cfg = Config::from_yaml_str(yaml, "<test>").expect("valid test config");
    // From a throwaway thread, like `InProc` (io_uring probe teardown, see there).
    std::thread::spawn(move || Node::start(cfg))
        .join()
        .expect("start thread")
        .expect("node starts")
}

/// One request on a fresh connection with extra headers.
fn ask(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> common::Resp {
    call(addr, method, path, headers, None)
}

/// A connection that sent one request and got its answer; left open (idle) by the caller.
fn served_idle(addr: SocketAddr) -> Option<Reader> {
    let mut r = Reader::connect(addr);
    r.send(build("GET", "/api/v1/health", None).as_bytes());
    let resp = r.response(false)?;
    (resp.status == 200).then_some(r)
}

fn metric_of(r: &mut Reader, series: &str) -> f64 {
    r.send(build("GET", "/admin/metrics", None).as_bytes());
    let resp = r.response(false).expect("metrics");
    assert_eq!(resp.status, 200, "{}", resp.text());
    metric(&resp.text(), series).unwrap_or(0.0)
}

#[test]
fn admin_routes_are_served_on_admin_address_only() {
    let yaml = common::single(1, "pin_threads: false\nadmin_address: \"127.0.0.1:0\"\n");
    let node = Stopping(vec![start(&yaml)]);
    let main = node.0[0].local_addr();
    let admin = node.0[0].admin_addr().expect("admin address bound");
    assert_ne!(admin.port(), main.port());
    for path in ["/admin/metrics", "/admin/cluster", "/admin/export"] {
        let r = ask(admin, "GET", path, &[]);
        assert_eq!(r.status, 200, "{path} on admin_address: {}", r.text());
        let r = ask(main, "GET", path, &[]);
        assert_eq!(r.status, 404, "{path} on address");
        assert!(r.text().contains("admin_address"), "{}", r.text());
    }
    let r = ask(main, "GET", "/metrics", &[]);
    assert_eq!(r.status, 404, "the /metrics alias moves too");
    let doc: &[u8] = concat!(
        r#"{"format":"distributed-cache-export","version":1,"#,
        r#""entries":[{"key":"imp","value":7}],"count":1}"#
    )
    .as_bytes();
    let r = call(main, "POST", "/admin/import", &[], Some(doc));
    assert_eq!(r.status, 404, "a client's import on address: {}", r.text());
    // The other nodes reach what cluster exports and imports need on `address`.
    let peer = [("X-Cache-Forwarded", "node2")];
    let r = call(main, "POST", "/admin/import?scope=local", &peer, Some(doc));
    assert_eq!(r.status, 200, "a peer's import on address: {}", r.text());
    let r = ask(main, "GET", "/admin/export?scope=local", &peer);
    assert_eq!(
        r.status,
        200,
        "a peer's local export on address: {}",
        r.text()
    );
    assert!(r.text().contains("\"imp\""), "{}", r.text());
    let r = ask(main, "GET", "/admin/export", &peer);
    assert_eq!(
        r.status,
        404,
        "a cluster export is an operator's: {}",
        r.text()
    );
    let r = ask(main, "GET", "/admin/metrics", &peer);
    assert_eq!(r.status, 404);
    // Health, the cache and /internal stay on `address`; health and the cache work on both.
    for at in [main, admin] {
        assert_eq!(ask(at, "GET", "/api/v1/health", &[]).status, 200);
        let r = call(at, "PUT", &key_path("k"), &[], Some(br#"{"value":1}"#));
        assert!(r.status == 200 || r.status == 201, "{}", r.text());
        assert_eq!(ask(at, "GET", &key_path("k"), &[]).status, 200);
    }
    assert_eq!(
        ask(main, "GET", "/internal/cluster/health", &[]).status,
        200
    );
}

/// A three-node cluster with `admin_address` on every node: a cluster export and a cluster import
/// made on one node's admin address reach the other nodes through their main addresses.
#[test]
fn cluster_export_and_import_work_with_admin_addresses() {
    let addrs = cluster_addrs(60);
    let p = cluster_common::STEADY;
    let mut nodes = Vec::new();
    for i in 0..3 {
        let extra = format!("admin_address: \"{}:0\"\n", addrs[i].ip());
        nodes.push(start(&node_yaml(i, &addrs, 1, &p, &extra)));
    }
    let nodes = Stopping(nodes);
    let admin: Vec<SocketAddr> = nodes
        .0
        .iter()
        .map(|n| n.admin_addr().expect("bound"))
        .collect();
    wait_all_up(&admin, &[0, 1, 2], Duration::from_secs(10));
    for i in 0..40 {
        let r = call(
            addrs[i % 3],
            "PUT",
            &key_path(&format!("ex{i}")),
            &[],
            Some(b"{\"value\":1}"),
        );
        assert_eq!(r.status, 201, "{}", r.text());
    }
    let r = ask(admin[0], "GET", "/admin/export", &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    let doc = r.json();
    let keys: Vec<&str> = doc["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["key"].as_str())
        .collect();
    assert_eq!(keys.len(), 40, "every node's keys in the export: {keys:?}");
    assert_eq!(ask(addrs[0], "GET", "/admin/export", &[]).status, 404);

    let mut entries = Vec::new();
    for i in 0..30 {
        entries.push(format!("{{\"key\":\"im{i}\",\"value\":{i}}}"));
    }
    let body = format!(
        "{{\"format\":\"distributed-cache-export\",\"version\":1,\"entries\":[{}],\"count\":{}}}",
        entries.join(","),
        entries.len()
    );
    let r = call(
        admin[1],
        "POST",
        "/admin/import",
        &[],
        Some(body.as_bytes()),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["imported"], 30, "{}", r.text());
    for i in 0..30 {
        let r = ask(addrs[i % 3], "GET", &key_path(&format!("im{i}")), &[]);
        assert_eq!(r.status, 200, "im{i}: {}", r.text());
    }
    let r = call(
        addrs[1],
        "POST",
        "/admin/import",
        &[],
        Some(body.as_bytes()),
    );
    assert_eq!(r.status, 404, "a client's import on address");
}

/// Probing for the reserve test: down after 4 failed probes 250 ms apart (each allowed all of
/// its interval, so a busy machine does not fail them by accident).
const RESERVE_PROBING: Probing = Probing {
    interval_ms: 250,
    timeout_ms: 250,
    fail_after: 4,
    recover_after: 1,
    connect_ms: 500,
    request_ms: 5000,
};

/// A node whose `max_connections` are all held by idle clients still answers its peers' probes,
/// forwards and copies from the reserve, while another client gets the 503.
#[test]
fn a_node_full_of_idle_clients_stays_up_for_its_peers() {
    let extra = "limits: {max_connections: 20, reserved_peer_connections: 8}\n";
    let c = InProc::start(61, 1, RESERVE_PROBING, extra);
    let full = c.addr(0);
    // Fill node1: idle clients until one is refused (the peers' pooled connections hold a few
    // of the 20 already).
    let mut idle = Vec::new();
    while let Some(r) = served_idle(full) {
        idle.push(r);
        assert!(idle.len() <= 20, "more than max_connections served");
    }
    assert!(idle.len() >= 10, "only {} clients served", idle.len());
    let mut extra_client = Reader::connect(full);
    extra_client.send(build("GET", "/api/v1/health", None).as_bytes());
    let refused = extra_client.response(false).expect("503");
    assert_eq!(refused.status, 503);
    assert!(
        refused.text().contains("limits.max_connections"),
        "{}",
        refused.text()
    );

    // Three times fail_after × probe_interval: the peers keep seeing node1 up.
    let p = RESERVE_PROBING;
    let watch = Duration::from_millis(3 * u64::from(p.fail_after) * p.interval_ms);
    let until = Instant::now() + watch;
    while Instant::now() < until {
        for peer in [1, 2] {
            assert_eq!(
                state_seen(c.addr(peer), 0),
                "up",
                "{} sees node1",
                IDS[peer]
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // A write through a peer for keys node1 coordinates: forwarded there, copied to the replica.
    let ring = ring();
    let keys: Vec<String> = (0..200)
        .map(|i| format!("rv{i}"))
        .filter(|k| c.owner(k) == 0)
        .take(5)
        .collect();
    for k in &keys {
        let r = call(
            c.addr(1),
            "PUT",
            &key_path(k),
            &[],
            Some(b"{\"value\":\"x\"}"),
        );
        assert_eq!(r.status, 201, "{k}: {}", r.text());
        let second = replicas_of(&ring, k, 2)[1];
        let local = call(
            c.addr(second),
            "GET",
            "/admin/export?scope=local",
            &[],
            None,
        );
        assert!(
            local.text().contains(k.as_str()),
            "{k} copied to {}",
            IDS[second]
        );
    }
    let held = &mut idle[0];
    held.send(build("GET", &key_path(&keys[0]), None).as_bytes());
    assert_eq!(held.response(false).expect("get").status, 200);
    let admitted = metric_of(held, "cache_peer_reserve_admitted_total");
    assert!(
        admitted >= 3.0,
        "peer connections admitted from the reserve: {admitted}"
    );
    assert!(metric_of(held, "cache_connections_rejected_total") >= 1.0);
}

#[test]
fn the_per_address_limit_refuses_the_next_connection_until_one_closes() {
    let node = common::run_single(1, "limits: {max_connections_per_ip: 3}\n");
    let a = node.addr();
    let mut open: Vec<Reader> = (0..3).map(|_| served_idle(a).expect("served")).collect();
    let mut fourth = Reader::connect(a);
    fourth.send(build("GET", "/api/v1/health", None).as_bytes());
    let r = fourth.response(false).expect("503");
    assert_eq!(r.status, 503);
    assert!(
        r.text()
            .contains("from 127.0.0.1 (limits.max_connections_per_ip)"),
        "{}",
        r.text()
    );
    assert!(r.closes());
    // Another node on the same address is served (peers are exempt, see `admission`).
    let mut peer = Reader::connect(a);
    let fwd = [("X-Cache-Forwarded", "node2")];
    peer.send(&raw("GET", "/api/v1/health", &fwd, None));
    assert_eq!(peer.response(false).expect("peer served").status, 200);
    drop(peer);
    assert!(metric_of(&mut open[0], "cache_connections_per_ip_rejected_total") >= 1.0);
    // One closes: a new client connection is accepted (once the node has seen the close).
    drop(open.pop());
    assert!(
        common::eventually(Duration::from_secs(5), || served_idle(a).is_some()),
        "no connection accepted after one closed"
    );
    assert!(node.stop());
}

#[test]
fn without_a_reserve_the_next_connection_is_refused_at_once() {
    let node = common::run_single(
        1,
        "limits: {max_connections_per_ip: 2, reserved_peer_connections: 0}\n",
    );
    let a = node.addr();
    let _open: Vec<Reader> = (0..2).map(|_| served_idle(a).expect("served")).collect();
    // Nothing sent: the 503 comes at accept.
    let mut third = Reader::connect(a);
    let r = third.response(false).expect("503 without a request");
    assert_eq!(r.status, 503);
    assert!(
        r.text().contains("limits.max_connections_per_ip"),
        "{}",
        r.text()
    );
    assert!(node.stop());
}

/// Idle connections give their read and write buffers back; a busy one (a request half received)
/// holds them; a request after the release, larger than the small idle buffer, is read whole.
#[test]
fn idle_connections_release_their_buffers_io_uring() {
    idle_connections_release_their_buffers("auto");
}

/// The same on the epoll driver (the cancelled idle read takes another path there).
#[test]
fn idle_connections_release_their_buffers_epoll() {
    idle_connections_release_their_buffers("epoll");
}

fn idle_connections_release_their_buffers(driver: &str) {
    const FULL: f64 = 2.0 * 16.0 * 1024.0;
    const SMALL: f64 = 1024.0;
    let yaml = format!(
        "node_id: \"t1\"\naddress: \"127.0.0.1:0\"\ncache_size: 1000\nthreads: 1\n\
         pin_threads: false\nio_driver: {driver}\n"
    );
    let node = Stopping(vec![start(&yaml)]);
    let a = node.0[0].local_addr();
    let mut idle: Vec<Reader> = (0..40).map(|_| served_idle(a).expect("served")).collect();
    let mut busy: Vec<Reader> = (0..10)
        .map(|_| {
            let mut r = Reader::connect(a);
            r.send(b"GET /api/v1/health HTTP/1.1\r\nHost: t\r\n");
            r
        })
        .collect();
    // Idle plain-TCP connections hold no buffer at all (TLS ones a small one); the 10 busy ones
    // and the one asking (while it is served) hold their full buffers.
    let bound = 11.0 * FULL + SMALL;
    let mut held = f64::MAX;
    let released = common::eventually(Duration::from_secs(10), || {
        let mut m = Reader::connect(a);
        held = metric_of(&mut m, "cache_connection_buffer_bytes");
        held <= bound
    });
    assert!(
        released,
        "idle connections still hold {held} bytes (bound {bound})"
    );
    assert!(
        held >= 10.0 * FULL,
        "busy connections hold their buffers: {held}"
    );
    // Every connection still works; a 6 KiB PUT arrives in more than the small buffer.
    let value = "v".repeat(6 * 1024);
    for (i, r) in idle.iter_mut().enumerate() {
        let body = format!("{{\"value\":\"{value}\"}}");
        r.send(build("PUT", &format!("/api/v1/cache/big{i}"), Some(&body)).as_bytes());
        assert_eq!(r.response(false).expect("put").status, 201);
        r.send(build("GET", &format!("/api/v1/cache/big{i}"), None).as_bytes());
        let got = r.response(false).expect("get");
        assert_eq!(got.status, 200);
        assert!(got.text().contains(&value));
    }
    for r in busy.iter_mut() {
        r.send(b"\r\n");
        assert_eq!(r.response(false).expect("completed").status, 200);
    }
}

/// Connections with back-to-back requests skip the cancellation on io_uring and keep their buffers
/// while idle, but only up to a bound per core (256); the others release theirs.
#[test]
fn busy_connections_keep_their_buffers_only_up_to_a_bound() {
    const FULL: f64 = 2.0 * 16.0 * 1024.0;
    let node = common::run_single(1, "");
    let a = node.addr();
    let mut conns: Vec<Reader> = (0..300)
        .map(|_| {
            let mut r = served_idle(a).expect("served");
            r.send(build("GET", "/api/v1/health", None).as_bytes());
            assert_eq!(r.response(false).expect("second").status, 200);
            r
        })
        .collect();
    let bound = 257.0 * FULL;
    let mut held = f64::MAX;
    let settled = common::eventually(Duration::from_secs(10), || {
        let mut m = Reader::connect(a);
        held = metric_of(&mut m, "cache_connection_buffer_bytes");
        held <= bound
    });
    assert!(
        settled,
        "busy idle connections hold {held} bytes (bound {bound})"
    );
    for r in conns.iter_mut() {
        r.send(build("GET", "/api/v1/health", None).as_bytes());
        assert_eq!(r.response(false).expect("still served").status, 200);
    }
    drop(conns);
    assert!(node.stop());
}
