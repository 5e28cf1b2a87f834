//! Routing and request validation: pure functions from request bytes to typed requests.
//!
//! [`Route::parse`] names the resource; [`parse_key`] and [`parse_action`] turn a cache request
//! into a validated key and a [`KeyAction`], or a [`RequestError`] that maps to exactly one status
//! in one place ([`RequestError::status`]). Nothing here does I/O, touches a shard or knows the
//! cluster, so every rule is unit-tested without sockets (below). Executing the request is the
//! cache handler's job (`handlers::cache`).

use std::borrow::Cow;

use crate::http::{decode_segment_borrowed, Method};
use crate::metrics::{MethodLabel, RouteLabel};

/// Largest TTL accepted: ten years. Beyond that a TTL is almost certainly a unit mistake (ms vs s),
/// and the bound keeps `ttl * 1000` far from overflow.
pub(super) const MAX_TTL_SECS: u64 = 10 * 365 * 24 * 3600;
/// Bytes a PUT body may carry beyond the value itself (`{"value":...,"ttl":...}` and whitespace).
pub(super) const PUT_BODY_SLACK: usize = 4096;
/// Body limit for requests that carry no meaningful body (GET with a body is read and discarded).
pub(super) const SMALL_BODY_LIMIT: usize = 64 * 1024;

const CACHE_PREFIX: &[u8] = b"/api/v1/cache/";

#[path = "router_put.rs"]
mod put;
pub(super) use put::{check_content_type, copy_ttl_header, PutFields, TTL_HEADER_BYTES};

/// The resources this node serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Route {
    /// `GET /`: a short JSON index of the API (newcomers try the root first).
    Index,
    Health,
    /// `/api/v1/cache/{segment}`; the raw (still percent-encoded) segment is [`key_segment`].
    Cache,
    Metrics,
    Cluster,
    Export,
    Import,
    InternalHealth,
    /// `POST /internal/sync/hints?node=ID`: a peer catching up takes its hints.
    SyncHints,
    /// `POST /internal/sync/digest?node=ID`: repair digests of the keys both nodes replicate.
    SyncDigest,
    /// `POST /internal/sync/fetch?node=ID`: the entries of the buckets whose digests differ.
    SyncFetch,
    /// `POST /internal/cluster/leave?node=ID`: a peer is draining.
    Leave,
    /// `POST /internal/sync/request?node=ID`: a peer saw this node down; catch up.
    SyncRequest,
    /// `POST /internal/cluster/ready?node=ID`: a peer finished catching up and serves again.
    Ready,
    /// `POST /api/v1/cache/{segment}/incr`: add to an integer value ([`incr_segment`]).
    Incr,
    /// `POST /api/v1/batch`: several key operations in one request.
    Batch,
    /// `DELETE /admin/cache[?prefix=P]`: delete every key (with that prefix) cluster-wide.
    Flush,
    /// `POST /internal/invalidate?v=V`: a hot key this node holds a copy of was written.
    Invalidate,
    /// `GET /admin/hotkeys[?limit=N]`: the keys this node reads most (issue 13).
    HotKeys,
    /// `POST /admin/cluster/nodes` (add a member), `GET|DELETE /admin/cluster/nodes/{id}` (its
    /// state; remove it).
    ClusterNodes,
    /// `GET|POST /internal/cluster/membership`: a node's membership document; push a newer one.
    Membership,
    /// `POST /internal/cluster/propose?op=join|leave`: a membership change for the leader.
    Propose,
    Unknown,
}

const INCR_SUFFIX: &[u8] = b"/incr";
/// `/admin/cluster/nodes/{node_id}`.
pub(super) const NODES_PREFIX: &[u8] = b"/admin/cluster/nodes/";

/// The `name=value` pairs of a query, as sent (not percent-decoded); a parameter without `=` has
/// an empty value, empty pairs (`?` alone, `a&&b`) are skipped. The strict admin queries check
/// names and repetitions themselves.
pub(super) fn query_pairs(q: Option<&[u8]>) -> impl Iterator<Item = (&[u8], &[u8])> {
    q.unwrap_or_default()
        .split(|&b| b == b'&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.iter().position(|&b| b == b'=') {
            Some(i) => (&p[..i], &p[i + 1..]),
            None => (p, &b""[..]),
        })
}

/// The raw key segment of a cache path (everything after `/api/v1/cache/`).
#[inline]
pub(super) fn key_segment(path: &[u8]) -> &[u8] {
    path.strip_prefix(CACHE_PREFIX).unwrap_or(b"")
}

