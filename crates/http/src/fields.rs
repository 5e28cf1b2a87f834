//! Header-field semantics of a request head: message framing (`Content-Length`,
//! `Transfer-Encoding`), `Host`, `Connection`, `Expect`, `Authorization` and our cluster headers.
//!
//! httparse has already checked field syntax; this file decides what the fields *mean* and
//! rejects every ambiguous combination, since a proxy pair that disagrees on framing is a
//! request-smuggling hole (RFC 9112 §6.3, catalogue H01-H12, H31, H50-H56). One pass over
//! the fields, no allocation; the verdicts are applied in a fixed order afterwards so the
//! error for a given head does not depend on field order.

use super::request::{Framing, Version};
use super::syntax::{
    class_run, is_pct_encoded_with, is_sub_delim, is_tchar, is_unreserved, list_members,
    parse_decimal, trim_ows, REG_NAME_LITERAL,
};
use super::{ParseError, MAX_AUTHORIZATION_BYTES, MAX_REQUEST_ID_BYTES};

/// What the server needs from the header fields; `request_id` borrows the caller's buffer.
#[derive(Debug)]
pub(crate) struct Fields<'b> {
    pub framing: Framing,
    pub keep_alive: bool,
    pub expect_continue: bool,
    pub forwarded: bool,
    pub request_id: Option<&'b [u8]>,
    pub cache_version: Option<&'b [u8]>,
    pub authorization: Option<&'b [u8]>,
    pub optional: Optional<'b>,
}

/// Transfer-Encoding members seen across all TE field lines, in order (RFC 9110 §5.3:
/// several lines are one comma-joined list).
#[derive(Default)]
struct TransferCodings {
    present: bool,
    members: usize,
    chunked: usize,
    last_is_chunked: bool,
    other: bool,
}

impl TransferCodings {
    fn add_line(&mut self, value: &[u8]) -> Result<(), ParseError> {
        self.present = true;
        for member in list_members(value) {
            // A coding is a bare token; `chunked\x0b`, `\xa0chunked` or `gzip;q=1` are not
            // (parameters are undefined for every coding we could accept).
            if !member.iter().all(|&b| is_tchar(b)) {
                return Err(ParseError::BadRequest("malformed Transfer-Encoding"));
            }
            self.members += 1;
            self.last_is_chunked = member.eq_ignore_ascii_case(b"chunked");
            if self.last_is_chunked {
                self.chunked += 1;
            } else {
                self.other = true;
            }
        }
        Ok(())
    }

    /// RFC 9112 §6.1/§6.3: chunked exactly once and last; any other coding is not implemented.
    fn framing(&self) -> Result<Framing, ParseError> {
        if self.chunked > 1 {
            return Err(ParseError::BadRequest("chunked applied more than once"));
        }
        if self.chunked == 1 && !self.last_is_chunked {
            return Err(ParseError::BadRequest(
                "chunked is not the final transfer coding",
            ));
        }
        if self.other {
            return Err(ParseError::NotImplemented("unsupported transfer coding"));
        }
        if self.members == 0 {
            // Never fall back to Content-Length or "no body" (HTTP Garden server bug #21).
            return Err(ParseError::BadRequest("empty Transfer-Encoding"));
        }
        Ok(Framing::Chunked)
    }
}

/// What one pass over the field lines saw, before any verdict that involves several fields.
#[derive(Default)]
struct Seen<'b> {
    content_length: Option<u64>,
    cl_lines: usize,
    te: TransferCodings,
    hosts: usize,
    close: bool,
    keep_alive_token: bool,
    expect_continue: bool,
    expect_other: bool,
    forwarded: bool,
    request_id: Option<&'b [u8]>,
    cache_version: Option<&'b [u8]>,
    authorization: Option<&'b [u8]>,
    optional: Optional<'b>,
}

/// Header fields the cache API reads when present (conditional requests, raw values, tracing),
/// each OWS-trimmed and at most once (a second line would leave it open which one counts).
/// Their syntax is checked where they are used: a bad `If-Match` is a 400 of the cache handler,
/// which can name the key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Optional<'b> {
    pub content_type: Option<&'b [u8]>,
    pub if_match: Option<&'b [u8]>,
    pub if_none_match: Option<&'b [u8]>,
    /// `X-Cache-TTL`: seconds to live for a raw value (whose body cannot carry a `ttl`).
    pub cache_ttl: Option<&'b [u8]>,
    /// W3C `traceparent`, passed on with forwards.
    pub traceparent: Option<&'b [u8]>,
    /// `X-Cache-Client-Request-Id`: the client's `X-Request-Id`, passed on by the node that
    /// forwarded the request (which matches answers by a numeric `X-Request-Id` of its own).
    pub client_request_id: Option<&'b [u8]>,
}

