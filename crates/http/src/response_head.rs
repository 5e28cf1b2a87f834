//! The one response-head parser: status, framing and connection fate of an HTTP/1.1 answer.
//!
//! A pure function over bytes with no I/O, shared by everything in the project that reads a
//! response: the node's forwarder, prober and cluster exporter, `cache-client` and its load
//! generator, and the integration tests. It knows `Content-Length`, `Transfer-Encoding: chunked`
//! (the export), close-delimited bodies (HTTP/1.0 answers), `1xx` interim responses and bodiless
//! statuses (204, 304, answers to HEAD); callers read any other field through `on_header`.

use super::response_common::parse_common_response;

/// Header fields read per response; the node sends about six.
pub const MAX_RESPONSE_HEADERS: usize = 64;
/// Largest response head accepted before the answer is called malformed.
pub const MAX_RESPONSE_HEAD_BYTES: usize = 64 * 1024;

/// How the body after a response head is delimited (RFC 9112 §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body at all (1xx, 204, 304, an answer to HEAD).
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`: feed the bytes to a [`crate::ChunkedDecoder`].
    Chunked,
    /// Everything until the server closes the connection.
    UntilClose,
}

/// What the client needs from a response head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResponseHead {
    pub status: u16,
    /// Bytes of the buffer taken by the status line and header fields, blank line included.
    pub head_len: usize,
    pub framing: BodyFraming,
    /// The `Content-Length` the head announces, whatever the framing (an answer to HEAD
    /// announces the length a GET would get, with no body).
    pub content_length: Option<u64>,
    /// The server will close after this response (`Connection: close`, HTTP/1.0 without
    /// keep-alive, or a close-delimited body).
    pub close: bool,
}

/// A response the client cannot frame; the connection must be dropped. `Copy`, static text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtoError {
    /// httparse rejected the status line or a header field.
    Malformed(&'static str),
    /// The head did not end within [`MAX_RESPONSE_HEAD_BYTES`].
    HeadTooLarge,
    /// `Content-Length` not a number, or two different values.
    BadContentLength,
}

impl std::fmt::Display for ProtoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProtoError::Malformed(what) => write!(f, "malformed response: {what}"),
            ProtoError::HeadTooLarge => write!(
                f,
                "response head larger than {MAX_RESPONSE_HEAD_BYTES} bytes"
            ),
            ProtoError::BadContentLength => write!(f, "invalid Content-Length in response"),
        }
    }
}

impl std::error::Error for ProtoError {}

/// Parse the response head at the start of `buf`. `Ok(None)`: more bytes are needed.
/// `to_head_request`: the request was HEAD, so the response has no body whatever it says.
/// `on_header` sees every field (name, value) of a complete head; pass `|_, _| {}` when the
/// caller needs none (the load generator), which compiles to nothing.
///
/// The usual answer (HTTP/1.1, plain fields, a `Content-Length`) is read in one pass
/// (`response_common.rs`); every other input gets [`parse_response_head_full`], whose answer
/// (and calls of `on_header`) is the same for every input.
#[inline]
pub fn parse_response_head(
    buf: &[u8],
    to_head_request: bool,
    mut on_header: impl FnMut(&str, &[u8]),
) -> Result<Option<ResponseHead>, ProtoError> {
    match parse_common_response(buf, to_head_request, &mut on_header) {
        Some(head) => Ok(Some(head)),
        None => parse_response_head_full(buf, to_head_request, on_header),
    }
}

/// [`parse_response_head`] without the common-answer path: httparse, then the fields. Public
/// for the differential fuzz target and tests only.
#[doc(hidden)]
pub fn parse_response_head_full(
    buf: &[u8],
    to_head_request: bool,
    mut on_header: impl FnMut(&str, &[u8]),
) -> Result<Option<ResponseHead>, ProtoError> {
    // Uninitialized slots: httparse fills only those it uses (zeroing all 64 was 2 KiB of
    // stores per forwarded answer, and again for each partial read of one).
    let mut headers =
        [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_RESPONSE_HEADERS];
    let mut resp = httparse::Response::new(&mut []);
    let config = httparse::ParserConfig::default();
    let head_len = match config.parse_response_with_uninit_headers(&mut resp, buf, &mut headers) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() >= MAX_RESPONSE_HEAD_BYTES => {
            return Err(ProtoError::HeadTooLarge)
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(ProtoError::Malformed(httparse_reason(e))),
    };
    let status = resp.code.unwrap_or(0);
    let http10 = resp.version == Some(0);
    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut close = http10;
    for h in resp.headers.iter() {
        on_header(h.name, h.value);
        if h.name.eq_ignore_ascii_case("content-length") {
            let n = parse_decimal(h.value).ok_or(ProtoError::BadContentLength)?;
            if length.is_some_and(|old| old != n) {
                return Err(ProtoError::BadContentLength);
            }
            length = Some(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = last_token_is(h.value, b"chunked");
        } else if h.name.eq_ignore_ascii_case("connection") {
            if has_token(h.value, b"close") {
                close = true;
            } else if http10 && has_token(h.value, b"keep-alive") {
                close = false;
            }
        }
    }
    Ok(Some(assemble(
        status,
        head_len,
        to_head_request,
        chunked,
        length,
        close,
    )))
}

/// The head from what its fields said: the body's framing (RFC 9112 §6.3) and whether the
/// connection closes after it.
#[inline]
pub(crate) fn assemble(
    status: u16,
    head_len: usize,
    to_head_request: bool,
    chunked: bool,
    length: Option<u64>,
    mut close: bool,
) -> ResponseHead {
    let framing =
        if to_head_request || (100..200).contains(&status) || status == 204 || status == 304 {
            BodyFraming::Empty
        } else if chunked {
            BodyFraming::Chunked
        } else if let Some(n) = length {
            BodyFraming::Length(n)
        } else {
            close = true;
            BodyFraming::UntilClose
        };
    ResponseHead {
        status,
        head_len,
        framing,
        content_length: length,
        close,
    }
}

fn httparse_reason(e: httparse::Error) -> &'static str {
    match e {
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid line ending",
        httparse::Error::Status => "invalid status code",
        httparse::Error::Token => "invalid token",
        httparse::Error::TooManyHeaders => "too many header fields",
        httparse::Error::Version => "not an HTTP/1.x response",
    }
}

pub(crate) fn parse_decimal(v: &[u8]) -> Option<u64> {
    let v = v.trim_ascii();
    if v.is_empty() || v.len() > 19 {
        return None;
    }
    v.iter().try_fold(0u64, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + u64::from(b - b'0'))
    })
}

fn tokens(v: &[u8]) -> impl Iterator<Item = &[u8]> {
    v.split(|&b| b == b',').map(<[u8]>::trim_ascii)
}

fn has_token(v: &[u8], token: &[u8]) -> bool {
    tokens(v).any(|t| t.eq_ignore_ascii_case(token))
}

fn last_token_is(v: &[u8], token: &[u8]) -> bool {
    tokens(v)
        .last()
        .is_some_and(|t| t.eq_ignore_ascii_case(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(raw: &[u8]) -> Result<Option<ResponseHead>, ProtoError> {
        parse_response_head(raw, false, |_, _| {})
    }

    #[test]
    fn content_length_and_keep_alive() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Cache-Node: n1\r\n\r\nhello";
        let mut seen = Vec::new();
        let h = parse_response_head(raw, false, |n, v| seen.push((n.to_string(), v.to_vec())))
            .unwrap()
            .unwrap();
        assert_eq!(h.status, 200);
        assert_eq!(h.framing, BodyFraming::Length(5));
        assert_eq!(&raw[h.head_len..], b"hello");
        assert!(!h.close);
        assert_eq!(seen[1], ("X-Cache-Node".to_string(), b"n1".to_vec()));
    }

    #[test]
    fn partial_then_complete() {
        assert_eq!(head(b"HTTP/1.1 200 OK\r\nContent-Le"), Ok(None));
        assert_eq!(head(b""), Ok(None));
    }

    #[test]
    fn framing_variants() {
        let h = head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(h.framing, BodyFraming::Chunked);
        let h = head(b"HTTP/1.0 200 OK\r\n\r\n").unwrap().unwrap();
        assert_eq!((h.framing, h.close), (BodyFraming::UntilClose, true));
        let h = head(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(!h.close);
        let h = head(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(h.framing, BodyFraming::Empty);
        let h = head(b"HTTP/1.1 100 Continue\r\n\r\n").unwrap().unwrap();
        assert_eq!(h.framing, BodyFraming::Empty);
        let h = parse_response_head(
            b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n",
            true,
            |_, _| {},
        )
        .unwrap()
        .unwrap();
        assert_eq!(h.framing, BodyFraming::Empty);
        let h = head(b"HTTP/1.1 400 Bad\r\nContent-Length: 2\r\nConnection: Close\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(h.close);
    }

    #[test]
    fn bad_responses() {
        assert_eq!(
            head(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"),
            Err(ProtoError::BadContentLength)
        );
        assert_eq!(
            head(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            Err(ProtoError::BadContentLength)
        );
        assert!(matches!(
            head(b"SSH-2.0-OpenSSH\r\n\r\n"),
            Err(ProtoError::Malformed(_))
        ));
        let big = vec![b'a'; MAX_RESPONSE_HEAD_BYTES];
        let mut raw = b"HTTP/1.1 200 OK\r\nX: ".to_vec();
        raw.extend_from_slice(&big);
        assert_eq!(head(&raw), Err(ProtoError::HeadTooLarge));
    }
}
