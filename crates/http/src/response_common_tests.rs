//! Tests for `response_common.rs` (a child module of it): the answers it must take, the ones
//! it must leave to the full parser, and the same result and the same `on_header` calls as
//! the full parser on generated heads built around its boundaries.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;

use super::*;
use crate::{parse_response_head, parse_response_head_full, BodyFraming, ProtoError};

type Calls = Vec<(String, Vec<u8>)>;
type Outcome = (Result<Option<ResponseHead>, ProtoError>, Calls);

fn full(buf: &[u8], to_head: bool) -> Outcome {
    let mut calls = Calls::new();
    let r = parse_response_head_full(buf, to_head, |n, v| calls.push((n.into(), v.to_vec())));
    (r, calls)
}

fn both(buf: &[u8], to_head: bool) -> Outcome {
    let mut calls = Calls::new();
    let r = parse_response_head(buf, to_head, |n, v| calls.push((n.into(), v.to_vec())));
    (r, calls)
}

/// Taken by the common path, with the full parser's result and calls.
fn taken(buf: &[u8]) -> ResponseHead {
    let mut calls = Calls::new();
    let head = parse_common_response(buf, false, &mut |n: &str, v: &[u8]| {
        calls.push((n.into(), v.to_vec()))
    });
    let Some(head) = head else {
        panic!(
            "left to the full parser: {:?}",
            String::from_utf8_lossy(buf)
        );
    };
    assert_eq!(full(buf, false), (Ok(Some(head)), calls));
    head
}

#[test]
fn our_answers_take_the_common_path() {
    let ours = b"HTTP/1.1 200 OK\r\nDate: Sat, 05 Dec 2026 02:29:12 GMT\r\nContent-Type: application/json\r\nContent-Length: 60\r\nX-Cache-Node: node2\r\nETag: \"01a24408b9ef0000\"\r\nCache-Control: no-cache\r\nX-Request-Id: 7\r\n\r\n{\"key\":\"bench:hit\",\"value\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}";
    let h = taken(ours);
    assert_eq!(
        (h.status, h.framing, h.close),
        (200, BodyFraming::Length(60), false)
    );
    assert_eq!(h.head_len, ours.len() - 60);
    let miss =
        b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
    assert_eq!(taken(miss).status, 404);
    let not_modified = b"HTTP/1.1 304 Not Modified\r\nETag: \"1\"\r\n\r\n";
    assert_eq!(taken(not_modified).framing, BodyFraming::Empty);
    let no_length = b"HTTP/1.1 200 OK\r\nX-A: 1\r\n\r\n";
    assert_eq!(taken(no_length).framing, BodyFraming::UntilClose);
}

#[test]
fn every_other_answer_is_left_to_the_full_parser() {
    let left = [
        &b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX-A: 1 \r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\n\r\n",
        b"HTTP/1.1 2x0 OK\r\n\r\n",
        b"HTTP/1.1 200 caf\xc3\xa9\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX : 1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n",
        b"HTTP/1.1 200 OK\r\n",
        b"HTTP/1.1 20",
    ];
    for buf in left {
        let shown = String::from_utf8_lossy(buf);
        let mut called = false;
        let got = parse_common_response(buf, false, &mut |_: &str, _: &[u8]| called = true);
        assert!(got.is_none() && !called, "{shown:?}");
        assert_eq!(both(buf, false), full(buf, false), "{shown:?}");
    }
    let many = format!(
        "HTTP/1.1 200 OK\r\n{}\r\n",
        "X-A: 1\r\n".repeat(MAX_COMMON_RESPONSE_FIELDS + 1)
    );
    assert_eq!(
        parse_common_response(many.as_bytes(), false, &mut |_: &str, _: &[u8]| {}),
        None
    );
    assert_eq!(both(many.as_bytes(), false), full(many.as_bytes(), false));
}

/// An answer head assembled from parts chosen around the common path's boundaries.
fn answer() -> impl Strategy<Value = Vec<u8>> {
    let version = prop_oneof![4 => Just("HTTP/1.1 "), 1 => select(vec!["HTTP/1.0 ", "HTTP/1.1  ", "http/1.1 ", "HTTP/2 "])];
    let status = prop_oneof![4 => select(vec!["200", "204", "304", "404", "101", "503"]), 1 => select(vec!["20", "2000", "2x0", "999"])];
    let reason = select(vec![
        " OK",
        " Not Found",
        " ",
        "",
        " a\tb",
        " caf\u{e9}",
        " x\x01",
    ]);
    let name = prop_oneof![
        4 => select(vec!["Content-Type", "X-Cache-Node", "ETag", "X-Request-Id", "Date", "Content-Length"]),
        1 => select(vec!["content-length", "Transfer-Encoding", "Connection", "X A", "", " X", "X\x01"]),
    ];
    let sep = select(vec![": ", ":", ":\t", " :", ":  "]);
    let value = prop_oneof![
        4 => select(vec!["5", "0", "application/json", "n1", "\"1\""]),
        1 => select(vec!["", " 5", "5 ", "x", "1,1", "chunked", "close", "a\u{80}b", "a\x01", "99999999999999999999"]),
    ];
    let eol = prop_oneof![8 => Just("\r\n"), 1 => select(vec!["\n", "\r", ""])];
    (
        version,
        status,
        reason,
        eol.clone(),
        vec((name, sep, value, eol.clone()), 0..8),
        eol,
    )
        .prop_map(|(version, status, reason, line_end, fields, end)| {
            let mut w = format!("{version}{status}{reason}{line_end}").into_bytes();
            for (name, sep, value, eol) in fields {
                w.extend_from_slice(format!("{name}{sep}{value}{eol}").as_bytes());
            }
            w.extend_from_slice(end.as_bytes());
            w
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    /// The same result and the same calls of `on_header` as the full parser, on every head.
    #[test]
    fn the_common_path_agrees_with_the_full_parser(
        wire in answer(),
        tail in vec(any::<u8>(), 0..4),
        to_head in any::<bool>(),
    ) {
        let mut buf = wire;
        buf.extend_from_slice(&tail);
        prop_assert_eq!(both(&buf, to_head), full(&buf, to_head));
    }
}

/// The generator above reaches the common path often enough for the property to say something.
#[test]
fn generated_answers_often_take_the_common_path() {
    let taken = crate::conformance::share_of(answer(), 1000, |wire| {
        parse_common_response(wire, false, &mut |_: &str, _: &[u8]| {}).is_some()
    });
    assert!(
        taken >= 50,
        "{taken} of 1000 generated answers took the common path"
    );
}
