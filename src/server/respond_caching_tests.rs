//! Unit tests for `respond_caching.rs` and the value answers of `respond.rs`: the bytes a GET
//! and a 304 put on the wire.

use crate::http::parse_response_head;
use crate::http::response::{format_http_date, ConnHeader};
use crate::metrics::{CoreMetrics, MethodLabel, RouteLabel};
use crate::server::respond::{Meta, Responder};
use crate::storage::value::encode_raw;

/// A version issued at `secs` (wall-clock seconds) with counter 7.
fn version_at(secs: u64) -> u64 {
    ((secs * 1000) << crate::storage::version::COUNTER_BITS) + 7
}

fn meta(head_only: bool) -> Meta {
    meta_with(ConnHeader::Default, head_only)
}

/// A GET's (or HEAD's) meta with `conn` (also for the memo's tests).
pub(in crate::server::respond) fn meta_with(conn: ConnHeader, head_only: bool) -> Meta {
    Meta {
        conn,
        head_only,
        route: RouteLabel::Cache,
        method: if head_only {
            MethodLabel::Head
        } else {
            MethodLabel::Get
        },
        ..Meta::closing()
    }
}

fn responder(no_ttl: &str) -> Responder {
    Responder::new("n1", CoreMetrics::new(0), 0, no_ttl)
}

/// Status, headers (but `Date`), body of one encoded answer.
fn parse(out: &[u8], head_only: bool) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut headers = Vec::new();
    let head = parse_response_head(out, head_only, |n, v| {
        if n != "Date" {
            headers.push((n.to_string(), String::from_utf8_lossy(v).into_owned()));
        }
    })
    .expect("valid head")
    .expect("complete head");
    (head.status, headers, out[head.head_len..].to_vec())
}

fn header<'h>(h: &'h [(String, String)], name: &str) -> Option<&'h str> {
    h.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

#[test]
fn a_json_value_keeps_the_seed_envelope_and_gains_caching_headers() {
    let r = responder("no-cache");
    let mut out = Vec::new();
    let v = version_at(784_111_777);
    r.value(&mut out, meta(false), b"k\"1", b"{\"a\":[1,2]}", None, v);
    let (status, h, body) = parse(&out, false);
    assert_eq!(status, 200);
    assert_eq!(body, br#"{"key":"k\"1","value":{"a":[1,2]}}"#);
    assert_eq!(header(&h, "Content-Type"), Some("application/json"));
    assert_eq!(header(&h, "ETag"), Some("\"00b690b434e80007\""));
    assert_eq!(header(&h, "Cache-Control"), Some("no-cache"));
    assert_eq!(
        header(&h, "Last-Modified"),
        Some("Sun, 06 Nov 1994 08:49:37 GMT")
    );
    assert_eq!(header(&h, "Age"), None);
    // With a TTL: the envelope's ttl rounds up (as before), max-age rounds down.
    out.clear();
    r.value(&mut out, meta(false), b"k", b"1", Some(59_500), v);
    let (_, h, body) = parse(&out, false);
    assert_eq!(body, br#"{"key":"k","value":1,"ttl":60}"#);
    assert_eq!(header(&h, "Cache-Control"), Some("max-age=59"));
}

#[test]
fn a_raw_value_is_its_bytes_with_its_content_type() {
    let r = responder("no-cache");
    let body = b"\x89PNG\r\n\x1a\n\0\xff";
    let mut stored = Vec::new();
    encode_raw(b"image/png", body, &mut stored);
    let v = version_at(1_700_000_000);
    for head_only in [false, true] {
        let mut out = Vec::new();
        r.value(&mut out, meta(head_only), b"img", &stored, Some(1_000), v);
        let (status, h, got) = parse(&out, head_only);
        assert_eq!(status, 200);
        assert_eq!(header(&h, "Content-Type"), Some("image/png"));
        assert_eq!(header(&h, "Content-Length"), Some("10"));
        assert_eq!(header(&h, "Cache-Control"), Some("max-age=1"));
        assert_eq!(
            header(&h, "Last-Modified"),
            Some("Tue, 14 Nov 2023 22:13:20 GMT")
        );
        assert!(header(&h, "ETag").is_some());
        assert_eq!(got, if head_only { &b""[..] } else { body });
    }
}

#[test]
fn the_no_ttl_policy_is_the_configs_and_unversioned_values_have_no_validators() {
    for (policy, sent) in [
        ("no-store", Some("no-store")),
        ("private, max-age=60", Some("private, max-age=60")),
        ("none", None),
    ] {
        let mut out = Vec::new();
        responder(policy).value(&mut out, meta(false), b"k", b"1", None, 0);
        let (_, h, _) = parse(&out, false);
        assert_eq!(header(&h, "Cache-Control"), sent, "{policy}");
        assert_eq!(header(&h, "ETag"), None);
        assert_eq!(header(&h, "Last-Modified"), None);
    }
}

#[test]
fn a_304_has_the_200s_headers_and_no_body_or_length() {
    let r = responder("no-cache");
    let mut stored = Vec::new();
    encode_raw(b"text/html; charset=utf-8", b"<p>hi</p>", &mut stored);
    let v = version_at(1_000_000_000);
    let mut out = Vec::new();
    r.not_modified(&mut out, meta(false), &stored, None, v);
    let (status, h, body) = parse(&out, false);
    assert_eq!(status, 304);
    assert!(body.is_empty());
    assert_eq!(header(&h, "Content-Length"), None);
    assert_eq!(header(&h, "Content-Type"), Some("text/html; charset=utf-8"));
    assert_eq!(header(&h, "Cache-Control"), Some("no-cache"));
    assert_eq!(
        header(&h, "ETag"),
        Some(&*String::from_utf8_lossy(&super::super::etag(v)))
    );
    assert_eq!(
        header(&h, "Last-Modified"),
        Some("Sun, 09 Sep 2001 01:46:40 GMT")
    );
}

#[test]
fn the_last_modified_memo_follows_the_version() {
    let r = responder("no-cache");
    for secs in [5, 5, 86_400, 5, 1_700_000_000] {
        let lm = r.with_caching(None, version_at(secs), |h, _| {
            let lm = h.iter().find(|(name, _)| *name == "Last-Modified");
            lm.map(|(_, v)| v.to_vec())
        });
        assert_eq!(lm.as_deref(), Some(&format_http_date(secs)[..]));
    }
}
