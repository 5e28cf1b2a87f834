//! The common request head in one pass, before httparse: what a client sends for a cache call
//! (`GET /api/v1/cache/k HTTP/1.1`, a `Host`, perhaps a `Content-Length`, a credential and
//! fields we do not read, such as `User-Agent`), and what a peer sends when it forwards one
//! (with `X-Cache-Forwarded` and `X-Request-Id`). For such a head the full parser's work
//! (httparse's syntax pass, then a second pass over its field array, then the target's) is
//! most of a pipelined GET hit's cost; this path reads each byte once, with a table lookup.
//!
//! It answers only when the answer is certain and leaves everything else to the full parser
//! ([`super::request::parse_head_full`]): no leading empty lines, a method without
//! surprises, a target of path literals (no escape, no query), `HTTP/1.1` with CRLF line
//! ends, field names of token bytes right before their colon, field values of HTAB, SP and
//! VCHAR only, exactly one valid `Host`, at most one each of a `Content-Length` within the
//! body limit, a valid `X-Request-Id` and an `Authorization` within its bound, any number of
//! `X-Cache-Forwarded`, and no other field that [`classify`] knows (chunked framing,
//! `Connection`, `Expect`, conditionals, versions and traces go to the full parser). A
//! complete head is the only `Some`: a partial one, any error and every limit case are the
//! full parser's. Property tests and the `request_head` fuzz target hold the two to the same
//! answer on every input.

use super::fields::{classify, is_valid_host, is_valid_request_id, Known};
use super::request::{Framing, Head, Method, OptionalFields, Version};
use super::syntax::{
    class_run, parse_decimal, plain_field_line, DIGIT, PATH_LITERAL, REG_NAME_LITERAL,
};
use super::{Limits, Span, MAX_AUTHORIZATION_BYTES};

/// Field lines this path reads before it leaves the head to the full parser: a usual client
/// sends 1-6 (wrk 1, curl 3, a peer's forward 3-4), a browser about 12; longer heads are rare
/// enough that the full parser's cost for them does not matter, and this bound keeps the
/// path's own work small.
const MAX_COMMON_FIELDS: usize = 16;

/// The version and line end every head this path accepts has.
const HTTP11_CRLF: &[u8] = b" HTTP/1.1\r\n";

/// The head at the start of `buf` if it is a common one (see the module comment), else `None`.
#[inline]
pub(crate) fn parse_common_head(buf: &[u8], limits: &Limits) -> Option<Head> {
    let (method, target_at) = common_method(buf)?;
    let target = buf.get(target_at..)?;
    if target.first() != Some(&b'/') {
        return None;
    }
    let path_len = class_run(target, &PATH_LITERAL);
    if path_len > limits.max_target_bytes {
        return None;
    }
    let fields_at = target_at + path_len + HTTP11_CRLF.len();
    if buf.get(target_at + path_len..fields_at)? != HTTP11_CRLF {
        return None;
    }
    let mut peer = PeerFields::default();
    let (framing, head_len) = common_fields(buf, fields_at, limits, &mut peer)?;
    if head_len > limits.head_bytes() {
        return None;
    }
    Some(Head {
        method,
        version: Version::Http11,
        path: Span::new(target_at..target_at + path_len)?,
        // The path is a run of path literals (`PATH_LITERAL` has no `%`).
        path_escaped: false,
        query: None,
        framing,
        keep_alive: true,
        expect_continue: false,
        forwarded: peer.forwarded,
        request_id: peer.request_id,
        cache_version: None,
        authorization: peer.authorization,
        optional: OptionalFields::default(),
        head_len,
    })
}

/// The method and where the target starts; the five methods of the cache API only.
#[inline]
fn common_method(buf: &[u8]) -> Option<(Method, usize)> {
    match buf.get(..4)? {
        b"GET " => Some((Method::Get, 4)),
        b"PUT " => Some((Method::Put, 4)),
        b"POST" if buf.get(4) == Some(&b' ') => Some((Method::Post, 5)),
        b"HEAD" if buf.get(4) == Some(&b' ') => Some((Method::Head, 5)),
        b"DELE" if buf.get(4..7) == Some(b"TE ") => Some((Method::Delete, 7)),
        _ => None,
    }
}

