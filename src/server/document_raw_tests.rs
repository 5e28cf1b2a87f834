//! Unit tests for raw values in export documents (`value_base64` + `content_type`), a child
//! module of `document.rs` like `document_tests.rs`, whose helpers it shares.

use super::tests::{doc, entry};
use super::*;
use bytes::Bytes;

/// The stored form of a raw value.
fn raw(ct: &[u8], body: &[u8]) -> Bytes {
    let mut out = Vec::new();
    crate::storage::value::encode_raw(ct, body, &mut out);
    Bytes::from(out)
}

/// Raw values are written as base64 with their content type and read back to the same stored
/// bytes, next to JSON values; the content type is JSON-escaped.
#[test]
fn raw_entries_round_trip_as_base64_with_their_content_type() {
    let entries = vec![
        Entry {
            key: Bytes::from_static(b"img"),
            value: raw(b"image/png", b"\0\xff\xfe\n\"x"),
            ttl_ms: Some(9),
            version: 5,
            tomb: false,
        },
        Entry {
            key: Bytes::from_static(b"q"),
            value: raw(b"text/html; charset=\"utf-8\"", b""),
            ttl_ms: None,
            version: 6,
            tomb: false,
        },
        entry(b"j", b"{\"a\":1}", 7, false),
    ];
    let mut lines = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        if i > 0 {
            lines.push(b',');
        }
        write_entry(&mut lines, e);
    }
    let text = std::str::from_utf8(&lines).expect("utf-8");
    assert_eq!(
        text,
        concat!(
            r#"{"key":"img","value_base64":"AP/+CiJ4","content_type":"image/png","ttl_ms":9,"version":"0000000000000005"},"#,
            r#"{"key":"q","value_base64":"","content_type":"text/html; charset=\"utf-8\"","version":"0000000000000006"},"#,
            r#"{"key":"j","value":{"a":1},"version":"0000000000000007"}"#
        )
    );
    assert!(!text.contains('\n'), "one entry per line");
    let plan = parse_import(doc(text, 3).as_bytes(), 10, 10).expect("valid");
    assert_eq!(plan.entries, entries);
}

#[test]
fn raw_entries_are_checked_like_raw_puts() {
    let cases = [
        (
            r#"{"key":"k","value":1,"value_base64":"AA=="}"#,
            "entry 0 (key \"k\"): has both value and value_base64",
        ),
        (r#"{"key":"k"}"#, "entry 0 (key \"k\"): has no value"),
        (
            r#"{"key":"k","value":1,"content_type":"a/b"}"#,
            "content_type belongs to a raw value",
        ),
        (
            r#"{"key":"k","value_base64":"AA==","content_type":"png"}"#,
            "content_type: malformed Content-Type \"png\"",
        ),
        (
            r#"{"key":"k","value_base64":"AA=","content_type":"a/b"}"#,
            "value_base64 is not standard base64",
        ),
        (
            r#"{"key":"k","value_base64":"AAAAAAAAAAAAAAA=","content_type":"a/b"}"#,
            "entry 0 (key \"k\"): value larger than max_value_bytes (10)",
        ),
        (
            r#"{"key":"k","value_base64":"AA==","deleted":true}"#,
            "a deleted entry's value must be null",
        ),
    ];
    for (entry_text, want) in cases {
        let err = parse_import(doc(entry_text, 1).as_bytes(), 10, 10)
            .err()
            .unwrap_or_else(|| panic!("{entry_text} should be refused"));
        assert_eq!(err.status(), 400);
        assert!(
            err.to_string().contains(want),
            "{err} should contain {want}"
        );
    }
    // At the limit, and a JSON null value (present, not missing) still imports.
    let ok = doc(
        r#"{"key":"k","value_base64":"AAAAAAAAAAAAAA==","content_type":"a/b"},{"key":"n","value":null}"#,
        2,
    );
    let plan = parse_import(ok.as_bytes(), 10, 10).expect("valid");
    assert_eq!(plan.entries[0].value, raw(b"a/b", &[0; 10]));
    assert_eq!(&plan.entries[1].value[..], b"null");
}
