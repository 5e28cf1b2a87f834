//! Unit tests for `respond_ids.rs`: the `X-Request-Id` every answer echoes and the
//! `Retry-After` every 503 carries, whichever way the Responder encodes it.

use super::*;
use crate::http::parse_response_head;
use crate::http::response::{BodyLength, ConnHeader, CONTENT_JSON};
use crate::metrics::{CoreMetrics, MethodLabel, RouteLabel};
use crate::server::request_id::{IdFields, RequestId};

fn responder() -> Responder {
    Responder::new("n1", CoreMetrics::new(0), 0, "none")
}

fn meta(request_id: RequestId) -> Meta {
    Meta {
        conn: ConnHeader::Default,
        route: RouteLabel::Cache,
        method: MethodLabel::Get,
        request_id,
        ..Meta::closing()
    }
}

/// Every header of one encoded answer, in order (names as written).
fn headers(out: &[u8]) -> Vec<(String, String)> {
    let mut h = Vec::new();
    parse_response_head(out, false, |n, v| {
        h.push((n.to_string(), String::from_utf8_lossy(v).into_owned()));
    })
    .expect("valid head")
    .expect("complete head");
    h
}

fn all<'h>(h: &'h [(String, String)], name: &str) -> Vec<&'h str> {
    h.iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .collect()
}

/// Each way the Responder writes an answer, with `status` and `extra` headers.
fn every_encoder(r: &Responder, m: Meta, status: u16, extra: &[(&str, &[u8])]) -> Vec<Vec<u8>> {
    let mut outs = vec![Vec::new(); 5];
    r.send(&mut outs[0], m, status, CONTENT_JSON, b"{}", extra);
    r.error(&mut outs[1], m, status, "why", Some(b"k"), extra);
    r.error_unlogged(&mut outs[2], m, status, "why", None, extra);
    r.head(&mut outs[3], m, status, CONTENT_JSON, 0, extra);
    let len = BodyLength::Chunked;
    r.head_framed(&mut outs[4], m, status, CONTENT_JSON, len, extra);
    outs
}

#[test]
fn every_503_carries_retry_after_once() {
    let r = responder();
    for out in every_encoder(&r, meta(RequestId::NONE), 503, &[]) {
        assert_eq!(all(&headers(&out), "Retry-After"), ["1"]);
    }
    // A site that says how long keeps its own value, and only that one.
    let own: &[(&str, &[u8])] = &[("Retry-After", b"5")];
    for out in every_encoder(&r, meta(RequestId::NONE), 503, own) {
        assert_eq!(all(&headers(&out), "retry-after"), ["5"]);
    }
    // Other statuses get none added.
    for status in [200, 404, 500, 502, 504] {
        for out in every_encoder(&r, meta(RequestId::NONE), status, &[]) {
            assert!(all(&headers(&out), "Retry-After").is_empty(), "{status}");
        }
    }
}

#[test]
fn answers_echo_the_request_id_as_sent() {
    let r = responder();
    let cases: [(&[u8], &str); 4] = [
        (b"42", "42"),
        (b"007", "007"),
        (
            b"3f1c2a9e-8d4b-4c1e-9f7a-0b6d5e4c3b2a",
            "3f1c2a9e-8d4b-4c1e-9f7a-0b6d5e4c3b2a",
        ),
        (b"a/b:c{d}~!", "a/b:c{d}~!"),
    ];
    for (sent, echoed) in cases {
        let (id, _held) = r.ids.register(IdFields {
            own: Some(sent),
            ..IdFields::default()
        });
        for out in every_encoder(&r, meta(id), 404, &[]) {
            assert_eq!(all(&headers(&out), "X-Request-Id"), [echoed]);
        }
    }
    for out in every_encoder(&r, meta(RequestId::NONE), 200, &[]) {
        assert!(all(&headers(&out), "X-Request-Id").is_empty());
    }
}

#[test]
fn a_passed_on_client_id_is_not_echoed_to_the_peer() {
    let r = responder();
    let (id, _held) = r.ids.register(IdFields {
        own: Some(b"72057594037927937"),
        passed_on: Some(b"client-abc"),
        trace: None,
    });
    let mut out = Vec::new();
    r.send(&mut out, meta(id), 200, CONTENT_JSON, b"{}", &[]);
    assert_eq!(all(&headers(&out), "X-Request-Id"), ["72057594037927937"]);
}

#[test]
fn the_most_extra_headers_all_reach_the_wire_beside_the_own_ones() {
    let r = responder();
    let (id, _held) = r.ids.register(IdFields {
        own: Some(b"req-1"),
        ..IdFields::default()
    });
    let names = ["A1", "A2", "A3", "A4", "A5", "A6"];
    let extra: Vec<(&str, &[u8])> = names.iter().map(|n| (*n, &b"v"[..])).collect();
    assert_eq!(extra.len(), MAX_EXTRA_HEADERS);
    let mut out = Vec::new();
    r.send(&mut out, meta(id), 503, CONTENT_JSON, b"{}", &extra);
    let h = headers(&out);
    for n in names {
        assert_eq!(all(&h, n), ["v"], "{n}");
    }
    assert_eq!(all(&h, "X-Cache-Node"), ["n1"]);
    assert_eq!(all(&h, "X-Request-Id"), ["req-1"]);
    assert_eq!(all(&h, "Retry-After"), ["1"]);
}

/// Every answer goes through `Responder::head_framed`, which adds `Retry-After` to a 503 (and
/// echoes the request id), except a forwarded answer, which `handlers/forward.rs` encodes from
/// the peer's and gives both itself. A new call of `encode_head` elsewhere would be a 503 site
/// that bypasses both: this test names it.
#[test]
fn only_the_responder_and_the_forward_answer_encode_heads() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let allowed = [
        "server/respond.rs",
        "server/respond_ids.rs",
        // The prepared 200 head `head_framed` writes (tested against `encode_head` there).
        "server/respond_head.rs",
        "server/handlers/forward.rs",
    ];
    let mut stack = vec![root.clone()];
    let mut offenders = Vec::new();
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("src is readable") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path.strip_prefix(&root).expect("under src");
            let rel = rel.to_string_lossy().replace('\\', "/");
            if !rel.ends_with(".rs") || rel.ends_with("_tests.rs") || allowed.contains(&&*rel) {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("source is UTF-8");
            if text.contains("encode_head(") {
                offenders.push(rel);
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "{offenders:?} encode response heads themselves: go through Responder::head_framed \
         (X-Request-Id, Retry-After on 503), or handle both as handlers/forward.rs does"
    );
}

/// `Meta` is copied several times per request: a request id must not make it larger than the
/// 16 bytes it had with a numeric id only.
#[test]
fn meta_stays_sixteen_bytes() {
    assert_eq!(std::mem::size_of::<RequestId>(), 8);
    assert_eq!(std::mem::size_of::<Meta>(), 16);
}
