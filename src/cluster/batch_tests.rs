//! Unit tests for `batch.rs` (a child module of it; see the `#[path]` there): the queue bound and
//! abandoned jobs, against a fake peer that records every request it gets and answers only when
//! the test lets it.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::*;
use crate::auth::{Keyring, LocalKeyring};
use crate::cluster::{Cluster, PeerSettings};
use crate::http::Method;

/// A peer that reads requests, records their paths, and answers them (200, the path as the body,
/// the request id echoed) only while `answering` is set: until then it is alive but silent.
pub(super) struct FakePeer {
    pub(super) addr: SocketAddr,
    seen: Arc<Mutex<Vec<String>>>,
    pub(super) answering: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// One connection of the fake peer: unread bytes, and requests read but not answered yet.
struct PeerConn {
    stream: TcpStream,
    buf: Vec<u8>,
    unanswered: Vec<(String, u64)>,
}

impl FakePeer {
    pub(super) fn start() -> FakePeer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake peer");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let answering = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, a, st) = (Arc::clone(&seen), Arc::clone(&answering), Arc::clone(&stop));
        let thread = std::thread::spawn(move || serve(&listener, &s, &a, &st));
        FakePeer {
            addr,
            seen,
            answering,
            stop,
            thread: Some(thread),
        }
    }

    pub(super) fn seen(&self) -> Vec<String> {
        self.seen.lock().expect("seen").clone()
    }
}

impl Drop for FakePeer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(
    listener: &TcpListener,
    seen: &Mutex<Vec<String>>,
    answering: &AtomicBool,
    stop: &AtomicBool,
) {
    let mut conns: Vec<PeerConn> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        if let Ok((stream, _)) = listener.accept() {
            stream.set_nonblocking(true).expect("nonblocking");
            conns.push(PeerConn {
                stream,
                buf: Vec::new(),
                unanswered: Vec::new(),
            });
        }
        for c in conns.iter_mut() {
            let mut chunk = [0u8; 4096];
            match c.stream.read(&mut chunk) {
                Ok(n) => c.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => {}
            }
            // The test sends only bodiless requests: each ends at its blank line.
            while let Some(end) = c.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&c.buf[..end]).into_owned();
                c.buf.drain(..end + 4);
                let path = head.split(' ').nth(1).unwrap_or_default().to_string();
                let id = head
                    .lines()
                    .find_map(|l| l.strip_prefix("X-Request-Id: "))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                seen.lock().expect("seen").push(path.clone());
                c.unanswered.push((path, id));
            }
            if answering.load(Ordering::Relaxed) {
                for (path, id) in c.unanswered.drain(..) {
                    let body = format!("\"{path}\"");
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Cache-Node: b\r\nX-Request-Id: {id}\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    c.stream.set_nonblocking(false).expect("blocking");
                    let _ = c.stream.write_all(answer.as_bytes());
                    c.stream.set_nonblocking(true).expect("nonblocking");
                }
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A peer client of node `a` whose only peer `b` (index 1) is `peer`, with one dispatcher.
pub(super) fn client(peer: SocketAddr, max_queued: usize) -> Rc<PeerClient> {
    let yaml = format!(
        "node_id: a\naddress: \"127.0.0.1:1\"\ncache_size: 10\ncluster_nodes:\n  a: \"127.0.0.1:1\"\n  b: \"{peer}\"\n"
    );
    let cfg = crate::config::Config::from_yaml_str(&yaml, "<test>").expect("config");
    let cluster = Arc::new(Cluster::new(&cfg).expect("cluster"));
    assert_eq!(cluster.member(1).id, "b");
    let settings = PeerSettings {
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(20),
        max_value_bytes: 1024,
        pool_max_idle: 1,
        // One dispatcher: while it waits for the silent peer, everything else stays queued.
        pool_max_total: 1,
        max_queued,
    };
    PeerClient::new(0, cluster, settings, LocalKeyring::new(Keyring::open()))
}

pub(super) fn get(path: &str) -> Outgoing<'_> {
    Outgoing {
        method: Method::Get,
        path: path.as_bytes(),
        query: None,
        body: None,
        version: None,
        content_type: None,
        headers: b"",
    }
}

pub(super) fn block_on<F: std::future::Future>(f: F) -> F::Output {
    monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .enable_timer()
        .build()
        .expect("runtime")
        .block_on(f)
}

/// Let the runtime run (the dispatcher connects and writes) until the peer has seen `n` requests.
pub(super) async fn until_seen(peer: &FakePeer, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while peer.seen().len() < n {
        assert!(
            Instant::now() < deadline,
            "peer saw {:?}, want {n}",
            peer.seen()
        );
        monoio::time::sleep(Duration::from_millis(1)).await;
    }
}

