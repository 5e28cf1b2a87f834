//! Unit and property tests for `request_common.rs` (a child module of it): the heads it must
//! take, the heads it must leave to the full parser, and the same answer as the full parser on
//! generated heads built around its boundaries.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;

use super::*;
use crate::{parse_head, parse_head_full, Parsed};

fn lim() -> Limits {
    Limits::default()
}

/// `parse_common_head` takes `head` and agrees with the full parser.
fn taken(head: &[u8]) -> Head {
    let Some(common) = parse_common_head(head, &lim()) else {
        panic!(
            "left to the full parser: {:?}",
            String::from_utf8_lossy(head)
        );
    };
    assert_eq!(parse_head_full(head, &lim()), Ok(Parsed::Complete(common)));
    common
}

#[test]
fn the_heads_of_usual_clients_take_the_common_path() {
    let wrk = b"GET /api/v1/cache/bench:hit HTTP/1.1\r\nHost: 127.0.0.1:8001\r\n\r\n";
    let h = taken(wrk);
    assert_eq!(
        (h.method, h.framing, h.head_len),
        (Method::Get, Framing::None, wrk.len())
    );
    assert_eq!(&wrk[h.path.range()], b"/api/v1/cache/bench:hit");
    let curl = b"GET /api/v1/cache/k HTTP/1.1\r\nHost: localhost:8001\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n";
    assert!(taken(curl).keep_alive);
    let put = b"PUT /api/v1/cache/k HTTP/1.1\r\nhost: h\r\ncontent-length: 12\r\n\r\n{\"value\":1}";
    let h = taken(put);
    assert_eq!(
        (h.method, h.framing, h.head_len),
        (Method::Put, Framing::Length(12), put.len() - 11)
    );
    let forward = b"GET /api/v1/cache/k HTTP/1.1\r\nHost: 127.0.0.1:8002\r\nX-Cache-Forwarded: node1\r\nX-Request-Id: 42\r\nAuthorization: Bearer s3cret \r\n\r\n";
    let h = taken(forward);
    assert!(h.forwarded);
    assert_eq!(&forward[h.request_id.expect("an id").range()], b"42");
    assert_eq!(
        &forward[h.authorization.expect("a credential").range()],
        b"Bearer s3cret"
    );
    let long_id = format!(
        "GET / HTTP/1.1\r\nHost: h\r\nX-Request-Id: {}\r\n\r\n",
        "i".repeat(crate::MAX_REQUEST_ID_BYTES + 1)
    );
    assert_eq!(parse_common_head(long_id.as_bytes(), &lim()), None);
    let long_auth = format!(
        "GET / HTTP/1.1\r\nHost: h\r\nAuthorization: {}\r\n\r\n",
        "a".repeat(crate::MAX_AUTHORIZATION_BYTES + 1)
    );
    assert_eq!(parse_common_head(long_auth.as_bytes(), &lim()), None);
    for (wire, method) in [
        (
            &b"DELETE /k HTTP/1.1\r\nHost: h\r\n\r\n"[..],
            Method::Delete,
        ),
        (b"HEAD / HTTP/1.1\r\nHost:h\r\n\r\n", Method::Head),
        (
            b"POST /a HTTP/1.1\r\nX-Other:\r\nHost: \t[::1]:80 \r\nContent-Length: 0\r\n\r\n",
            Method::Post,
        ),
    ] {
        assert_eq!(taken(wire).method, method);
    }
}

