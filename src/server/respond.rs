//! The response part of a core: encodes JSON answers straight into a connection's write buffer
//! and counts them.
//!
//! All errors share one shape, `{"error":"...","status":N}` plus `"key"` where a key is involved,
//! produced by [`Responder::error`]; every response names the node that produced it in
//! `X-Cache-Node` and echoes the request's `X-Request-Id` as sent, and every 503 carries
//! `Retry-After` (`respond_ids.rs`). The `Date` header comes from a per-core cache refreshed
//! once a second.

use crate::http::response::{
    encode_head, json_escape, json_escaped_len, BodyLength, ConnHeader, CONTENT_JSON,
};
use std::cell::RefCell;
use std::rc::Rc;

use bytes::Bytes;

use super::request_id::{RequestId, RequestIds};
use crate::http::response::{format_http_date, DateCache};
use crate::metrics::{CoreMetrics, MethodLabel, RouteLabel};
use crate::storage::value::Stored;
pub(crate) use ids::{MAX_EXTRA_HEADERS, RETRY_AFTER};

#[path = "respond_caching.rs"]
mod caching;
#[path = "respond_head.rs"]
mod head;
#[path = "respond_ids.rs"]
mod ids;
#[path = "respond_memo.rs"]
mod memo;
use caching::{raw_content_type, Headers, HTTP_DATE_BYTES};

/// How one response must be framed and counted.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Meta {
    pub conn: ConnHeader,
    /// HEAD: same headers as GET, no body.
    pub head_only: bool,
    pub route: RouteLabel,
    pub method: MethodLabel,
    /// The request's `X-Request-Id` (echoed as sent) and trace context (logged): peers match
    /// answers to their forwards by its numeric form (see `server::request_id`).
    pub request_id: RequestId,
}

impl Meta {
    /// A response to a request that could not be framed or routed (the connection closes).
    pub(crate) fn closing() -> Meta {
        Meta {
            conn: ConnHeader::Close,
            head_only: false,
            route: RouteLabel::Unknown,
            method: MethodLabel::Other,
            request_id: RequestId::NONE,
        }
    }
}

/// Encodes and counts this core's responses.
pub(crate) struct Responder {
    /// Node id as a header value, ready to copy.
    pub node_header: Bytes,
    pub date: RefCell<DateCache>,
    /// Reusable buffer for small response bodies (never held across an await), so error and
    /// acknowledgement responses allocate nothing per request.
    scratch: RefCell<Vec<u8>>,
    pub metrics: CoreMetrics,
    access: AccessSampler,
    /// This core's request ids that are not numbers, and trace contexts.
    pub ids: Rc<RequestIds>,
    /// `Cache-Control` of a value without TTL (config `cache_control_no_ttl`; empty = none).
    cache_control_no_ttl: Bytes,
    /// The last `Last-Modified` formatted (its Unix second and text): a hot key, or keys
    /// written in the same second, reuse it.
    last_modified: std::cell::Cell<(u64, [u8; HTTP_DATE_BYTES])>,
    /// Set while a connection answers a batch: `date` was refreshed at the batch's start, so
    /// its responses take it without reading the clock again ([`Self::pin_date`]).
    date_pinned: std::cell::Cell<bool>,
    /// The prepared head of a `200` JSON answer (`respond_head.rs`).
    json_ok: RefCell<head::JsonOkHead>,
    /// The last answers of values, sent again while nothing in them changed (`respond_memo.rs`).
    memo: RefCell<memo::AnswerMemo>,
}

/// The sampled access log: one line for every `every`-th response of this core (0 = off).
/// A counter, not a random draw: cheap, and over any window the rate is exact.
struct AccessSampler {
    every: u64,
    seen: std::cell::Cell<u64>,
}

impl AccessSampler {
    /// Count one response; true when it is the one to log.
    #[inline]
    fn pick(&self) -> bool {
        if self.every == 0 {
            return false;
        }
        let n = self.seen.get() + 1;
        self.seen.set(if n >= self.every { 0 } else { n });
        n >= self.every
    }
}

/// Initial room of the scratch buffer: an error or acknowledgement body.
const SCRATCH_INITIAL: usize = 256;

