//! Forwarding a key request to the node that coordinates it, with failover, and encoding the
//! answer.
//!
//! The peer client (cluster layer) queues the request and returns an owned answer; this file
//! turns that answer into the client's response and counts it. When the coordinator cannot
//! answer (unreachable, no answer within `cluster.request_timeout`, or a 421 because it is
//! catching up or leaving) the request goes at once to the next routable replica of the key, or
//! is coordinated here when that is this node, instead of failing: a key stays available while
//! any of its replicas is. The request is kept (path, query, body) for that.
//!
//! Not when this core's queue to the coordinator is full (`cluster.max_queued_per_peer`): that
//! node is alive but not keeping up with this core's forwards, so the client gets 503 with
//! `Retry-After: 1` at once. Failing over would pour the overload onto the next replica (which
//! then coordinates writes beside a live first replica) and hide it from the client; the
//! refusal is the backpressure.

use bytes::Bytes;

use super::{Req, ReqFields, Routed};
use crate::cluster::ring::Prefs;
use crate::cluster::{FwdError, InFlight, Outgoing, RELAYED};
use crate::http::response::{encode_head, BodyLength};
use crate::http::Method;
use crate::metrics::Trust;
use crate::server::core::Core;
use crate::server::respond::Meta;

/// A forwarded request waiting for its answer, in the connection's response order.
pub(crate) struct Forwarded {
    flight: InFlight,
    meta: Meta,
    retry: Retry,
}

/// What a failover needs to send the request again.
struct Retry {
    method: Method,
    path: Bytes,
    query: Option<Bytes>,
    body: Option<Bytes>,
    /// The body's `Content-Type` as sent.
    content_type: Option<Bytes>,
    /// The optional header lines passed on (see [`passed_on`]).
    headers: Bytes,
    /// Nodes already tried.
    tried: Prefs,
}

impl Retry {
    fn outgoing(&self) -> Outgoing<'_> {
        Outgoing {
            method: self.method,
            path: &self.path,
            query: self.query.as_deref(),
            body: self.body.as_deref(),
            version: None,
            content_type: self.content_type.as_deref(),
            headers: &self.headers,
        }
    }
}

/// Queue `req` for `peer` now (so the forwards of one pipeline leave in one batch).
pub(crate) fn start(c: &Core, peer: usize, req: &Req<'_>) -> Forwarded {
    let mut tried = Prefs::default();
    tried.push(peer);
    let retry = Retry {
        method: req.method,
        path: Bytes::copy_from_slice(req.path),
        query: req.query.map(Bytes::copy_from_slice),
        body: req.has_body.then(|| Bytes::copy_from_slice(req.body)),
        content_type: req.fields.content_type.map(Bytes::copy_from_slice),
        headers: passed_on(&req.fields),
        tried,
    };
    Forwarded {
        flight: c.peers.forward(peer, &retry.outgoing()),
        meta: req.meta(),
        retry,
    }
}

/// The request's optional header fields that travel with a forward, as header lines (what the
/// coordinator needs to answer as this node would have: conditions, a raw value's TTL, the
/// trace). Nothing is allocated for a request that carries none.
fn passed_on(f: &ReqFields<'_>) -> Bytes {
    let lines = [
        ("If-Match", f.if_match),
        ("If-None-Match", f.if_none_match),
        ("X-Cache-TTL", f.cache_ttl),
        ("traceparent", f.traceparent),
    ];
    if lines.iter().all(|(_, v)| v.is_none()) {
        return Bytes::new();
    }
    let mut out = Vec::new();
    for (name, v) in lines {
        if let Some(v) = v {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v);
            out.extend_from_slice(b"\r\n");
        }
    }
    Bytes::from(out)
}

/// The fields of header lines made by [`passed_on`] (a failover serves the request here).
fn fields_of<'a>(lines: &'a [u8], content_type: Option<&'a [u8]>) -> ReqFields<'a> {
    let mut f = ReqFields {
        content_type,
        ..ReqFields::default()
    };
    for line in lines.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(at) = line.windows(2).position(|w| w == b": ") else {
            continue;
        };
        let (name, value) = (&line[..at], &line[at + 2..]);
        let slot = match name {
            b"If-Match" => &mut f.if_match,
            b"If-None-Match" => &mut f.if_none_match,
            b"X-Cache-TTL" => &mut f.cache_ttl,
            b"traceparent" => &mut f.traceparent,
            _ => continue,
        };
        *slot = Some(value);
    }
    f
}