#[test]
fn every_other_head_is_left_to_the_full_parser() {
    let left = [
        &b"\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"[..],
        b"GET /k?x=1 HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET /a%2Fb HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET * HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET / HTTP/1.0\r\nHost: h\r\n\r\n",
        b"GET / HTTP/1.1\nHost: h\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\n\n",
        b"OPTIONS / HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nX-Request-Id: r\r\nX-Request-Id: r\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nX-Request-Id:\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nAuthorization: a\r\nAuthorization: a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nX-Cache-Version: 1f\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\ntraceparent: 00-x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nIf-None-Match: \"1\"\r\n\r\n",
        b"PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
        b"PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999\r\n\r\n",
        b"PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 1,1\r\n\r\n",
        b"GET / HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nHost: h\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost : h\r\n\r\n",
        b"GET / HTTP/1.1\r\n Host: h\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nX-A: caf\xc3\xa9\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nX-A: \x01\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\n\r",
        b"GET /k HTTP/1.",
    ];
    for head in left {
        let shown = String::from_utf8_lossy(head);
        assert_eq!(parse_common_head(head, &lim()), None, "{shown:?}");
        assert_eq!(
            parse_head(head, &lim()),
            parse_head_full(head, &lim()),
            "{shown:?}"
        );
    }
    let many = format!(
        "GET / HTTP/1.1\r\nHost: h\r\n{}\r\n",
        "X-A: 1\r\n".repeat(MAX_COMMON_FIELDS)
    );
    assert_eq!(parse_common_head(many.as_bytes(), &lim()), None);
    assert!(matches!(
        parse_head(many.as_bytes(), &lim()),
        Ok(Parsed::Complete(_))
    ));
}

#[test]
fn a_limit_the_head_reaches_is_the_full_parsers_to_answer() {
    let wire = b"PUT /abcdef HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n";
    let tight = |max_head_bytes, max_target_bytes, max_body_bytes| Limits {
        max_head_bytes,
        max_target_bytes,
        max_body_bytes,
    };
    for limits in [
        tight(wire.len() - 1, 100, 100),
        tight(1000, 6, 100),
        tight(1000, 100, 9),
    ] {
        assert_eq!(parse_common_head(wire, &limits), None, "{limits:?}");
        assert!(parse_head(wire, &limits).is_err(), "{limits:?}");
    }
    assert!(parse_common_head(wire, &tight(wire.len(), 7, 10)).is_some());
}

/// A head the common path takes (a Host, perhaps a Content-Length, fields it does not read, in
/// any order), then 0-2 bytes replaced, inserted or removed with bytes that matter to a parser.
fn plain_then_mutated() -> impl Strategy<Value = Vec<u8>> {
    let method = select(vec!["GET ", "PUT ", "DELETE ", "POST ", "HEAD "]);
    let target = vec(select(b"/ak:@~".to_vec()), 0..10);
    let other = (
        select(vec![
            "User-Agent",
            "Accept",
            "X-Other",
            "X-Cache-Forwarded",
            "X-Request-Id",
            "Authorization",
        ]),
        select(vec![": ", ":", ":\t"]),
        select(vec!["v 1", "v1", "7"]),
    );
    let content_length = proptest::option::of(select(vec!["0", "5", "4096", "005"]));
    let edit = (
        any::<proptest::sample::Index>(),
        select(b" \t\r\n:%?,\x01\x7f\x80aH0".to_vec()),
        0u8..3,
    );
    (
        method,
        target,
        vec(other, 0..3),
        content_length,
        any::<proptest::sample::Index>(),
        vec(edit, 0..3),
    )
        .prop_map(|(method, target, others, content_length, host_at, edits)| {
            let mut fields: Vec<String> = others
                .iter()
                .map(|(n, sep, v)| format!("{n}{sep}{v}\r\n"))
                .collect();
            if let Some(n) = content_length {
                fields.push(format!("Content-Length: {n}\r\n"));
            }
            fields.insert(
                host_at.index(fields.len() + 1),
                "Host: 127.0.0.1:8001\r\n".into(),
            );
            let target = String::from_utf8(target).expect("ASCII");
            let mut w =
                format!("{method}/{target} HTTP/1.1\r\n{}\r\n", fields.concat()).into_bytes();
            for (at, byte, kind) in edits {
                let at = at.index(w.len());
                match kind {
                    0 => w[at] = byte,
                    1 => w.insert(at, byte),
                    _ => drop(w.remove(at)),
                }
            }
            w
        })
}

