//! Unit tests for `router.rs` (a child module of it; see the `#[path]` there).

use super::*;

const LIMITS: KeyLimits = KeyLimits {
    max_key_bytes: 8,
    max_value_bytes: 16,
};

fn key(seg: &str) -> Result<Vec<u8>, RequestError> {
    let mut buf = Vec::new();
    parse_key(seg.as_bytes(), &mut buf, LIMITS).map(<[u8]>::to_vec)
}

fn put(body: &str) -> Result<(Vec<u8>, Option<u64>), RequestError> {
    let mut buf = Vec::new();
    match parse_action(
        Method::Put,
        body.as_bytes(),
        true,
        PutFields::default(),
        LIMITS,
        &mut buf,
    )? {
        KeyAction::Put { head, value, ttl_s } => Ok(([head, value].concat(), ttl_s)),
        other => panic!("not a put: {other:?}"),
    }
}

#[test]
fn routes() {
    assert_eq!(Route::parse(b"/api/v1/cache/x"), Route::Cache);
    assert_eq!(Route::parse(b"/health"), Route::Health);
    assert_eq!(Route::parse(b"/"), Route::Index);
    assert!(!Route::Index.allows(Method::Put));
    assert_eq!(Route::parse(b"/admin/import"), Route::Import);
    assert_eq!(Route::parse(b"/api/v1/cachex"), Route::Unknown);
    // The key routes are matched first; the exact routes beside them keep their own.
    assert_eq!(Route::parse(b"/api/v1/cache"), Route::Cache);
    assert_eq!(Route::parse(b"/api/v1/cache/"), Route::Cache);
    assert_eq!(Route::parse(b"/api/v1/cache/k/incr"), Route::Incr);
    assert_eq!(Route::parse(b"/api/v1/cache/a/b/incr"), Route::Cache);
    assert_eq!(Route::parse(b"/api/v1/cache//incr"), Route::Cache);
    assert_eq!(Route::parse(b"/api/v1/batch"), Route::Batch);
    assert_eq!(
        Route::parse(b"/admin/cluster/nodes/n1"),
        Route::ClusterNodes
    );
    assert!(Route::Cache.allows(Method::Put));
    assert!(!Route::Import.allows(Method::Get));
    assert!(Route::Metrics.allows(Method::Head));
    assert!(!Route::Unknown.allows(Method::Get));
    assert_eq!(Route::Cache.body_limit(10, 99), 10 + PUT_BODY_SLACK);
    assert_eq!(Route::Import.body_limit(10, 99), 99);
}

#[test]
fn keys_are_decoded_and_checked() {
    assert_eq!(key("a%2Fb"), Ok(b"a/b".to_vec()));
    assert_eq!(key("").map_err(|e| e.status()), Err(400));
    assert_eq!(key("%2F%2F").map_err(|e| e.status()), Err(400));
    assert_eq!(key("a/b").map_err(|e| e.status()), Err(400));
    assert_eq!(key("123456789"), Err(RequestError::KeyTooLong));
    assert_eq!(key("%FF").map_err(|e| e.status()), Err(400));
    assert_eq!(key("%zz").map_err(|e| e.status()), Err(400));
}

#[test]
fn put_bodies_are_validated_and_minified() {
    assert_eq!(put(r#"{"value": [1, 2]}"#), Ok((b"[1,2]".to_vec(), None)));
    assert_eq!(put(r#"{"value":1,"ttl":0}"#), Ok((b"1".to_vec(), None)));
    assert_eq!(put(r#"{"value":1,"ttl":5}"#), Ok((b"1".to_vec(), Some(5))));
    let too_long = format!(r#"{{"value":1,"ttl":{}}}"#, MAX_TTL_SECS + 1);
    assert_eq!(put(&too_long).map_err(|e| e.status()), Err(400));
    assert_eq!(
        put(r#"{"value":"0123456789abcdefg"}"#),
        Err(RequestError::ValueTooLarge)
    );
    let err = put(r#"{"value":1,"v":1}"#).expect_err("unknown field");
    let msg = err.message();
    assert!(
        msg.contains(
            "invalid JSON body: unknown field \"v\" (allowed: value or ttl) at line 1, column 14"
        ),
        "{err:?}"
    );
    assert!(
        !msg.contains("PutBody") && !msg.contains("struct"),
        "{err:?}"
    );
    let mut buf = Vec::new();
    assert_eq!(
        parse_action(
            Method::Put,
            b"",
            false,
            PutFields::default(),
            LIMITS,
            &mut buf
        ),
        Err(RequestError::LengthRequired)
    );
    assert_eq!(
        parse_action(
            Method::Post,
            b"",
            false,
            PutFields::default(),
            LIMITS,
            &mut buf
        ),
        Err(RequestError::Method)
    );
    assert_eq!(
        parse_action(
            Method::Head,
            b"",
            false,
            PutFields::default(),
            LIMITS,
            &mut buf
        ),
        Ok(KeyAction::Get)
    );
}

#[test]
fn every_error_has_one_status_and_a_message() {
    for e in [
        bad("x"),
        RequestError::LengthRequired,
        RequestError::ValueTooLarge,
        RequestError::KeyTooLong,
        RequestError::Method,
    ] {
        assert!((400..500).contains(&e.status()));
        assert!(!e.message().is_empty());
    }
}

#[test]
fn a_slash_is_found_wherever_it_is() {
    for len in 0..40 {
        let plain = vec![b'a'; len];
        assert!(!has_slash(&plain), "{len} bytes without a slash");
        for at in 0..len {
            let mut with = plain.clone();
            with[at] = b'/';
            assert!(has_slash(&with), "{len} bytes, slash at {at}");
        }
    }
    // Bytes next to '/' (0x2f) in value, and bytes whose XOR with it borrows.
    assert!(!has_slash(b".0.0.0.0.0.0.0.0.0"));
    assert!(!has_slash(&[
        0x2e,
        0x30,
        0xaf,
        0x2f ^ 0x01,
        0x00,
        0xff,
        0x2e,
        0x30,
        0x6f
    ]));
}

proptest::proptest! {
    /// `has_slash` is `contains(&b'/')`, for any bytes.
    #[test]
    fn has_slash_is_contains(s in proptest::collection::vec(proptest::num::u8::ANY, 0..48)) {
        proptest::prop_assert_eq!(has_slash(&s), s.contains(&b'/'));
    }

    /// A segment of an unescaped path (path-literal bytes, `/` among them) gets the same key or
    /// the same error from `parse_key_in` as from `parse_key`; an escaped one always goes to
    /// `parse_key`.
    #[test]
    fn a_plain_segment_is_its_own_key(
        seg in proptest::collection::vec(
            proptest::sample::select(b"ab:-._~!$&'()*+,;=@/%2F0".to_vec()),
            0..12,
        ),
        escaped in proptest::bool::ANY,
    ) {
        // Without an escape a path has no `%` (`Head::path_escaped`): model that.
        let escaped = escaped || seg.contains(&b'%');
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let fast = parse_key_in(&seg, escaped, &mut a, LIMITS).map(<[u8]>::to_vec);
        let full = parse_key(&seg, &mut b, LIMITS).map(<[u8]>::to_vec);
        proptest::prop_assert_eq!(fast, full);
    }
}
