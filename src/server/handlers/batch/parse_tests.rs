use super::*;

const LIMITS: KeyLimits = KeyLimits {
    max_key_bytes: 16,
    max_value_bytes: 32,
};

fn check(op_text: &str) -> Result<Action, (Option<String>, u16, String)> {
    let raw: &RawValue = serde_json::from_str(op_text).expect("test op is JSON");
    let mut scratch = Vec::new();
    op(raw, LIMITS, &mut scratch)
        .map(|o| o.action)
        .map_err(|e| {
            let key = e.key.map(|k| k.into_owned());
            (key, e.err.status(), e.err.message().to_string())
        })
}

fn refused(op_text: &str) -> (u16, String) {
    let (_, status, msg) = check(op_text).expect_err(op_text);
    (status, msg)
}

#[test]
fn ops_are_checked_like_single_requests() {
    assert_eq!(check(r#"{"op":"get","key":"a"}"#), Ok(Action::Get));
    assert_eq!(check(r#"{"op":"delete","key":"a/b"}"#), Ok(Action::Delete));
    assert_eq!(
        check(r#"{"op":"put","key":"a","value":{ "x" : [1, 2] },"ttl":60}"#),
        Ok(Action::Put {
            stored: Bytes::from_static(br#"{"x":[1,2]}"#),
            ttl_s: Some(60)
        })
    );
    // null is a value like any other; ttl 0 is no expiry.
    assert_eq!(
        check(r#"{"op":"put","key":"a","value":null,"ttl":0}"#),
        Ok(Action::Put {
            stored: Bytes::from_static(b"null"),
            ttl_s: None
        })
    );
    // An escaped key is decoded (the op text is not borrowed then).
    let raw: &RawValue = serde_json::from_str(r#"{"op":"get","key":"\u00e9\n"}"#).expect("json");
    assert_eq!(op(raw, LIMITS, &mut Vec::new()).expect("valid").key, "é\n");
}

#[test]
fn raw_puts_decode_their_bytes_with_their_content_type() {
    let stored = |text: &str| match check(text) {
        Ok(Action::Put { stored, .. }) => stored,
        other => panic!("{text}: {other:?}"),
    };
    let png =
        stored(r#"{"op":"put","key":"i","value_base64":"iVBORw==","content_type":"image/png"}"#);
    assert_eq!(
        crate::storage::value::Stored::decode(&png),
        crate::storage::value::Stored::Raw {
            content_type: b"image/png",
            body: b"\x89PNG"
        }
    );
    let plain = stored(r#"{"op":"put","key":"i","value_base64":""}"#);
    assert_eq!(
        crate::storage::value::Stored::decode(&plain),
        crate::storage::value::Stored::Raw {
            content_type: b"application/octet-stream",
            body: b""
        }
    );
}

#[test]
fn a_bad_op_is_its_own_error_with_the_single_status() {
    let cases = [
        (r#"{"op":"get"}"#, 400, "missing field \"key\""),
        (r#"{"key":"a"}"#, 400, "missing field \"op\""),
        (r#"{"op":"fetch","key":"a"}"#, 400, "unknown op \"fetch\""),
        (
            r#"{"op":"get","key":"a","tll":1}"#,
            400,
            "unknown field \"tll\"",
        ),
        (r#"{"op":"get","key":5}"#, 400, "wrong type"),
        (r#"{"op":"get","key":""}"#, 400, "empty key"),
        (r#"{"op":"get","key":"//"}"#, 400, "only of '/'"),
        (
            r#"{"op":"get","key":"0123456789abcdefX"}"#,
            414,
            "key longer",
        ),
        (
            r#"{"op":"get","key":"a","value":1}"#,
            400,
            "belong to a put",
        ),
        (r#"{"op":"put","key":"a"}"#, 400, "needs \"value\""),
        (r#"{"op":"put","key":"a","ttl":5}"#, 400, "needs \"value\""),
        (
            r#"{"op":"put","key":"a","value":1,"value_base64":"AA=="}"#,
            400,
            "not both",
        ),
        (
            r#"{"op":"put","key":"a","value":1,"content_type":"a/b"}"#,
            400,
            "goes with",
        ),
        (
            r#"{"op":"put","key":"a","value":1,"ttl":-1}"#,
            400,
            "expected a whole number",
        ),
        (
            r#"{"op":"put","key":"a","value":1,"ttl":400000000}"#,
            400,
            "ten years",
        ),
        (
            r#"{"op":"put","key":"a","value":"0123456789012345678901234567890123"}"#,
            413,
            "max_value_bytes",
        ),
        (
            r#"{"op":"put","key":"a","value":"\ud800"}"#,
            400,
            "surrogate",
        ),
        (
            r#"{"op":"put","key":"a","value_base64":"!!"}"#,
            400,
            "invalid value_base64",
        ),
        (
            r#"{"op":"put","key":"a","value_base64":"AA==","content_type":"text"}"#,
            400,
            "media type",
        ),
        (
            r#"{"op":"put","key":"a","value_base64":"AA==","content_type":"a/b\r\nX: 1"}"#,
            400,
            "media type",
        ),
    ];
    for (text, status, msg) in cases {
        let (got, why) = refused(text);
        assert_eq!(got, status, "{text}: {why}");
        assert!(why.contains(msg), "{text}: {why:?} should say {msg:?}");
    }
    // A raw value is bounded by its decoded size.
    let b64 = base64::engine::general_purpose::STANDARD.encode([7u8; 33]);
    let (status, _) = refused(&format!(
        r#"{{"op":"put","key":"a","value_base64":"{b64}"}}"#
    ));
    assert_eq!(status, 413);
    let b64 = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    assert!(check(&format!(
        r#"{{"op":"put","key":"a","value_base64":"{b64}"}}"#
    ))
    .is_ok());
    // The key is named in the error once it was read.
    let (key, _, _) = check(r#"{"op":"put","key":"k1"}"#).expect_err("no value");
    assert_eq!(key.as_deref(), Some("k1"));
}
