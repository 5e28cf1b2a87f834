//! Forwarding a key request to the node that owns it, over this core's pool.
//!
//! The request is re-serialized, never copied: one `Content-Length`, no hop-by-hop headers, CRLF
//! line ends, plus `X-Cache-Forwarded` (the receiving node serves it locally and never forwards it
//! again, so a ring disagreement cannot bounce a request) and `X-Request-Id`, which the owner
//! echoes; a response with another id is a desync and the connection is dropped (H75). A request
//! that failed on a reused keep-alive connection before any response byte arrived is retried once
//! on a new connection (the peer may have closed it while idle); all methods forwarded here are
//! idempotent. The whole exchange is bounded by `cluster.request_timeout`.

use std::rc::Rc;
use std::time::Instant;

use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};

use super::pool::{CheckoutError, Pooled};
use crate::api::Reply as R;
use crate::http::response::{encode_head, BodyLength};
use crate::http::Method;
use crate::worker::Worker;

/// Largest response accepted from a peer: a max-size value plus its JSON wrapping.
const MAX_PEER_RESPONSE_SLACK: usize = 64 * 1024;
const MAX_PEER_HEADERS: usize = 32;

/// Why a forward failed; each maps to one status.
#[derive(Debug, Clone)]
pub enum FwdError {
    /// No connection slot left toward the peer on this core.
    Exhausted,
    Connect(String),
    Timeout,
    /// The peer closed or reset the connection, or sent something we cannot frame.
    Broken(String),
}

impl FwdError {
    pub fn status(&self) -> u16 {
        match self {
            FwdError::Exhausted => 503,
            FwdError::Connect(_) | FwdError::Broken(_) => 502,
            FwdError::Timeout => 504,
        }
    }
}

/// The parts of a client request that are forwarded.
pub struct Outgoing<'a> {
    pub method: Method,
    pub path: &'a [u8],
    pub query: Option<&'a [u8]>,
    /// `Some` when the request had a body (even empty).
    pub body: Option<&'a [u8]>,
}

/// Where the owner's response sits in the pooled connection's read buffer.
pub(crate) struct Answer {
    pub status: u16,
    pub content_type: std::ops::Range<usize>,
    pub node: std::ops::Range<usize>,
    pub content_length: usize,
    pub body: std::ops::Range<usize>,
    pub keep_alive: bool,
    /// Offset just past this response in the read buffer.
    pub end: usize,
}

fn method_bytes(m: Method) -> &'static [u8] {
    match m {
        Method::Get => b"GET",
        Method::Head => b"HEAD",
        Method::Put => b"PUT",
        Method::Post => b"POST",
        Method::Delete => b"DELETE",
        Method::Options => b"OPTIONS",
        Method::Patch => b"PATCH",
        Method::Connect => b"CONNECT",
        Method::Trace => b"TRACE",
    }
}

/// Append `req` as a request to the peer at `host`.
pub(crate) fn serialize(out: &mut Vec<u8>, req: &Outgoing<'_>, host: &str, me: &str, id: u64) {
    out.extend_from_slice(method_bytes(req.method));
    out.push(b' ');
    out.extend_from_slice(req.path);
    if let Some(q) = req.query {
        out.push(b'?');
        out.extend_from_slice(q);
    }
    out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    out.extend_from_slice(host.as_bytes());
    out.extend_from_slice(b"\r\nX-Cache-Forwarded: ");
    out.extend_from_slice(me.as_bytes());
    out.extend_from_slice(b"\r\nX-Request-Id: ");
    out.extend_from_slice(itoa::Buffer::new().format(id).as_bytes());
    if let Some(body) = req.body {
        out.extend_from_slice(b"\r\nContent-Type: application/json\r\nContent-Length: ");
        out.extend_from_slice(itoa::Buffer::new().format(body.len()).as_bytes());
        out.extend_from_slice(b"\r\n\r\n");
        out.extend_from_slice(body);
    } else {
        out.extend_from_slice(b"\r\n\r\n");
    }
}

/// A forward on its way: queued on the peer's batcher, answer not yet read.
pub struct InFlight {
    ticket: super::batch::Ticket,
    peer: usize,
    started: Instant,
    r: R,
}

/// Queue `req` for `peer` now (so pipelined forwards share a batch); [`finish`] awaits it.
pub fn start(w: &Rc<Worker>, peer: usize, req: &Outgoing<'_>, r: R) -> InFlight {
    let id = w.next_request_id();
    InFlight {
        ticket: super::batch::submit(w, peer, req, id),
        peer,
        started: Instant::now(),
        r,
    }
}