/// Whether another replica should be asked after this outcome: no answer, or 421 (the node
/// must not coordinate now). Any other answer, a 503 included, is the key's answer, and so is a
/// full queue to the node (see the module doc).
fn fails_over(result: &Result<crate::cluster::Answered, FwdError>) -> bool {
    match result {
        Ok(a) => a.status == MISDIRECTED,
        Err(FwdError::QueueFull { .. }) => false,
        Err(_) => true,
    }
}

/// Index of `Retry-After` in [`RELAYED`].
const RELAYED_RETRY_AFTER: usize = 4;

/// The status a node answers a forwarded request it must not coordinate now.
const MISDIRECTED: u16 = 421;
/// What every 503 of ours carries: the condition is temporary.
const RETRY_AFTER: &[(&str, &[u8])] = &[("Retry-After", b"1")];

/// Wait for the answer (bounded by `cluster.request_timeout` per node tried), failing over to
/// the key's next routable replica, and encode it into `out`.
pub(crate) async fn finish(c: &Core, f: Forwarded, out: &mut Vec<u8>) {
    let Forwarded {
        mut flight,
        meta,
        mut retry,
    } = f;
    loop {
        let (peer, started) = (flight.peer, flight.started);
        let result = flight.wait().await;
        let us = started.elapsed().as_micros() as u64;
        if fails_over(&result) {
            match next_node(c, &retry) {
                Some(next) if next == c.node.cluster.me => {
                    crate::metrics::inc(&c.resp.metrics.failovers);
                    return serve_here(c, &retry, meta, out).await;
                }
                Some(next) => {
                    crate::metrics::inc(&c.resp.metrics.failovers);
                    c.resp.metrics.forward(peer, failed_index(&result), us);
                    retry.tried.push(next);
                    flight = c.peers.forward(next, &retry.outgoing());
                    continue;
                }
                None => {}
            }
        }
        return answer(c, peer, us, result, meta, out);
    }
}

fn failed_index(result: &Result<crate::cluster::Answered, FwdError>) -> usize {
    match result {
        Ok(_) => 0,
        Err(e) => e.result_index(),
    }
}

/// The next routable node for the request's key that was not tried yet.
fn next_node(c: &Core, retry: &Retry) -> Option<usize> {
    let seg = crate::server::router::key_segment(&retry.path);
    let mut key_buf = Vec::new();
    let key = crate::server::router::parse_key(seg, &mut key_buf, super::cache::limits(c)).ok()?;
    c.node.cluster.next_coordinator(key, &retry.tried)
}

/// Coordinate the request on this node after the nodes before it in the key's list failed.
async fn serve_here(c: &Core, retry: &Retry, meta: Meta, out: &mut Vec<u8>) {
    let req = Req {
        method: retry.method,
        route: crate::server::router::Route::Cache,
        path: &retry.path,
        body: retry.body.as_deref().unwrap_or_default(),
        query: retry.query.as_deref(),
        has_body: retry.body.is_some(),
        conn: meta.conn,
        // Serve here (or answer 503 if this node must not): never forward again.
        forwarded: true,
        // The client was checked when the request arrived.
        peer: false,
        tls_peer: false,
        admin_elsewhere: false,
        request_id: meta.request_id,
        fields: fields_of(&retry.headers, retry.content_type.as_deref()),
        version: None,
        auth: crate::server::authz::Checked::PASSED,
    };
    let seg = crate::server::router::key_segment(&retry.path);
    let mut key_buf = Vec::new();
    match super::cache::handle(c, &req, seg, false, &mut key_buf, out) {
        Routed::Done => {}
        Routed::Ready(reply, d) => super::cache::finish(c, out, d, reply),
        Routed::Remote(mut t, d) => {
            let reply = t.wait().await;
            super::cache::finish(c, out, d, reply);
        }
        Routed::Replicate(r) => r.finish(c, out).await,
        Routed::Forward(_) | Routed::Admin => c.resp.error(
            out,
            meta,
            503,
            "no replica of the key could serve it",
            None,
            &[],
        ),
    }
}

