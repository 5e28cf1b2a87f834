//! Request-head parsing: leading empty lines, the request line, limits, and the assembly
//! of a [`Head`] of offsets into the caller's buffer.
//!
//! httparse does the byte-level syntax (methods, fields, line endings) on a stack array of
//! [`MAX_HEADERS`]; this file adds what httparse leaves to us: the cap on leading empty
//! lines, 414/431 while a head is still incomplete (so an endless line is cut early),
//! known methods only, origin-form targets only, and the version split 400/505.

use std::mem::MaybeUninit;
use std::ops::Range;

use super::fields;
use super::request_common::parse_common_head;
use super::syntax::{class_run, is_pchar_literal, is_pct_encoded_with, PATH_LITERAL};
use super::{Limits, ParseError, Parsed, Span, MAX_HEADERS, MAX_LEADING_EMPTY_LINES};

/// Request methods we recognise (RFC 9110 §9); case-sensitive, anything else gets 501.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Put,
    Post,
    Delete,
    Options,
    Patch,
    Connect,
    Trace,
}

/// HTTP/1 versions we speak.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

/// How the body is delimited (RFC 9112 §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// Neither Content-Length nor Transfer-Encoding: the body is empty.
    None,
    /// Exactly this many bytes follow the head (already checked against `max_body_bytes`).
    Length(u64),
    /// Chunked: feed the bytes after the head to a `ChunkedDecoder`.
    Chunked,
}

/// Everything the server needs from a request head, as offsets into the caller's buffer (no copies).
/// Each offset is a [`Span`] (8 bytes, an `Option` too): a head is written for every request,
/// so its size is CPU per request (120 bytes, 288 with `Range<usize>`: issue 13; a test in
/// `span.rs` holds it to at most 128). `Copy`: a kept head (`head_memo.rs`) is given out as a
/// copy of those bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    pub method: Method,
    pub version: Version,
    /// Origin-form path without query, offsets into buf; `%XX` escapes are well-formed.
    pub path: Span,
    /// The path holds a `%XX` escape; when false every byte of it is a path literal (`/` or an
    /// unescaped pchar), so a segment of it is its own decoding (the node's key, read without
    /// decoding it again).
    pub path_escaped: bool,
    /// After '?', without '?'.
    pub query: Option<Span>,
    pub framing: Framing,
    /// HTTP/1.1: true unless a Connection token `close`; 1.0: only with `keep-alive` (and no `close`).
    pub keep_alive: bool,
    /// `Expect: 100-continue` on HTTP/1.1 (ignored on 1.0 per RFC 9110 §10.1.1).
    pub expect_continue: bool,
    /// Header `X-Cache-Forwarded` present (hop marker of our cluster).
    pub forwarded: bool,
    /// Value of `X-Request-Id` (visible ASCII, at most `MAX_REQUEST_ID_BYTES`).
    pub request_id: Option<Span>,
    /// Value of `X-Cache-Version` (1-16 hex digits): a versioned replica write from a peer.
    pub cache_version: Option<Span>,
    /// Value of `Authorization` (OWS-trimmed, at most `MAX_AUTHORIZATION_BYTES`, at most one
    /// such header): the credential the node checks.
    pub authorization: Option<Span>,
    /// `Content-Type`, `If-Match`, `If-None-Match`, `X-Cache-TTL`, `traceparent`,
    /// `X-Cache-Client-Request-Id`, when sent.
    pub optional: OptionalFields,
    /// Bytes of buf consumed by the head, incl. skipped leading empty lines.
    pub head_len: usize,
}

/// Offsets of the optional header fields the cache API reads (see `fields::Optional`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OptionalFields {
    pub content_type: Option<Span>,
    pub if_match: Option<Span>,
    pub if_none_match: Option<Span>,
    /// `X-Cache-TTL`.
    pub cache_ttl: Option<Span>,
    pub traceparent: Option<Span>,
    /// `X-Cache-Client-Request-Id` (node to node).
    pub client_request_id: Option<Span>,
}

/// Parse one request head at the start of `buf`. Pure. `Partial` when more bytes are needed
/// (and none of the limits is already exceeded). Never panics on any input.
///
/// A common head (`request_common.rs`) is read in one pass; every other input gets the full
/// parser, [`parse_head_full`], whose answer is the same for every input.
#[inline]
pub fn parse_head(buf: &[u8], limits: &Limits) -> Result<Parsed<Head>, ParseError> {
    match parse_common_head(buf, limits) {
        Some(head) => Ok(Parsed::Complete(head)),
        None => parse_head_full(buf, limits),
    }
}