/// A head assembled from parts chosen around the common path's boundaries.
fn from_parts() -> impl Strategy<Value = Vec<u8>> {
    let method = select(vec![
        "GET ", "PUT ", "DELETE ", "POST ", "HEAD ", "get ", "OPTIONS ", "GET  ", "",
    ]);
    let target = prop_oneof![
        3 => vec(select(b"/ak:@~".to_vec()), 0..10),
        1 => vec(select(b"/ak:@%2F?#~ \x7f\x80{".to_vec()), 0..10),
    ];
    let version = prop_oneof![
        3 => Just(" HTTP/1.1\r\n"),
        1 => select(vec![" HTTP/1.1\n", " HTTP/1.0\r\n", " HTTP/2.0\r\n", " http/1.1\r\n", " HTTP/1.1 \r\n"]),
    ];
    let name = prop_oneof![3 => select(vec!["Host", "User-Agent", "Content-Length"]), 2 => select(vec![
        "Host", "host", "HOST", "Content-Length", "content-length", "Transfer-Encoding",
        "Connection", "Expect", "User-Agent", "Accept", "X-Request-Id", "Authorization",
        "If-None-Match", "X-Cache-TTL", "traceparent", "X-Cache-Forwarded", "X-Cache-Version",
        "Content-Type", "X-Cache-Client-Request-Id", "Hos t", "", " Host", "Host\x01",
    ])];
    let sep = select(vec![":", ": ", " :", ":\t", ":  "]);
    let value = prop_oneof![3 => select(vec!["127.0.0.1:8001", "5"]), 2 => select(vec![
        "127.0.0.1:8001", "h", "", "5", "05", "1,1", "99999999999999999999", "4096", "chunked",
        "close", "keep-alive", "100-continue", "a\u{80}b", "a\x01", "[::1]", "x%41y", " v ",
        "a b", "a:b", "\x7f",
    ])];
    let eol = prop_oneof![8 => Just("\r\n"), 1 => select(vec!["\n", "\r", ""])];
    let field = (name, sep, value, eol.clone());
    (
        select(vec!["", "", "", "\r\n"]),
        method,
        target,
        version,
        vec(field, 0..5),
        eol,
    )
        .prop_map(|(lead, method, target, version, fields, end)| {
            let mut w = Vec::new();
            w.extend_from_slice(lead.as_bytes());
            w.extend_from_slice(method.as_bytes());
            w.push(b'/');
            w.extend_from_slice(&target);
            w.extend_from_slice(version.as_bytes());
            for (name, sep, value, eol) in fields {
                for part in [name, sep, value, eol] {
                    w.extend_from_slice(part.as_bytes());
                }
            }
            w.extend_from_slice(end.as_bytes());
            w
        })
}

fn head() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![plain_then_mutated(), from_parts()]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    /// Wherever the common path answers, the full parser gives the same head; with tight
    /// limits too.
    #[test]
    fn the_common_path_agrees_with_the_full_parser(
        wire in head(),
        tail in vec(any::<u8>(), 0..4),
        small in any::<bool>(),
        (max_head_bytes, max_target_bytes, max_body_bytes) in (0usize..120, 0usize..12, 0usize..6000),
    ) {
        let limits = if small {
            Limits { max_head_bytes, max_target_bytes, max_body_bytes }
        } else {
            lim()
        };
        let mut buf = wire;
        buf.extend_from_slice(&tail);
        if let Some(common) = parse_common_head(&buf, &limits) {
            prop_assert_eq!(parse_head_full(&buf, &limits), Ok(Parsed::Complete(common)));
        }
        prop_assert_eq!(parse_head(&buf, &limits), parse_head_full(&buf, &limits));
    }
}

/// The generator above reaches the common path often enough for the property to say something.
#[test]
fn generated_heads_often_take_the_common_path() {
    let taken = crate::conformance::share_of(head(), 1000, |wire| {
        parse_common_head(wire, &lim()).is_some()
    });
    assert!(
        taken >= 50,
        "{taken} of 1000 generated heads took the common path"
    );
}
