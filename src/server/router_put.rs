//! The body of a PUT: the seed's JSON envelope, or raw bytes stored with their content type.
//!
//! The `Content-Type` alone decides (issue 12). `application/json` (any parameters), none, or
//! `application/x-www-form-urlencoded` (curl's default for `-d`, so `curl -d '{"value":1}'`
//! keeps working) is the envelope `{"value": <JSON>, "ttl": <seconds>}`, exactly as before. Any
//! other media type stores the body bytes as they are, with the content type as sent
//! (`storage::value`); the body cannot carry a TTL, so it comes from `?ttl=SECONDS` or
//! `X-Cache-TTL: SECONDS`. Those two are refused on a JSON PUT rather than ignored: a TTL the
//! node silently dropped would keep the value forever.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{bad, KeyAction, KeyLimits, RequestError, MAX_TTL_SECS};
use crate::server::handlers::ReqFields;
use crate::storage::value::{encode_raw_head, MAX_CONTENT_TYPE_BYTES};

/// What a PUT carries besides its body, borrowed from the request: how to read the body, and
/// where a raw value's TTL comes from. `Default` is a JSON PUT with nothing else.
#[derive(Clone, Copy, Debug, Default)]
pub(in crate::server) struct PutFields<'a> {
    pub content_type: Option<&'a [u8]>,
    /// `X-Cache-TTL`.
    pub cache_ttl: Option<&'a [u8]>,
    pub query: Option<&'a [u8]>,
}

impl<'a> PutFields<'a> {
    pub(in crate::server) fn new(f: &ReqFields<'a>, query: Option<&'a [u8]>) -> PutFields<'a> {
        PutFields {
            content_type: f.content_type,
            cache_ttl: f.cache_ttl,
            query,
        }
    }
}

/// How a PUT body is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum BodyKind<'a> {
    /// `{"value": <JSON>, "ttl": <seconds>}`.
    Envelope,
    /// The body is the value; stored with this content type (validated).
    Raw(&'a [u8]),
}

/// Media types read as the JSON envelope (compared without parameters, case-insensitively).
const ENVELOPE_TYPES: [&[u8]; 2] = [b"application/json", b"application/x-www-form-urlencoded"];

/// Which way to read a body sent with `content_type` (`None`: no header).
#[inline]
pub(super) fn body_kind(content_type: Option<&[u8]>) -> Result<BodyKind<'_>, RequestError> {
    match content_type {
        None => Ok(BodyKind::Envelope),
        // What JSON clients send, compared as one 16-byte word: the JSON PUT path stays as
        // fast as it was.
        Some(ct) if <[u8; 16]>::try_from(ct).is_ok_and(|w| w == *b"application/json") => {
            Ok(BodyKind::Envelope)
        }
        Some(ct) => other_kind(ct),
    }
}

/// [`body_kind`] of any other spelling: parameters, another case, curl's form type, or a raw
/// type.
fn other_kind(ct: &[u8]) -> Result<BodyKind<'_>, RequestError> {
    // An empty header says no more than an absent one (the seed read any type as JSON).
    if ct.is_empty()
        || ENVELOPE_TYPES
            .iter()
            .any(|t| essence(ct).eq_ignore_ascii_case(t))
    {
        return Ok(BodyKind::Envelope);
    }
    match check_content_type(ct) {
        Ok(()) => Ok(BodyKind::Raw(ct)),
        Err(ContentTypeError::TooLong) => Err(RequestError::Unsupported(Cow::Owned(format!(
            "Content-Type is {} bytes, longer than the {MAX_CONTENT_TYPE_BYTES} a raw value can be stored with",
            ct.len()
        )))),
        Err(e) => Err(RequestError::Bad(Cow::Owned(e.message(ct)))),
    }
}

/// `type/subtype` of a media type: before any `;`, without surrounding whitespace.
fn essence(ct: &[u8]) -> &[u8] {
    let end = ct.iter().position(|&b| b == b';').unwrap_or(ct.len());
    ct[..end].trim_ascii()
}

/// Why a content type cannot be stored with a raw value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(in crate::server) enum ContentTypeError {
    /// Longer than [`MAX_CONTENT_TYPE_BYTES`].
    TooLong,
    /// Not `type/subtype[; parameters]` of visible ASCII.
    Malformed,
}

