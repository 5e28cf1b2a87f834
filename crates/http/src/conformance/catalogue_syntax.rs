//! Catalogue rows H22-H57: line endings, field syntax, request line, limits, and the head
//! fields that drive connection management (keep-alive, Expect, HEAD).

use super::{cat, read_pipeline, run_table, Row, Want};
use crate::{Framing, Head, Method, ParseError, Span, Version, MAX_HEADERS};

const BR: fn(&'static str) -> ParseError = ParseError::BadRequest;
const NAME: ParseError = ParseError::BadRequest("invalid header field name");
const VALUE: ParseError = ParseError::BadRequest("invalid header field value");
const LINE: ParseError = ParseError::BadRequest("malformed request line");
const VERSION: ParseError = ParseError::BadRequest("malformed HTTP version");
const NOT_ORIGIN: ParseError = ParseError::BadRequest("request-target is not origin-form");
const BAD_PATH: ParseError = ParseError::BadRequest("invalid byte or escape in path");

/// `GET <target> HTTP/1.1` with Host and extra field lines.
fn get(target: &[u8], fields: &[u8]) -> Vec<u8> {
    cat(&[
        b"GET ",
        target,
        b" HTTP/1.1\r\nHost: a\r\n",
        fields,
        b"\r\n",
    ])
}

fn ok(h: &Head) -> bool {
    h.method == Method::Get && h.framing == Framing::None
}

#[test]
#[rustfmt::skip] // one row per line: the table stays readable as a table
fn h22_to_h31_line_endings_and_fields() {
    let rows = vec![
        Row("H22", b"GET / HTTP/1.1\nHost: a\n\n".to_vec(), Want::Head(|h| ok(h) && h.head_len == 24)),
        Row("H23", get(b"/", b"X: a\rX\r\n"), Want::Err(VALUE)),
        Row("H23", b"GET / HTTP/1.1\r\nHost: a\r\r\n\r\n".to_vec(), Want::Err(VALUE)),
        Row("H23", b"GET / HTTP/1.1\rHost: a\r\n\r\n".to_vec(), Want::Err(BR("invalid line ending"))),
        Row("H24", get(b"/", b"X: a\r\n b\r\n"), Want::Err(NAME)),
        Row("H25", get(b"/", b"Content-Length : 5\r\n"), Want::Err(NAME)),
        Row("H25", get(b"/", b"foo\t: x\r\n"), Want::Err(NAME)),
        Row("H26", b"GET / HTTP/1.1\r\n Host: a\r\n\r\n".to_vec(), Want::Err(NAME)),
        Row("H27", b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(), Want::Head(|h| ok(h) && h.head_len == 29)),
        Row("H27", b"\r\n\nGET / HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(), Want::Head(|h| ok(h) && h.head_len == 30 && h.path.range() == (7..8))),
        Row("H27", b"\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(), Want::Err(BR("too many empty lines before request line"))),
        Row("H27", b"\r\n\r\n\r\n".to_vec(), Want::Err(BR("too many empty lines before request line"))),
        Row("H27", b"\r\n\r\n".to_vec(), Want::Partial),
        Row("H28", get(b"/", b"X: a\x00b\r\n"), Want::Err(VALUE)),
        Row("H28", get(b"/", b"X: a\x01b\r\n"), Want::Err(VALUE)),
        Row("H28", get(b"/", b"X: a\x08b\r\n"), Want::Err(VALUE)),
        Row("H28", get(b"/", b"X: a\x7fb\r\n"), Want::Err(VALUE)),
        Row("H29", get(b"/", b"X: caf\xc3\xa9 \xff\r\n"), Want::Head(ok)),
        Row("H30", get(b"/", b"X-Invalid[]: a\r\n"), Want::Err(NAME)),
        Row("H30", get(b"/", b"\xff: a\r\n"), Want::Err(NAME)),
        Row("H30", get(b"/", b": a\r\n"), Want::Err(NAME)),
        Row("H30", get(b"/", b"Host a\r\n"), Want::Err(NAME)),
        Row("H31", b"GET / HTTP/1.1\r\n\r\n".to_vec(), Want::Err(BR("missing Host header"))),
        Row("H31", get(b"/", b"Host: b\r\n"), Want::Err(BR("duplicate Host headers"))),
        Row("H31", b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n".to_vec(), Want::Err(BR("invalid Host value"))),
        Row("H31", b"GET / HTTP/1.1\r\nHost: a@b\r\n\r\n".to_vec(), Want::Err(BR("invalid Host value"))),
        Row("H31", b"GET / HTTP/1.1\r\nHost:\r\n\r\n".to_vec(), Want::Head(ok)),
        Row("H31", b"GET / HTTP/1.1\r\nhOST: [::1]:80\r\n\r\n".to_vec(), Want::Head(ok)),
        Row("H31", b"GET / HTTP/1.0\r\n\r\n".to_vec(), Want::Head(|h| h.version == Version::Http10)),
        Row("H31", b"GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n".to_vec(), Want::Err(BR("duplicate Host headers"))),
    ];
    run_table(rows);
}

#[test]
#[rustfmt::skip] // one row per line: the table stays readable as a table
fn h32_to_h44_request_line_and_target() {
    let unknown = ParseError::NotImplemented("unknown method");
    let rows = vec![
        Row("H32", b"GET /\r\n\r\n".to_vec(), Want::Err(LINE)),
        Row("H32", b"GET / \r\nHost: a\r\n\r\n".to_vec(), Want::Err(VERSION)),
        Row("H32", b"GET / HTTP/1.10\r\nHost: a\r\n\r\n".to_vec(), Want::Err(BR("invalid line ending"))),
        Row("H32", b"GET / http/1.1\r\nHost: a\r\n\r\n".to_vec(), Want::Err(VERSION)),
        Row("H32", b"Extra lineGET / HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(), Want::Err(VERSION)),
        Row("H33", b"GET / HTTP/2.0\r\nHost: a\r\n\r\n".to_vec(), Want::Err(ParseError::VersionNotSupported)),
        Row("H33", b"GET / HTTP/9.9\r\nHost: a\r\n\r\n".to_vec(), Want::Err(ParseError::VersionNotSupported)),
        Row("H33", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec(), Want::Err(ParseError::VersionNotSupported)),
        Row("H33", b"PRI * HTTP/2".to_vec(), Want::Err(ParseError::VersionNotSupported)),
        Row("H34", b"GET / HTTP/1.2\r\nHost: a\r\n\r\n".to_vec(), Want::Err(VERSION)),
        Row("H35", get(b"/", b"").replace_method(b"FOO"), Want::Err(unknown)),
        Row("H35", get(b"/", b"").replace_method(b"get"), Want::Err(unknown)),
        Row("H35", get(b"/", b"").replace_method(b"G!T"), Want::Err(unknown)),
        Row("H35", get(b"/", b"").replace_method(b"HEADS"), Want::Err(unknown)),
        Row("H37", get(b"/", b"").replace_method(b"G=\":<>"), Want::Err(LINE)),
        Row("H37", b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(), Want::Err(LINE)),
        Row("H37", b"GET\t/\tHTTP/1.1\r\nHost: a\r\n\r\n".to_vec(), Want::Err(LINE)),
        Row("H38", get(b"!", b""), Want::Err(NOT_ORIGIN)),
        Row("H38", get(b"a", b""), Want::Err(NOT_ORIGIN)),
        Row("H38", get(b"/a#b", b""), Want::Err(BR("fragment in request-target"))),
        Row("H38", get(b"/a?x#b", b""), Want::Err(BR("fragment in request-target"))),
        Row("H38", get(b"*", b""), Want::Err(NOT_ORIGIN)),
        Row("H39", get(b"http://h/keys/a", b""), Want::Err(NOT_ORIGIN)),
        Row("H40", b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(), Want::Err(NOT_ORIGIN)),
        Row("H40", b"CONNECT host:443 HTTP/1.1\r\nHost: host:443\r\n\r\n".to_vec(), Want::Err(NOT_ORIGIN)),
        Row("H40", b"OPTIONS /k HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(), Want::Head(|h| h.method == Method::Options)),
        Row("H42", get(b"/\xff", b""), Want::Err(LINE)),
        Row("H42", get("/k\u{e9}y".as_bytes(), b""), Want::Err(BR("non-ASCII byte in request-target"))),
        Row("H43", get(b"/k/%zz", b""), Want::Err(BAD_PATH)),
        Row("H43", get(b"/k/%", b""), Want::Err(BAD_PATH)),
        Row("H43", get(b"/k/%4", b""), Want::Err(BAD_PATH)),
        Row("H43", get(b"/k/%g0", b""), Want::Err(BAD_PATH)),
        Row("H43", get(b"/k/a{b}", b""), Want::Err(BAD_PATH)),
        Row("H44", get(b"/k/%2F%00%ff", b""), Want::Head(|h| h.path.range() == (4..16))),
        Row("H44", get(b"/k/../a//./b", b""), Want::Head(|h| h.path.range() == (4..16))),
        Row("H44", get(b"/k/a?x=%zz&y={}", b""), Want::Head(|h| h.path.range() == (4..8) && h.query.map(Span::range) == Some(9..19))),
    ];
    run_table(rows);
}

#[test]
#[rustfmt::skip] // one row per line: the table stays readable as a table
fn h41_h45_to_h48_limits() {
    let long_target = cat(&[b"/", &[b'a'; 8192]]);
    // Host plus MAX_HEADERS - 1 more fields is exactly the cap.
    let mut many = Vec::new();
    for i in 1..MAX_HEADERS {
        many.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    let rows = vec![
        Row("H41", get(&long_target, b""), Want::Err(ParseError::UriTooLong)),
        Row("H41", get(&long_target[..8192], b""), Want::Head(|h| h.path.len() == 8192)),
        // A request line that never ends is cut once the target passes the limit.
        Row("H41", cat(&[b"GET ", &long_target]), Want::Err(ParseError::UriTooLong)),
        Row("H41", cat(&[b"GET ", &long_target[..8192]]), Want::Partial),
        Row("H45", get(b"/", &cat(&[b"X: ", &[b'v'; 16_400], b"\r\n"])), Want::Err(ParseError::HeadersTooLarge)),
        Row("H45", cat(&[b"GET / HTTP/1.1\r\nX: ", &[b'v'; 16_400]]), Want::Err(ParseError::HeadersTooLarge)),
        Row("H45", cat(&[b"GET / HTTP/1.1\r\nHost: a\r\nX: ", &[b'v'; 16_384 - 32], b"\r\n\r\n"]), Want::Head(|h| h.head_len == 16_384)),
        // An incomplete head that already fills the limit can only grow past it.
        Row("H45", cat(&[b"GET / HTTP/1.1\r\nX: ", &[b'v'; 16_384 - 19]]), Want::Err(ParseError::HeadersTooLarge)),
        Row("H45", cat(&[b"GET / HTTP/1.1\r\nX: ", &[b'v'; 16_384 - 20]]), Want::Partial),
        Row("H45", cat(&[b"GET / HTTP/1.1\r\nHost: a\r\nX: ", &[b'v'; 16_384 - 31], b"\r\n\r\n"]), Want::Err(ParseError::HeadersTooLarge)),
        Row("H46", get(b"/", &cat(&[&many, b"X: last\r\n"])), Want::Err(ParseError::TooManyHeaders)),
        Row("H46", cat(&[b"GET / HTTP/1.1\r\nHost: a\r\n", &many, b"\r\n"]), Want::Head(ok)),
        Row("H47", cat(&[b"PUT /k HTTP/1.1\r\nHost: a\r\nContent-Length: 1052673\r\n\r\n"]), Want::Err(ParseError::PayloadTooLarge)),
        Row("H47", cat(&[b"PUT /k HTTP/1.1\r\nHost: a\r\nContent-Length: 1052672\r\n\r\n"]), Want::Partial),
        // H48 (key length) is the router's rule; here only the target limit applies.
    ];
    run_table(rows);
}

#[test]
#[rustfmt::skip] // one row per line: the table stays readable as a table
fn h50_to_h57_connection_fields() {
    let rows = vec![
        Row("H50", b"GET / HTTP/1.0\r\n\r\n".to_vec(), Want::Head(|h| !h.keep_alive)),
        Row("H51", b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n".to_vec(), Want::Head(|h| h.keep_alive)),
        Row("H51", b"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n".to_vec(), Want::Head(|h| !h.keep_alive)),
        Row("H52", get(b"/", b""), Want::Head(|h| h.keep_alive)),
        Row("H52", get(b"/", b"Connection: close\r\n"), Want::Head(|h| !h.keep_alive)),
        Row("H52", get(b"/", b"Connection: Close\r\n"), Want::Head(|h| !h.keep_alive)),
        Row("H52", get(b"/", b"Connection: keep-alive, CLOSE\r\n"), Want::Head(|h| !h.keep_alive)),
        Row("H52", get(b"/", b"Connection: keep-alive\r\nConnection: close\r\n"), Want::Head(|h| !h.keep_alive)),
        Row("H52", get(b"/", b"Connection: closed, x-close\r\n"), Want::Head(|h| h.keep_alive)),
        Row("H55", b"PUT /k HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\nx".to_vec(), Want::Head(|h| h.expect_continue && h.framing == Framing::Length(1))),
        Row("H55", get(b"/", b""), Want::Head(|h| !h.expect_continue)),
        Row("H56", get(b"/", b"Expect: foo\r\n"), Want::Err(ParseError::ExpectationFailed)),
        Row("H56", get(b"/", b"Expect: 100-continue, foo\r\n"), Want::Err(ParseError::ExpectationFailed)),
        Row("H56", get(b"/", b"Expect:\r\n"), Want::Err(ParseError::ExpectationFailed)),
        Row("H56", b"GET / HTTP/1.0\r\nExpect: foo\r\n\r\n".to_vec(), Want::Head(|h| !h.expect_continue)),
        Row("H56", b"GET / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n".to_vec(), Want::Head(|h| !h.expect_continue)),
        Row("H57", b"HEAD /k HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(), Want::Head(|h| h.method == Method::Head && h.framing == Framing::None)),
        Row("ours", get(b"/", b"X-Cache-Forwarded: 1\r\nX-Request-Id: abc\r\n"), Want::Head(|h| h.forwarded && h.request_id.is_some())),
        Row("ours", get(b"/", b"X-Request-Id: a\r\nx-request-id: b\r\n"), Want::Err(BR("duplicate X-Request-Id"))),
        Row("ours", get(b"/", b"X-Request-Id: a b\r\n"), Want::Err(BR("invalid X-Request-Id value"))),
        Row("ours", get(b"/", b"Authorization: Bearer abc \r\n"), Want::Head(|h| h.authorization.as_ref().is_some_and(|a| a.len() == 10))),
        Row("ours", get(b"/", b"Authorization: Bearer a\r\nauthorization: Bearer a\r\n"), Want::Err(BR("duplicate Authorization header"))),
        Row("ours", get(b"/", format!("Authorization: Bearer {}\r\n", "a".repeat(crate::MAX_AUTHORIZATION_BYTES)).as_bytes()), Want::Err(BR("Authorization value too long"))),
    ];
    run_table(rows);
}

/// H53/H54: pipelined requests come out in order; a bad one ends the pipeline with its error.
#[test]
fn h53_h54_pipelines() {
    let mut input = Vec::new();
    for i in 0..100 {
        match i % 3 {
            0 => input
                .extend_from_slice(format!("GET /k/{i} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes()),
            1 => input.extend_from_slice(
                format!(
                    "PUT /k/{i} HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nv{}",
                    i % 10
                )
                .as_bytes(),
            ),
            _ => input
                .extend_from_slice(format!("DELETE /k/{i} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes()),
        }
    }
    let got = read_pipeline(&input, &Default::default());
    assert_eq!(got.len(), 100);
    for (i, m) in got.iter().enumerate() {
        let m = m.as_ref().unwrap();
        assert_eq!(
            &input[m.at..][m.head.path.range()],
            format!("/k/{i}").as_bytes()
        );
    }
    input.extend_from_slice(
        b"GET /bad#x HTTP/1.1\r\nHost: a\r\n\r\nGET /after HTTP/1.1\r\nHost: a\r\n\r\n",
    );
    let got = read_pipeline(&input, &Default::default());
    assert_eq!(got.len(), 101);
    assert_eq!(got[100], Err(BR("fragment in request-target")));
}

trait ReplaceMethod {
    fn replace_method(self, m: &[u8]) -> Vec<u8>;
}

impl ReplaceMethod for Vec<u8> {
    fn replace_method(self, m: &[u8]) -> Vec<u8> {
        let sp = self.iter().position(|&b| b == b' ').unwrap();
        cat(&[m, &self[sp..]])
    }
}