impl<'b> Optional<'b> {
    /// Record `value` for the optional field `field`; a second line of it is a 400.
    #[inline]
    fn add(&mut self, field: Known, value: &'b [u8]) -> Result<(), ParseError> {
        let (slot, dup) = match field {
            Known::ContentType => (&mut self.content_type, "duplicate Content-Type header"),
            Known::IfMatch => (
                &mut self.if_match,
                "duplicate If-Match header (send one list)",
            ),
            Known::IfNoneMatch => (
                &mut self.if_none_match,
                "duplicate If-None-Match header (send one list)",
            ),
            Known::CacheTtl => (&mut self.cache_ttl, "duplicate X-Cache-TTL header"),
            Known::Traceparent => (&mut self.traceparent, "duplicate traceparent header"),
            Known::ClientRequestId => (
                &mut self.client_request_id,
                "duplicate X-Cache-Client-Request-Id header",
            ),
            _ => return Ok(()),
        };
        if slot.is_some() {
            return Err(ParseError::BadRequest(dup));
        }
        *slot = Some(value);
        Ok(())
    }
}

/// The header fields whose meaning this crate or the node reads; every other field is carried
/// past unread. One list for the full parser and for the common-head path
/// (`request_common.rs`), so a field added here is one both see.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Known {
    ContentLength,
    TransferEncoding,
    Host,
    Connection,
    Expect,
    /// `X-Cache-Forwarded`
    Forwarded,
    /// `X-Cache-Version`
    CacheVersion,
    Authorization,
    /// `X-Request-Id`
    RequestId,
    ContentType,
    IfMatch,
    IfNoneMatch,
    /// `X-Cache-TTL`
    CacheTtl,
    Traceparent,
    /// `X-Cache-Client-Request-Id`
    ClientRequestId,
}

/// Which known field `name` is (ASCII case-insensitive), `None` for any other. By length
/// first: a field we do not read (`User-Agent`, `Accept`) costs one or two comparisons, not
/// fifteen.
#[inline]
pub(crate) fn classify(name: &[u8]) -> Option<Known> {
    let candidates: &[(&[u8], Known)] = match name.len() {
        4 => &[(b"host", Known::Host)],
        6 => &[(b"expect", Known::Expect)],
        8 => &[(b"if-match", Known::IfMatch)],
        10 => &[(b"connection", Known::Connection)],
        11 => &[
            (b"x-cache-ttl", Known::CacheTtl),
            (b"traceparent", Known::Traceparent),
        ],
        12 => &[
            (b"content-type", Known::ContentType),
            (b"x-request-id", Known::RequestId),
        ],
        13 => &[
            (b"authorization", Known::Authorization),
            (b"if-none-match", Known::IfNoneMatch),
        ],
        14 => &[(b"content-length", Known::ContentLength)],
        15 => &[(b"x-cache-version", Known::CacheVersion)],
        17 => &[
            (b"transfer-encoding", Known::TransferEncoding),
            (b"x-cache-forwarded", Known::Forwarded),
        ],
        25 => &[(b"x-cache-client-request-id", Known::ClientRequestId)],
        _ => return None,
    };
    candidates
        .iter()
        .find(|(known, _)| is_folded(name, known))
        .map(|&(_, field)| field)
}

/// `name.eq_ignore_ascii_case(known)` for a `name` of token bytes (both parsers check that
/// first) and a `known` of lowercase letters and `-`, eight bytes per step: `| 0x20` lowers a
/// letter, keeps `-`, and maps no other token byte onto either (only CR, no token byte, would
/// become `-`). The standard comparison lowered both sides byte by byte on every field.
#[inline]
fn is_folded(name: &[u8], known: &[u8]) -> bool {
    const LOWER: u64 = 0x2020_2020_2020_2020;
    let word = |part: &[u8]| {
        let mut w = [0u8; 8];
        w.get_mut(..part.len())
            .unwrap_or_default()
            .copy_from_slice(part);
        u64::from_le_bytes(w) | LOWER
    };
    name.len() == known.len()
        && name
            .chunks(8)
            .zip(known.chunks(8))
            .all(|(n, k)| word(n) == word(k))
}

