//! Request handlers: what each route does, on top of the core's parts.
//!
//! [`dispatch`] answers what can be answered at once (errors, OPTIONS, health, a key on this
//! core) and tells the connection what to wait for otherwise ([`Routed`]): another core's reply,
//! a peer's answer, or an admin operation that needs every core (run by the connection in
//! order, so responses keep request order).

pub(super) mod admin;
pub(super) mod batch;
pub(super) mod cache;
pub(super) mod conditional;
pub(super) mod export;
pub(super) mod flush;
pub(super) mod forward;
pub(crate) mod fuzz;
pub(super) mod handover;
pub(super) mod hotkeys;
pub(crate) mod import;
pub(super) mod incr;
pub(super) mod invalidate;
pub(super) mod lease;
pub(super) mod members;
pub(super) mod replicate;
pub(super) mod sync;

use std::rc::Rc;

use super::authz::{self, Checked};
use super::core::Core;
use super::request_id::RequestId;
use super::respond::Meta;
use super::router::{cache_segment, incr_segment, method_label, Route};
use crate::http::response::{ConnHeader, CONTENT_JSON};
use crate::http::Method;
use crate::mesh::Ticket;
use crate::metrics::Trust;
use crate::storage::KeyReply;

/// One complete request as the handlers see it (borrowed from the connection's buffers).
pub(super) struct Req<'a> {
    pub method: Method,
    pub route: Route,
    /// The request path (origin-form, without the query).
    pub path: &'a [u8],
    /// The path holds a `%XX` escape (`Head::path_escaped`): else a key segment of it needs no
    /// decoding ([`super::router::parse_key_in`]).
    pub path_escaped: bool,
    pub body: &'a [u8],
    pub query: Option<&'a [u8]>,
    /// The request carried a Content-Length or chunked body (even an empty one).
    pub has_body: bool,
    pub conn: ConnHeader,
    /// Sent by a peer (`X-Cache-Forwarded`): serve here, never forward again. Only from a
    /// [`Req::peer`]; a client's marker is dropped (see `auth`).
    pub forwarded: bool,
    /// The request comes from another node of the cluster (it carried the cluster secret or a
    /// verified peer certificate, or, with neither configured, a forwarding marker as before).
    pub peer: bool,
    /// The connection's client presented a certificate verified against `tls.ca_file` while
    /// `tls.peer_client_certs` is on (set by the TLS accept): cluster-authenticated.
    pub tls_peer: bool,
    /// `X-Request-Id` (echoed as sent) and trace context; its numeric form is what peers match
    /// answers by (see `server::request_id`).
    pub request_id: RequestId,
    /// Optional header fields of the cache API, as sent (syntax checked where used).
    pub fields: ReqFields<'a>,
    /// `X-Cache-Version`: a replica copy from the key's coordinator, with its version. Only
    /// from a [`Req::peer`], like `forwarded`.
    pub version: Option<u64>,
    /// The access check's verdict (`authz::Checked`): refused, or admitted; markers dropped.
    pub auth: Checked,
    /// Received on `address` while `admin_address` is set: `/admin/*` is served there instead
    /// (see [`admin_moved`]).
    pub admin_elsewhere: bool,
}

/// The optional header values a request carried (`None` = absent), borrowed from the
/// connection's read buffer.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct ReqFields<'a> {
    pub content_type: Option<&'a [u8]>,
    pub if_match: Option<&'a [u8]>,
    pub if_none_match: Option<&'a [u8]>,
    /// `X-Cache-TTL`.
    pub cache_ttl: Option<&'a [u8]>,
    pub traceparent: Option<&'a [u8]>,
    /// `X-Request-Id` as sent (any well-formed id; [`Req::request_id`] is how it is echoed).
    pub request_id: Option<&'a [u8]>,
    /// `X-Cache-Client-Request-Id`: the client's id, passed on by the peer that forwarded or
    /// copied this request (only from a [`Req::peer`], well-formed).
    pub client_request_id: Option<&'a [u8]>,
}

impl Req<'_> {
    /// How this request's response is framed and counted.
    pub(super) fn meta(&self) -> Meta {
        Meta {
            conn: self.conn,
            head_only: self.method == Method::Head,
            route: self.route.label(),
            method: method_label(self.method),
            request_id: self.request_id,
        }
    }

    /// The id the client gave this request, as sent: its own `X-Request-Id`, or the client's id
    /// a peer passed on with it. Passed on again with forwards and replica copies.
    pub(super) fn client_id(&self) -> Option<&[u8]> {
        match self.fields.client_request_id {
            Some(id) => Some(id),
            None if !self.peer => self.fields.request_id,
            None => None,
        }
    }
}

/// What to remember about a key request whose answer comes later.
pub(super) struct Deferred {
    pub meta: Meta,
    pub key: crate::mesh::CallKey,
    pub kind: KeyKind,
    /// The write's version (0 for a read: the value's own version is in the reply).
    pub version: u64,
}

