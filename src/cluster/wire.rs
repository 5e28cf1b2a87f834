//! Node-to-node HTTP on the wire: serialize a forwarded request, read one answer.
//!
//! The request is re-serialized, never copied: one `Content-Length`, no hop-by-hop headers, CRLF
//! line ends, plus `X-Cache-Forwarded` (the receiving node serves it locally and never forwards it
//! again, so a ring disagreement cannot bounce a request), the cluster secret (`Authorization`,
//! without which the receiver ignores the marker) and a numeric `X-Request-Id` of this core's,
//! which the owner echoes; an answer with another id is a desync and the connection is dropped
//! (H75 in `docs/http-hardening.md`). The client's own id travels beside it in
//! [`CLIENT_REQUEST_ID`], with `traceparent`, among the passed-on header lines. Answers are framed by the one response-head parser of the protocol
//! layer ([`crate::http::parse_response_head`]).

use std::ops::Range;

use monoio::buf::IoBufMut;
use monoio::io::AsyncReadRent;

use super::error::Broken;
use super::pool::Pooled;
use crate::http::{name_is, parse_response_head, BodyFraming, Method};

/// The client's own `X-Request-Id`, as sent, on a request a node sends a peer on its behalf (a
/// forward, a replica copy): the `X-Request-Id` of that request is the sender's number, echoed
/// so it can match the answer; this one is what the peer's log lines name (and what it passes
/// on again).
pub const CLIENT_REQUEST_ID: &str = "X-Cache-Client-Request-Id";

/// Answer headers a node reads from a forwarded request's answer (besides `Content-Type`,
/// which frames every answer): the first [`RELAYED_TO_CLIENT`] are passed on to its client
/// (what a cache client or proxy reads); the last, `X-Cache-Lease`, says the owner of a hot key
/// granted a lease with its answer (`server/handlers/lease.rs`) and stays between the nodes.
pub const RELAYED: [&str; 6] = [
    "ETag",
    "Cache-Control",
    "Last-Modified",
    "Age",
    "Retry-After",
    "X-Cache-Lease",
];
/// [`RELAYED`] in lowercase, as answers are matched against them.
const RELAYED_LOWER: [&str; RELAYED.len()] = [
    "etag",
    "cache-control",
    "last-modified",
    "age",
    "retry-after",
    "x-cache-lease",
];
/// How many of [`RELAYED`] reach the client.
pub const RELAYED_TO_CLIENT: usize = 5;
/// Index of `X-Cache-Lease` in [`RELAYED`].
pub const RELAYED_LEASE: usize = 5;

/// Where each [`RELAYED`] header's value sits (empty = absent).
pub type Relayed = [Range<usize>; RELAYED.len()];

/// Free room kept in a peer connection's read buffer before each read.
const READ_SPARE: usize = 4096;
/// How much the read buffer grows when it runs out of room.
const READ_GROW: usize = 16 * 1024;

/// The parts of a client request that are forwarded.
pub struct Outgoing<'a> {
    pub method: Method,
    pub path: &'a [u8],
    pub query: Option<&'a [u8]>,
    /// `Some` when the request had a body (even empty).
    pub body: Option<&'a [u8]>,
    /// A replica write: the version its coordinator gave it (`X-Cache-Version`).
    pub version: Option<u64>,
    /// The body's `Content-Type` (`application/json` when `None`).
    pub content_type: Option<&'a [u8]>,
    /// Further header lines passed on as sent, each `Name: value\r\n` (conditions, TTL,
    /// tracing); empty for none.
    pub headers: &'a [u8],
}

impl Outgoing<'_> {
    /// Safe to send twice: every method we forward is, and so is a node-to-node import
    /// (storing the same entries twice changes nothing) and a batch (gets, puts and deletes
    /// only, each as safe to repeat as the single call).
    pub fn idempotent(&self) -> bool {
        !matches!(self.method, Method::Post | Method::Patch)
            || self.path == b"/admin/import"
            || self.path == b"/api/v1/batch"
            || self.path == b"/internal/invalidate"
    }
}