impl Responder {
    /// `cache_control_no_ttl`: the config's `Cache-Control` for values without TTL (`none` or
    /// empty: no header).
    pub(crate) fn new(
        node_id: &str,
        metrics: CoreMetrics,
        access_log_every: u64,
        cache_control_no_ttl: &str,
    ) -> Responder {
        let no_ttl = match cache_control_no_ttl {
            crate::config::CACHE_CONTROL_NONE => "",
            v => v,
        };
        Responder {
            node_header: Bytes::copy_from_slice(node_id.as_bytes()),
            date: RefCell::new(DateCache::default()),
            scratch: RefCell::new(Vec::with_capacity(SCRATCH_INITIAL)),
            metrics,
            ids: Rc::default(),
            access: AccessSampler {
                every: access_log_every,
                seen: std::cell::Cell::new(0),
            },
            cache_control_no_ttl: Bytes::copy_from_slice(no_ttl.as_bytes()),
            last_modified: std::cell::Cell::new((0, format_http_date(0))),
            date_pinned: std::cell::Cell::new(false),
            json_ok: RefCell::new(head::JsonOkHead::new(node_id.as_bytes())),
            memo: RefCell::default(),
        }
    }

    /// Count a response in the metrics and, when sampled, in the access log.
    #[inline]
    pub(crate) fn count(&self, r: Meta, status: u16) {
        self.metrics.request(r.route, r.method, status);
        if self.access.pick() {
            self.log_access(r, status);
        }
    }

    /// Encode a complete response with `body`. Extra headers follow the standard ones.
    pub(crate) fn send(
        &self,
        out: &mut Vec<u8>,
        r: Meta,
        status: u16,
        content_type: &str,
        body: &[u8],
        extra: &[(&str, &[u8])],
    ) {
        self.head(out, r, status, content_type, body.len(), extra);
        if !r.head_only {
            out.extend_from_slice(body);
        }
    }

    /// Encode the head only (the caller writes exactly `len` body bytes unless HEAD).
    pub(crate) fn head(
        &self,
        out: &mut Vec<u8>,
        r: Meta,
        status: u16,
        content_type: &str,
        len: usize,
        extra: &[(&str, &[u8])],
    ) {
        self.head_framed(out, r, status, content_type, BodyLength::Exact(len), extra)
    }

    /// Like [`Self::head`], with any body delimitation. Adds `X-Cache-Node`, the request's
    /// `X-Request-Id` as sent, and `Retry-After` to a 503 whose `extra` (at most
    /// [`MAX_EXTRA_HEADERS`]) has none.
    pub(crate) fn head_framed(
        &self,
        out: &mut Vec<u8>,
        r: Meta,
        status: u16,
        content_type: &str,
        len: BodyLength,
        extra: &[(&str, &[u8])],
    ) {
        self.head_parts(out, r, status, content_type, len, Headers::list(extra))
    }

    /// [`Self::head_framed`] with `headers.parts`, when given, written by the prepared JSON
    /// head without a copy call per piece.
    #[inline]
    fn head_parts(
        &self,
        out: &mut Vec<u8>,
        r: Meta,
        status: u16,
        content_type: &str,
        len: BodyLength,
        headers: Headers<'_>,
    ) {
        let extra = headers.list;
        self.count(r, status);
        debug_assert!(extra.len() <= MAX_EXTRA_HEADERS, "{extra:?}");
        // Most answers echo no id and are no 503: their head is assembled in a small array.
        if r.request_id != RequestId::NONE || status == 503 || extra.len() >= ids::FAST_HEADERS {
            return self.head_with_ids(out, r, status, content_type, len, extra);
        }
        let mut date = self.date.borrow_mut();
        if let (200, BodyLength::Exact(n)) = (status, len) {
            if content_type == CONTENT_JSON {
                let mut ok = self.json_ok.borrow_mut();
                let date = self.date_of(&mut date);
                let written = match headers.parts {
                    Some(p) => ok.write_parts(out, date, n, r.conn, p),
                    None => ok.write(out, date, n, r.conn, extra),
                };
                if written.is_some() {
                    return;
                }
            }
        }
        let mut hdrs = [("", &b""[..]); ids::FAST_HEADERS];
        hdrs[0] = ("X-Cache-Node", &self.node_header);
        hdrs[1..=extra.len()].copy_from_slice(extra);
        let hdrs = &hdrs[..=extra.len()];
        encode_head(
            out,
            status,
            content_type,
            len,
            r.conn,
            self.date_of(&mut date),
            hdrs,
        );
    }

    /// `{"error":msg,"status":N[,"key":k]}`; a 5xx also writes a WARN line
    /// ([`Self::log_error`]).
    pub(crate) fn error(
        &self,
        out: &mut Vec<u8>,
        r: Meta,
        status: u16,
        msg: &str,
        key: Option<&[u8]>,
        extra: &[(&str, &[u8])],
    ) {
        if status >= 500 {
            self.log_error(r, status, msg, key, None);
        }
        self.error_unlogged(out, r, status, msg, key, extra);
    }

