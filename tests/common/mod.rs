//! Shared helpers for integration tests: start real nodes in-process on ephemeral ports and talk
//! raw HTTP/1.1 to them.
#![allow(dead_code)]

pub mod table;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

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
    pub fn response(&mut self, head_only: bool) -> Option<Resp> {
        loop {
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
                let mut lines = head.split("\r\n");
                let status_line = lines.next().unwrap_or("");
                let status: u16 = status_line
                    .split(' ')
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                let headers: Vec<(String, String)> = lines
                    .filter_map(|l| {
                        l.split_once(':')
                            .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
                    })
                    .collect();
                let body_start = end + 4;
                if status == 100 {
                    self.buf.drain(..body_start);
                    return Some(Resp {
                        status,
                        headers,
                        body: Vec::new(),
                    });
                }
                let chunked = headers.iter().any(|(n, v)| {
                    n.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
                });
                let len: usize = headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or(0);
                if head_only {
                    self.buf.drain(..body_start);
                    return Some(Resp {
                        status,
                        headers,
                        body: Vec::new(),
                    });
                }
                if chunked {
                    if let Some((body, used)) = dechunk(&self.buf[body_start..]) {
                        self.buf.drain(..body_start + used);
                        return Some(Resp {
                            status,
                            headers,
                            body,
                        });
                    }
                } else if self.buf.len() >= body_start + len {
                    let body = self.buf[body_start..body_start + len].to_vec();
                    self.buf.drain(..body_start + len);
                    return Some(Resp {
                        status,
                        headers,
                        body,
                    });
                }
            }
            if !self.fill() {
                return None;
            }
        }
    }

    /// True when the server closed the connection (EOF) within the read timeout, with no bytes.
    pub fn is_closed(&mut self) -> bool {
        self.buf.is_empty() && !self.fill()
    }
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

fn dechunk(mut b: &[u8]) -> Option<(Vec<u8>, usize)> {
    let total = b.len();
    let mut out = Vec::new();
    loop {
        let line_end = find(b, b"\r\n")?;
        let size =
            usize::from_str_radix(std::str::from_utf8(&b[..line_end]).ok()?.trim(), 16).ok()?;
        b = &b[line_end + 2..];
        if size == 0 {
            if b.len() < 2 {
                return None;
            }
            return Some((out, total - b.len() + 2));
        }
        if b.len() < size + 2 {
            return None;
        }
        out.extend_from_slice(&b[..size]);
        b = &b[size + 2..];
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