/// Where one answer sits in a peer connection's read buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    pub status: u16,
    pub content_type: Range<usize>,
    pub node: Range<usize>,
    /// Values of the [`RELAYED`] headers, in that order (empty when absent).
    pub relayed: Relayed,
    pub content_length: usize,
    pub body: Range<usize>,
    pub keep_alive: bool,
    /// Offset just past this answer in the read buffer.
    pub end: usize,
}

fn method_bytes(m: Method) -> &'static [u8] {
    match m {
        Method::Get => b"GET",
        Method::Head => b"HEAD",
        Method::Put => b"PUT",
        Method::Post => b"POST",
        Method::Delete => b"DELETE",
        Method::Options => b"OPTIONS",
        Method::Patch => b"PATCH",
        Method::Connect => b"CONNECT",
        Method::Trace => b"TRACE",
    }
}

/// Append `req` as a request to the peer at `host`, sent by node `me` with request id `id`;
/// `authorization` is the cluster secret's header value (`Bearer <secret>`) when one is set.
pub(super) fn serialize(
    out: &mut Vec<u8>,
    req: &Outgoing<'_>,
    host: &str,
    me: &str,
    id: u64,
    authorization: Option<&[u8]>,
) {
    out.extend_from_slice(method_bytes(req.method));
    out.push(b' ');
    out.extend_from_slice(req.path);
    if let Some(q) = req.query {
        out.push(b'?');
        out.extend_from_slice(q);
    }
    out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    out.extend_from_slice(host.as_bytes());
    out.extend_from_slice(b"\r\nX-Cache-Forwarded: ");
    out.extend_from_slice(me.as_bytes());
    out.extend_from_slice(b"\r\nX-Request-Id: ");
    out.extend_from_slice(itoa::Buffer::new().format(id).as_bytes());
    if let Some(a) = authorization {
        out.extend_from_slice(b"\r\nAuthorization: ");
        out.extend_from_slice(a);
    }
    if let Some(v) = req.version {
        out.extend_from_slice(b"\r\nX-Cache-Version: ");
        out.extend_from_slice(crate::storage::version::to_hex(v).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(req.headers);
    if let Some(body) = req.body {
        out.extend_from_slice(b"Content-Type: ");
        out.extend_from_slice(req.content_type.unwrap_or(b"application/json"));
        out.extend_from_slice(b"\r\nContent-Length: ");
        out.extend_from_slice(itoa::Buffer::new().format(body.len()).as_bytes());
        out.extend_from_slice(b"\r\n\r\n");
        out.extend_from_slice(body);
    } else {
        out.extend_from_slice(b"\r\n");
    }
}

/// Why reading an answer failed, and whether any byte of it had arrived (a stale keep-alive
/// connection fails before the first byte, and only then is a retry safe).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ReadFailure {
    pub nothing_read: bool,
    pub why: Broken,
}

/// Read one answer starting at `start` of the connection's read buffer.
pub(super) async fn read_answer(
    conn: &mut Pooled,
    start: usize,
    head_request: bool,
    id: u64,
    max: usize,
) -> Result<Answer, ReadFailure> {
    let fail = |why| ReadFailure {
        nothing_read: false,
        why,
    };
    loop {
        if let Some(a) = parse_answer(&conn.rbuf, start, head_request, id).map_err(fail)? {
            return Ok(a);
        }
        if conn.rbuf.len() - start > max {
            return Err(fail(Broken::TooLarge));
        }
        if conn.rbuf.capacity() - conn.rbuf.len() < READ_SPARE {
            conn.rbuf.reserve(READ_GROW);
        }
        let buf = std::mem::take(&mut conn.rbuf);
        let (len, cap) = (buf.len(), buf.capacity());
        let (res, slice) = conn.stream().read(buf.slice_mut(len..cap)).await;
        conn.rbuf = slice.into_inner();
        let why = match res {
            Ok(0) => Broken::Closed,
            Ok(_) => continue,
            Err(e) => Broken::Read(e.kind()),
        };
        return Err(ReadFailure {
            nothing_read: conn.rbuf.is_empty(),
            why,
        });
    }
}

/// An answer header [`parse_answer`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AnswerField {
    ContentType,
    Node,
    /// [`RELAYED`]`[i]`.
    Relayed(usize),
    RequestId,
}

