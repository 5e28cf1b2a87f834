//! Dispatching framed requests: building the handlers' view of a request from the connection's
//! buffers, answering it or queueing its response slot in order, and running admin requests.

use std::collections::VecDeque;
use std::rc::Rc;

use super::{Chunked, Closing, Conn, Queued, Step};
use crate::http::response::ConnHeader;
use crate::http::{Framing, Head, Span, Version};
use crate::server::authz;
use crate::server::core::Core;
use crate::server::document::Scope;
use crate::server::handlers::forward;
use crate::server::handlers::{self, cache, Req, ReqFields, Routed};
use crate::server::request_id::{is_request_id, HeldId, IdFields, RequestId};
use crate::server::respond::Meta;
use crate::server::router::Route;
use crate::server::trace::parse_traceparent;

/// What the connection decided about one framed request, beside its head: where its body is
/// and how long the whole request is, its route, and the connection header of its answer.
pub(super) struct Frame {
    pub route: Route,
    pub conn: ConnHeader,
    pub body: std::ops::Range<usize>,
    pub total: usize,
    /// `Req::admin_elsewhere` (the connection's listener).
    pub admin_elsewhere: bool,
}

impl Conn {
    /// Dispatch one framed request: answered into the write buffer or queued in order.
    /// Synchronous, like [`Conn::frame_body`]; an admin request (rare) is left to [`Conn::admin`].
    #[inline]
    pub(super) fn answer(&mut self, c: &Rc<Core>, head: &Head, f: &Frame) -> Dispatched {
        let req = request(
            c,
            &self.rbuf,
            self.start,
            head,
            f,
            &self.chunk,
            self.tls_peer,
            &mut self.ids,
        );
        let direct = self.queue.is_empty();
        // An answer ready now (an error, health, OPTIONS) must still leave after the earlier
        // answers of this pipeline that are pending: written aside and queued in its place (the
        // side buffer allocates only then, never on the usual path).
        let mut aside = Vec::new();
        let out = if direct { &mut self.wbuf } else { &mut aside };
        let routed = handlers::dispatch(c, &req, direct, &mut self.key_buf, out);
        if !aside.is_empty() {
            self.queue.push_back(Queued::Written(aside));
        }
        match routed {
            Routed::Done => {}
            Routed::Remote(t, d) => self.queue.push_back(Queued::Remote(t, d)),
            Routed::Ready(r, d) => self.queue.push_back(Queued::Ready(r, d)),
            Routed::Replicate(r) => self.queue.push_back(Queued::Replicate(r)),
            Routed::Forward(peer) => {
                // Queued, not awaited: forwards of one pipeline leave in one batch.
                let f = forward::start(c, peer, &req);
                self.queue.push_back(Queued::Forward(Box::new(f)));
            }
            Routed::Admin => return Dispatched::Admin,
        }
        Dispatched::Done
    }