/// Which answer a key reply becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum KeyKind {
    Get,
    /// A read of a hot key's owner that granted a lease with it (`lease.rs`): the 200 says so.
    LeasedGet,
    /// A read on a stand-in (no replica of the key is routable): a miss here says nothing about
    /// the key, so it is answered 503, not 404.
    StandInGet,
    Put {
        ttl_s: Option<u64>,
    },
    Delete,
    /// `POST .../incr`: answered from its `KeyReply::Counted` (or why not).
    Incr,
    /// A GET of a key hot on this core sent to the owner core: answered like `Get`, and the
    /// value kept as this core's copy (`server::hot::local`).
    Fill(crate::server::hot::local::Fill),
    /// Not executed: the key's core has this core's whole share of `limits.max_queued_per_core`
    /// outstanding; answered 503 in its place in the pipeline (the reply is a placeholder).
    CoreBusy {
        core: u16,
    },
}

/// Outcome of dispatching one request.
pub(super) enum Routed {
    /// The response is already in the write buffer.
    Done,
    /// Another core is working on it.
    Remote(Ticket<KeyReply>, Deferred),
    /// Answered locally, but earlier responses are still pending: encode it after them.
    Ready(KeyReply, Deferred),
    /// An admin operation that needs every core; run by the connection in order.
    Admin,
    /// The key belongs to another node (ring index): forward the request there.
    Forward(usize),
    /// A write this node coordinates, waiting for its copies on the other replicas.
    Replicate(Box<replicate::Replicating>),
}

/// Route one request. `direct` says whether its response may be written now (no earlier response
/// of this connection is still pending). `key_buf` is the connection's reusable key buffer.
pub(super) fn dispatch(
    c: &Core,
    req: &Req<'_>,
    direct: bool,
    key_buf: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> Routed {
    let m = req.meta();
    let resp = &c.resp;
    if req.route == Route::Unknown {
        resp.error(out, m, 404, "no such route; see docs/api.md", None, &[]);
        return Routed::Done;
    }
    if admin_moved(req) {
        let msg = "/admin/* is served on admin_address, not on this address";
        resp.error(out, m, 404, msg, None, &[]);
        return Routed::Done;
    }
    // Built only for the answers that carry it (not on every request's path).
    let allow = |route: Route| [("Allow", route.allow().as_bytes())];
    if !req.route.allows(req.method) {
        let msg = "method not allowed on this resource";
        resp.error(out, m, 405, msg, None, &allow(req.route));
        return Routed::Done;
    }
    if req.method == Method::Options {
        resp.send(out, m, 204, CONTENT_JSON, b"", &allow(req.route));
        return Routed::Done;
    }
    // A verified peer certificate authenticates as the cluster secret does.
    debug_assert!(!req.tls_peer || req.peer, "a TLS peer is a peer");
    if req.auth.markers_ignored {
        resp.metrics.trust.inc(Trust::MarkersIgnored);
    }
    if let Some(r) = req.auth.refused {
        authz::refuse(c, out, m, r);
        return Routed::Done;
    }
    match req.route {
        Route::Cache => cache::handle(c, req, m, cache_segment(req.path), direct, key_buf, out),
        Route::Incr => incr::handle(c, req, incr_segment(req.path), key_buf, out),
        Route::Health => {
            admin::health(c, out, m);
            Routed::Done
        }
        Route::Index => {
            admin::index(c, out, m);
            Routed::Done
        }
        _ => Routed::Admin,
    }
}

/// With `admin_address` set, `/admin/*` is not served on `address`, except what the other nodes
/// use there during cluster exports, imports and flushes (`/admin/export?scope=local`,
/// `/admin/import`, `DELETE /admin/cache`).
fn admin_moved(req: &Req<'_>) -> bool {
    if !req.admin_elsewhere {
        return false;
    }
    match req.route {
        Route::Metrics | Route::Cluster | Route::HotKeys | Route::ClusterNodes => true,
        Route::Import | Route::Flush => !req.peer,
        Route::Export => !(req.peer && super::document::Scope::from_query(req.query).is_local()),
        _ => false,
    }
}

/// Run an admin request that needs every core (or the cluster), in request order. [`dispatch`]
/// admitted it already; the check is repeated so no path can reach an admin route around it.
pub(super) async fn run_admin(c: &Rc<Core>, req: &Req<'_>, out: &mut Vec<u8>) {
    let m = req.meta();
    if let Some(r) = req.auth.refused {
        return authz::refuse(c, out, m, r);
    }
    match req.route {
        Route::Metrics => admin::metrics(c, out, m).await,
        Route::Cluster => admin::cluster_info(c, out, m).await,
        Route::HotKeys => hotkeys::serve(c, out, m, req).await,
        Route::Import => import::handle(c, out, m, req).await,
        Route::InternalHealth => admin::internal_health(c, out, m).await,
        Route::SyncHints => sync::serve_hints(c, out, m, req).await,
        Route::SyncDigest => sync::serve_digest(c, out, m, req).await,
        Route::SyncFetch => sync::serve_fetch(c, out, m, req).await,
        Route::Leave => sync::peer_leaving(c, out, m, req),
        Route::SyncRequest => sync::catch_up_requested(c, out, m, req),
        Route::Ready => sync::peer_ready(c, out, m, req),
        Route::Batch => batch::run(c, out, m, req).await,
        Route::Flush => flush::run(c, out, m, req).await,
        Route::Invalidate => invalidate::serve(c, out, m, req),
        Route::ClusterNodes => members::admin_nodes(c, out, m, req).await,
        Route::Membership => members::membership(c, out, m, req),
        Route::Propose => members::propose(c, out, m, req).await,
        _ => c.resp.error(out, m, 404, "no such route", None, &[]),
    }
}