/// [`key_segment`] of a path already routed to [`Route::Cache`]: that route is only
/// `/api/v1/cache/{segment}` or `/api/v1/cache` itself, so the prefix needs no second
/// comparison (a dozen instructions on every key request).
#[inline]
pub(super) fn cache_segment(path: &[u8]) -> &[u8] {
    debug_assert_eq!(
        Route::parse(path),
        Route::Cache,
        "{path:?} is not a cache path"
    );
    let seg = path.get(CACHE_PREFIX.len()..).unwrap_or(b"");
    debug_assert_eq!(seg, key_segment(path));
    seg
}

/// The raw key segment of an incr path (`/api/v1/cache/{segment}/incr`); a key that ends in
/// `/incr` itself is sent with its `/` as `%2F`, so the split is unambiguous.
#[inline]
pub(super) fn incr_segment(path: &[u8]) -> &[u8] {
    key_segment(path).strip_suffix(INCR_SUFFIX).unwrap_or(b"")
}

impl Route {
    pub(super) fn parse(path: &[u8]) -> Route {
        // The key routes first: nearly every request is one, and no other route starts so.
        if path.starts_with(CACHE_PREFIX) {
            // The suffix first: a key request's path rarely ends so.
            return if path.ends_with(INCR_SUFFIX) && is_incr(path) {
                Route::Incr
            } else {
                Route::Cache
            };
        }
        match path {
            b"/" => Route::Index,
            b"/api/v1/health" | b"/health" => Route::Health,
            b"/admin/metrics" | b"/metrics" => Route::Metrics,
            b"/admin/cluster" => Route::Cluster,
            b"/admin/hotkeys" => Route::HotKeys,
            b"/admin/export" => Route::Export,
            b"/admin/import" => Route::Import,
            b"/internal/cluster/health" => Route::InternalHealth,
            b"/internal/sync/hints" => Route::SyncHints,
            b"/internal/sync/digest" => Route::SyncDigest,
            b"/internal/sync/fetch" => Route::SyncFetch,
            b"/internal/cluster/leave" => Route::Leave,
            b"/internal/sync/request" => Route::SyncRequest,
            b"/internal/cluster/ready" => Route::Ready,
            b"/internal/invalidate" => Route::Invalidate,
            b"/internal/cluster/membership" => Route::Membership,
            b"/internal/cluster/propose" => Route::Propose,
            b"/admin/cluster/nodes" => Route::ClusterNodes,
            p if p.starts_with(NODES_PREFIX) => Route::ClusterNodes,
            b"/api/v1/cache" => Route::Cache,
            b"/api/v1/batch" => Route::Batch,
            b"/admin/cache" => Route::Flush,
            _ => Route::Unknown,
        }
    }

    /// The label requests of this route are counted under in the metrics.
    pub(super) fn label(self) -> RouteLabel {
        match self {
            // A static document nobody polls: counted with health (the other static answer)
            // rather than growing every series family by a route label of its own.
            Route::Index => RouteLabel::Health,
            Route::Health => RouteLabel::Health,
            Route::Cache | Route::Incr => RouteLabel::Cache,
            Route::Batch => RouteLabel::Batch,
            Route::Flush => RouteLabel::Flush,
            Route::Metrics => RouteLabel::Metrics,
            // An admin read like cluster info: no label of its own (bounded series).
            Route::Cluster | Route::HotKeys | Route::ClusterNodes => RouteLabel::Cluster,
            Route::Export => RouteLabel::Export,
            Route::Import => RouteLabel::Import,
            Route::InternalHealth
            | Route::SyncHints
            | Route::SyncDigest
            | Route::SyncFetch
            | Route::Leave
            | Route::SyncRequest
            | Route::Ready
            | Route::Invalidate
            | Route::Membership
            | Route::Propose => RouteLabel::Internal,
            Route::Unknown => RouteLabel::Unknown,
        }
    }