/// [`parse_head`] without the common-head path: httparse's syntax pass, then the fields and
/// the target. Public for the differential fuzz target and tests only.
#[doc(hidden)]
pub fn parse_head_full(buf: &[u8], limits: &Limits) -> Result<Parsed<Head>, ParseError> {
    let Some(skipped) = skip_leading_empty_lines(buf)? else {
        return Ok(Parsed::Partial);
    };
    let rest = buf.get(skipped..).unwrap_or_default();
    check_target_len(rest, limits.max_target_bytes)?;

    // Uninitialized slots: httparse fills only those it uses (no 2 KiB of zeroes per request).
    let mut headers = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let len = match req.parse_with_uninit_headers(rest, &mut headers) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() >= limits.head_bytes() => {
            // The head needs at least one byte more than we allow.
            return Err(ParseError::HeadersTooLarge);
        }
        Ok(httparse::Status::Partial) => return Ok(Parsed::Partial),
        Err(e) => return Err(map_httparse_error(e, rest)),
    };
    let head_len = skipped + len;
    if head_len > limits.head_bytes() {
        return Err(ParseError::HeadersTooLarge);
    }

    let method = req.method.map(str::as_bytes).unwrap_or_default();
    let method = parse_method(method)?;
    let version = match req.version {
        Some(0) => Version::Http10,
        Some(1) => Version::Http11,
        _ => return Err(ParseError::BadRequest("malformed HTTP version")),
    };
    let target = req.path.map(str::as_bytes).unwrap_or_default();
    let target_at = offset_in(buf, target)?;
    let (path, query) = split_target(target, target_at)?;
    let (path, query) = (span(path)?, query.map(span).transpose()?);
    let f = fields::interpret(req.headers, version, limits.max_body_bytes)?;
    let located = |v: Option<&[u8]>| match v {
        Some(v) => offset_in(buf, v).and_then(|at| span(at..at + v.len()).map(Some)),
        None => Ok(None),
    };
    let request_id = located(f.request_id)?;
    let cache_version = located(f.cache_version)?;
    let authorization = located(f.authorization)?;
    let o = f.optional;
    let optional = OptionalFields {
        content_type: located(o.content_type)?,
        if_match: located(o.if_match)?,
        if_none_match: located(o.if_none_match)?,
        cache_ttl: located(o.cache_ttl)?,
        traceparent: located(o.traceparent)?,
        client_request_id: located(o.client_request_id)?,
    };
    // Validated above: without a `%`, every byte of the path is a literal.
    let path_escaped = buf.get(path.range()).is_some_and(|p| p.contains(&b'%'));
    Ok(Parsed::Complete(Head {
        method,
        version,
        path,
        path_escaped,
        query,
        framing: f.framing,
        keep_alive: f.keep_alive,
        expect_continue: f.expect_continue,
        forwarded: f.forwarded,
        request_id,
        cache_version,
        authorization,
        optional,
        head_len,
    }))
}

/// Skip up to [`MAX_LEADING_EMPTY_LINES`] CRLF/LF lines (RFC 9112 §2.2). `None` = need more.
/// The cap stops an endless CRLF stream from holding the connection open (catalogue H27).
fn skip_leading_empty_lines(buf: &[u8]) -> Result<Option<usize>, ParseError> {
    let mut pos = 0;
    let mut lines = 0;
    loop {
        match (buf.get(pos), buf.get(pos + 1)) {
            (None, _) | (Some(b'\r'), None) => return Ok(None),
            (Some(b'\n'), _) => pos += 1,
            (Some(b'\r'), Some(b'\n')) => pos += 2,
            (Some(b'\r'), Some(_)) => return Err(ParseError::BadRequest("bare CR in request")),
            (Some(_), _) => return Ok(Some(pos)),
        }
        lines += 1;
        if lines > MAX_LEADING_EMPTY_LINES {
            return Err(ParseError::BadRequest(
                "too many empty lines before request line",
            ));
        }
    }
}