/// Encode the last node's answer, or why there is none.
fn answer(
    c: &Core,
    peer: usize,
    us: u64,
    result: Result<crate::cluster::Answered, FwdError>,
    meta: Meta,
    out: &mut Vec<u8>,
) {
    let m = &c.node.cluster.members[peer];
    match result {
        // Every node tried is catching up or leaving: the client retries later.
        Ok(a) if a.status == MISDIRECTED => {
            let msg = format!(
                "no replica of the key can serve it now (node {} ({}), the last tried, is catching up or leaving)",
                m.id, m.addr
            );
            c.resp
                .error(out, meta, 503, &msg, None, &[("Retry-After", b"1")]);
        }
        Ok(a) => {
            c.resp.metrics.forward(peer, 0, us);
            c.resp.count(meta, a.status);
            let buf = &a.raw;
            let node = if a.node.is_empty() {
                m.id.as_bytes()
            } else {
                &buf[a.node.clone()]
            };
            let ct =
                std::str::from_utf8(&buf[a.content_type.clone()]).unwrap_or("application/json");
            let mut date = c.resp.date.borrow_mut();
            // The client's own numeric request id is echoed, as on a local answer.
            let mut id_buf = itoa::Buffer::new();
            let mut extra: [(&str, &[u8]); 4 + RELAYED.len()] = [("", b""); 4 + RELAYED.len()];
            extra[0] = ("X-Cache-Node", node);
            extra[1] = ("X-Cache-Forwarded-By", &c.resp.node_header);
            let mut n = 2;
            for (name, r) in RELAYED.iter().zip(a.relayed.iter()) {
                if !r.is_empty() {
                    extra[n] = (name, &buf[r.clone()]);
                    n += 1;
                }
            }
            if a.status == 503 && a.relayed[RELAYED_RETRY_AFTER].is_empty() {
                // Every 503 of ours is temporary (a node catching up, no replica reachable).
                extra[n] = ("Retry-After", b"1");
                n += 1;
            }
            if meta.request_id != 0 {
                extra[n] = ("X-Request-Id", id_buf.format(meta.request_id).as_bytes());
                n += 1;
            }
            let len = BodyLength::Exact(a.content_length);
            encode_head(out, a.status, ct, len, meta.conn, date.get(), &extra[..n]);
            if !meta.head_only {
                out.extend_from_slice(&buf[a.body.clone()]);
            }
        }
        Err(e @ FwdError::QueueFull { .. }) => {
            c.resp.metrics.forward(peer, e.result_index(), us);
            c.resp.metrics.trust.inc(Trust::PeerQueueFull);
            let msg = format!(
                "core {} of node {} cannot queue more requests for node {} ({}), which is not keeping up: {e}; retry later",
                c.exec.core,
                c.node.cluster.self_id(),
                m.id,
                m.addr
            );
            c.resp.error(out, meta, 503, &msg, None, RETRY_AFTER);
        }
        Err(e) => {
            c.resp.metrics.forward(peer, e.result_index(), us);
            let msg = format!(
                "node {} ({}), the last replica of the key tried, could not serve the request: {e}",
                m.id, m.addr
            );
            log_failure(c, peer, &meta, e.status(), &msg);
            // Every 503 of ours is temporary.
            let extra = if e.status() == 503 { RETRY_AFTER } else { &[] };
            c.resp.error(out, meta, e.status(), &msg, None, extra);
        }
    }
}

/// The client got a 502/503/504 because of another node: say which, with the client's request
/// id, so the operator can match the line to the complaint (rate-limited: a dead owner fails
/// every forward).
fn log_failure(c: &Core, peer: usize, meta: &Meta, status: u16, msg: &str) {
    use crate::config::LogLevel;
    use crate::log::{admit, request_id, LogKind};
    if !crate::log::enabled(LogLevel::Warn) {
        return;
    }
    if let Some(suppressed) = admit(LogKind::ForwardFailed) {
        crate::warn!(
            peer = c.node.cluster.members[peer].id,
            status = status,
            request_id = request_id(meta.request_id),
            suppressed = (suppressed > 0).then_some(suppressed);
            "core {}: answered {status}: {msg}",
            c.exec.core
        );
    }
}