impl<'b> Seen<'b> {
    /// Record one field line (`value` already OWS-trimmed); rejects a value invalid on its own.
    #[inline]
    fn add(&mut self, name: &[u8], value: &'b [u8]) -> Result<(), ParseError> {
        let Some(field) = classify(name) else {
            return Ok(());
        };
        match field {
            Known::ContentLength => {
                self.cl_lines += 1;
                // `5, 5` is not 1*DIGIT: rejected here rather than folded (catalogue H03).
                let n = parse_decimal(value)
                    .ok_or(ParseError::BadRequest("invalid Content-Length value"))?;
                self.content_length = Some(n);
            }
            Known::TransferEncoding => self.te.add_line(value)?,
            Known::Host => {
                self.hosts += 1;
                if !is_valid_host(value) {
                    return Err(ParseError::BadRequest("invalid Host value"));
                }
            }
            Known::Connection => {
                for token in list_members(value) {
                    self.close |= token.eq_ignore_ascii_case(b"close");
                    self.keep_alive_token |= token.eq_ignore_ascii_case(b"keep-alive");
                }
            }
            Known::Expect => self.add_expect(value),
            Known::Forwarded => self.forwarded = true,
            Known::CacheVersion => self.add_cache_version(value)?,
            Known::Authorization => self.add_authorization(value)?,
            Known::RequestId => self.add_request_id(value)?,
            optional => self.optional.add(optional, value)?,
        }
        Ok(())
    }

    fn add_expect(&mut self, value: &[u8]) {
        let mut members = 0;
        for m in list_members(value) {
            members += 1;
            if m.eq_ignore_ascii_case(b"100-continue") {
                self.expect_continue = true;
            } else {
                self.expect_other = true;
            }
        }
        self.expect_other |= members == 0;
    }

    /// A replica write from a peer: the version it was given where it entered the cluster.
    fn add_cache_version(&mut self, value: &'b [u8]) -> Result<(), ParseError> {
        let hex = !value.is_empty() && value.len() <= 16 && value.iter().all(u8::is_ascii_hexdigit);
        if self.cache_version.is_some() || !hex {
            return Err(ParseError::BadRequest(
                "invalid X-Cache-Version (1-16 hex digits, once)",
            ));
        }
        self.cache_version = Some(value);
        Ok(())
    }

    /// Two credentials would leave it open which one a check saw (the node compares the one
    /// value against its tokens); a value longer than any token is refused unread.
    fn add_authorization(&mut self, value: &'b [u8]) -> Result<(), ParseError> {
        if self.authorization.is_some() {
            return Err(ParseError::BadRequest("duplicate Authorization header"));
        }
        if value.len() > MAX_AUTHORIZATION_BYTES {
            return Err(ParseError::BadRequest("Authorization value too long"));
        }
        self.authorization = Some(value);
        Ok(())
    }

    fn add_request_id(&mut self, value: &'b [u8]) -> Result<(), ParseError> {
        if self.request_id.is_some() {
            // Two ids would make response correlation ambiguous (catalogue H75).
            return Err(ParseError::BadRequest("duplicate X-Request-Id"));
        }
        if !is_valid_request_id(value) {
            return Err(ParseError::BadRequest("invalid X-Request-Id value"));
        }
        self.request_id = Some(value);
        Ok(())
    }

    /// Message framing from the Content-Length and Transfer-Encoding lines (RFC 9112 §6.3).
    #[inline]
    fn framing(&self, version: Version) -> Result<Framing, ParseError> {
        if self.cl_lines > 1 {
            return Err(ParseError::BadRequest("conflicting Content-Length headers"));
        }
        Ok(match (self.content_length, self.te.present) {
            (Some(_), true) => {
                return Err(ParseError::BadRequest(
                    "both Content-Length and Transfer-Encoding",
                ))
            }
            (None, true) if version == Version::Http10 => {
                return Err(ParseError::BadRequest("Transfer-Encoding on HTTP/1.0"))
            }
            (None, true) => self.te.framing()?,
            (Some(n), false) => Framing::Length(n),
            (None, false) => Framing::None,
        })
    }
}