impl ContentTypeError {
    /// What is wrong with `ct`, for the client.
    pub(in crate::server) fn message(self, ct: &[u8]) -> String {
        let shown = String::from_utf8_lossy(&ct[..ct.len().min(64)]);
        match self {
            ContentTypeError::TooLong => format!(
                "content type of {} bytes is longer than {MAX_CONTENT_TYPE_BYTES}",
                ct.len()
            ),
            ContentTypeError::Malformed => format!(
                "malformed Content-Type {shown:?}: expected type/subtype[; parameters] in visible ASCII, e.g. application/octet-stream or image/png (application/json for the JSON envelope)"
            ),
        }
    }
}

/// A content type a raw value may be stored with: `type/subtype` (RFC 9110 tokens), optional
/// parameters, visible ASCII (and spaces), at most [`MAX_CONTENT_TYPE_BYTES`]. It is sent back
/// verbatim as a response header, so nothing else may pass.
pub(in crate::server) fn check_content_type(ct: &[u8]) -> Result<(), ContentTypeError> {
    if ct.len() > MAX_CONTENT_TYPE_BYTES {
        return Err(ContentTypeError::TooLong);
    }
    let printable = ct
        .iter()
        .all(|&b| b == b' ' || b == b'\t' || b.is_ascii_graphic());
    let essence = essence(ct);
    let (ty, sub) = match essence.iter().position(|&b| b == b'/') {
        Some(at) => (&essence[..at], &essence[at + 1..]),
        None => (&b""[..], &b""[..]),
    };
    let token = |t: &[u8]| !t.is_empty() && t.iter().all(|&b| is_tchar(b));
    if printable && token(ty) && token(sub) && ct == ct.trim_ascii() {
        Ok(())
    } else {
        Err(ContentTypeError::Malformed)
    }
}

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Parse a PUT body into `KeyAction::Put` (see the module doc for which way).
pub(super) fn parse_put<'v>(
    body: &'v [u8],
    put: PutFields<'_>,
    limits: KeyLimits,
    value_buf: &'v mut Vec<u8>,
) -> Result<KeyAction<'v>, RequestError> {
    match body_kind(put.content_type)? {
        BodyKind::Envelope => {
            if put.cache_ttl.is_some() || query_ttl(put.query).is_some() {
                return Err(bad(
                    "X-Cache-TTL and ?ttl= set the TTL of a raw value; a JSON PUT gives it in the body: {\"value\": ..., \"ttl\": <seconds>}",
                ));
            }
            parse_envelope(body, limits, value_buf)
        }
        BodyKind::Raw(ct) => parse_raw(ct, body, put, limits, value_buf),
    }
}

/// A raw value: the body as it is, stored with its content type. Only the stored header
/// (`encode_raw_head`: `RAW_HEADER_BYTES` + the content type) is written into `value_buf`
/// (reused, so no allocation once warm); the body stays borrowed and is copied once: into the
/// slot when this core answers in place, else into the owned operation another core or the
/// replicas get (`cache::owned_op`).
fn parse_raw<'v>(
    ct: &[u8],
    body: &'v [u8],
    put: PutFields<'_>,
    limits: KeyLimits,
    value_buf: &'v mut Vec<u8>,
) -> Result<KeyAction<'v>, RequestError> {
    if body.len() > limits.max_value_bytes {
        return Err(RequestError::ValueTooLarge);
    }
    let ttl_s = raw_ttl(put)?;
    value_buf.clear();
    encode_raw_head(ct, value_buf);
    Ok(KeyAction::Put {
        head: value_buf,
        value: body,
        ttl_s,
    })
}

/// The TTL of a raw PUT: `?ttl=` or `X-Cache-TTL` (both: they must agree); 0 or none = no
/// expiry.
fn raw_ttl(put: PutFields<'_>) -> Result<Option<u64>, RequestError> {
    let header = put
        .cache_ttl
        .map(|t| ttl_seconds(t, "X-Cache-TTL"))
        .transpose()?;
    let query = query_ttl(put.query)
        .map(|t| ttl_seconds(t, "?ttl="))
        .transpose()?;
    let ttl = match (header, query) {
        (Some(h), Some(q)) if h != q => {
            return Err(RequestError::Bad(Cow::Owned(format!(
                "X-Cache-TTL ({h}) and ?ttl= ({q}) disagree: send one of them"
            ))))
        }
        (h, q) => h.or(q),
    };
    Ok(ttl.filter(|&t| t != 0))
}