/// Wait (at most `cluster.request_timeout` from the start) and encode the answer into `out`.
pub async fn finish(w: &Worker, f: InFlight, out: &mut Vec<u8>) {
    let InFlight {
        mut ticket,
        peer,
        started,
        r,
    } = f;
    let cl = &w.shared.cluster;
    let deadline = started + w.cfg().cluster.request_timeout;
    let result = match monoio::time::timeout_at(deadline.into(), ticket.wait()).await {
        Ok(r) => r,
        Err(_) => Err(FwdError::Timeout),
    };
    let m = &cl.members[peer];
    match result {
        Ok(a) => {
            w.metrics
                .forward(peer, 0, started.elapsed().as_micros() as u64);
            w.metrics.request(r.route, r.method, a.status);
            let buf = &a.raw;
            let node = if a.node.is_empty() {
                m.id.as_bytes()
            } else {
                &buf[a.node.clone()]
            };
            let ct =
                std::str::from_utf8(&buf[a.content_type.clone()]).unwrap_or("application/json");
            let mut date = w.date.borrow_mut();
            // The client's own numeric request id is echoed, as on a local answer.
            let mut id_buf = itoa::Buffer::new();
            let mut extra: [(&str, &[u8]); 3] = [
                ("X-Cache-Node", node),
                ("X-Cache-Forwarded-By", &w.node_header),
                ("", b""),
            ];
            let n = if r.request_id != 0 {
                extra[2] = ("X-Request-Id", id_buf.format(r.request_id).as_bytes());
                3
            } else {
                2
            };
            encode_head(
                out,
                a.status,
                ct,
                BodyLength::Exact(a.content_length),
                r.conn,
                date.get(),
                &extra[..n],
            );
            if !r.head_only {
                out.extend_from_slice(&buf[a.body.clone()]);
            }
        }
        Err(e) => {
            let kind = if matches!(e, FwdError::Timeout) { 2 } else { 1 };
            w.metrics
                .forward(peer, kind, started.elapsed().as_micros() as u64);
            let why = match &e {
                FwdError::Exhausted => {
                    "too many connections open to it from this core (cluster.pool_max_total)"
                        .to_string()
                }
                FwdError::Connect(s) | FwdError::Broken(s) => s.clone(),
                FwdError::Timeout => format!(
                    "no answer within cluster.request_timeout ({} ms)",
                    w.cfg().cluster.request_timeout.as_millis()
                ),
            };
            let msg = format!(
                "owner node {} ({}) could not serve the request: {why}",
                m.id, m.addr
            );
            crate::api::error(w, out, r, e.status(), &msg, None, &[]);
        }
    }
}

async fn exchange(
    w: &Worker,
    peer: usize,
    req: &Outgoing<'_>,
    id: u64,
) -> Result<(Pooled, Answer), FwdError> {
    let cl = &w.shared.cluster;
    let cfg = &w.cfg().cluster;
    // Node-to-node imports are idempotent too (storing the same entries twice changes nothing).
    let idempotent =
        !matches!(req.method, Method::Post | Method::Patch) || req.path == b"/admin/import";
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut conn = w
            .pool
            .checkout(peer, || cl.addrs(peer), cfg.connect_timeout)
            .await
            .map_err(|e| match e {
                CheckoutError::Exhausted => FwdError::Exhausted,
                CheckoutError::Connect(s) => FwdError::Connect(s),
            })?;
        let mut wbuf = std::mem::take(&mut conn.wbuf);
        wbuf.clear();
        serialize(&mut wbuf, req, &cl.members[peer].addr, cl.self_id(), id);
        let (res, wbuf) = conn.stream().write_all(wbuf).await;
        conn.wbuf = wbuf;
        conn.rbuf.clear();
        let outcome = match res {
            Ok(_) => {
                read_answer(
                    &mut conn,
                    0,
                    req.method == Method::Head,
                    id,
                    w.cfg().max_value_bytes + MAX_PEER_RESPONSE_SLACK,
                )
                .await
            }
            Err(e) => Err((true, format!("write: {e}"))),
        };
        match outcome {
            Ok(mut a) => {
                // Bytes beyond the one response we asked for: the connection is out of step.
                a.keep_alive &= a.end == conn.rbuf.len();
                return Ok((conn, a));
            }
            // A stale keep-alive connection: the peer closed it while idle. Retry once, fresh.
            Err((nothing_read, _)) if nothing_read && conn.reused && idempotent && attempt == 1 => {
                w.pool.discard_idle(peer);
                continue;
            }
            Err((_, msg)) => return Err(FwdError::Broken(msg)),
        }
    }
}