/// Interpret the parsed header fields of a request with the given version.
pub(crate) fn interpret<'b>(
    headers: &[httparse::Header<'b>],
    version: Version,
    max_body_bytes: usize,
) -> Result<Fields<'b>, ParseError> {
    let mut seen = Seen::default();
    for h in headers {
        seen.add(h.name.as_bytes(), trim_ows(h.value))?;
    }

    let framing = seen.framing(version)?;
    match (version, seen.hosts) {
        (Version::Http11, 0) => return Err(ParseError::BadRequest("missing Host header")),
        (_, 2..) => return Err(ParseError::BadRequest("duplicate Host headers")),
        _ => {}
    }
    if let Framing::Length(n) = framing {
        // Compared as u64 so a huge claim is rejected without ever being used as a size.
        if n > max_body_bytes as u64 {
            return Err(ParseError::PayloadTooLarge);
        }
    }
    // RFC 9110 §10.1.1: a 1.0 server cannot know what Expect means; ignore it there.
    let expect_continue = match version {
        Version::Http10 => false,
        Version::Http11 if seen.expect_other => return Err(ParseError::ExpectationFailed),
        Version::Http11 => seen.expect_continue,
    };
    let keep_alive = match version {
        Version::Http11 => !seen.close,
        Version::Http10 => seen.keep_alive_token && !seen.close,
    };
    Ok(Fields {
        framing,
        keep_alive,
        expect_continue,
        forwarded: seen.forwarded,
        request_id: seen.request_id,
        cache_version: seen.cache_version,
        authorization: seen.authorization,
        optional: seen.optional,
    })
}

/// RFC 9112 §3.2 + RFC 3986 §3.2.2: `uri-host [ ":" port ]`; empty is allowed.
pub(crate) fn is_valid_host(v: &[u8]) -> bool {
    is_plain_host(v).unwrap_or_else(|| is_valid_host_checked(v))
}

/// The usual Host (a name or IPv4 address, an optional port) in one pass with a table lookup
/// per byte; `None` for an escape or an IP literal, which [`is_valid_host_checked`] decides (a
/// property test holds the two to the same answer wherever this one gives one).
#[inline]
fn is_plain_host(v: &[u8]) -> Option<bool> {
    match class_run(v, &REG_NAME_LITERAL) {
        i if i == v.len() => Some(true),
        i if v.get(i) == Some(&b':') => Some(
            v.get(i + 1..)
                .unwrap_or_default()
                .iter()
                .all(u8::is_ascii_digit),
        ),
        _ => None,
    }
}

/// [`is_valid_host`], every case.
fn is_valid_host_checked(v: &[u8]) -> bool {
    let (host_ok, after) = match v.split_first() {
        Some((b'[', rest)) => match rest.iter().position(|&b| b == b']') {
            // IP-literal: IPv6address / IPvFuture, both within this byte class.
            Some(end) => {
                let inner = rest.get(..end).unwrap_or_default();
                let ok = !inner.is_empty()
                    && inner
                        .iter()
                        .all(|&b| is_unreserved(b) || is_sub_delim(b) || b == b':');
                (ok, rest.get(end + 1..).unwrap_or_default())
            }
            None => (false, &[][..]),
        },
        _ => {
            let end = v.iter().position(|&b| b == b':').unwrap_or(v.len());
            let reg_name = v.get(..end).unwrap_or_default();
            let ok = is_pct_encoded_with(reg_name, |b| is_unreserved(b) || is_sub_delim(b));
            (ok, v.get(end..).unwrap_or_default())
        }
    };
    let port_ok = match after.split_first() {
        None => true,
        Some((b':', port)) => port.iter().all(u8::is_ascii_digit),
        Some(_) => false,
    };
    host_ok && port_ok
}

