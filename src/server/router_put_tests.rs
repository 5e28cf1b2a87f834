//! Unit tests for `router_put.rs`: which bodies are raw, content types, TTL sources.

use super::*;
use crate::storage::value::Stored;

const LIMITS: KeyLimits = KeyLimits {
    max_key_bytes: 8,
    max_value_bytes: 16,
};

fn fields<'a>(
    ct: Option<&'a str>,
    header: Option<&'a str>,
    query: Option<&'a str>,
) -> PutFields<'a> {
    PutFields {
        content_type: ct.map(str::as_bytes),
        cache_ttl: header.map(str::as_bytes),
        query: query.map(str::as_bytes),
    }
}

/// The stored form and TTL of a PUT, or its error.
fn put(body: &[u8], f: PutFields<'_>) -> Result<(Vec<u8>, Option<u64>), RequestError> {
    let mut buf = Vec::new();
    match parse_put(body, f, LIMITS, &mut buf)? {
        KeyAction::Put { head, value, ttl_s } => Ok(([head, value].concat(), ttl_s)),
        other => panic!("not a put: {other:?}"),
    }
}

fn status(r: Result<(Vec<u8>, Option<u64>), RequestError>) -> u16 {
    r.map_or_else(|e| e.status(), |_| 200)
}

#[test]
fn json_no_type_and_form_types_are_the_envelope() {
    for ct in [
        None,
        Some(""),
        Some("application/json"),
        Some("Application/JSON; charset=utf-8"),
        Some("application/x-www-form-urlencoded"),
        Some("application/json ;charset=UTF-8"),
    ] {
        assert_eq!(
            body_kind(ct.map(str::as_bytes)),
            Ok(BodyKind::Envelope),
            "{ct:?}"
        );
        assert_eq!(
            put(br#"{"value": [1, 2], "ttl": 5}"#, fields(ct, None, None)),
            Ok((b"[1,2]".to_vec(), Some(5))),
            "{ct:?}"
        );
    }
}

#[test]
fn any_other_type_stores_the_body_bytes_with_the_type_as_sent() {
    let body = b"\x89PNG\0\xff\xfe{";
    for ct in [
        "image/png",
        "application/octet-stream",
        "text/html; charset=utf-8",
        "application/vnd.api+json",
        "text/plain;charset=UTF-8",
    ] {
        let (stored, ttl) = put(body, fields(Some(ct), None, None)).expect(ct);
        assert_eq!(ttl, None);
        assert_eq!(
            Stored::decode(&stored),
            Stored::Raw {
                content_type: ct.as_bytes(),
                body
            },
            "{ct}"
        );
    }
    // An empty raw body is a value too (an empty file), not a tombstone.
    let (stored, _) = put(b"", fields(Some("text/plain"), None, None)).expect("empty");
    assert_eq!(stored.len(), 2 + "text/plain".len());
}

#[test]
fn malformed_or_overlong_content_types_are_refused() {
    for bad_ct in [
        "json",
        "/png",
        "image/",
        "image /png",
        "im(age/png",
        "a/b\u{7f}",
    ] {
        let e = body_kind(Some(bad_ct.as_bytes())).expect_err(bad_ct);
        assert_eq!(e.status(), 400, "{bad_ct}");
        assert!(e.message().contains("malformed Content-Type"), "{e:?}");
    }
    let non_ascii = b"image/p\xc3\xa9ng";
    assert_eq!(body_kind(Some(non_ascii)).map_err(|e| e.status()), Err(400));
    let long = format!("application/{}", "x".repeat(MAX_CONTENT_TYPE_BYTES));
    let e = body_kind(Some(long.as_bytes())).expect_err("too long");
    assert_eq!(e.status(), 415);
    assert!(e.message().contains("longer than the 255"), "{e:?}");
    let longest = format!("a/{}", "x".repeat(MAX_CONTENT_TYPE_BYTES - 2));
    assert_eq!(check_content_type(longest.as_bytes()), Ok(()));
}

#[test]
fn a_raw_ttl_comes_from_the_query_or_the_header() {
    let raw = |h, q| put(b"x", fields(Some("text/plain"), h, q)).map(|(_, t)| t);
    assert_eq!(raw(None, None), Ok(None));
    assert_eq!(raw(Some("60"), None), Ok(Some(60)));
    assert_eq!(raw(None, Some("a=1&ttl=60&b")), Ok(Some(60)));
    assert_eq!(raw(Some("60"), Some("ttl=060")), Ok(Some(60)));
    assert_eq!(raw(Some("0"), None), Ok(None));
    assert_eq!(raw(None, Some("ttl=0")), Ok(None));
    let max = MAX_TTL_SECS.to_string();
    assert_eq!(raw(Some(&max), None), Ok(Some(MAX_TTL_SECS)));
    let e = raw(Some("60"), Some("ttl=61")).expect_err("disagree");
    assert!(e.message().contains("disagree"), "{e:?}");
    for bad_ttl in ["", "-1", "1.5", "1e3", " 5", "99999999999999999999", "0x10"] {
        let e = raw(Some(bad_ttl), None).expect_err(bad_ttl);
        assert_eq!(e.status(), 400, "{bad_ttl}");
        assert!(e.message().contains("X-Cache-TTL"), "{e:?}");
    }
    let e = raw(None, Some("ttl=abc")).expect_err("query");
    assert!(e.message().contains("?ttl="), "{e:?}");
    let over = (MAX_TTL_SECS + 1).to_string();
    let e = raw(Some(&over), None).expect_err("over ten years");
    assert!(e.message().contains("ten years"), "{e:?}");
}

#[test]
fn a_json_put_refuses_a_ttl_outside_its_body() {
    for (h, q) in [(Some("5"), None), (None, Some("ttl=5"))] {
        let e = put(br#"{"value":1}"#, fields(None, h, q)).expect_err("json + ttl");
        assert_eq!(e.status(), 400);
        assert!(e.message().contains("in the body"), "{e:?}");
    }
    // Other query parameters are none of its business.
    assert_eq!(
        put(br#"{"value":1}"#, fields(None, None, Some("x=1"))),
        Ok((b"1".to_vec(), None))
    );
}

#[test]
fn a_raw_value_is_bounded_by_max_value_bytes_alone() {
    let at_limit = [7u8; 16];
    let (stored, _) = put(&at_limit, fields(Some("a/b"), None, None)).expect("at the limit");
    assert_eq!(Stored::decode(&stored).payload_len(), 16);
    assert_eq!(
        put(&[7u8; 17], fields(Some("a/b"), None, None)),
        Err(RequestError::ValueTooLarge)
    );
    assert_eq!(
        status(put(&[7u8; 17], fields(Some("a/b"), None, None))),
        413
    );
}

#[test]
fn copies_carry_the_ttl_their_coordinator_parsed() {
    let mut buf = [0u8; TTL_HEADER_BYTES];
    assert_eq!(copy_ttl_header(None, &mut buf), b"");
    assert_eq!(
        copy_ttl_header(Some(60_000), &mut buf),
        b"X-Cache-TTL: 60\r\n"
    );
    let longest = copy_ttl_header(Some(u64::MAX), &mut buf).len();
    assert!(longest <= TTL_HEADER_BYTES);
    // What the replica parses back.
    let line = copy_ttl_header(Some(MAX_TTL_SECS * 1000), &mut buf);
    let value = &line[b"X-Cache-TTL: ".len()..line.len() - 2];
    let f = PutFields {
        content_type: Some(b"a/b"),
        cache_ttl: Some(value),
        query: None,
    };
    assert_eq!(put(b"x", f).map(|(_, t)| t), Ok(Some(MAX_TTL_SECS)));
}