    /// Methods allowed on this resource, as an `Allow` header value.
    pub(super) fn allow(self) -> &'static str {
        match self {
            Route::Cache => "GET, HEAD, PUT, DELETE, OPTIONS",
            Route::Flush => "DELETE, OPTIONS",
            Route::Import
            | Route::Incr
            | Route::Batch
            | Route::SyncHints
            | Route::SyncDigest
            | Route::SyncFetch
            | Route::Leave
            | Route::Invalidate
            | Route::Propose => "POST, OPTIONS",
            Route::ClusterNodes => "GET, HEAD, POST, DELETE, OPTIONS",
            Route::Membership => "GET, HEAD, POST, OPTIONS",
            Route::Unknown => "",
            _ => "GET, HEAD, OPTIONS",
        }
    }

    pub(super) fn allows(self, m: Method) -> bool {
        match (self, m) {
            (_, Method::Options) => true,
            (Route::Cache, Method::Get | Method::Head | Method::Put | Method::Delete) => true,
            (
                Route::Import | Route::SyncHints | Route::SyncDigest | Route::SyncFetch,
                Method::Post,
            ) => true,
            (
                Route::Leave | Route::SyncRequest | Route::Ready | Route::Invalidate,
                Method::Post,
            ) => true,
            (Route::Incr | Route::Batch, Method::Post) | (Route::Flush, Method::Delete) => true,
            (Route::ClusterNodes, Method::Post | Method::Delete) => true,
            (Route::Membership | Route::Propose, Method::Post) => true,
            (Route::Propose, _) => false,
            (
                Route::Cache
                | Route::Incr
                | Route::Batch
                | Route::Flush
                | Route::Import
                | Route::SyncHints
                | Route::SyncDigest
                | Route::SyncFetch
                | Route::Leave
                | Route::SyncRequest
                | Route::Ready
                | Route::Invalidate
                | Route::Unknown,
                _,
            ) => false,
            (_, Method::Get | Method::Head) => true,
            _ => false,
        }
    }

    /// Largest body this route accepts (checked before the body is read, so 413 comes early).
    pub(super) fn body_limit(self, max_value_bytes: usize, max_import_bytes: usize) -> usize {
        match self {
            Route::Cache => max_value_bytes + PUT_BODY_SLACK,
            // A batch carries many values: bounded like an import (its item count is checked
            // once parsed).
            Route::Batch => max_import_bytes,
            Route::Import | Route::SyncDigest | Route::SyncFetch => max_import_bytes,
            Route::Membership => crate::cluster::membership::MAX_DOC_BYTES,
            _ => SMALL_BODY_LIMIT,
        }
    }
}

/// `/api/v1/cache/{segment}/incr` with a non-empty segment that has no raw `/`.
fn is_incr(path: &[u8]) -> bool {
    let seg = incr_segment(path);
    !seg.is_empty() && !seg.contains(&b'/')
}

pub(super) fn method_label(m: Method) -> MethodLabel {
    match m {
        Method::Get => MethodLabel::Get,
        Method::Head => MethodLabel::Head,
        Method::Put => MethodLabel::Put,
        Method::Post => MethodLabel::Post,
        Method::Delete => MethodLabel::Delete,
        _ => MethodLabel::Other,
    }
}

/// The limits a key request is checked against (from the config).
#[derive(Clone, Copy, Debug)]
pub(super) struct KeyLimits {
    pub max_key_bytes: usize,
    pub max_value_bytes: usize,
}

/// A cache request that cannot be served as sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum RequestError {
    /// 400: the key or body is malformed; the text says how.
    Bad(Cow<'static, str>),
    /// 411: a PUT without a body.
    LengthRequired,
    /// 413: the value is larger than `max_value_bytes`.
    ValueTooLarge,
    /// 414: the key is longer than `max_key_bytes`.
    KeyTooLong,
    /// 415: a raw value's content type cannot be stored (the text says why).
    Unsupported(Cow<'static, str>),
    /// 405: a method `Route::allows` let through but the cache does not serve.
    Method,
}

impl RequestError {
    /// The one place a request error becomes a status.
    pub(super) fn status(&self) -> u16 {
        match self {
            RequestError::Bad(_) => 400,
            RequestError::LengthRequired => 411,
            RequestError::ValueTooLarge => 413,
            RequestError::KeyTooLong => 414,
            RequestError::Unsupported(_) => 415,
            RequestError::Method => 405,
        }
    }

    pub(super) fn message(&self) -> &str {
        match self {
            RequestError::Bad(m) | RequestError::Unsupported(m) => m,
            RequestError::LengthRequired => {
                "PUT needs a JSON body with Content-Length or chunked encoding"
            }
            RequestError::ValueTooLarge => "value larger than max_value_bytes",
            RequestError::KeyTooLong => "key longer than max_key_bytes",
            RequestError::Method => "method not allowed on this resource",
        }
    }
}

fn bad(msg: &'static str) -> RequestError {
    RequestError::Bad(Cow::Borrowed(msg))
}

/// [`parse_key`] for a segment of a path the head parser read: when the path has no escape
/// (`escaped` false, `Head::path_escaped`), every byte of it is a path literal, so a non-empty
/// segment without `/` within the length limit is its own key, with nothing to decode or check
/// again (the segment's second scan was ~3 % of a pipelined GET hit). Everything else is
/// [`parse_key`]'s, errors included; a test holds the two to one answer.
#[inline(always)]
pub(super) fn parse_key_in<'k>(
    seg: &'k [u8],
    escaped: bool,
    key_buf: &'k mut Vec<u8>,
    limits: KeyLimits,
) -> Result<&'k [u8], RequestError> {
    if !escaped && !seg.is_empty() && seg.len() <= limits.max_key_bytes && !has_slash(seg) {
        return Ok(seg);
    }
    parse_key(seg, key_buf, limits)
}

