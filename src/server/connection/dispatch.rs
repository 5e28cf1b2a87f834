//! Dispatching framed requests: building the handlers' view of a request from the connection's
//! buffers, answering it or queueing its response slot in order, and running admin requests.

use std::collections::VecDeque;
use std::rc::Rc;

use super::{Chunked, Conn, Queued, Step};
use crate::http::response::ConnHeader;
use crate::http::{Framing, Head, Version};
use crate::server::core::Core;
use crate::server::document::Scope;
use crate::server::handlers::forward;
use crate::server::handlers::{self, cache, Req, Routed};
use crate::server::router::Route;

/// What the connection decided about one framed request, beside its head: where its body is
/// and how long the whole request is, its route, and the connection header of its answer.
pub(super) struct Frame {
    pub route: Route,
    pub conn: ConnHeader,
    pub body: std::ops::Range<usize>,
    pub total: usize,
}

impl Conn {
    /// Dispatch one framed request: answered into the write buffer or queued in order.
    /// Synchronous, like [`Conn::frame_body`]; an admin request (rare) is left to [`Conn::admin`].
    #[inline]
    pub(super) fn answer(&mut self, c: &Rc<Core>, head: &Head, f: &Frame) -> Dispatched {
        let req = request(&self.rbuf, self.start, head, f, &self.chunk);
        let direct = self.queue.is_empty();
        match handlers::dispatch(c, &req, direct, &mut self.key_buf, &mut self.wbuf) {
            Routed::Done => {}
            Routed::Remote(t, d) => self.queue.push_back(Queued::Remote(t, d)),
            Routed::Ready(r, d) => self.queue.push_back(Queued::Ready(r, d)),
            Routed::Replicate(r) => self.queue.push_back(Queued::Replicate(r)),
            Routed::Forward(peer) => {
                // Queued, not awaited: forwards of one pipeline leave in one batch.
                let f = forward::start(c, peer, &req);
                self.queue.push_back(Queued::Forward(f));
            }
            Routed::Admin => return Dispatched::Admin,
        }
        Dispatched::Done
    }

    /// Run an admin request after every earlier response; `Some(Step::Export)` streams an export
    /// (the request is already consumed then).
    pub(super) async fn admin(&mut self, c: &Rc<Core>, head: &Head, f: &Frame) -> Option<Step> {
        resolve(c, &mut self.queue, &mut self.wbuf).await;
        let req = request(&self.rbuf, self.start, head, f, &self.chunk);
        if f.route == Route::Export {
            let (r, scope) = (req.meta(), Scope::from_query(req.query));
            self.chunk = None;
            self.advance(f.total);
            if f.conn == ConnHeader::Close {
                self.closing = Some(self.close_kind());
            }
            return Some(Step::Export(r, scope, head.version == Version::Http10));
        }
        handlers::run_admin(c, &req, &mut self.wbuf).await;
        None
    }
}

/// Encode, in order, every response still waiting for another core.
pub(super) async fn resolve(c: &Core, queue: &mut VecDeque<Queued>, wbuf: &mut Vec<u8>) {
    while let Some(q) = queue.pop_front() {
        match q {
            Queued::Remote(mut t, d) => {
                let reply = t.wait().await;
                cache::finish(c, wbuf, d, reply);
            }
            Queued::Ready(reply, d) => cache::finish(c, wbuf, d, reply),
            Queued::Forward(f) => forward::finish(c, f, wbuf).await,
            Queued::Replicate(r) => r.finish(c, wbuf).await,
        }
    }
}

/// Whether [`Conn::answer`] finished the request or left an admin operation to run.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Dispatched {
    Done,
    Admin,
}

/// The request as the handlers see it, borrowed from the connection's buffers.
#[inline]
fn request<'a>(
    rbuf: &'a [u8],
    base: usize,
    head: &Head,
    f: &Frame,
    chunk: &'a Option<Chunked>,
) -> Req<'a> {
    let at = |r: &std::ops::Range<usize>| &rbuf[base + r.start..base + r.end];
    Req {
        method: head.method,
        route: f.route,
        path: at(&head.path),
        query: head.query.as_ref().map(at),
        body: match chunk {
            Some(c) => &c.body,
            None => &rbuf[f.body.clone()],
        },
        has_body: head.framing != Framing::None,
        conn: f.conn,
        forwarded: head.forwarded,
        // Until the auth layer decides: a forwarding marker is what marks a peer today.
        peer: head.forwarded,
        request_id: head.request_id.as_ref().map_or(0, |r| numeric_id(at(r))),
        version: head
            .cache_version
            .as_ref()
            .and_then(|r| crate::storage::version::parse_hex(at(r))),
    }
}

/// A numeric request id (what our peers send); anything else is not echoed.
fn numeric_id(v: &[u8]) -> u64 {
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return 0;
    }
    std::str::from_utf8(v)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}
