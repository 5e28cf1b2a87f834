//! Forwarding a key request to the node that owns it, and encoding the owner's answer.
//!
//! The peer client (cluster layer) queues the request and returns an owned answer; this file
//! turns that answer, or the reason there is none, into the client's response and counts it.

use super::Req;
use crate::cluster::{InFlight, Outgoing};
use crate::http::response::{encode_head, BodyLength};
use crate::server::core::Core;
use crate::server::respond::Meta;

/// A forwarded request waiting for its answer, in the connection's response order.
pub(crate) struct Forwarded {
    flight: InFlight,
    meta: Meta,
}

/// Queue `req` for `peer` now (so the forwards of one pipeline leave in one batch).
pub(crate) fn start(c: &Core, peer: usize, req: &Req<'_>) -> Forwarded {
    let out = Outgoing {
        method: req.method,
        path: req.path,
        query: req.query,
        body: req.has_body.then_some(req.body),
    };
    Forwarded {
        flight: c.peers.forward(peer, &out),
        meta: req.meta(),
    }
}

/// Wait for the answer (bounded by `cluster.request_timeout`) and encode it into `out`.
pub(crate) async fn finish(c: &Core, f: Forwarded, out: &mut Vec<u8>) {
    let Forwarded { flight, meta } = f;
    let (peer, started) = (flight.peer, flight.started);
    let result = flight.wait().await;
    let us = started.elapsed().as_micros() as u64;
    let m = &c.node.cluster.members[peer];
    match result {
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
            let mut extra: [(&str, &[u8]); 3] = [
                ("X-Cache-Node", node),
                ("X-Cache-Forwarded-By", &c.resp.node_header),
                ("", b""),
            ];
            let n = if meta.request_id != 0 {
                extra[2] = ("X-Request-Id", id_buf.format(meta.request_id).as_bytes());
                3
            } else {
                2
            };
            let len = BodyLength::Exact(a.content_length);
            encode_head(out, a.status, ct, len, meta.conn, date.get(), &extra[..n]);
            if !meta.head_only {
                out.extend_from_slice(&buf[a.body.clone()]);
            }
        }
        Err(e) => {
            c.resp.metrics.forward(peer, e.result_index(), us);
            let msg = format!(
                "owner node {} ({}) could not serve the request: {e}",
                m.id, m.addr
            );
            log_failure(c, peer, &meta, e.status(), &msg);
            c.resp.error(out, meta, e.status(), &msg, None, &[]);
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
