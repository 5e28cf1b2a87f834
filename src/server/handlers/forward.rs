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
use crate::cluster::{
    FwdError, InFlight, Outgoing, CLIENT_REQUEST_ID, RELAYED, RELAYED_LEASE, RELAYED_TO_CLIENT,
};
use crate::http::response::{encode_head, BodyLength};
use crate::http::Method;
use crate::metrics::Trust;
use crate::server::core::Core;
use crate::server::request_id;
use crate::server::respond::{Meta, RETRY_AFTER};

/// A forwarded request waiting for its answer, in the connection's response order.
pub(crate) struct Forwarded {
    flight: InFlight,
    meta: Meta,
    retry: Retry,
    /// A GET of a hot key that asked its owner for a lease (`lease.rs`).
    lease: Option<super::lease::Asked>,
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
    let mut query = req.query.map(Bytes::copy_from_slice);
    let lease = super::lease::asking(c, &mut query);
    let retry = Retry {
        method: req.method,
        path: Bytes::copy_from_slice(req.path),
        query,
        body: req.has_body.then(|| Bytes::copy_from_slice(req.body)),
        content_type: req.fields.content_type.map(Bytes::copy_from_slice),
        headers: passed_on(req),
        tried,
    };
    // Singleflight (off with `hot_keys.enabled: false`): an identical GET still queued for
    // `peer` carries this one; its answer is encoded for this request like any other.
    let flight = if c.hot.enabled() {
        c.peers.forward_joining(peer, &retry.outgoing())
    } else {
        c.peers.forward(peer, &retry.outgoing())
    };
    if flight.joined() {
        crate::metrics::inc(&c.resp.metrics.forward_coalesced);
    }
    Forwarded {
        flight,
        meta: req.meta(),
        retry,
        lease,
    }
}

/// The request's optional header fields that travel with a forward, as header lines (what the
/// coordinator needs to answer as this node would have: conditions, a raw value's TTL) and its
/// ids ([`context_lines`]). Nothing is allocated for a request that carries none.
fn passed_on(req: &Req<'_>) -> Bytes {
    let f = &req.fields;
    header_lines(&[
        ("If-Match", f.if_match),
        ("If-None-Match", f.if_none_match),
        ("X-Cache-TTL", f.cache_ttl),
        (CLIENT_REQUEST_ID, req.client_id()),
        ("traceparent", f.traceparent),
    ])
}

/// The request's ids as header lines, for what this node sends a peer on its behalf (a forward,
/// a replica copy, a sub-batch): the client's id as sent (`X-Cache-Client-Request-Id`: the
/// `X-Request-Id` of a node-to-node request is the sender's number, which the peer echoes so
/// the sender can match its answer) and a valid `traceparent`, so the peer's log lines carry
/// both. Empty, nothing allocated, for a request with neither.
pub(crate) fn context_lines(req: &Req<'_>) -> Bytes {
    header_lines(&context_of(req))
}

/// [`context_lines`] appended to `out`, which stays unallocated when there are none.
pub(crate) fn push_context_lines(req: &Req<'_>, out: &mut Vec<u8>) {
    push_lines(&context_of(req), out);
}

fn context_of<'a>(req: &'a Req<'_>) -> [(&'static str, Option<&'a [u8]>); 2] {
    [
        (CLIENT_REQUEST_ID, req.client_id()),
        ("traceparent", req.fields.traceparent),
    ]
}

/// `Name: value\r\n` for each present value.
fn header_lines(lines: &[(&str, Option<&[u8]>)]) -> Bytes {
    if lines.iter().all(|(_, v)| v.is_none()) {
        return Bytes::new();
    }
    let mut out = Vec::new();
    push_lines(lines, &mut out);
    Bytes::from(out)
}

fn push_lines(lines: &[(&str, Option<&[u8]>)], out: &mut Vec<u8>) {
    for &(name, v) in lines {
        if let Some(v) = v {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v);
            out.extend_from_slice(b"\r\n");
        }
    }
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
            n if n == CLIENT_REQUEST_ID.as_bytes() => &mut f.client_request_id,
            _ => continue,
        };
        *slot = Some(value);
    }
    f
}

/// Whether another replica should be asked after this outcome: no answer, or 421 (the node
/// must not coordinate now). Any other answer, a 503 included, is the key's answer, and so is a
/// full queue to the node (see the module doc). A request that is not `idempotent` (an
/// increment) goes elsewhere only when it cannot have been executed: refused with 421, or never
/// sent (no connection); after a timeout or a broken connection it may have applied there, so
/// the client gets the 504/502 instead of a second increment.
fn fails_over(result: &Result<crate::cluster::Answered, FwdError>, idempotent: bool) -> bool {
    match result {
        Ok(a) => a.status == MISDIRECTED,
        Err(FwdError::QueueFull { .. }) => false,
        Err(FwdError::Connect(_) | FwdError::Exhausted) => true,
        Err(_) => idempotent,
    }
}

/// Index of `Retry-After` in [`RELAYED`].
const RELAYED_RETRY_AFTER: usize = 4;

/// The status a node answers a forwarded request it must not coordinate now.
const MISDIRECTED: u16 = 421;

