//! Routing: maps a parsed request to its handler and a key to the core (later: node) that owns it.
//!
//! This is the only module that knows HTTP, storage and placement together. A key operation runs
//! in place when this core owns the key (the GET response is encoded straight from shard memory),
//! or is sent to the owning core as an owned message; the connection then awaits the ticket and
//! calls [`finish`] so responses stay in request order.

use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::api::{self, Reply as R};
use crate::http::response::{ConnHeader, CONTENT_JSON};
use crate::http::{decode_segment, Method};
use crate::mesh::Ticket;
use crate::metrics::{MethodLabel, RouteLabel};
use crate::ops::{op_put, Call, KeyOp, KeyReply, Reply};
use crate::worker::Worker;

/// Largest TTL accepted: ten years. Beyond that a TTL is almost certainly a unit mistake (ms vs s),
/// and the bound keeps `ttl * 1000` far from overflow.
pub const MAX_TTL_SECS: u64 = 10 * 365 * 24 * 3600;
/// Bytes a PUT body may carry beyond the value itself (`{"value":...,"ttl":...}` and whitespace).
pub const PUT_BODY_SLACK: usize = 4096;
/// Body limit for requests that carry no meaningful body (GET with a body is read and discarded).
pub const SMALL_BODY_LIMIT: usize = 64 * 1024;

const CACHE_PREFIX: &[u8] = b"/api/v1/cache/";

/// The resources this node serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    Health,
    /// `/api/v1/cache/{segment}`; the raw (still percent-encoded) segment is [`key_segment`].
    Cache,
    Metrics,
    Cluster,
    Export,
    Import,
    InternalHealth,
    Unknown,
}

/// The raw key segment of a cache path (everything after `/api/v1/cache/`).
pub fn key_segment(path: &[u8]) -> &[u8] {
    path.strip_prefix(CACHE_PREFIX).unwrap_or(b"")
}

impl Route {
    pub fn parse(path: &[u8]) -> Route {
        match path {
            b"/api/v1/health" | b"/health" => Route::Health,
            b"/admin/metrics" | b"/metrics" => Route::Metrics,
            b"/admin/cluster" => Route::Cluster,
            b"/admin/export" => Route::Export,
            b"/admin/import" => Route::Import,
            b"/internal/cluster/health" => Route::InternalHealth,
            b"/api/v1/cache" => Route::Cache,
            p if p.starts_with(CACHE_PREFIX) => Route::Cache,
            _ => Route::Unknown,
        }
    }

    pub fn label(self) -> RouteLabel {
        match self {
            Route::Health => RouteLabel::Health,
            Route::Cache => RouteLabel::Cache,
            Route::Metrics => RouteLabel::Metrics,
            Route::Cluster => RouteLabel::Cluster,
            Route::Export => RouteLabel::Export,
            Route::Import => RouteLabel::Import,
            Route::InternalHealth => RouteLabel::Internal,
            Route::Unknown => RouteLabel::Unknown,
        }
    }

    /// Methods allowed on this resource, as an `Allow` header value.
    pub fn allow(self) -> &'static str {
        match self {
            Route::Cache => "GET, HEAD, PUT, DELETE, OPTIONS",
            Route::Import => "POST, OPTIONS",
            Route::Unknown => "",
            _ => "GET, HEAD, OPTIONS",
        }
    }

    pub fn allows(self, m: Method) -> bool {
        match (self, m) {
            (_, Method::Options) => true,
            (Route::Cache, Method::Get | Method::Head | Method::Put | Method::Delete) => true,
            (Route::Import, Method::Post) => true,
            (Route::Cache | Route::Import | Route::Unknown, _) => false,
            (_, Method::Get | Method::Head) => true,
            _ => false,
        }
    }

    /// Largest body this route accepts (checked before the body is read, so 413 comes early).
    pub fn body_limit(self, w: &Worker) -> usize {
        match self {
            Route::Cache => w.cfg().max_value_bytes + PUT_BODY_SLACK,
            Route::Import => w.cfg().limits.max_import_bytes,
            _ => SMALL_BODY_LIMIT,
        }
    }
}

pub fn method_label(m: Method) -> MethodLabel {
    match m {
        Method::Get => MethodLabel::Get,
        Method::Head => MethodLabel::Head,
        Method::Put => MethodLabel::Put,
        Method::Post => MethodLabel::Post,
        Method::Delete => MethodLabel::Delete,
        _ => MethodLabel::Other,
    }
}

/// One complete request as the router sees it (borrowed from the connection's buffers).
pub struct Req<'a> {
    pub method: Method,
    pub route: Route,
    /// The request path (origin-form, without the query).
    pub path: &'a [u8],
    pub body: &'a [u8],
    pub query: Option<&'a [u8]>,
    /// The request carried a Content-Length or chunked body (even an empty one).
    pub has_body: bool,
    pub conn: ConnHeader,
    /// Sent by a peer (`X-Cache-Forwarded`): serve here, never forward again.
    pub forwarded: bool,
    /// Numeric `X-Request-Id` to echo (0 = none).
    pub request_id: u64,
}

