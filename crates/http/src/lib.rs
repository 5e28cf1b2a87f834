//! The protocol layer of distributed-cache: HTTP/1.1 over bytes, no I/O, no allocation per request.
//!
//! This crate is the bottom layer: it depends on nothing else of the project, and the node, the
//! client and the tests all build on it. It owns everything about *reading* a request off the wire: the request head
//! ([`parse_head`]), message framing (`Content-Length` / `Transfer-Encoding`, the smuggling
//! surface), the chunked body decoder ([`ChunkedDecoder`]) and strict percent-decoding of a
//! key segment ([`decode_segment`]). The connection loop, timeouts and responses belong to
//! the caller. Besides requests it holds the one response-head parser ([`parse_response_head`],
//! used by the node's forwarder, prober and exporter, by `cache-client` and by the tests) and the
//! response encoders ([`response`]).
//!
//! Both head parsers have two paths with one answer: the usual head (a cache call, a peer's
//! forward, our own answer) is read in one pass by hand (`request_common.rs`,
//! `response_common.rs`), everything else goes through httparse; property tests and the
//! `request_head` / `response_head` fuzz targets compare the two on every input
//! ([`parse_head_full`], [`parse_response_head_full`]).
//!
//! httparse checks syntax only; every framing rule is enforced here (see
//! `docs/http-hardening.md`, rows H01-H57, except H36, H48 and H49, which the node answers in
//! its router and accept loop). Policies chosen where the RFC leaves a choice:
//! - Bare LF line endings are accepted everywhere (request line, fields, chunk lines,
//!   trailers) because httparse accepts them in the head; chunk lines follow the same policy.
//! - Only origin-form targets (`/...`) are accepted: `*`, authority- and absolute-form get
//!   400 (we are not a general proxy; our peers always send origin-form).
//! - `HTTP/1.2` and other unknown 1.x minors get 400 (httparse only knows 1.0/1.1);
//!   `HTTP/2+` gets 505.
//! - Duplicate `Content-Length`, even with equal values, gets 400 (as llhttp does).
//! - Every error returned by [`parse_head`] or [`ChunkedDecoder::decode`] leaves the
//!   connection unframed: the caller must answer and close ([`ParseError::must_close`]).

// Everything public here is the crate's API: an item marked `pub` that callers cannot reach
// is dead weight or a missing re-export.
#![warn(unreachable_pub)]

// First: its `table!` macro is used by the modules below.
#[macro_use]
mod syntax;
mod chunked;
mod fields;
mod head_memo;
mod key;
mod names;
mod request;
mod request_common;
pub mod response;
mod response_common;
mod response_head;
mod span;

#[cfg(test)]
mod conformance;

pub use chunked::{ChunkStatus, ChunkedDecoder};
pub use head_memo::{Answered, HeadMemo, MAX_KEPT_HEAD};
pub use key::{decode_segment, decode_segment_borrowed};
pub use names::name_is;
pub use request::{parse_head, parse_head_full, Framing, Head, Method, OptionalFields, Version};
pub use response::civil_from_days;
pub use response_head::{
    parse_response_head, parse_response_head_full, BodyFraming, ProtoError, ResponseHead,
    MAX_RESPONSE_HEADERS, MAX_RESPONSE_HEAD_BYTES,
};
pub use span::Span;

/// Hard cap on header lines per request: size of the stack array given to httparse.
pub const MAX_HEADERS: usize = 64;
/// Leading empty lines tolerated before a request line (RFC 9112 §2.2 SHOULD ignore at least one).
pub const MAX_LEADING_EMPTY_LINES: usize = 2;
/// Chunk extension bytes allowed per chunk line (several CVEs came from unbounded ext reads).
pub const MAX_CHUNK_EXT_BYTES: usize = 4096;
/// Longest accepted `X-Request-Id` value: it is echoed to peers and kept while a forwarded
/// request is in flight, so it must stay small; UUIDs and similar ids are far below this.
pub const MAX_REQUEST_ID_BYTES: usize = 256;
/// Longest accepted `Authorization` value: `Bearer ` and the longest token a node loads (4096
/// bytes, `auth::MAX_TOKEN_BYTES` of the node, which checks this bound), plus room for the
/// whitespace a client may add. Longer cannot be a token of ours: 400 before any comparison.
pub const MAX_AUTHORIZATION_BYTES: usize = 4096 + 64;

/// The longest request head either parser accepts, whatever `Limits::max_head_bytes` says
/// (longer gets 431): a [`Head`] stores its offsets as [`Span`]s of `u32` (8 bytes each instead
/// of 16, issue 13), so every offset into the head must fit a `u32`. The node's config caps the
/// limit far below this (`limits.max_header_bytes`, at most 1 MiB).
pub const MAX_HEAD_BYTES_CEILING: usize = u32::MAX as usize;
/// Default head limit: large enough for any browser/curl request, small enough that a
/// per-connection read buffer of this size is cheap (RFC 6585 §5 answer: 431).
pub const DEFAULT_MAX_HEAD_BYTES: usize = 16 * 1024;
/// Default request-target limit: RFC 9112 §3 recommends supporting at least 8000 octets.
pub const DEFAULT_MAX_TARGET_BYTES: usize = 8 * 1024;
/// Default decoded-body limit: a 1 MiB value plus slack for a JSON envelope.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024 + 4 * 1024;