impl AnswerField {
    /// Which one `name` is (any case). Most of an answer's fields are one of these, and
    /// `Date`, `Content-Length` and most others differ in length from all but a few: the
    /// length picks the few names compared.
    #[inline]
    fn of(name: &str) -> Option<AnswerField> {
        let is = |lower: &str| name_is(name, lower);
        match name.len() {
            12 if is("content-type") => Some(AnswerField::ContentType),
            12 if is("x-cache-node") => Some(AnswerField::Node),
            12 if is("x-request-id") => Some(AnswerField::RequestId),
            n => RELAYED_LOWER
                .iter()
                .position(|r| r.len() == n && is(r))
                .map(AnswerField::Relayed),
        }
    }
}

/// An echoed `X-Request-Id`: the decimal number this core sent (anything else is no number,
/// which [`parse_answer`] reports as a desync).
fn parse_id(value: &[u8]) -> Option<u64> {
    if value.is_empty() {
        return None;
    }
    value.iter().try_fold(0u64, |n, &d| {
        let digit = d.checked_sub(b'0').filter(|&d| d <= 9)?;
        n.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

/// Frame one answer at `buf[start..]`. `Ok(None)`: more bytes are needed.
pub(super) fn parse_answer(
    buf: &[u8],
    start: usize,
    head_request: bool,
    id: u64,
) -> Result<Option<Answer>, Broken> {
    let base = buf.as_ptr() as usize;
    let range = |v: &[u8]| {
        let s = v.as_ptr() as usize - base;
        s..s + v.len()
    };
    let (mut ct, mut node, mut echoed) = (0..0, 0..0, None);
    let mut relayed = Relayed::default();
    let head = parse_response_head(
        &buf[start..],
        head_request,
        |name, value| match AnswerField::of(name) {
            Some(AnswerField::ContentType) => ct = range(value),
            Some(AnswerField::Node) => node = range(value),
            Some(AnswerField::Relayed(i)) => relayed[i] = range(value),
            Some(AnswerField::RequestId) => echoed = parse_id(value),
            None => {}
        },
    )
    .map_err(Broken::Malformed)?;
    let Some(head) = head else {
        return Ok(None);
    };
    if echoed != Some(id) {
        return Err(Broken::Desync {
            got: echoed,
            want: id,
        });
    }
    let body_len = match head.framing {
        BodyFraming::Length(n) => n as usize,
        // An answer to HEAD (or a bodiless status): the length it announces, no body bytes.
        BodyFraming::Empty => 0,
        BodyFraming::Chunked | BodyFraming::UntilClose => return Err(Broken::NotLengthFramed),
    };
    let content_length = head.content_length.unwrap_or(0) as usize;
    let body_start = start + head.head_len;
    let end = body_start + body_len;
    if buf.len() < end {
        return Ok(None);
    }
    Ok(Some(Answer {
        status: head.status,
        content_type: ct,
        node,
        relayed,
        content_length,
        body: body_start..end,
        keep_alive: !head.close,
        end,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialized_request_is_canonical() {
        let mut out = Vec::new();
        let req = Outgoing {
            method: Method::Put,
            path: b"/api/v1/cache/k",
            query: Some(b"a=1"),
            body: Some(b"{\"value\":1}"),
            version: None,
            content_type: None,
            headers: b"If-Match: \"00000000000000ab\"\r\n",
        };
        serialize(&mut out, &req, "h:1", "node1", 7, None);
        assert_eq!(
            out,
            b"PUT /api/v1/cache/k?a=1 HTTP/1.1\r\nHost: h:1\r\nX-Cache-Forwarded: node1\r\nX-Request-Id: 7\r\nIf-Match: \"00000000000000ab\"\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"value\":1}".to_vec()
        );
        out.clear();
        let copy = Outgoing {
            method: Method::Delete,
            path: b"/api/v1/cache/k",
            query: None,
            body: None,
            version: Some(0xab),
            content_type: None,
            headers: b"",
        };
        serialize(&mut out, &copy, "h:1", "node1", 8, Some(b"Bearer s3cret"));
        assert_eq!(
            out,
            b"DELETE /api/v1/cache/k HTTP/1.1\r\nHost: h:1\r\nX-Cache-Forwarded: node1\r\nX-Request-Id: 8\r\nAuthorization: Bearer s3cret\r\nX-Cache-Version: 00000000000000ab\r\n\r\n".to_vec()
        );
    }

    #[test]
    fn relayed_lower_is_relayed_in_lowercase() {
        for (name, lower) in RELAYED.iter().zip(RELAYED_LOWER) {
            assert_eq!(name.to_ascii_lowercase(), lower);
        }
    }

    /// Every header the answer reading looks for is found in any case, and no other name
    /// (a name of the same length, or one a byte away) is taken for one.
    #[test]
    fn answer_fields_are_told_apart() {
        let mut known = vec![
            ("Content-Type", AnswerField::ContentType),
            ("X-Cache-Node", AnswerField::Node),
            ("X-Request-Id", AnswerField::RequestId),
        ];
        known.extend(
            RELAYED
                .iter()
                .enumerate()
                .map(|(i, r)| (*r, AnswerField::Relayed(i))),
        );
        for (name, want) in &known {
            assert_eq!(AnswerField::of(name), Some(*want), "{name}");
            assert_eq!(AnswerField::of(&name.to_ascii_uppercase()), Some(*want));
            assert_eq!(AnswerField::of(&name.to_ascii_lowercase()), Some(*want));
            let mut off = name.as_bytes().to_vec();
            off[name.len() - 1] ^= 0x01;
            let off = String::from_utf8(off).expect("ascii");
            assert_eq!(AnswerField::of(&off), None, "{off}");
            assert_eq!(AnswerField::of(&format!("{name}s")), None);
        }
        for other in [
            "Date",
            "Content-Length",
            "X-Cache-Nodes",
            "Server",
            "X-Request-ID2",
            "",
        ] {
            assert_eq!(AnswerField::of(other), None, "{other}");
        }
    }

    /// An echoed id is a plain decimal u64: no sign, no space, no overflow.
    #[test]
    fn echoed_ids_are_plain_decimals() {
        assert_eq!(parse_id(b"0"), Some(0));
        assert_eq!(parse_id(b"42"), Some(42));
        assert_eq!(parse_id(b"18446744073709551615"), Some(u64::MAX));
        for bad in [
            &b""[..],
            b"18446744073709551616",
            b"+1",
            b"-1",
            b" 1",
            b"1 ",
            b"0x1",
            b"1a",
        ] {
            assert_eq!(parse_id(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn answers_are_framed_and_checked() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Cache-Node: n2\r\nX-Request-Id: 5\r\nContent-Length: 2\r\n\r\n{}";
        let a = parse_answer(raw, 0, false, 5)
            .expect("ok")
            .expect("complete");
        assert_eq!(a.status, 200);
        assert_eq!(&raw[a.node.clone()], b"n2");
        assert_eq!(&raw[a.body.clone()], b"{}");
        assert_eq!(a.end, raw.len());
        assert!(a.keep_alive);
        assert_eq!(parse_answer(&raw[..raw.len() - 1], 0, false, 5), Ok(None));
        assert_eq!(
            parse_answer(raw, 0, false, 6),
            Err(Broken::Desync {
                got: Some(5),
                want: 6
            })
        );
        let head = parse_answer(
            b"HTTP/1.1 200 OK\r\nX-Request-Id: 1\r\nContent-Length: 9\r\n\r\n",
            0,
            true,
            1,
        )
        .expect("ok")
        .expect("complete");
        assert_eq!((head.content_length, head.body.len()), (9, 0));
        let chunked = b"HTTP/1.1 200 OK\r\nX-Request-Id: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(
            parse_answer(chunked, 0, false, 1),
            Err(Broken::NotLengthFramed)
        );
    }
}
