//! Unit tests for `batch.rs`: the stale keep-alive retry and requests that must not be sent
//! twice. A fake peer answers the first request on a connection, then reads the next one and
//! closes without answering: exactly what a stale pooled connection looks like, and also what a
//! peer that executed the request and died looks like. An idempotent forward is sent again on a
//! new connection; an increment (POST) is not: it fails, and the peer saw it once.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;
use crate::auth::{Keyring, LocalKeyring};
use crate::cluster::{Cluster, PeerSettings};
use crate::http::Method;

/// Serves connections one after the other: on each, answers the first request and reads the
/// second, then closes without answering it. Records every request line.
fn start_peer() -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake peer");
    let addr = listener.local_addr().expect("addr");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            s.set_read_timeout(Some(Duration::from_secs(10)))
                .expect("timeout");
            let mut buf = Vec::new();
            for answered in [true, false] {
                let Some(head) = next_head(&mut s, &mut buf) else {
                    break;
                };
                let line = head.lines().next().unwrap_or_default().to_string();
                log.lock().expect("log").push(line);
                if !answered {
                    break;
                }
                let id = head
                    .lines()
                    .find_map(|l| l.strip_prefix("X-Request-Id: "))
                    .unwrap_or("0");
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Request-Id: {id}\r\nContent-Length: 2\r\n\r\n{{}}"
                );
                s.write_all(answer.as_bytes()).expect("answer");
            }
            // Closed here (dropped) with the second request read and unanswered.
        }
    });
    (addr, seen)
}

/// The next bodiless request head on `s` (None at EOF).
fn next_head(s: &mut std::net::TcpStream, buf: &mut Vec<u8>) -> Option<String> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            buf.drain(..end + 4);
            return Some(head);
        }
        let mut chunk = [0u8; 4096];
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn client(peer: SocketAddr) -> Rc<PeerClient> {
    let yaml = format!(
        "node_id: a\naddress: \"127.0.0.1:1\"\ncache_size: 10\ncluster_nodes:\n  a: \"127.0.0.1:1\"\n  b: \"{peer}\"\n"
    );
    let cfg = crate::config::Config::from_yaml_str(&yaml, "<test>").expect("config");
    let cluster = Arc::new(Cluster::new(&cfg).expect("cluster"));
    let settings = PeerSettings {
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(10),
        max_value_bytes: 1024,
        pool_max_idle: 1,
        pool_max_total: 1,
        max_queued: 16,
    };
    PeerClient::new(0, cluster, settings, LocalKeyring::new(Keyring::open()))
}

fn request(method: Method, path: &str) -> Outgoing<'_> {
    Outgoing {
        method,
        path: path.as_bytes(),
        query: None,
        body: None,
        version: None,
        content_type: None,
        headers: b"",
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .enable_timer()
        .build()
        .expect("runtime")
        .block_on(f)
}

#[test]
fn an_idempotent_forward_is_sent_again_after_a_stale_connection() {
    let (addr, seen) = start_peer();
    let p = client(addr);
    block_on(async {
        let first = p.forward(1, &request(Method::Get, "/a")).wait().await;
        assert_eq!(first.expect("answered").status, 200);
        // On the reused connection the peer reads it and closes: sent again, fresh.
        let again = p.forward(1, &request(Method::Get, "/b")).wait().await;
        assert_eq!(again.expect("retried").status, 200);
    });
    let seen = seen.lock().expect("seen").clone();
    assert_eq!(
        seen,
        ["GET /a HTTP/1.1", "GET /b HTTP/1.1", "GET /b HTTP/1.1"]
    );
}

#[test]
fn an_increment_is_never_sent_twice() {
    let (addr, seen) = start_peer();
    let p = client(addr);
    block_on(async {
        let first = p.forward(1, &request(Method::Get, "/a")).wait().await;
        assert_eq!(first.expect("answered").status, 200);
        let path = "/api/v1/cache/n/incr";
        let incr = p.forward(1, &request(Method::Post, path)).wait().await;
        assert!(
            matches!(incr, Err(FwdError::Broken(Broken::Closed))),
            "{incr:?}"
        );
    });
    let seen = seen.lock().expect("seen").clone();
    assert_eq!(
        seen,
        ["GET /a HTTP/1.1", "POST /api/v1/cache/n/incr HTTP/1.1"]
    );
}