/// Echoed to peers and clients, so only visible ASCII and bounded length.
pub(crate) fn is_valid_request_id(v: &[u8]) -> bool {
    (1..=MAX_REQUEST_ID_BYTES).contains(&v.len()) && v.iter().all(|b| (0x21..=0x7e).contains(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Host bytes, weighted to the ones both checks treat specially.
    fn host_byte() -> impl Strategy<Value = u8> {
        prop_oneof![
            any::<u8>(),
            proptest::sample::select(b"a1.-_~!:[]%fF".to_vec())
        ]
    }

    proptest! {
        #[test]
        fn plain_host_agrees_with_the_full_check(
            v in proptest::collection::vec(host_byte(), 0..24)
        ) {
            if let Some(ok) = is_plain_host(&v) {
                prop_assert_eq!(ok, is_valid_host_checked(&v), "{:?}", v);
            }
        }
    }

    /// Token bytes, weighted to letters, `-` and the bytes next to them in ASCII.
    fn name_byte() -> impl Strategy<Value = u8> {
        prop_oneof![
            proptest::sample::select(b"aAzZhHoOsStT-_.!~|`^09".to_vec()),
            any::<u8>().prop_filter("a token byte", |&b| is_tchar(b)),
        ]
    }

    proptest! {
        #[test]
        fn folded_comparison_is_the_case_insensitive_one_on_tokens(
            name in proptest::collection::vec(name_byte(), 0..30),
            pick in any::<proptest::sample::Index>(),
        ) {
            let known: [&[u8]; 4] = [b"host", b"x-cache-client-request-id", b"content-length", b"if-match"];
            let known = known[pick.index(known.len())];
            prop_assert_eq!(is_folded(&name, known), name.eq_ignore_ascii_case(known));
            // The same name in any case, which the random bytes rarely spell.
            let spelled: Vec<u8> = known.iter().zip(name.iter().chain(std::iter::repeat(&b'a')))
                .map(|(&k, &n)| if n.is_ascii_uppercase() { k.to_ascii_uppercase() } else { k })
                .collect();
            prop_assert!(is_folded(&spelled, known));
        }
    }

    #[test]
    fn usual_hosts_take_the_plain_path() {
        assert_eq!(is_plain_host(b"127.0.0.1:8001"), Some(true));
        assert_eq!(is_plain_host(b"cache-1.example"), Some(true));
        assert_eq!(is_plain_host(b"a:8x"), Some(false));
        assert_eq!(is_plain_host(b"[::1]:80"), None);
        assert_eq!(is_plain_host(b"x%41y"), None);
    }

    #[test]
    fn host_values() {
        for ok in [
            &b""[..],
            b"a",
            b"a:80",
            b"a:",
            b"[::1]",
            b"[::1]:8080",
            b"x%41y",
            b"a.b-c_d~",
        ] {
            assert!(is_valid_host(ok), "{:?}", String::from_utf8_lossy(ok));
        }
        for bad in [
            &b"a b"[..],
            b"a@b",
            b"a/b",
            b"a:b",
            b"a:1:2",
            b"[::1",
            b"[]",
            b"[::1]x",
            b"%zz",
            b"\xff",
        ] {
            assert!(!is_valid_host(bad), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn request_id_values() {
        assert!(is_valid_request_id(b"abc-123"));
        assert!(!is_valid_request_id(b""));
        assert!(!is_valid_request_id(b"a b"));
        assert!(!is_valid_request_id(b"\xff"));
        assert!(is_valid_request_id(&[b'a'; MAX_REQUEST_ID_BYTES]));
        assert!(!is_valid_request_id(&[b'a'; MAX_REQUEST_ID_BYTES + 1]));
    }

    fn te(values: &[&[u8]]) -> Result<Framing, ParseError> {
        let mut t = TransferCodings::default();
        for v in values {
            t.add_line(v)?;
        }
        t.framing()
    }

    #[test]
    fn transfer_coding_lists() {
        assert_eq!(te(&[b"chunked"]), Ok(Framing::Chunked));
        assert_eq!(te(&[b"CHUNKED"]), Ok(Framing::Chunked));
        assert_eq!(te(&[b",chunked,"]), Ok(Framing::Chunked));
        assert!(matches!(
            te(&[b"chunked", b"chunked"]),
            Err(ParseError::BadRequest(_))
        ));
        assert!(matches!(
            te(&[b"chunked, gzip"]),
            Err(ParseError::BadRequest(_))
        ));
        assert!(matches!(
            te(&[b"gzip", b"chunked"]),
            Err(ParseError::NotImplemented(_))
        ));
        assert!(matches!(te(&[b""]), Err(ParseError::BadRequest(_))));
        assert!(matches!(
            te(&[b"chunked\x0b"]),
            Err(ParseError::BadRequest(_))
        ));
    }
}
