//! Unit tests for `document.rs` (a child module of it; see the `#[path]` there).

use super::*;

fn doc(entries: &str, count: usize) -> String {
    format!(
        "{{\"format\":\"{EXPORT_FORMAT}\",\"version\":{EXPORT_VERSION},\"entries\":[{entries}],\"count\":{count}}}"
    )
}

fn entry(key: &'static [u8], value: &'static [u8], version: u64, tomb: bool) -> Entry {
    Entry {
        key: Bytes::from_static(key),
        value: Bytes::from_static(value),
        ttl_ms: None,
        version,
        tomb,
    }
}

/// Written entries (a value with TTL and version, a tombstone, an unversioned value) parse
/// back to themselves.
#[test]
fn written_entries_parse_back_with_versions_and_tombstones() {
    let entries = vec![
        Entry {
            ttl_ms: Some(5),
            ..entry(b"k\"1", b"[1,2]", 0x0193_0000_0000_0001, false)
        },
        entry(b"gone", b"", 0xabc, true),
        entry(b"old", b"1", 0, false),
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
            r#"{"key":"k\"1","value":[1,2],"ttl_ms":5,"version":"0193000000000001"},"#,
            r#"{"key":"gone","value":null,"deleted":true,"version":"0000000000000abc"},"#,
            r#"{"key":"old","value":1}"#
        )
    );
    let plan = parse_import(doc(text, 3).as_bytes(), 10, 10).expect("valid");
    assert_eq!(plan.entries, entries);
}

#[test]
fn versions_are_optional_and_any_hex_spelling_is_read() {
    let text = doc(
        r#"{"key":"a","value":1,"version":"FF"},{"key":"b","value":2},{"key":"c","value":3,"deleted":false}"#,
        3,
    );
    let plan = parse_import(text.as_bytes(), 10, 10).expect("valid");
    let got: Vec<(u64, bool)> = plan.entries.iter().map(|e| (e.version, e.tomb)).collect();
    assert_eq!(got, vec![(255, false), (0, false), (0, false)]);
}

#[test]
fn bad_documents_name_the_problem() {
    let cases = [
        ("{", "invalid export document"),
        (
            r#"{"format":["x"],"version":1,"entries":[],"count":0}"#,
            "wrong type: found an array, expected a string at line 1, column 10",
        ),
        (&doc("", 1) as &str, "count says 1"),
        (&doc(r#"{"key":"","value":1}"#, 1), "entry 0: key is empty"),
        (
            &doc(r#"{"key":"k","value":"0123456789"}"#, 1),
            "larger than max_value_bytes",
        ),
        (
            &doc(r#"{"key":"k","value":1,"deleted":true}"#, 1),
            "entry 0 (key \"k\"): invalid JSON value: a deleted entry's value must be null",
        ),
        (
            &doc(r#"{"key":"k","value":1,"versio":"1"}"#, 1),
            "unknown field",
        ),
        (
            &doc(r#"{"key":"k","value":1,"version":1}"#, 1),
            "expected a string",
        ),
    ];
    for (text, want) in cases {
        let err = parse_import(text.as_bytes(), 10, 10)
            .err()
            .expect("an error");
        assert_eq!(err.status(), 400);
        let err = err.to_string();
        assert!(err.contains(want), "{err} should contain {want}");
    }
}

#[test]
fn a_bad_version_names_the_entry_index_and_key() {
    for bad in ["", "0x12", "12345678901234567", "g", " 1"] {
        let text = doc(
            &format!(r#"{{"key":"a","value":1}},{{"key":"b\"","value":1,"version":"{bad}"}}"#),
            2,
        );
        let err = parse_import(text.as_bytes(), 10, 10)
            .err()
            .expect("an error");
        assert_eq!(
            err,
            DocError::BadVersion {
                index: 1,
                key: "b\"".to_string(),
                got: bad.to_string()
            }
        );
        assert_eq!(
            err.to_string(),
            format!(
                "entry 1 (key \"b\\\"\"): invalid version {bad:?} (expected 1 to 16 hex digits)"
            )
        );
    }
}

#[test]
fn doc_errors_name_entry_key_and_cause() {
    let value = DocError::BadValue {
        index: 3,
        key: "k\"1".to_string(),
        why: "trailing characters",
    };
    assert_eq!(
        value.to_string(),
        "entry 3 (key \"k\\\"1\"): invalid JSON value: trailing characters"
    );
    let bad_version = doc("", 0).replace(&format!("\"version\":{EXPORT_VERSION}"), "\"version\":9");
    let err = parse_import(bad_version.as_bytes(), 10, 10)
        .err()
        .expect("an error");
    assert_eq!(
        err,
        DocError::Unsupported {
            format: EXPORT_FORMAT.to_string(),
            version: 9
        }
    );
    assert!(err.to_string().contains("version 9 (expected"), "{err}");
    let big = doc(r#"{"key":"k","value":"0123456789"}"#, 1);
    let err = parse_import(big.as_bytes(), 10, 10)
        .err()
        .expect("an error");
    assert_eq!(
        err.to_string(),
        "entry 0 (key \"k\"): value larger than max_value_bytes (10)"
    );
}

#[test]
fn scope_and_params() {
    assert_eq!(
        Scope::from_query(Some(b"a=1&scope=local")),
        Scope::Local { view: None }
    );
    assert_eq!(
        Scope::from_query(Some(b"scope=local&view=0120")),
        Scope::Local {
            view: Some(Box::from(&b"0120"[..]))
        }
    );
    assert_eq!(Scope::from_query(Some(b"view=0")), Scope::Cluster);
    assert_eq!(Scope::from_query(None), Scope::Cluster);
    assert!(has_param(Some(b"if_absent=1"), b"if_absent=1"));
    assert_eq!(
        param(Some(b"viewx=1&view=2&view=3"), b"view"),
        Some(&b"2"[..])
    );
    assert_eq!(param(Some(b"view"), b"view"), None);
    assert_eq!(param(None, b"view"), None);
}