    /// [`Self::error`] for a caller that wrote its own log line.
    pub(crate) fn error_unlogged(
        &self,
        out: &mut Vec<u8>,
        r: Meta,
        status: u16,
        msg: &str,
        key: Option<&[u8]>,
        extra: &[(&str, &[u8])],
    ) {
        let mut body = self.scratch.borrow_mut();
        body.clear();
        body.extend_from_slice(b"{\"error\":\"");
        json_escape(&mut body, msg.as_bytes());
        body.extend_from_slice(b"\",\"status\":");
        body.extend_from_slice(itoa::Buffer::new().format(status).as_bytes());
        if let Some(k) = key {
            body.extend_from_slice(b",\"key\":\"");
            json_escape(&mut body, k);
            body.push(b'"');
        }
        body.push(b'}');
        self.send(out, r, status, CONTENT_JSON, &body, extra);
    }

    /// Seconds left, rounded up, for display (`ttl` in responses is whole seconds like the request).
    pub(crate) fn ttl_secs(ttl_ms: u64) -> u64 {
        ttl_ms.div_ceil(1000)
    }

    /// A value's 200: the seed's envelope `{"key":k,"value":<JSON>[,"ttl":s]}` for a JSON value,
    /// or a raw value's bytes as the body with its `Content-Type`; with the caching headers
    /// ([`Self::with_caching`]). Written straight from `stored` (the slot bytes): no copy.
    /// A hot key's answer is copied from the last one while nothing in it changed
    /// (`respond_memo.rs`): the same bytes, counted the same way.
    #[inline]
    pub(crate) fn value(
        &self,
        out: &mut Vec<u8>,
        r: Meta,
        key: &[u8],
        stored: &[u8],
        ttl_ms: Option<u64>,
        version: u64,
    ) {
        let ask = memo::Ask::new(r, key, stored, ttl_ms, version);
        if let Some(ask) = &ask {
            let mut date = self.date.borrow_mut();
            let date = self.date_of(&mut date);
            if let Some(answer) = self.memo.borrow().get(ask, date) {
                self.count(r, 200);
                out.extend_from_slice(answer);
                return;
            }
        }
        self.value_encoded(out, r, key, stored, ttl_ms, version, ask);
    }

    /// [`Self::value`] without a kept answer: encode it, and keep it when `ask` is worth it.
    /// Out of line, so the kept answer's path (a hot key's usual one) stays small.
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn value_encoded(
        &self,
        out: &mut Vec<u8>,
        r: Meta,
        key: &[u8],
        stored: &[u8],
        ttl_ms: Option<u64>,
        version: u64,
        ask: Option<memo::Ask<'_>>,
    ) {
        let encode = |out: &mut Vec<u8>| {
            self.with_caching(ttl_ms, version, |list, parts| {
                let headers = Headers {
                    list,
                    parts: Some(parts),
                };
                self.stored_form(out, r, key, stored, ttl_ms, headers)
            })
        };
        let Some(ask) = ask.filter(|a| self.memo.borrow_mut().worth_keeping(a)) else {
            return encode(out);
        };
        let start = out.len();
        encode(out);
        // The date the answer was encoded with (the one `date_of` returned to the encoder).
        let date = self.date.borrow();
        let answer = out.get(start..).unwrap_or_default();
        self.memo.borrow_mut().keep(&ask, date.current(), answer);
    }