/// The value of the first `ttl=` query parameter, as sent.
fn query_ttl(q: Option<&[u8]>) -> Option<&[u8]> {
    q?.split(|&b| b == b'&')
        .find_map(|p| p.strip_prefix(b"ttl="))
}

/// Longest TTL text read: ten years in seconds has 9 digits; a few leading zeros are fine.
const MAX_TTL_DIGITS: usize = 19;

/// Whole seconds, at most ten years, as `1*DIGIT`; `source` names where it came from.
fn ttl_seconds(text: &[u8], source: &str) -> Result<u64, RequestError> {
    let digits = !text.is_empty() && text.len() <= MAX_TTL_DIGITS;
    let n = if digits && text.iter().all(u8::is_ascii_digit) {
        text.iter().fold(0u64, |n, &d| n * 10 + u64::from(d - b'0'))
    } else {
        return Err(RequestError::Bad(Cow::Owned(format!(
            "invalid {source} {:?}: expected whole seconds (0 = no expiry)",
            String::from_utf8_lossy(&text[..text.len().min(32)])
        ))));
    };
    if n > MAX_TTL_SECS {
        return Err(RequestError::Bad(Cow::Owned(format!(
            "{source} larger than ten years ({n} s; the TTL is in seconds)"
        ))));
    }
    Ok(n)
}

/// Bytes of the longest `X-Cache-TTL` line [`copy_ttl_header`] writes.
pub(in crate::server) const TTL_HEADER_BYTES: usize = 48;

/// The header line that gives a replica copy of a raw PUT the TTL its coordinator parsed (the
/// copy carries no query), so every replica stores the same value: `X-Cache-TTL: S\r\n`, or
/// nothing without a TTL. Written into `buf`: no allocation per copy.
pub(in crate::server) fn copy_ttl_header(
    ttl_ms: Option<u64>,
    buf: &mut [u8; TTL_HEADER_BYTES],
) -> &[u8] {
    let Some(ms) = ttl_ms else {
        return b"";
    };
    let mut num = itoa::Buffer::new();
    let secs = num.format(ms / 1000).as_bytes();
    let parts: [&[u8]; 3] = [b"X-Cache-TTL: ", secs, b"\r\n"];
    let mut n = 0;
    for p in parts {
        buf[n..n + p.len()].copy_from_slice(p);
        n += p.len();
    }
    &buf[..n]
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PutBody<'a> {
    #[serde(borrow)]
    value: &'a RawValue,
    #[serde(default)]
    ttl: Option<u64>,
}

/// The seed's envelope. The value is minified into `value_buf` when it holds insignificant
/// whitespace, else borrowed from `body`.
fn parse_envelope<'v>(
    body: &'v [u8],
    limits: KeyLimits,
    value_buf: &'v mut Vec<u8>,
) -> Result<KeyAction<'v>, RequestError> {
    let parsed: PutBody<'v> = serde_json::from_slice(body).map_err(|e| {
        RequestError::Bad(Cow::Owned(format!(
            "invalid JSON body: {}; expected {{\"value\": <any JSON>, \"ttl\": <seconds>}}",
            crate::server::json_error::describe(&e)
        )))
    })?;
    let raw = parsed.value.get().as_bytes();
    let value: &'v [u8] = match crate::json::check(raw) {
        Ok(false) => raw,
        Ok(true) => {
            crate::json::minify(raw, value_buf);
            value_buf
        }
        Err(why) => {
            return Err(RequestError::Bad(Cow::Owned(format!(
                "invalid JSON value: {why}"
            ))))
        }
    };
    if value.len() > limits.max_value_bytes {
        return Err(RequestError::ValueTooLarge);
    }
    let ttl_s = match parsed.ttl {
        Some(t) if t > MAX_TTL_SECS => {
            return Err(bad("ttl larger than ten years (ttl is in seconds)"))
        }
        Some(0) | None => None,
        Some(t) => Some(t),
    };
    Ok(KeyAction::Put {
        head: &[],
        value,
        ttl_s,
    })
}

#[cfg(test)]
#[path = "router_put_tests.rs"]
mod tests;