impl Req<'_> {
    pub fn reply(&self) -> R {
        R {
            conn: self.conn,
            head_only: self.method == Method::Head,
            route: self.route.label(),
            method: method_label(self.method),
            request_id: self.request_id,
        }
    }
}

/// What to remember about a key request whose answer comes later.
pub struct Deferred {
    pub reply: R,
    pub key: Bytes,
    pub kind: KeyKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    Get,
    Put { ttl_s: Option<u64> },
    Delete,
}

/// Outcome of dispatching one request.
pub enum Routed {
    /// The response is already in the write buffer.
    Done,
    /// Another core is working on it.
    Remote(Ticket<Reply>, Deferred),
    /// Answered locally, but earlier responses are still pending: encode it after them.
    Ready(Reply, Deferred),
    /// An admin operation that needs every core; run by the connection in order.
    Admin,
    /// The key belongs to another node (ring index): forward the request there.
    Forward(usize),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PutBody<'a> {
    #[serde(borrow)]
    value: &'a RawValue,
    #[serde(default)]
    ttl: Option<u64>,
}

/// Route one request. `direct` says whether its response may be written now (no earlier response
/// of this connection is still pending). `key_buf` is the connection's reusable key buffer.
pub fn dispatch(
    w: &Worker,
    req: &Req<'_>,
    direct: bool,
    key_buf: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> Routed {
    let r = req.reply();
    if req.route == Route::Unknown {
        api::error(w, out, r, 404, "no such route; see docs/api.md", None, &[]);
        return Routed::Done;
    }
    if !req.route.allows(req.method) {
        let allow = req.route.allow();
        api::error(
            w,
            out,
            r,
            405,
            "method not allowed on this resource",
            None,
            &[("Allow", allow.as_bytes())],
        );
        return Routed::Done;
    }
    if req.method == Method::Options {
        api::send(
            w,
            out,
            r,
            204,
            CONTENT_JSON,
            b"",
            &[("Allow", req.route.allow().as_bytes())],
        );
        return Routed::Done;
    }
    match req.route {
        Route::Cache => cache(w, req, key_segment(req.path), direct, key_buf, out),
        Route::Health => {
            crate::admin::health(w, out, r);
            Routed::Done
        }
        _ => Routed::Admin,
    }
}

fn cache(
    w: &Worker,
    req: &Req<'_>,
    seg: &[u8],
    direct: bool,
    key_buf: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> Routed {
    let r = req.reply();
    if let Err(e) = decode_segment(seg, key_buf) {
        api::error(w, out, r, e.status(), e.message(), None, &[]);
        return Routed::Done;
    }
    let key: &[u8] = key_buf;
    if key.is_empty() {
        api::error(
            w,
            out,
            r,
            400,
            "empty key: use /api/v1/cache/{key}",
            None,
            &[],
        );
        return Routed::Done;
    }
    if key.iter().all(|&b| b == b'/') {
        api::error(
            w,
            out,
            r,
            400,
            "key made only of '/' is not allowed",
            None,
            &[],
        );
        return Routed::Done;
    }
    if seg.contains(&b'/') {
        api::error(
            w,
            out,
            r,
            400,
            "key must be one path segment: encode '/' as %2F",
            None,
            &[],
        );
        return Routed::Done;
    }
    if key.len() > w.cfg().max_key_bytes {
        api::error(w, out, r, 414, "key longer than max_key_bytes", None, &[]);
        return Routed::Done;
    }
    if std::str::from_utf8(key).is_err() {
        api::error(
            w,
            out,
            r,
            400,
            "key is not valid UTF-8 after percent-decoding",
            None,
            &[],
        );
        return Routed::Done;
    }
    let cl = &w.shared.cluster;
    if !cl.is_standalone() {
        let owner = cl.owner(key);
        if owner != cl.me {
            if !req.forwarded {
                return Routed::Forward(owner);
            }
            // A peer with another view of the ring sent it here: serve it (never forward twice),
            // and let the next sweep hand a stored copy to its owner.
            if req.method == Method::Put {
                w.foreign_keys.set(true);
            }
        }
    }
    let (op, kind) = match req.method {
        Method::Get | Method::Head => (KeyOp::Get, KeyKind::Get),
        Method::Delete => (KeyOp::Delete, KeyKind::Delete),
        Method::Put => {
            if !req.has_body {
                api::error(
                    w,
                    out,
                    r,
                    411,
                    "PUT needs a JSON body with Content-Length or chunked encoding",
                    Some(key),
                    &[],
                );
                return Routed::Done;
            }
            let body: PutBody<'_> = match serde_json::from_slice(req.body) {
                Ok(b) => b,
                Err(e) => {
                    let msg = format!("invalid JSON body: {e}; expected {{\"value\": <any JSON>, \"ttl\": <seconds>}}");
                    api::error(w, out, r, 400, &msg, Some(key), &[]);
                    return Routed::Done;
                }
            };
            let mut minified = w.value_buf.borrow_mut();
            let mut raw = body.value.get().as_bytes();
            match crate::json::check(raw) {
                Ok(false) => {}
                Ok(true) => {
                    crate::json::minify(raw, &mut minified);
                    raw = &minified;
                }
                Err(why) => {
                    api::error(
                        w,
                        out,
                        r,
                        400,
                        &format!("invalid JSON value: {why}"),
                        Some(key),
                        &[],
                    );
                    return Routed::Done;
                }
            }
            if raw.len() > w.cfg().max_value_bytes {
                api::error(
                    w,
                    out,
                    r,
                    413,
                    "value larger than max_value_bytes",
                    Some(key),
                    &[],
                );
                return Routed::Done;
            }
            let ttl_s = match body.ttl {
                Some(t) if t > MAX_TTL_SECS => {
                    api::error(
                        w,
                        out,
                        r,
                        400,
                        "ttl larger than ten years (ttl is in seconds)",
                        Some(key),
                        &[],
                    );
                    return Routed::Done;
                }
                Some(0) | None => None,
                Some(t) => Some(t),
            };
            let ttl_ms = ttl_s.map(|t| t * 1000);
            let core = w.shared.core_of(key);
            if core == w.core && direct {
                let res = op_put(&mut w.shard.borrow_mut(), key, raw, ttl_ms, w.now_ms());
                finish_key(w, out, r, key, KeyKind::Put { ttl_s }, res);
                return Routed::Done;
            }
            (
                KeyOp::Put {
                    value: Bytes::copy_from_slice(raw),
                    ttl_ms,
                },
                KeyKind::Put { ttl_s },
            )
        }
        _ => unreachable_method(w, out, r),
    };
    let core = w.shared.core_of(key);
    if core == w.core {
        if direct && kind == KeyKind::Get {
            // Hot path: encode the value straight from shard memory, no copy.
            let mut shard = w.shard.borrow_mut();
            match shard.get(key, w.now_ms()) {
                Some((v, ttl_ms)) => api::value(w, out, r, key, v, ttl_ms),
                None => api::miss(w, out, r, key),
            }
            return Routed::Done;
        }
        let reply = w.execute(Call::Key {
            op,
            key: Bytes::copy_from_slice(key),
        });
        if direct {
            finish(
                w,
                out,
                Deferred {
                    reply: r,
                    key: Bytes::new(),
                    kind,
                },
                reply,
                key,
            );
            return Routed::Done;
        }
        let key = Bytes::copy_from_slice(key);
        return Routed::Ready(
            reply,
            Deferred {
                reply: r,
                key,
                kind,
            },
        );
    }
    let key = Bytes::copy_from_slice(key);
    crate::metrics::inc(&w.metrics.cross_core_calls);
    let ticket = w.call(
        core,
        Call::Key {
            op,
            key: key.clone(),
        },
    );
    Routed::Remote(
        ticket,
        Deferred {
            reply: r,
            key,
            kind,
        },
    )
}

fn unreachable_method(w: &Worker, out: &mut Vec<u8>, r: R) -> (KeyOp, KeyKind) {
    // `allows` admitted only GET/HEAD/PUT/DELETE here; answer 405 rather than panic if that changes.
    api::error(
        w,
        out,
        r,
        405,
        "method not allowed on this resource",
        None,
        &[],
    );
    (KeyOp::Get, KeyKind::Get)
}

/// Encode the response for a key request answered by `reply`. `key` overrides `d.key` when given
/// non-empty (the local path passes the borrowed key to avoid a copy).
pub fn finish(w: &Worker, out: &mut Vec<u8>, d: Deferred, reply: Reply, key: &[u8]) {
    let key = if key.is_empty() { &d.key[..] } else { key };
    match reply {
        Reply::Key(k) => finish_key(w, out, d.reply, key, d.kind, k),
        _ => api::error(
            w,
            out,
            d.reply,
            500,
            "internal error: unexpected reply from shard",
            Some(key),
            &[],
        ),
    }
}

fn finish_key(w: &Worker, out: &mut Vec<u8>, r: R, key: &[u8], kind: KeyKind, reply: KeyReply) {
    match (kind, reply) {
        (_, KeyReply::Value { value, ttl_ms }) => api::value(w, out, r, key, &value, ttl_ms),
        (KeyKind::Delete, KeyReply::Deleted(true)) => api::deleted(w, out, r, key),
        (_, KeyReply::Miss | KeyReply::Deleted(false)) => api::miss(w, out, r, key),
        (KeyKind::Put { ttl_s }, KeyReply::Stored { created }) => {
            api::stored(w, out, r, key, created, ttl_s)
        }
        (_, KeyReply::TooLarge) => api::error(
            w,
            out,
            r,
            507,
            "entry larger than this node's memory limit per core",
            Some(key),
            &[],
        ),
        _ => api::error(
            w,
            out,
            r,
            500,
            "internal error: reply does not match request",
            Some(key),
            &[],
        ),
    }
}