/// 414 as soon as the (possibly still incomplete) target is longer than allowed, so memory
/// for an endless request line stays bounded by the target limit (catalogue H41).
fn check_target_len(rest: &[u8], max_target: usize) -> Result<(), ParseError> {
    if rest.len() <= max_target {
        return Ok(()); // the target cannot be longer than the buffer: skip the scan
    }
    let is_end = |b: &u8| matches!(b, b' ' | b'\r' | b'\n');
    let Some(method_end) = rest.iter().position(is_end) else {
        return Ok(()); // still inside the method; the head limit bounds this case
    };
    if rest.get(method_end) != Some(&b' ') {
        return Ok(()); // no target on this line: httparse reports the syntax error
    }
    let target = rest.get(method_end + 1..).unwrap_or_default();
    let target_len = target.iter().position(is_end).unwrap_or(target.len());
    if target_len > max_target {
        return Err(ParseError::UriTooLong);
    }
    Ok(())
}

fn parse_method(m: &[u8]) -> Result<Method, ParseError> {
    Ok(match m {
        b"GET" => Method::Get,
        b"HEAD" => Method::Head,
        b"PUT" => Method::Put,
        b"POST" => Method::Post,
        b"DELETE" => Method::Delete,
        b"OPTIONS" => Method::Options,
        b"PATCH" => Method::Patch,
        b"CONNECT" => Method::Connect,
        b"TRACE" => Method::Trace,
        // httparse only lets tchar tokens through, so this is a well-formed unknown method.
        _ => return Err(ParseError::NotImplemented("unknown method")),
    })
}

/// Origin-form only (RFC 9112 §3.2.1): `*`, authority- and absolute-form get 400, by choice
/// (catalogue H38-H40). The path must be RFC 3986 `*( "/" / pchar )` with valid escapes;
/// the query is passed through as opaque visible ASCII (httparse already excluded CTLs/SP).
fn split_target(
    target: &[u8],
    at: usize,
) -> Result<(Range<usize>, Option<Range<usize>>), ParseError> {
    if target.first() != Some(&b'/') {
        return Err(ParseError::BadRequest("request-target is not origin-form"));
    }
    if let Some(split) = split_plain_target(target, at) {
        return Ok(split);
    }
    split_target_checked(target, at)
}

/// The usual target (no escape, plain query) in one pass with a table lookup per byte: the
/// path runs up to the first byte that is not a path literal, which must be the end or a `?`
/// before a plain query. `None` for any other target, which [`split_target_checked`] decides
/// (a property test holds the two to the same answer wherever this one gives one).
#[inline]
fn split_plain_target(target: &[u8], at: usize) -> Option<(Range<usize>, Option<Range<usize>>)> {
    match class_run(target, &PATH_LITERAL) {
        q if q == target.len() => Some((at..at + target.len(), None)),
        q if target.get(q) == Some(&b'?') => {
            let rest = target.get(q + 1..).unwrap_or_default();
            let plain = rest.iter().all(|&b| b < 0x80 && b != b'#');
            plain.then(|| (at..at + q, Some(at + q + 1..at + target.len())))
        }
        _ => None,
    }
}

/// Every check of an origin-form target (after its leading `/`), each with its own error.
fn split_target_checked(
    target: &[u8],
    at: usize,
) -> Result<(Range<usize>, Option<Range<usize>>), ParseError> {
    let q = target.iter().position(|&b| b == b'?');
    let path = target.get(..q.unwrap_or(target.len())).unwrap_or_default();
    if target.iter().any(|&b| b >= 0x80) {
        // httparse lets raw UTF-8 through; RFC 3986 requires percent-encoding (H42).
        return Err(ParseError::BadRequest("non-ASCII byte in request-target"));
    }
    if target.contains(&b'#') {
        return Err(ParseError::BadRequest("fragment in request-target"));
    }
    if !is_pct_encoded_with(path, |b| b == b'/' || is_pchar_literal(b)) {
        return Err(ParseError::BadRequest("invalid byte or escape in path"));
    }
    let query = q.map(|q| at + q + 1..at + target.len());
    Ok((at..at + path.len(), query))
}

