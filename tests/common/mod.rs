//! Shared helpers for integration tests: start real nodes in-process on ephemeral ports and talk
//! raw HTTP/1.1 to them.
#![allow(dead_code)]

pub mod table;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use dcache::clock::Clock;
use dcache::http::{parse_response_head, BodyFraming, ChunkStatus, ChunkedDecoder};
use dcache::{Config, Node};

/// Start a node from YAML (its `address` should use port 0).
pub fn start(yaml: &str) -> Node {
    let cfg = Config::from_yaml_str(yaml, "<test>").expect("valid test config");
    Node::start(cfg).expect("node starts")
}

/// A single-node config on an ephemeral loopback port.
pub fn single(threads: usize, extra: &str) -> String {
    format!("node_id: \"t1\"\naddress: \"127.0.0.1:0\"\ncache_size: 1000\nthreads: {threads}\nio_driver: auto\n{extra}")
}

pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.set_nodelay(true).expect("nodelay");
    s
}

/// A parsed response.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("response body is not JSON ({e}): {}", self.text()))
    }
    pub fn closes(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

/// Reads responses from a stream, keeping leftover bytes between calls.
pub struct Reader {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Reader {
    pub fn new(stream: TcpStream) -> Self {
        Reader {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    fn fill(&mut self) -> bool {
        let mut tmp = [0u8; 65536];
        match self.stream.read(&mut tmp) {
            Ok(0) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&tmp[..n]);
                true
            }
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                panic!(
                    "timed out waiting for a response; have {:?}",
                    String::from_utf8_lossy(&self.buf)
                )
            }
            // io_uring task work in this (test) process can interrupt a blocking read: retry.
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => true,
            Err(_) => false,
        }
    }

    /// Read one response; `head_only` for HEAD requests. None on EOF before a full response.
    /// The head is parsed by `dcache::http::parse_response_head` (the project's one response
    /// parser); a `1xx` interim answer is returned as a response of its own, with no body.
    pub fn response(&mut self, head_only: bool) -> Option<Resp> {
        let (head, headers) = loop {
            let mut headers: Vec<(String, String)> = Vec::new();
            let parsed = parse_response_head(&self.buf, head_only, |name, value| {
                headers.push((
                    name.to_string(),
                    String::from_utf8_lossy(value).trim().to_string(),
                ));
            });
            match parsed {
                Ok(Some(head)) => break (head, headers),
                Ok(None) => {
                    if !self.fill() {
                        return None;
                    }
                }
                Err(e) => panic!(
                    "malformed response ({e}): {:?}",
                    String::from_utf8_lossy(&self.buf)
                ),
            }
        };
        let status = head.status;
        let body = match head.framing {
            BodyFraming::Empty => {
                self.buf.drain(..head.head_len);
                Vec::new()
            }
            BodyFraming::Length(n) => {
                let end = head.head_len + usize::try_from(n).expect("body length fits");
                while self.buf.len() < end {
                    if !self.fill() {
                        return None;
                    }
                }
                let body = self.buf[head.head_len..end].to_vec();
                self.buf.drain(..end);
                body
            }
            BodyFraming::Chunked => {
                // The head stays buffered until the body is complete, so an EOF mid-body leaves
                // the bytes as they were (None, like any other incomplete response).
                let mut decoder = ChunkedDecoder::new(usize::MAX / 2);
                let mut out = BytesMut::new();
                let mut pos = head.head_len;
                loop {
                    match decoder.decode(&self.buf[pos..], &mut out) {
                        Ok(ChunkStatus::Done { consumed }) => {
                            self.buf.drain(..pos + consumed);
                            break out.to_vec();
                        }
                        Ok(ChunkStatus::NeedMore { consumed }) => {
                            pos += consumed;
                            if !self.fill() {
                                return None;
                            }
                        }
                        Err(e) => panic!("malformed chunked body: {e:?}"),
                    }
                }
            }
            BodyFraming::UntilClose => {
                while self.fill() {}
                let body = self.buf[head.head_len..].to_vec();
                self.buf.clear();
                body
            }
        };
        Some(Resp {
            status,
            headers,
            body,
        })
    }

    /// True when the server closed the connection (EOF) within the read timeout, with no bytes.
    pub fn is_closed(&mut self) -> bool {
        self.buf.is_empty() && !self.fill()
    }
}

/// One request on a fresh connection.
pub fn request(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> Resp {
    let mut r = Reader::new(connect(addr));
    r.send(build(method, path, body).as_bytes());
    r.response(method == "HEAD").expect("a response")
}

pub fn build(method: &str, path: &str, body: Option<&str>) -> String {
    match body {
        Some(b) => format!("{method} {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{b}", b.len()),
        None => format!("{method} {path} HTTP/1.1\r\nHost: t\r\n\r\n"),
    }
}

/// Wait until `f` is true or `limit` passes.
pub fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

// ---- additions for the node_api / node_hardening / node_process suites ----------------------

/// A node that shuts down when dropped, so a failing assertion does not leave workers running.
pub struct Running {
    node: Option<Node>,
}

impl Running {
    pub fn addr(&self) -> SocketAddr {
        self.node.as_ref().expect("node running").local_addr()
    }

    /// Shut down and wait (at most 5 s); true when every worker finished.
    pub fn stop(mut self) -> bool {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> bool {
        match self.node.take() {
            Some(node) => {
                node.shutdown();
                node.wait(Duration::from_secs(5))
            }
            None => true,
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop_inner();
    }
}

/// Start a single node (`threads` workers, unpinned) with `extra` YAML lines appended.
pub fn run_single(threads: usize, extra: &str) -> Running {
    let yaml = single(threads, &format!("pin_threads: false\n{extra}"));
    Running {
        node: Some(start(&yaml)),
    }
}

/// `run_single` with TTLs measured on `clock` (a `Clock::manual()` the test advances).
pub fn run_single_with_clock(threads: usize, extra: &str, clock: Clock) -> Running {
    let yaml = single(threads, &format!("pin_threads: false\n{extra}"));
    let cfg = Config::from_yaml_str(&yaml, "<test>").expect("valid test config");
    Running {
        node: Some(Node::start_with_clock(cfg, clock).expect("node starts")),
    }
}

/// True when the node answers `GET /api/v1/health` with 200 on a fresh connection.
pub fn healthy(addr: SocketAddr) -> bool {
    let Ok(s) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut r = Reader::new(s);
    if r.stream
        .write_all(build("GET", "/api/v1/health", None).as_bytes())
        .is_err()
    {
        return false;
    }
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| r.response(false)))
        .ok()
        .flatten()
        .is_some_and(|resp| resp.status == 200)
}

impl Reader {
    pub fn connect(addr: SocketAddr) -> Self {
        Reader::new(connect(addr))
    }

    pub fn set_timeout(&mut self, t: Duration) {
        self.stream.set_read_timeout(Some(t)).expect("timeout");
    }

    /// Bytes received but not yet consumed as a response.
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }

    /// Read everything until EOF (or `limit` bytes, or the read timeout); returns the bytes
    /// and whether EOF (or a reset) was seen.
    pub fn drain(&mut self, limit: usize) -> (Vec<u8>, bool) {
        let mut tmp = [0u8; 16384];
        loop {
            if self.buf.len() >= limit {
                return (std::mem::take(&mut self.buf), false);
            }
            match self.stream.read(&mut tmp) {
                Ok(0) => return (std::mem::take(&mut self.buf), true),
                Ok(n) => self.buf.extend_from_slice(&tmp[..n]),
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut =>
                {
                    return (std::mem::take(&mut self.buf), false)
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => return (std::mem::take(&mut self.buf), true),
            }
        }
    }
}

/// Percent-encode every byte that is not RFC 3986 unreserved (for building key paths).
pub fn encode_key(key: &[u8]) -> String {
    let mut s = String::with_capacity(key.len() * 3);
    for &b in key {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}
