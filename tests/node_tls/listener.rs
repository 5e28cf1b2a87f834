//! One node with TLS on its listener: requests over TLS (one-shot, keep-alive, pipelined), the
//! handshakes it refuses, and the start-up errors of unusable files.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use dcache::{Config, Node};

use crate::cluster_common::metric;
use crate::common::{build, eventually, run_single, Running};
use crate::tls_common::{connect, request, Pki, TlsReader};

/// A single node (2 cores) presenting a certificate for 127.0.0.1, and the PKI behind it.
fn node(extra: &str) -> (Running, Pki) {
    let pki = Pki::new("listener");
    let leaf = pki.leaf("node", &["127.0.0.1", "localhost"]);
    let node = run_single(2, &format!("{}{extra}", pki.yaml(&leaf, false, false)));
    (node, pki)
}

/// `series` in the node's metrics, read over TLS.
fn tls_metric(addr: SocketAddr, pki: &Pki, series: &str) -> f64 {
    let r = request(
        addr,
        &pki.client(None),
        build("GET", "/admin/metrics", None).as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    metric(&r.text(), series).unwrap_or_else(|| panic!("no {series} in the metrics"))
}

pub fn get_and_put_over_tls() {
    let (node, pki) = node("");
    let addr = node.addr();
    let client = pki.client(None);
    let put = build("PUT", "/api/v1/cache/k1", Some(r#"{"value":{"tls":true}}"#));
    let r = request(addr, &client, put.as_bytes());
    assert_eq!(r.status, 201, "{}", r.text());
    let r = request(
        addr,
        &client,
        build("GET", "/api/v1/cache/k1", None).as_bytes(),
    );
    let body = r#"{"key":"k1","value":{"tls":true}}"#;
    assert_eq!((r.status, r.text().as_str()), (200, body));
    // Keep-alive and a pipeline of three in one write, answered in order over one session.
    let mut c = TlsReader::open(addr, &client);
    let put = build("PUT", "/api/v1/cache/k2", Some(r#"{"value":[1,2]}"#));
    assert!(c.call(put.as_bytes()).status < 300);
    let mut pipeline = Vec::new();
    for key in ["k1", "k2", "absent"] {
        pipeline.extend_from_slice(build("GET", &format!("/api/v1/cache/{key}"), None).as_bytes());
    }
    c.send(&pipeline);
    let got: Vec<(u16, String)> = (0..3)
        .map(|_| c.response(false).expect("pipelined answer"))
        .map(|r| (r.status, r.text()))
        .collect();
    assert_eq!(got[0], (200, body.to_string()));
    assert_eq!(got[1], (200, r#"{"key":"k2","value":[1,2]}"#.to_string()));
    assert_eq!(got[2].0, 404);
    // The handshakes are counted; none failed.
    assert!(tls_metric(addr, &pki, "cache_tls_handshakes_total") >= 4.0);
    assert_eq!(
        tls_metric(addr, &pki, "cache_tls_handshake_failures_total"),
        0.0
    );
}

pub fn client_that_does_not_trust_the_ca_fails_the_handshake() {
    let (node, pki) = node("");
    let addr = node.addr();
    let stranger = Pki::new("stranger");
    let Err(e) = connect(addr, &stranger.client(None)) else {
        panic!("a client trusting another CA accepted the node's certificate");
    };
    assert!(e.to_string().contains("UnknownIssuer"), "{e}");
    // The node noticed (the client's alert) and still serves clients that trust it.
    assert!(eventually(Duration::from_secs(5), || {
        tls_metric(addr, &pki, "cache_tls_handshake_failures_total") >= 1.0
    }));
    let r = request(
        addr,
        &pki.client(None),
        build("GET", "/api/v1/health", None).as_bytes(),
    );
    assert_eq!(r.status, 200);
}

/// Read until EOF (or `limit`); the bytes, and whether EOF came.
fn read_to_close(s: &mut TcpStream, limit: Duration) -> (Vec<u8>, bool) {
    let deadline = Instant::now() + limit;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => return (got, true),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            // A reset after the alert is a close too.
            Err(_) => return (got, true),
        }
    }
    (got, false)
}

pub fn plain_http_to_the_tls_port_gets_no_http_answer() {
    let (node, pki) = node("");
    let addr = node.addr();
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    s.write_all(build("GET", "/api/v1/cache/k", None).as_bytes())
        .expect("write");
    let (got, closed) = read_to_close(&mut s, Duration::from_secs(10));
    assert!(closed, "the node keeps a plain-HTTP connection open");
    assert!(
        !got.starts_with(b"HTTP/"),
        "plain HTTP answer on the TLS port: {got:?}"
    );
    // At most a TLS alert record (content type 21).
    assert!(got.is_empty() || got[0] == 21, "{got:?}");
    assert!(eventually(Duration::from_secs(5), || {
        tls_metric(addr, &pki, "cache_tls_handshake_failures_total") >= 1.0
    }));
    let r = request(
        addr,
        &pki.client(None),
        build("GET", "/api/v1/health", None).as_bytes(),
    );
    assert_eq!(r.status, 200, "the node still serves TLS clients");
}

pub fn silent_client_is_closed_after_the_header_timeout() {
    let (node, pki) = node("timeouts:\n  header: \"300ms\"\n");
    let addr = node.addr();
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let started = Instant::now();
    let (got, closed) = read_to_close(&mut s, Duration::from_secs(10));
    assert!(closed && got.is_empty(), "closed={closed} got={got:?}");
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "closed before the deadline"
    );
    assert!(eventually(Duration::from_secs(5), || {
        tls_metric(addr, &pki, "cache_tls_handshake_failures_total") >= 1.0
    }));
}

/// The start-up error of `yaml`, which must not start.
fn start_error(yaml: &str) -> String {
    let cfg = Config::from_yaml_str(yaml, "<tls test>").expect("valid config");
    match Node::start(cfg) {
        Ok(node) => {
            node.shutdown();
            node.wait(Duration::from_secs(5));
            panic!("started with {yaml}");
        }
        Err(e) => e.to_string(),
    }
}

pub fn start_refuses_unusable_tls_files() {
    let pki = Pki::new("start");
    let leaf = pki.leaf("node", &["127.0.0.1"]);
    let base = "node_id: \"t1\"\naddress: \"127.0.0.1:0\"\ncache_size: 1000\nthreads: 1\npin_threads: false\n";
    // A missing key file: named.
    let missing = pki.dir.join("absent.key").to_string_lossy().into_owned();
    let yaml = format!(
        "{base}tls:\n  cert_file: \"{}\"\n  key_file: \"{missing}\"\n",
        leaf.cert_file
    );
    let e = start_error(&yaml);
    assert!(
        e.contains("tls.key_file") && e.contains("absent.key"),
        "{e}"
    );
    // The key of another certificate.
    let other = pki.leaf("other", &["127.0.0.1"]);
    let yaml = format!(
        "{base}tls:\n  cert_file: \"{}\"\n  key_file: \"{}\"\n",
        leaf.cert_file, other.key_file
    );
    let e = start_error(&yaml);
    assert!(e.contains("does not belong to the certificate"), "{e}");
    // A cluster with TLS needs the CA its peers are verified against.
    let yaml = format!(
        "{base}cluster_nodes:\n  t1: \"127.0.0.1:17990\"\n  t2: \"127.0.0.1:17991\"\n{}",
        pki.yaml(&leaf, false, false)
    );
    let e = start_error(&yaml);
    assert!(e.contains("tls.ca_file"), "{e}");
}