/// Wait for the answer (bounded by `cluster.request_timeout` per node tried), failing over to
/// the key's next routable replica, and encode it into `out`.
pub(crate) async fn finish(c: &Core, f: Forwarded, out: &mut Vec<u8>) {
    let Forwarded {
        mut flight,
        meta,
        mut retry,
        lease,
    } = f;
    loop {
        let (peer, started) = (flight.peer, flight.started);
        let result = flight.wait().await;
        let us = started.elapsed().as_micros() as u64;
        if fails_over(&result, retry.outgoing().idempotent()) {
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
        if let (Some(asked), Ok(a)) = (lease, &result) {
            let granted = &a.raw[a.relayed[RELAYED_LEASE].clone()];
            if !granted.is_empty() && retry.tried.len() == 1 {
                fill(c, asked, peer, &retry, a, granted);
            }
        }
        return answer(c, peer, us, result, meta, out);
    }
}

/// Keep the owner's leased answer as this node's read copy of the key.
fn fill(
    c: &Core,
    asked: super::lease::Asked,
    peer: usize,
    retry: &Retry,
    a: &crate::cluster::Answered,
    granted: &[u8],
) {
    let mut key_buf = Vec::new();
    let seg = segment_of(&retry.path);
    if let Ok(key) = crate::server::router::parse_key(seg, &mut key_buf, super::cache::limits(c)) {
        super::lease::fill(c, asked, peer, key, a, granted);
    }
}

fn failed_index(result: &Result<crate::cluster::Answered, FwdError>) -> usize {
    match result {
        Ok(_) => 0,
        Err(e) => e.result_index(),
    }
}

/// The raw key segment of a forwarded key request's path (a cache path or an increment's).
fn segment_of(path: &[u8]) -> &[u8] {
    use crate::server::router::{incr_segment, key_segment, Route};
    match Route::parse(path) {
        Route::Incr => incr_segment(path),
        _ => key_segment(path),
    }
}

/// The next routable node for the request's key that was not tried yet.
fn next_node(c: &Core, retry: &Retry) -> Option<usize> {
    let seg = segment_of(&retry.path);
    let mut key_buf = Vec::new();
    let key = crate::server::router::parse_key(seg, &mut key_buf, super::cache::limits(c)).ok()?;
    c.node.cluster.next_coordinator(key, &retry.tried)
}

/// Coordinate the request on this node after the nodes before it in the key's list failed.
async fn serve_here(c: &Core, retry: &Retry, meta: Meta, out: &mut Vec<u8>) {
    let route = crate::server::router::Route::parse(&retry.path);
    let req = Req {
        method: retry.method,
        route,
        path: &retry.path,
        // The path as it arrived (checked then): without a `%` every byte is a literal.
        path_escaped: retry.path.contains(&b'%'),
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
    let seg = segment_of(&retry.path);
    let mut key_buf = Vec::new();
    let routed = match route {
        crate::server::router::Route::Incr => super::incr::handle(c, &req, seg, &mut key_buf, out),
        _ => super::cache::handle(c, &req, req.meta(), seg, false, &mut key_buf, out),
    };
    match routed {
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
    let m = &c.node.cluster.member(peer);
    match result {
        // Every node tried is catching up or leaving: the client retries later.
        Ok(a) if a.status == MISDIRECTED => {
            let msg = format!(
                "no replica of the key can serve it now (node {} ({}), the last tried, is catching up or leaving)",
                m.id, m.addr
            );
            failed(c, peer, meta, 503, &msg, out);
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
            // The client's own request id is echoed, as on a local answer (the coordinator
            // echoed this node's number, checked by the peer client).
            let ctx = c.resp.ids.get(meta.request_id);
            let mut id_buf = itoa::Buffer::new();
            let mut extra: [(&str, &[u8]); 4 + RELAYED.len()] = [("", b""); 4 + RELAYED.len()];
            extra[0] = ("X-Cache-Node", node);
            extra[1] = ("X-Cache-Forwarded-By", &c.resp.node_header);
            let mut n = 2;
            let relayed = RELAYED.iter().zip(a.relayed.iter()).take(RELAYED_TO_CLIENT);
            for (name, r) in relayed {
                if !r.is_empty() {
                    extra[n] = (name, &buf[r.clone()]);
                    n += 1;
                }
            }
            if a.status == 503 && a.relayed[RELAYED_RETRY_AFTER].is_empty() {
                // Every 503 of ours is temporary (a node catching up, no replica reachable).
                extra[n] = RETRY_AFTER;
                n += 1;
            }
            if let Some(id) = request_id::echoed(meta.request_id, ctx.as_deref(), &mut id_buf) {
                extra[n] = ("X-Request-Id", id);
                n += 1;
            }
            // RFC 9110 §8.6: a 304 carries no Content-Length (it would have to be the 200's).
            let len = if a.status == 304 {
                BodyLength::UntilClose
            } else {
                BodyLength::Exact(a.content_length)
            };
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
            failed(c, peer, meta, 503, &msg, out);
        }
        Err(e) => {
            c.resp.metrics.forward(peer, e.result_index(), us);
            // The only POST forwarded is an increment, never sent twice (see `fails_over`).
            let unsure = meta.method == crate::metrics::MethodLabel::Post
                && matches!(e, FwdError::Timeout { .. } | FwdError::Broken(_));
            let msg = format!(
                "node {} ({}), the last replica of the key tried, could not serve the request: {e}{}",
                m.id,
                m.addr,
                if unsure {
                    "; the increment may have been applied there: read the key before retrying"
                } else {
                    ""
                }
            );
            failed(c, peer, meta, e.status(), &msg, out);
        }
    }
}

/// The client gets a 502/503/504 because of another node: the error answer (a 503 with
/// `Retry-After`, added by the responder) and a WARN line naming the peer, with the request's
/// ids (rate-limited: a dead owner fails every forward).
fn failed(c: &Core, peer: usize, meta: Meta, status: u16, msg: &str, out: &mut Vec<u8>) {
    let id = &c.node.cluster.member(peer).id;
    c.resp.log_error(meta, status, msg, None, Some(id));
    c.resp.error_unlogged(out, meta, status, msg, None, &[]);
}

#[cfg(test)]
#[path = "forward_tests.rs"]
mod tests;