pub(super) async fn body_of(f: crate::cluster::InFlight) -> String {
    let a = f.wait().await.expect("answered");
    assert_eq!(a.status, 200);
    String::from_utf8_lossy(a.body()).into_owned()
}

#[test]
fn a_full_queue_refuses_at_once_and_takes_requests_again_once_drained() {
    let peer = FakePeer::start();
    let p = client(peer.addr, 4);
    block_on(async {
        let first = p.forward(1, &get("/k0"));
        until_seen(&peer, 1).await;
        // The dispatcher waits for the silent peer: the next four wait in the queue ...
        let queued: Vec<_> = (1..=4)
            .map(|i| p.forward(1, &get(&format!("/k{i}"))))
            .collect();
        // ... and the fifth is refused, without waiting for anything.
        let t = Instant::now();
        let refused = p.forward(1, &get("/k5")).wait().await;
        assert!(
            matches!(refused, Err(FwdError::QueueFull { jobs: 4, .. })),
            "{refused:?}"
        );
        assert!(t.elapsed() < Duration::from_secs(1), "refusal waited");
        assert_eq!(refused.expect_err("full").status(), 503);
        // The peer answers again: the queue drains, and is open again.
        peer.answering.store(true, Ordering::Relaxed);
        assert_eq!(body_of(first).await, "\"/k0\"");
        for (i, f) in queued.into_iter().enumerate() {
            assert_eq!(body_of(f).await, format!("\"/k{}\"", i + 1));
        }
        assert_eq!(body_of(p.forward(1, &get("/k6"))).await, "\"/k6\"");
    });
    assert_eq!(peer.seen(), ["/k0", "/k1", "/k2", "/k3", "/k4", "/k6"]);
    assert_eq!(p.results.in_use(), 0);
}

#[test]
fn a_forward_whose_waiter_left_is_never_sent_and_answers_stay_in_step() {
    let peer = FakePeer::start();
    let p = client(peer.addr, 64);
    block_on(async {
        let first = p.forward(1, &get("/k0"));
        until_seen(&peer, 1).await;
        let kept = p.forward(1, &get("/k1"));
        let gone = p.forward(1, &get("/k2"));
        let last = p.forward(1, &get("/k3"));
        // Its client went away (or it timed out) while it was still queued.
        drop(gone);
        peer.answering.store(true, Ordering::Relaxed);
        assert_eq!(body_of(first).await, "\"/k0\"");
        // Each waiter gets its own answer: ids and answers stayed in step around the gap.
        assert_eq!(body_of(kept).await, "\"/k1\"");
        assert_eq!(body_of(last).await, "\"/k3\"");
        // The connection is still in step for the next batch.
        assert_eq!(body_of(p.forward(1, &get("/k4"))).await, "\"/k4\"");
    });
    assert_eq!(peer.seen(), ["/k0", "/k1", "/k3", "/k4"], "/k2 was sent");
    assert_eq!(p.abandoned(), 1);
    assert_eq!(p.results.in_use(), 0, "the abandoned slot was freed");
}

#[test]
fn a_batch_whose_waiters_all_left_is_not_sent() {
    let peer = FakePeer::start();
    let p = client(peer.addr, 64);
    block_on(async {
        let first = p.forward(1, &get("/k0"));
        until_seen(&peer, 1).await;
        drop((p.forward(1, &get("/k1")), p.forward(1, &get("/k2"))));
        peer.answering.store(true, Ordering::Relaxed);
        assert_eq!(body_of(first).await, "\"/k0\"");
        assert_eq!(body_of(p.forward(1, &get("/k3"))).await, "\"/k3\"");
    });
    assert_eq!(peer.seen(), ["/k0", "/k3"]);
    assert_eq!(p.abandoned(), 2);
}

#[test]
fn the_byte_bound_refuses_a_large_request_behind_others_never_one_alone() {
    let big = vec![b'x'; MAX_QUEUED_BYTES];
    let put = Outgoing {
        method: Method::Put,
        path: b"/big",
        query: None,
        body: Some(&big),
        version: None,
        content_type: None,
        headers: b"",
    };
    let peer = FakePeer::start();
    let p = client(peer.addr, 64);
    block_on(async {
        // Nothing awaits in between: no dispatcher has taken anything yet.
        let small = p.forward(1, &get("/k0"));
        let behind = p.forward(1, &put).wait().await;
        assert!(
            matches!(behind, Err(FwdError::QueueFull { jobs: 1, .. })),
            "{behind:?}"
        );
        assert_eq!(p.queues.borrow()[1].jobs.len(), 1);
        drop(small);
    });
    let p = client(peer.addr, 64);
    block_on(async {
        let alone = p.forward(1, &put);
        assert_eq!(
            p.queues.borrow()[1].jobs.len(),
            1,
            "refused into an empty queue"
        );
        drop(alone);
    });
}
