//! What a value's answer says to caches (issue 12): `ETag` and `Last-Modified` from the
//! entry's version, `Cache-Control` from its TTL (or the config's `cache_control_no_ttl`), and
//! the 304 Not Modified that a conditional GET gets with the same headers.
//!
//! Everything is formatted on the stack of [`Responder::with_caching`] and handed to the encoder
//! as borrowed header values: a GET hit allocates and copies nothing more. `Last-Modified` is the
//! version's wall-clock second (`storage::version::wall_ms_of`); a per-core one-entry memo skips
//! the date formatting for a hot key. There is no `Age`: this node is the origin, its answers
//! are fresh when sent (RFC 9111 §5.1: `Age` is what a cache adds for a copy it stored).

use super::{etag, Meta, Responder};
use crate::http::response::{format_http_date, BodyLength, CONTENT_JSON};
use crate::storage::value::Stored;
use crate::storage::version::wall_ms_of;

impl Responder {
    /// A 304 Not Modified for a value (conditional GET/HEAD whose `If-None-Match` matched): no
    /// body and no `Content-Length` (RFC 9110 §8.6: it would have to be the 200's), the same
    /// `Content-Type` and caching headers as the 200 would have. `stored` is the value's stored
    /// form, or only its head (what `Stored::decode` needs for the content type).
    #[allow(dead_code)] // called by the conditional requests of issue 12
    pub(crate) fn not_modified(
        &self,
        out: &mut Vec<u8>,
        r: Meta,
        stored: &[u8],
        ttl_ms: Option<u64>,
        version: u64,
    ) {
        let ct = match Stored::decode(stored) {
            Stored::Json(_) => CONTENT_JSON,
            Stored::Raw { content_type, .. } => raw_content_type(content_type),
        };
        self.with_caching(ttl_ms, version, |headers, _| {
            self.head_framed(out, r, 304, ct, BodyLength::UntilClose, headers)
        });
    }

    /// Call `f` with the caching headers of a value's answer (200 or 304), ready for `extra`
    /// of [`Responder::send`] / [`Responder::head_framed`]: `ETag` and `Last-Modified` from its
    /// version (neither for an unversioned value), `Cache-Control: max-age=<seconds left>` with
    /// a TTL, else the configured `cache_control_no_ttl` (none when it is `none`).
    #[inline]
    pub(crate) fn with_caching<R>(
        &self,
        ttl_ms: Option<u64>,
        version: u64,
        f: impl FnOnce(&[(&str, &[u8])], CachingParts<'_>) -> R,
    ) -> R {
        let tag = etag(version);
        let mut modified = [0u8; HTTP_DATE_BYTES];
        let mut max_age = [0u8; MAX_AGE_BYTES];
        let mut headers: [(&str, &[u8]); CACHING_HEADERS] = [("", b""); CACHING_HEADERS];
        let mut n = 0;
        if version != 0 {
            headers[n] = ("ETag", &tag);
            n += 1;
        }
        let control: &[u8] = match ttl_ms {
            Some(ms) => {
                // Rounded down: a cache must not hold the value past its expiry here.
                let mut num = itoa::Buffer::new();
                let secs = num.format(ms / 1000).as_bytes();
                let end = MAX_AGE_PREFIX.len() + secs.len();
                max_age[..MAX_AGE_PREFIX.len()].copy_from_slice(MAX_AGE_PREFIX);
                max_age[MAX_AGE_PREFIX.len()..end].copy_from_slice(secs);
                &max_age[..end]
            }
            None => &self.cache_control_no_ttl,
        };
        if !control.is_empty() {
            headers[n] = ("Cache-Control", control);
            n += 1;
        }
        if version != 0 {
            modified = self.last_modified_of(version);
            headers[n] = ("Last-Modified", &modified);
            n += 1;
        }
        let parts = CachingParts {
            etag: (version != 0).then_some(&tag),
            control,
            modified: (version != 0).then_some(&modified),
        };
        f(&headers[..n], parts)
    }

    /// The version's wall-clock second as an HTTP-date, through the one-entry memo.
    #[inline]
    fn last_modified_of(&self, version: u64) -> [u8; HTTP_DATE_BYTES] {
        let secs = wall_ms_of(version) / 1000;
        let (memo_secs, memo_text) = self.last_modified.get();
        if memo_secs == secs {
            return memo_text;
        }
        let text = format_http_date(secs);
        self.last_modified.set((secs, text));
        text
    }
}

/// The headers of [`Responder::with_caching`]'s list as fixed parts, in the list's order, for
/// the prepared head of a JSON 200 (`respond_head.rs`): the names are constants there and the
/// tag and date have fixed lengths, so the head is written without a copy call per piece.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CachingParts<'a> {
    pub etag: Option<&'a [u8; ETAG_BYTES]>,
    /// The `Cache-Control` value; empty: no header.
    pub control: &'a [u8],
    pub modified: Option<&'a [u8; HTTP_DATE_BYTES]>,
}

/// The extra headers of an answer: the list every encoder takes, and the same as
/// [`CachingParts`] when the list is exactly a value's caching headers.
#[derive(Clone, Copy)]
pub(super) struct Headers<'a> {
    pub list: &'a [(&'a str, &'a [u8])],
    pub parts: Option<CachingParts<'a>>,
}

impl<'a> Headers<'a> {
    pub(super) fn list(list: &'a [(&'a str, &'a [u8])]) -> Headers<'a> {
        Headers { list, parts: None }
    }
}

/// A strong entity tag: `"` + 16 hex digits + `"` ([`etag`]).
pub(crate) const ETAG_BYTES: usize = 18;
/// Bytes of an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub(super) const HTTP_DATE_BYTES: usize = 29;
/// `ETag`, `Cache-Control`, `Last-Modified`.
pub(crate) const CACHING_HEADERS: usize = 3;
const MAX_AGE_PREFIX: &[u8] = b"max-age=";
/// `max-age=` and the 20 digits of the largest `u64`.
const MAX_AGE_BYTES: usize = 8 + 20;
/// What a raw value whose stored content type is unusable is sent as (only a corrupt source
/// can store one: every writer checks it).
const OCTET_STREAM: &str = "application/octet-stream";

/// A raw value's stored content type as a header value.
pub(super) fn raw_content_type(ct: &[u8]) -> &str {
    match std::str::from_utf8(ct) {
        Ok(t) if !t.is_empty() => t,
        _ => OCTET_STREAM,
    }
}

#[cfg(test)]
#[path = "respond_caching_tests.rs"]
pub(super) mod tests;