/// The field lines from `at` to the empty line: the body's framing and the head's length; a
/// peer's fields go to `peer`.
#[inline]
fn common_fields(
    buf: &[u8],
    mut at: usize,
    limits: &Limits,
    peer: &mut PeerFields,
) -> Option<(Framing, usize)> {
    let mut host = false;
    let mut length = None;
    for _ in 0..MAX_COMMON_FIELDS {
        let line = buf.get(at..)?;
        if line.starts_with(b"\r\n") {
            let framing = length.map_or(Framing::None, Framing::Length);
            return host.then_some((framing, at + 2));
        }
        if let Some(line_len) = plain_host_line(line) {
            if host {
                return None; // a second Host: the full parser's 400
            }
            host = true;
            at += line_len;
            continue;
        }
        let (name, value, line_len) = plain_field_line(line)?;
        let value_bytes = line.get(value.clone())?;
        match classify(name) {
            None => {}
            Some(Known::Host) if !host && is_valid_host(value_bytes) => host = true,
            Some(Known::ContentLength) if length.is_none() => {
                let n =
                    parse_decimal(value_bytes).filter(|&n| n <= limits.max_body_bytes as u64)?;
                length = Some(n);
            }
            Some(field) => peer.add(field, value_bytes, at + value.start)?,
        }
        at += line_len;
    }
    None
}

/// The length of a `Host` line whose value is a name or IPv4 address with an optional port
/// (`Host: 127.0.0.1:8001`, every client sends one), read in one pass: the line the field loop
/// would take with `is_valid_host`'s plain case, without reading the value twice. `None` for
/// any other line (which the field loop then reads as any field).
#[inline]
fn plain_host_line(line: &[u8]) -> Option<usize> {
    let (name, rest) = line.split_first_chunk::<5>()?;
    // `| 0x20` lowers a letter and maps no other byte onto one; the colon is compared as is.
    let folded = u32::from_le_bytes([name[0], name[1], name[2], name[3]]) | 0x2020_2020;
    if folded != u32::from_le_bytes(*b"host") || name[4] != b':' {
        return None;
    }
    let mut at = ows(rest);
    at += class_run(rest.get(at..)?, &REG_NAME_LITERAL);
    if rest.get(at) == Some(&b':') {
        at += 1;
        at += class_run(rest.get(at..)?, &DIGIT);
    }
    at += ows(rest.get(at..)?);
    (rest.get(at..at + 2)? == b"\r\n").then_some(5 + at + 2)
}

/// The length of the optional whitespace at the start of `v`.
#[inline]
fn ows(v: &[u8]) -> usize {
    v.iter().take_while(|&&b| b == b' ' || b == b'\t').count()
}

/// The fields of a peer's forward (and a client's credential) this path takes.
#[derive(Default)]
struct PeerFields {
    forwarded: bool,
    request_id: Option<Span>,
    authorization: Option<Span>,
}

impl PeerFields {
    /// Take `field`, whose value is `value` at `at` of the buffer; `None` for any field or
    /// value the full parser is to judge. Out of line: a client's head rarely has these, and
    /// the field loop stays small without them.
    #[inline(never)]
    fn add(&mut self, field: Known, value: &[u8], at: usize) -> Option<()> {
        // `None` only for a value past `u32::MAX`, in a head longer than `Limits::head_bytes`:
        // the full parser's 431.
        let span = Some(Span::new(at..at + value.len())?);
        match field {
            Known::Forwarded => self.forwarded = true,
            Known::RequestId if self.request_id.is_none() && is_valid_request_id(value) => {
                self.request_id = span;
            }
            Known::Authorization
                if self.authorization.is_none() && value.len() <= MAX_AUTHORIZATION_BYTES =>
            {
                self.authorization = span;
            }
            _ => return None,
        }
        Some(())
    }
}

#[cfg(test)]
#[path = "request_common_tests.rs"]
mod tests;