/// Classify httparse's errors; only `Version` needs a second look at the bytes.
fn map_httparse_error(e: httparse::Error, rest: &[u8]) -> ParseError {
    match e {
        httparse::Error::Version if is_http2_or_later(rest) => ParseError::VersionNotSupported,
        // Includes `HTTP/1.2`: RFC 9110 §2.5 says treat as 1.1; we answer 400 (documented).
        httparse::Error::Version => ParseError::BadRequest("malformed HTTP version"),
        httparse::Error::TooManyHeaders => ParseError::TooManyHeaders,
        httparse::Error::HeaderName => ParseError::BadRequest("invalid header field name"),
        httparse::Error::HeaderValue => ParseError::BadRequest("invalid header field value"),
        httparse::Error::NewLine => ParseError::BadRequest("invalid line ending"),
        httparse::Error::Token | httparse::Error::Status => {
            ParseError::BadRequest("malformed request line")
        }
    }
}

/// True when the request line's version is `HTTP/<major>` with major >= 2 (`HTTP/2.0`, the
/// h2 preface `PRI * HTTP/2.0`, `HTTP/9.9`); it may still be incomplete.
fn is_http2_or_later(rest: &[u8]) -> bool {
    let line_end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
    let line = rest.get(..line_end).unwrap_or_default();
    let mut parts = line.splitn(3, |&b| b == b' ');
    let Some(version) = parts.nth(2) else {
        return false;
    };
    let Some(after) = version.strip_prefix(b"HTTP/") else {
        return false;
    };
    let digits = after.iter().take_while(|b| b.is_ascii_digit()).count();
    let major = after.get(..digits).unwrap_or_default();
    // Any digit run with a non-zero digit other than a lone `1` (leading zeros ignored).
    let zeros = major.iter().take_while(|&&b| b == b'0').count();
    let significant = major.get(zeros..).unwrap_or_default();
    !significant.is_empty() && significant != b"1"
}

/// The span of `range`, a part of a head no longer than `Limits::head_bytes`: it ends after
/// the method and at most at `u32::MAX`, so [`Span::new`] always succeeds. Fail closed anyway.
fn span(range: Range<usize>) -> Result<Span, ParseError> {
    Span::new(range).ok_or(ParseError::BadRequest("internal: span outside the head"))
}

