//! A minimal blocking HTTP/1.1 keep-alive client with short timeouts, for the load: it never
//! panics (every problem is a [`Fail`]) and it tells "never sent" from "sent, no answer", which
//! the history needs (a failed connect cannot have landed; a timed-out request may have).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use dcache::http::{parse_response_head, BodyFraming};

/// A node that does not accept within this is treated as down (loopback connects take µs).
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(300);
/// Longer than the nodes' `request_timeout` (1 s), so a forward that times out inside the cluster
/// still answers 504 here; shorter than anything that would hide a hang.
pub const READ_TIMEOUT: Duration = Duration::from_secs(3);
/// Bodies of the load are tiny; anything larger is a broken answer.
const MAX_BODY: usize = 1 << 20;

/// Why a request got no answer.
#[derive(Debug)]
pub enum Fail {
    /// No connection: the request was never sent.
    Connect(String),
    /// Sent (at least partly), then a timeout, reset, EOF or garbage.
    Lost(String),
}

/// One node's connection, opened on demand and dropped after any error.
pub struct Client {
    addr: SocketAddr,
    read_timeout: Duration,
    conn: Option<TcpStream>,
    buf: Vec<u8>,
}

impl Client {
    pub fn new(addr: SocketAddr) -> Client {
        Client::with_timeout(addr, READ_TIMEOUT)
    }

    pub fn with_timeout(addr: SocketAddr, read_timeout: Duration) -> Client {
        Client {
            addr,
            read_timeout,
            conn: None,
            buf: Vec::new(),
        }
    }

    /// Send one request and read its answer: (status, body).
    pub fn call(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<(u16, Vec<u8>), Fail> {
        let result = self.exchange(method, path, body);
        if result.is_err() {
            self.conn = None;
        }
        result
    }

    fn exchange(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<(u16, Vec<u8>), Fail> {
        if self.conn.is_none() {
            let s = TcpStream::connect_timeout(&self.addr, CONNECT_TIMEOUT)
                .map_err(|e| Fail::Connect(e.kind().to_string()))?;
            let setup = s
                .set_read_timeout(Some(self.read_timeout))
                .and_then(|()| s.set_write_timeout(Some(self.read_timeout)))
                .and_then(|()| s.set_nodelay(true));
            setup.map_err(|e| Fail::Connect(e.to_string()))?;
            self.conn = Some(s);
            self.buf.clear();
        }
        let stream = self.conn.as_mut().expect("connected");
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: faults\r\n");
        if let Some(b) = body {
            req.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                b.len()
            ));
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body.unwrap_or_default());
        stream
            .write_all(&bytes)
            .map_err(|e| Fail::Lost(format!("write: {}", e.kind())))?;
        self.read_response()
    }

    fn read_response(&mut self) -> Result<(u16, Vec<u8>), Fail> {
        let head = loop {
            match parse_response_head(&self.buf, false, |_, _| {}) {
                Ok(Some(head)) => break head,
                Ok(None) => self.fill()?,
                Err(e) => return Err(Fail::Lost(format!("malformed answer: {e}"))),
            }
        };
        let len = match head.framing {
            BodyFraming::Empty => 0,
            BodyFraming::Length(n) => usize::try_from(n).unwrap_or(usize::MAX),
            other => return Err(Fail::Lost(format!("unexpected framing {other:?}"))),
        };
        if len > MAX_BODY {
            return Err(Fail::Lost(format!("body of {len} bytes")));
        }
        while self.buf.len() < head.head_len + len {
            self.fill()?;
        }
        let body = self.buf[head.head_len..head.head_len + len].to_vec();
        self.buf.drain(..head.head_len + len);
        if head.close {
            self.conn = None;
        }
        Ok((head.status, body))
    }

    fn fill(&mut self) -> Result<(), Fail> {
        let stream = self.conn.as_mut().expect("connected");
        let mut tmp = [0u8; 16384];
        loop {
            match stream.read(&mut tmp) {
                Ok(0) => return Err(Fail::Lost("EOF".into())),
                Ok(n) => {
                    self.buf.extend_from_slice(&tmp[..n]);
                    return Ok(());
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Fail::Lost(format!("read: {}", e.kind()))),
            }
        }
    }
}