    /// Run an admin request after every earlier response; `Some(Step::Export)` streams an export
    /// (the request is already consumed then).
    pub(super) async fn admin(&mut self, c: &Rc<Core>, head: &Head, f: &Frame) -> Option<Step> {
        resolve(c, &mut self.queue, &mut self.wbuf).await;
        let req = request(
            c,
            &self.rbuf,
            self.start,
            head,
            f,
            &self.chunk,
            self.tls_peer,
            &mut self.ids,
        );
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

impl Conn {
    /// The body of a request is still to come: refuse it now when its credential cannot run
    /// it, rather than read (up to `limits.max_import_bytes` of) a body nobody will use. The
    /// answer closes the connection, since the body is not read. `None`: go on reading.
    pub(super) async fn refuse_before_body(
        &mut self,
        c: &Core,
        head: &Head,
        route: Route,
    ) -> Option<Step> {
        let base = self.start;
        let at = |s: Span| &self.rbuf[base + s.start()..base + s.end()];
        let need = authz::need(route, head.method);
        let auth = head.authorization.map(at);
        let v = c
            .authz
            .check(need, auth, head.forwarded, false, self.tls_peer);
        let refused = v.checked.refused?;
        resolve(c, &mut self.queue, &mut self.wbuf).await;
        let m = Meta {
            conn: ConnHeader::Close,
            head_only: head.method == crate::http::Method::Head,
            route: route.label(),
            method: crate::server::router::method_label(head.method),
            request_id: self.head_request_id(c, head),
        };
        authz::refuse(c, &mut self.wbuf, m, refused);
        self.closing = Some(Closing::Linger);
        Some(Step::Close)
    }

    /// The id of a request answered from its head alone (refused before its body is read):
    /// echoed like any other, held like any other until the batch is written.
    pub(super) fn head_request_id(&mut self, c: &Core, head: &Head) -> RequestId {
        // Its own id and trace; a passed-on client id (a peer's, for logs only) is not read here.
        ids_of(c, &self.rbuf, self.start, head, false, &mut self.ids).id
    }

    /// Answer a request whose body cannot be accepted (413, a malformed chunked body) and mark
    /// the connection for a lingering close: [`Conn::fail`] with the request's id echoed.
    pub(super) fn refuse_body(&mut self, c: &Core, head: &Head, status: u16, msg: &str) {
        let r = Meta {
            request_id: self.head_request_id(c, head),
            ..Meta::closing()
        };
        c.resp.error(&mut self.wbuf, r, status, msg, None, &[]);
        self.closing = Some(Closing::Linger);
    }
}

/// Encode, in order, every response still waiting for another core.
pub(super) async fn resolve(c: &Core, queue: &mut VecDeque<Queued>, wbuf: &mut Vec<u8>) {
    while let Some(q) = queue.pop_front() {
        finish_one(c, q, wbuf).await;
    }
}

/// Wait for one queued response and encode it (`resolve`, and `watch` for one at a time).
pub(super) async fn finish_one(c: &Core, q: Queued, wbuf: &mut Vec<u8>) {
    match q {
        Queued::Remote(mut t, d) => {
            let reply = t.wait().await;
            cache::finish(c, wbuf, d, reply);
        }
        Queued::Ready(reply, d) => cache::finish(c, wbuf, d, reply),
        Queued::Written(bytes) => wbuf.extend_from_slice(&bytes),
        Queued::Forward(f) => forward::finish(c, *f, wbuf).await,
        Queued::Replicate(r) => r.finish(c, wbuf).await,
    }
}

/// Whether [`Conn::answer`] finished the request or left an admin operation to run.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Dispatched {
    Done,
    Admin,
}

/// The request as the handlers see it, borrowed from the connection's buffers, with the
/// access check's verdict: who it is from (a peer?), and forwarding markers kept only from a
/// peer (a client's are dropped, so it is routed like any client request). Its id's table slot,
/// if it needs one, goes to `held` (see `server::request_id`). A `traceparent` that is not valid
/// is dropped here: not passed on, not logged.
#[inline]
#[allow(clippy::too_many_arguments)] // the connection's parts, borrowed separately
fn request<'a>(
    c: &Core,
    rbuf: &'a [u8],
    base: usize,
    head: &Head,
    f: &Frame,
    chunk: &'a Option<Chunked>,
    tls_peer: bool,
    held: &mut Vec<HeldId>,
) -> Req<'a> {
    let at = |s: Span| &rbuf[base + s.start()..base + s.end()];
    let v = c.authz.check(
        authz::need(f.route, head.method),
        head.authorization.map(at),
        head.forwarded,
        head.forwarded || head.cache_version.is_some(),
        tls_peer,
    );
    let ids = ids_of(c, rbuf, base, head, v.peer, held);
    Req {
        method: head.method,
        route: f.route,
        path: at(head.path),
        path_escaped: head.path_escaped,
        query: head.query.map(at),
        body: match chunk {
            Some(c) => &c.body,
            None => &rbuf[f.body.clone()],
        },
        has_body: head.framing != Framing::None,
        conn: f.conn,
        forwarded: head.forwarded && v.peer,
        peer: v.peer,
        tls_peer,
        request_id: ids.id,
        fields: ReqFields {
            content_type: head.optional.content_type.map(at),
            if_match: head.optional.if_match.map(at),
            if_none_match: head.optional.if_none_match.map(at),
            cache_ttl: head.optional.cache_ttl.map(at),
            traceparent: ids.traceparent,
            request_id: ids.own,
            client_request_id: ids.passed_on,
        },
        version: head
            .cache_version
            .filter(|_| v.peer)
            .and_then(|s| crate::storage::version::parse_hex(at(s))),
        auth: v.checked,
        admin_elsewhere: f.admin_elsewhere,
    }
}

/// A request's ids, as [`request`] puts them into `Req` (see `server::request_id`).
#[derive(Default)]
struct Ids<'a> {
    id: RequestId,
    /// `X-Request-Id` as sent.
    own: Option<&'a [u8]>,
    /// A valid `traceparent` (an invalid one is dropped: not passed on, not logged).
    traceparent: Option<&'a [u8]>,
    /// The client's id a peer passed on (a client's header of that name is ignored).
    passed_on: Option<&'a [u8]>,
}

/// The ids of the request whose `head` is at `rbuf[base..]`; a slot they need goes to `held`.
/// A request that sent none (most of them) costs three comparisons.
#[inline]
fn ids_of<'a>(
    c: &Core,
    rbuf: &'a [u8],
    base: usize,
    head: &Head,
    peer: bool,
    held: &mut Vec<HeldId>,
) -> Ids<'a> {
    let o = &head.optional;
    if head.request_id.is_none() && o.traceparent.is_none() && o.client_request_id.is_none() {
        return Ids::default();
    }
    sent_ids(c, rbuf, base, head, peer, held)
}

#[inline(never)]
fn sent_ids<'a>(
    c: &Core,
    rbuf: &'a [u8],
    base: usize,
    head: &Head,
    peer: bool,
    held: &mut Vec<HeldId>,
) -> Ids<'a> {
    let at = |s: Span| &rbuf[base + s.start()..base + s.end()];
    let traceparent = head.optional.traceparent.map(at);
    let trace = traceparent.and_then(parse_traceparent);
    let own = head.request_id.map(at);
    let passed_on = head.optional.client_request_id.map(at);
    let passed_on = passed_on.filter(|v| peer && is_request_id(v));
    let (id, hold) = c.resp.ids.register(IdFields {
        own,
        passed_on,
        trace,
    });
    held.extend(hold);
    Ids {
        id,
        own,
        traceparent: traceparent.filter(|_| trace.is_some()),
        passed_on,
    }
}
