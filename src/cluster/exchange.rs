//! Blocking node-to-node calls of the membership protocol (fetch a peer's document, push one,
//! ask to join), made from the prober thread or a short-lived thread of an admin change, never
//! from a core. One connection per call (`Connection: close`): a few calls per change.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use super::membership::MAX_DOC_BYTES;
use crate::http::parse_response_head;

/// Largest answer read: a membership document with room for the JSON around it.
const MAX_ANSWER: usize = MAX_DOC_BYTES + 4096;

/// Where and how to call: the peer's configured address (Host header, TLS name), its resolved
/// addresses, timeouts, and the cluster secret's `Authorization` line (or empty).
pub(super) struct Target<'a> {
    pub addr: &'a str,
    pub resolved: &'a [SocketAddr],
    pub connect_timeout: Duration,
    pub timeout: Duration,
    pub authorization: &'a str,
    pub tls: Option<&'a crate::tls::Tls>,
    /// This node's id, sent as `X-Cache-Forwarded` (a peer's request).
    pub from: &'a str,
}

/// `METHOD path` with an optional JSON body; the status and body of the answer, or why there is
/// none (naming the address).
pub(super) fn call(
    t: &Target<'_>,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
) -> Result<(u16, Vec<u8>), String> {
    let mut last = format!("{}: no address", t.addr);
    for &addr in t.resolved {
        match call_addr(t, addr, method, path, body) {
            Ok(r) => return Ok(r),
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn call_addr(
    t: &Target<'_>,
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
) -> Result<(u16, Vec<u8>), String> {
    let err = |what: &str, e: std::io::Error| {
        format!("{method} {path} to {} ({addr}): {what}: {e}", t.addr)
    };
    let s = TcpStream::connect_timeout(&addr, t.connect_timeout).map_err(|e| err("connect", e))?;
    s.set_read_timeout(Some(t.timeout))
        .map_err(|e| err("setup", e))?;
    s.set_write_timeout(Some(t.timeout))
        .map_err(|e| err("setup", e))?;
    let mut s = super::link::secure_blocking(t.tls, t.addr, addr, s)
        .map_err(|e| format!("{method} {path} to {}: {e}", t.addr))?;
    let body = body.unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nX-Cache-Forwarded: {}\r\n{}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        t.addr,
        t.from,
        t.authorization,
        body.len()
    );
    s.write_all(head.as_bytes()).map_err(|e| err("write", e))?;
    s.write_all(body).map_err(|e| err("write", e))?;
    let mut buf = Vec::with_capacity(2048);
    let mut chunk = [0u8; 4096];
    let deadline = Instant::now() + t.timeout;
    loop {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if buf.len() > MAX_ANSWER {
                    return Err(format!(
                        "{method} {path} to {}: answer over {MAX_ANSWER} bytes",
                        t.addr
                    ));
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(err("no answer", e))
            }
            Err(e) => return Err(err("read", e)),
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{method} {path} to {}: no answer within {} ms",
                t.addr,
                t.timeout.as_millis()
            ));
        }
    }
    match parse_response_head(&buf, false, |_, _| {}) {
        Ok(Some(h)) => Ok((h.status, buf[h.head_len..].to_vec())),
        Ok(None) => Err(format!(
            "{method} {path} to {}: the answer ended early",
            t.addr
        )),
        Err(e) => Err(format!(
            "{method} {path} to {}: malformed answer: {e}",
            t.addr
        )),
    }
}