/// Offset of `sub` (a slice httparse returned) inside `buf`, by address arithmetic.
fn offset_in(buf: &[u8], sub: &[u8]) -> Result<usize, ParseError> {
    let at = (sub.as_ptr() as usize).wrapping_sub(buf.as_ptr() as usize);
    match at.checked_add(sub.len()) {
        Some(end) if end <= buf.len() => Ok(at),
        // Unreachable: httparse only returns subslices of its input. Fail closed anyway.
        _ => Err(ParseError::BadRequest("internal: slice outside buffer")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Target bytes, weighted to the ones both checks treat specially.
    fn target_byte() -> impl Strategy<Value = u8> {
        prop_oneof![
            any::<u8>(),
            proptest::sample::select(b"a/?#%2F:@~".to_vec())
        ]
    }

    proptest! {
        #[test]
        fn plain_target_agrees_with_the_full_check(
            rest in proptest::collection::vec(target_byte(), 0..24),
            at in 0usize..64,
        ) {
            let mut target = vec![b'/'];
            target.extend_from_slice(&rest);
            if let Some(split) = split_plain_target(&target, at) {
                prop_assert_eq!(Ok(split), split_target_checked(&target, at), "{:?}", target);
            }
        }
    }

    #[test]
    fn usual_targets_take_the_plain_path() {
        let t = b"/api/v1/cache/bench:hit";
        assert_eq!(split_plain_target(t, 4), Some((4..4 + t.len(), None)));
        let t = b"/api/v1/cache?limit=5";
        assert_eq!(split_plain_target(t, 0), Some((0..13, Some(14..t.len()))));
        assert_eq!(split_plain_target(b"/a%2Fb", 0), None);
        assert_eq!(split_plain_target(b"/a#b", 0), None);
    }

    fn lim() -> Limits {
        Limits::default()
    }

    /// `path_escaped` says whether the path has an escape, whichever parser read it (the query
    /// does not count).
    #[test]
    fn path_escaped_marks_an_escape_in_the_path() {
        let cases: [(&[u8], bool); 5] = [
            (b"GET /api/v1/cache/a%2Fb HTTP/1.1\r\nHost: h\r\n\r\n", true),
            (b"GET /api/v1/cache/ab HTTP/1.1\r\nHost: h\r\n\r\n", false),
            (
                b"GET /api/v1/cache/ab?x=%41 HTTP/1.1\r\nHost: h\r\n\r\n",
                false,
            ),
            (b"GET /api/v1/cache/ab HTTP/1.0\r\nHost: h\r\n\r\n", false),
            (b"GET /a%41 HTTP/1.0\r\n\r\n", true),
        ];
        for (buf, want) in cases {
            for parsed in [parse_head(buf, &lim()), parse_head_full(buf, &lim())] {
                let Ok(Parsed::Complete(h)) = parsed else {
                    panic!("not complete: {:?}", String::from_utf8_lossy(buf))
                };
                assert_eq!(h.path_escaped, want, "{:?}", String::from_utf8_lossy(buf));
            }
        }
    }

    #[test]
    fn simple_get_offsets() {
        let buf = b"GET /k/a?x=1 HTTP/1.1\r\nHost: h\r\nX-Request-Id: r1\r\n\r\nrest";
        let Ok(Parsed::Complete(h)) = parse_head(buf, &lim()) else {
            panic!("not complete")
        };
        assert_eq!(&buf[h.path.range()], b"/k/a");
        assert_eq!(&buf[h.query.unwrap().range()], b"x=1");
        assert_eq!(&buf[h.request_id.unwrap().range()], b"r1");
        assert_eq!(h.head_len, buf.len() - 4);
        assert_eq!(
            (h.method, h.version, h.framing),
            (Method::Get, Version::Http11, Framing::None)
        );
        assert!(h.keep_alive && !h.expect_continue && !h.forwarded);
    }

    #[test]
    fn authorization_offsets_and_bounds() {
        let buf = b"GET / HTTP/1.1\r\nHost: h\r\nAuthorization:  Bearer t0k \r\n\r\n";
        let Ok(Parsed::Complete(h)) = parse_head(buf, &lim()) else {
            panic!("not complete")
        };
        assert_eq!(&buf[h.authorization.unwrap().range()], b"Bearer t0k");
        let none = parse_head(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", &lim());
        assert!(matches!(none, Ok(Parsed::Complete(h)) if h.authorization.is_none()));
        let at_limit = format!(
            "GET / HTTP/1.1\r\nHost: h\r\nAuthorization: {}\r\n\r\n",
            "a".repeat(crate::MAX_AUTHORIZATION_BYTES)
        );
        assert!(matches!(
            parse_head(at_limit.as_bytes(), &lim()),
            Ok(Parsed::Complete(_))
        ));
        let over = at_limit.replace("Authorization: ", "Authorization: a");
        assert_eq!(
            parse_head(over.as_bytes(), &lim()),
            Err(ParseError::BadRequest("Authorization value too long"))
        );
        let twice = b"GET / HTTP/1.1\r\nHost: h\r\nAuthorization: a\r\nAUTHORIZATION: a\r\n\r\n";
        assert_eq!(
            parse_head(twice, &lim()),
            Err(ParseError::BadRequest("duplicate Authorization header"))
        );
    }

    #[test]
    fn leading_empty_lines() {
        assert_eq!(skip_leading_empty_lines(b""), Ok(None));
        assert_eq!(skip_leading_empty_lines(b"\r"), Ok(None));
        assert_eq!(skip_leading_empty_lines(b"\r\n\nG"), Ok(Some(3)));
        assert!(skip_leading_empty_lines(b"\r\n\n\r\nG").is_err());
        assert!(skip_leading_empty_lines(b"\rG").is_err());
    }

    #[test]
    fn version_classes() {
        assert!(is_http2_or_later(b"PRI * HTTP/2.0\r\n"));
        assert!(is_http2_or_later(b"GET / HTTP/2"));
        assert!(is_http2_or_later(b"GET / HTTP/10.0\r\n"));
        assert!(!is_http2_or_later(b"GET / HTTP/1.2\r\n"));
        assert!(!is_http2_or_later(b"GET / HTTP/01.1\r\n"));
        assert!(!is_http2_or_later(b"GET / http/2.0\r\n"));
        assert!(!is_http2_or_later(b"GET / HTTP/\r\n"));
    }

    #[test]
    fn target_split() {
        assert_eq!(split_target(b"/a?", 10), Ok((10..12, Some(13..13))));
        assert_eq!(split_target(b"/a%2Fb", 0), Ok((0..6, None)));
        assert!(split_target(b"/a%2", 0).is_err());
        assert!(split_target(b"/a{b", 0).is_err());
        assert_eq!(split_target(b"/a?b{|}", 0), Ok((0..2, Some(3..7))));
    }
}