/// Read one response. Err carries (no response byte arrived, message).
pub(crate) async fn read_answer(
    conn: &mut Pooled,
    start: usize,
    head_request: bool,
    id: u64,
    max: usize,
) -> Result<Answer, (bool, String)> {
    loop {
        if let Some(a) = parse_answer(&conn.rbuf, start, head_request, id)? {
            return Ok(a);
        }
        if conn.rbuf.len() - start > max {
            return Err((false, "peer response too large".into()));
        }
        if conn.rbuf.capacity() - conn.rbuf.len() < 4096 {
            conn.rbuf.reserve(16 * 1024);
        }
        let buf = std::mem::take(&mut conn.rbuf);
        let (len, cap) = (buf.len(), buf.capacity());
        let (res, slice) = conn.stream().read(buf.slice_mut(len..cap)).await;
        conn.rbuf = slice.into_inner();
        match res {
            Ok(0) => return Err((conn.rbuf.is_empty(), "peer closed the connection".into())),
            Ok(_) => {}
            Err(e) => {
                return Err((
                    conn.rbuf.is_empty(),
                    format!("read: {}", e.to_string().to_lowercase()),
                ))
            }
        }
    }
}

/// Ok(None) = need more bytes.
fn parse_answer(
    buf: &[u8],
    start: usize,
    head_request: bool,
    id: u64,
) -> Result<Option<Answer>, (bool, String)> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_PEER_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let head_len = match resp.parse(&buf[start..]) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err((false, format!("malformed response from peer: {e}"))),
    };
    let status = resp.code.unwrap_or(0);
    let base = buf.as_ptr() as usize;
    let range = |v: &[u8]| {
        let s = v.as_ptr() as usize - base;
        s..s + v.len()
    };
    let (mut cl, mut ct, mut node, mut keep_alive, mut echoed) = (None, 0..0, 0..0, true, None);
    for h in resp.headers.iter() {
        let name = h.name;
        if name.eq_ignore_ascii_case("content-length") {
            let digits = std::str::from_utf8(h.value).ok().filter(|s| {
                !s.is_empty() && s.len() <= 19 && s.bytes().all(|b| b.is_ascii_digit())
            });
            match (digits.and_then(|s| s.parse::<usize>().ok()), cl) {
                (Some(n), None) => cl = Some(n),
                _ => {
                    return Err((
                        false,
                        "peer response has an invalid or repeated Content-Length".into(),
                    ))
                }
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err((
                false,
                "peer response uses Transfer-Encoding, not expected on this path".into(),
            ));
        } else if name.eq_ignore_ascii_case("content-type") {
            ct = range(h.value);
        } else if name.eq_ignore_ascii_case("x-cache-node") {
            node = range(h.value);
        } else if name.eq_ignore_ascii_case("connection") {
            keep_alive = !h.value.eq_ignore_ascii_case(b"close");
        } else if name.eq_ignore_ascii_case("x-request-id") {
            echoed = std::str::from_utf8(h.value)
                .ok()
                .and_then(|s| s.parse::<u64>().ok());
        }
    }
    if echoed != Some(id) {
        return Err((
            false,
            format!("peer response answers request id {echoed:?}, expected {id} (desync)"),
        ));
    }
    let content_length = cl.ok_or((false, "peer response without Content-Length".to_string()))?;
    let body_len = if head_request { 0 } else { content_length };
    let end = start + head_len + body_len;
    if buf.len() < end {
        return Ok(None);
    }
    Ok(Some(Answer {
        end,
        status,
        content_type: ct,
        node,
        content_length,
        body: start + head_len..end,
        keep_alive,
    }))
}

/// Send `req` to `peer` and return the answer's status and body (for node-to-node admin calls).
pub async fn call(
    w: &Worker,
    peer: usize,
    req: &Outgoing<'_>,
    timeout: std::time::Duration,
) -> Result<(u16, Vec<u8>), FwdError> {
    let id = w.next_request_id();
    match monoio::time::timeout(timeout, exchange(w, peer, req, id)).await {
        Ok(Ok((conn, a))) => {
            let body = conn.rbuf[a.body.clone()].to_vec();
            if a.keep_alive {
                conn.release();
            }
            Ok((a.status, body))
        }
        Ok(Err(e)) => Err(e),
        Err(_) => Err(FwdError::Timeout),
    }
}