/// Size limits enforced while parsing; each maps to one status when exceeded.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Whole head incl. request line and skipped leading empty lines -> 431 when exceeded
    /// (or when the head exceeds [`MAX_HEAD_BYTES_CEILING`]).
    pub max_head_bytes: usize,
    /// Request-target -> 414 when exceeded, also while the request line is incomplete.
    pub max_target_bytes: usize,
    /// Decoded body (declared `Content-Length` or sum of chunks) -> 413 when exceeded.
    pub max_body_bytes: usize,
}

impl Limits {
    /// The head limit the request parsers enforce: `max_head_bytes`, at most
    /// [`MAX_HEAD_BYTES_CEILING`] so that every [`Span`] of a head fits.
    #[inline]
    pub(crate) fn head_bytes(&self) -> usize {
        self.max_head_bytes.min(MAX_HEAD_BYTES_CEILING)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head_bytes: DEFAULT_MAX_HEAD_BYTES,
            max_target_bytes: DEFAULT_MAX_TARGET_BYTES,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

/// Outcome of an incremental parse: `Partial` is a normal result (read more bytes), not an error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed<T> {
    /// A whole item was found at the start of the buffer.
    Complete(T),
    /// More bytes are needed; no limit is exceeded yet.
    Partial,
}

/// Every protocol error maps to exactly one HTTP status and a static message; Copy, no allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// 400: malformed syntax or ambiguous framing; the text names the offending part.
    BadRequest(&'static str),
    /// 414: request-target longer than `Limits::max_target_bytes`.
    UriTooLong,
    /// 431: head (or chunked trailer section) longer than `Limits::max_head_bytes`.
    HeadersTooLarge,
    /// 431: more than [`MAX_HEADERS`] header (or trailer) fields.
    TooManyHeaders,
    /// 413: body larger than `Limits::max_body_bytes`.
    PayloadTooLarge,
    /// 501: unknown method or unsupported transfer coding.
    NotImplemented(&'static str),
    /// 505: HTTP major version 2 or higher on an HTTP/1 connection.
    VersionNotSupported,
    /// 417: an `Expect` member other than `100-continue` on HTTP/1.1.
    ExpectationFailed,
}

impl ParseError {
    /// The HTTP status code the caller answers with.
    pub fn status(self) -> u16 {
        match self {
            ParseError::BadRequest(_) => 400,
            ParseError::UriTooLong => 414,
            ParseError::HeadersTooLarge | ParseError::TooManyHeaders => 431,
            ParseError::PayloadTooLarge => 413,
            ParseError::NotImplemented(_) => 501,
            ParseError::VersionNotSupported => 505,
            ParseError::ExpectationFailed => 417,
        }
    }

    /// Human text naming what was wrong, suitable for a response body.
    pub fn message(self) -> &'static str {
        match self {
            ParseError::BadRequest(m) | ParseError::NotImplemented(m) => m,
            ParseError::UriTooLong => "request-target too long",
            ParseError::HeadersTooLarge => "header section too large",
            ParseError::TooManyHeaders => "too many header fields",
            ParseError::PayloadTooLarge => "request body too large",
            ParseError::VersionNotSupported => "HTTP version not supported",
            ParseError::ExpectationFailed => "unsupported expectation",
        }
    }

    /// True when the connection can no longer be framed and must be closed after the response.
    ///
    /// Every variant returns true for errors from [`parse_head`] and [`ChunkedDecoder`]:
    /// `parse_head` returns no `Head` with an error, so the caller knows neither `head_len`
    /// nor the body framing and cannot find the next request. This includes 417 and a 413
    /// from `Content-Length` (a client may send the body without waiting for `100 Continue`)
    /// and 414/431 (the head was never seen whole). A `BadRequest` from [`decode_segment`]
    /// is different: it is found after framing is known, so the caller may consume the body
    /// and keep the connection; it should not ask this function in that case.
    pub fn must_close(self) -> bool {
        match self {
            ParseError::BadRequest(_)
            | ParseError::UriTooLong
            | ParseError::HeadersTooLarge
            | ParseError::TooManyHeaders
            | ParseError::PayloadTooLarge
            | ParseError::NotImplemented(_)
            | ParseError::VersionNotSupported
            | ParseError::ExpectationFailed => true,
        }
    }
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status(), self.message())
    }
}

impl std::error::Error for ParseError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_and_message_per_variant() {
        let cases = [
            (ParseError::BadRequest("bad thing"), 400, "bad thing"),
            (ParseError::UriTooLong, 414, "request-target too long"),
            (ParseError::HeadersTooLarge, 431, "header section too large"),
            (ParseError::TooManyHeaders, 431, "too many header fields"),
            (ParseError::PayloadTooLarge, 413, "request body too large"),
            (ParseError::NotImplemented("nope"), 501, "nope"),
            (
                ParseError::VersionNotSupported,
                505,
                "HTTP version not supported",
            ),
            (
                ParseError::ExpectationFailed,
                417,
                "unsupported expectation",
            ),
        ];
        for (e, status, msg) in cases {
            assert_eq!(e.status(), status, "{e:?}");
            assert_eq!(e.message(), msg, "{e:?}");
            assert!(e.must_close(), "{e:?}");
            assert_eq!(e.to_string(), format!("{status} {msg}"));
        }
    }

    #[test]
    fn default_limits() {
        let l = Limits::default();
        assert_eq!(l.max_head_bytes, 16384);
        assert_eq!(l.max_target_bytes, 8192);
        assert_eq!(l.max_body_bytes, 1024 * 1024 + 4096);
    }
}