/// Whether `s` holds a `/`, eight bytes at a time. `contains` looks at a slice shorter than 16
/// bytes (most keys) one byte at a time: ~50 instructions for a 9-byte key, on every key
/// request. Here a key of 8 to 16 bytes takes two overlapping 8-byte words.
#[inline]
pub(super) fn has_slash(s: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const SLASHES: u64 = u64::from_ne_bytes([b'/'; 8]);
    // Some byte of `w` is `/` iff some byte of `w ^ SLASHES` is zero; `(x - ONES) & !x` has
    // the high bit of a byte set for a zero byte (borrows may mark a later byte too, but only
    // after a zero one), never without one.
    let any = |w: &[u8]| {
        let x = u64::from_ne_bytes(w.try_into().unwrap_or([0; 8])) ^ SLASHES;
        x.wrapping_sub(ONES) & !x & (ONES << 7) != 0
    };
    if s.len() < 8 {
        return s.contains(&b'/');
    }
    let mut words = s.chunks_exact(8);
    // The last (partial) chunk is covered by the last 8 bytes, read again.
    words.any(any) || any(&s[s.len() - 8..])
}

/// Decode and check the key of a cache path: the segment itself when it has no escape, else
/// its decoding in `key_buf`.
#[inline(always)]
pub(super) fn parse_key<'k>(
    seg: &'k [u8],
    key_buf: &'k mut Vec<u8>,
    limits: KeyLimits,
) -> Result<&'k [u8], RequestError> {
    let key = match decode_segment_borrowed(seg, key_buf) {
        Ok(key) => key,
        Err(e) => return Err(key_error(seg, e)),
    };
    if key.is_empty() {
        return Err(bad("empty key: use /api/v1/cache/{key}"));
    }
    if key.iter().all(|&b| b == b'/') {
        return Err(bad("key made only of '/' is not allowed"));
    }
    if key.len() > limits.max_key_bytes {
        return Err(RequestError::KeyTooLong);
    }
    if !key.is_ascii() && std::str::from_utf8(key).is_err() {
        return Err(bad("key is not valid UTF-8 after percent-decoding"));
    }
    Ok(key)
}

/// Why a segment is no key, in words that tell the user what to send instead.
fn key_error(seg: &[u8], e: crate::http::ParseError) -> RequestError {
    // The decoder refuses a raw '/' (always) as just "a byte not allowed".
    if seg.contains(&b'/') {
        return bad(
            "key must be one path segment: send a '/' in a key as %2F (e.g. /api/v1/cache/a%2Fb)",
        );
    }
    bad(e.message())
}

/// What a valid cache request does to its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum KeyAction<'v> {
    /// GET, or HEAD (the same answer without a body).
    Get,
    Delete,
    /// The stored form (`storage::value`) is `head` then `value`: minified JSON (`head` empty),
    /// or a raw value's header with its content type (`head`) and the request body (`value`),
    /// kept apart so the body is copied once, into the slot; `ttl_s` is `None` for no expiry
    /// (`ttl` absent or 0).
    Put {
        head: &'v [u8],
        value: &'v [u8],
        ttl_s: Option<u64>,
    },
}

/// Check a cache request's method and body. A PUT's value comes back in its stored form: a
/// JSON value minified into `value_buf` when it holds insignificant whitespace, else borrowed
/// from `body`; a raw value (any other Content-Type, see `router_put.rs`) is `body` with its
/// stored header (content type) written into `value_buf`.
pub(super) fn parse_action<'v>(
    method: Method,
    body: &'v [u8],
    has_body: bool,
    put: PutFields<'_>,
    limits: KeyLimits,
    value_buf: &'v mut Vec<u8>,
) -> Result<KeyAction<'v>, RequestError> {
    match method {
        Method::Get | Method::Head => Ok(KeyAction::Get),
        Method::Delete => Ok(KeyAction::Delete),
        Method::Put if !has_body => Err(RequestError::LengthRequired),
        Method::Put => put::parse_put(body, put, limits, value_buf),
        _ => Err(RequestError::Method),
    }
}

#[cfg(test)]
#[path = "router_tests.rs"]
mod tests;