    /// [`Self::value`] with one more header after the caching ones (a leased read's
    /// `X-Cache-Lease`, `handlers/lease.rs`).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn value_with(
        &self,
        out: &mut Vec<u8>,
        r: Meta,
        key: &[u8],
        stored: &[u8],
        ttl_ms: Option<u64>,
        version: u64,
        more: (&str, &[u8]),
    ) {
        self.with_caching(ttl_ms, version, |caching, _| {
            let mut all = [("", &b""[..]); 4];
            all[..caching.len()].copy_from_slice(caching);
            all[caching.len()] = more;
            let headers = Headers::list(&all[..=caching.len()]);
            self.stored_form(out, r, key, stored, ttl_ms, headers);
        });
    }

    /// The 200 of a stored form with `headers`: the envelope for JSON, the bytes for raw.
    fn stored_form(
        &self,
        out: &mut Vec<u8>,
        r: Meta,
        key: &[u8],
        stored: &[u8],
        ttl_ms: Option<u64>,
        headers: Headers<'_>,
    ) {
        match Stored::decode(stored) {
            Stored::Json(value) => self.envelope(out, r, key, value, ttl_ms, headers),
            Stored::Raw { content_type, body } => self.send(
                out,
                r,
                200,
                raw_content_type(content_type),
                body,
                headers.list,
            ),
        }
    }

    /// The seed's envelope `{"key":k,"value":<stored JSON>[,"ttl":s]}`, written without an
    /// intermediate copy of the value.
    fn envelope(
        &self,
        out: &mut Vec<u8>,
        r: Meta,
        key: &[u8],
        value: &[u8],
        ttl_ms: Option<u64>,
        headers: Headers<'_>,
    ) {
        let mut num = itoa::Buffer::new();
        let ttl_text: Option<&str> = match ttl_ms {
            Some(t) => Some(num.format(Self::ttl_secs(t))),
            None => None,
        };
        let ttl_len = ttl_text.map_or(0, |t| 7 + t.len());
        let len = 8 + json_escaped_len(key) + 10 + value.len() + ttl_len + 1;
        let n = BodyLength::Exact(len);
        self.head_parts(out, r, 200, CONTENT_JSON, n, headers);
        if r.head_only {
            return;
        }
        let before = out.len();
        out.extend_from_slice(b"{\"key\":\"");
        json_escape(out, key);
        out.extend_from_slice(b"\",\"value\":");
        out.extend_from_slice(value);
        if let Some(t) = ttl_text {
            out.extend_from_slice(b",\"ttl\":");
            out.extend_from_slice(t.as_bytes());
        }
        out.push(b'}');
        debug_assert_eq!(out.len() - before, len);
    }

    /// Answer to a PUT: 201 when created, 200 when replaced.
    pub(crate) fn stored(
        &self,
        out: &mut Vec<u8>,
        r: Meta,
        key: &[u8],
        created: bool,
        ttl_s: Option<u64>,
        version: u64,
    ) {
        let tag = etag(version);
        let etag_header: &[(&str, &[u8])] = if version == 0 { &[] } else { &[("ETag", &tag)] };
        let mut body = self.scratch.borrow_mut();
        body.clear();
        body.extend_from_slice(b"{\"key\":\"");
        json_escape(&mut body, key);
        body.extend_from_slice(if created {
            b"\",\"created\":true"
        } else {
            b"\",\"created\":false"
        });
        if let Some(t) = ttl_s {
            body.extend_from_slice(b",\"ttl\":");
            body.extend_from_slice(itoa::Buffer::new().format(t).as_bytes());
        }
        body.push(b'}');
        self.send(
            out,
            r,
            if created { 201 } else { 200 },
            CONTENT_JSON,
            &body,
            etag_header,
        );
    }

    pub(crate) fn deleted(&self, out: &mut Vec<u8>, r: Meta, key: &[u8]) {
        let mut body = self.scratch.borrow_mut();
        body.clear();
        body.extend_from_slice(b"{\"key\":\"");
        json_escape(&mut body, key);
        body.extend_from_slice(b"\",\"deleted\":true}");
        self.send(out, r, 200, CONTENT_JSON, &body, &[]);
    }

    pub(crate) fn miss(&self, out: &mut Vec<u8>, r: Meta, key: &[u8]) {
        self.error(out, r, 404, "key not found", Some(key), &[]);
    }
}

/// A strong entity tag for a version: `"` + 16 hex digits + `"` (no allocation).
pub(crate) fn etag(version: u64) -> [u8; 18] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut tag = [b'"'; 18];
    for (i, slot) in tag[1..17].iter_mut().enumerate() {
        *slot = HEX[((version >> (60 - 4 * i)) & 0xf) as usize];
    }
    tag
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_are_quoted_fixed_width_hex() {
        assert_eq!(&etag(0x1234_abcd), b"\"000000001234abcd\"");
        assert_eq!(&etag(u64::MAX), b"\"ffffffffffffffff\"");
    }

    #[test]
    fn the_access_sampler_picks_one_in_every_n_and_none_when_off() {
        let s = AccessSampler {
            every: 3,
            seen: std::cell::Cell::new(0),
        };
        let picks: Vec<bool> = (0..7).map(|_| s.pick()).collect();
        assert_eq!(picks, [false, false, true, false, false, true, false]);
        let off = AccessSampler {
            every: 0,
            seen: std::cell::Cell::new(0),
        };
        assert!((0..10).all(|_| !off.pick()));
    }
}
