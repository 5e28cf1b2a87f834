//! Unit tests for `document.rs` (a child module of it; see the `#[path]` there).

use super::*;
use bytes::Bytes;

pub(super) fn doc(entries: &str, count: usize) -> String {
    format!(
        "{{\"format\":\"{EXPORT_FORMAT}\",\"version\":{EXPORT_VERSION},\"entries\":[{entries}],\"count\":{count}}}"
    )
}

pub(super) fn entry(key: &'static [u8], value: &'static [u8], version: u64, tomb: bool) -> Entry {
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

const LIMITS: Limits = Limits {
    max_key: 10,
    max_value: 10,
};

fn numbered(n: usize) -> String {
    let entries: Vec<String> = (0..n)
        .map(|i| {
            format!(
                "{{\"key\":\"k{i}\",\"value\":{i},\"version\":\"{:x}\"}}",
                i + 1
            )
        })
        .collect();
    doc(&entries.join(",\n"), n)
}

/// Checked one entry per step, the document gives the same result as checked at once, and
/// its windows hand out every entry once, in order, never more than asked per window.
#[test]
fn a_document_checked_in_steps_is_handed_out_in_bounded_windows() {
    let text = numbered(10);
    let mut v = Validator::new(text.as_bytes(), LIMITS);
    let mut steps = 0;
    let doc = loop {
        steps += 1;
        match v.step(1, usize::MAX).expect("valid") {
            Checked::More => continue,
            Checked::Done(d) => break d,
        }
    };
    assert_eq!(
        steps, 10,
        "one entry per step (the last step also reads the end)"
    );
    // A byte budget ends a step once it read that much: here the members before the entries
    // use up the first step, then each step checks one entry.
    let mut v = Validator::new(text.as_bytes(), LIMITS);
    let mut steps = 1;
    while let Checked::More = v.step(usize::MAX, 1).expect("valid") {
        steps += 1;
    }
    assert_eq!(steps, 11);
    assert_eq!((doc.live, doc.max_version), (10, 10));
    let windows: Vec<Vec<Entry>> = doc.windows(4, usize::MAX).collect();
    let sizes: Vec<usize> = windows.iter().map(Vec::len).collect();
    assert_eq!(sizes, [4, 4, 2]);
    let keys: Vec<Bytes> = windows.into_iter().flatten().map(|e| e.key).collect();
    let want: Vec<Bytes> = (0..10).map(|i| Bytes::from(format!("k{i}"))).collect();
    assert_eq!(keys, want);
    // A window also ends at the entry that brings it to the byte bound.
    let entry_len = r#"{"key":"k0","value":0,"version":"1"}"#.len();
    let sizes: Vec<usize> = doc.windows(100, 2 * entry_len).map(|w| w.len()).collect();
    assert_eq!(sizes, [2, 2, 2, 2, 2]);
    assert_eq!(
        parse_import(text.as_bytes(), 10, 10)
            .expect("valid")
            .entries
            .len(),
        10
    );
}

/// Nothing is handed out of a document with a fault anywhere, even after its last entry.
#[test]
fn a_fault_after_the_entries_refuses_the_whole_document() {
    let text = numbered(3).replace("\"count\":3", "\"count\":3,\"extra\":1");
    let mut v = Validator::new(text.as_bytes(), LIMITS);
    let err = loop {
        match v.step(1, usize::MAX) {
            Ok(Checked::More) => continue,
            Ok(Checked::Done(_)) => panic!("accepted"),
            Err(e) => break e.to_string(),
        }
    };
    assert!(err.contains("unknown field \"extra\" (allowed: format, version, node_id, exported_at, nodes, missing, entries, count)"), "{err}");
}

/// Entries that expired in transit are checked but not handed out; CR/LF stripped (as
/// `curl -d @file` does) and extra whitespace change nothing.
#[test]
fn expired_entries_are_skipped_and_whitespace_does_not_matter() {
    let text = doc(
        "{\"key\":\"a\",\"value\":1,\"ttl_ms\":0},\r\n  {\"key\":\"b\",\"value\":[1, 2],\"ttl_ms\":5}\n",
        2,
    )
    .replace(",\"entries\":", " ,\n \"entries\" : ");
    let plan = parse_import(text.as_bytes(), 10, 10).expect("valid");
    let got: Vec<(Bytes, Bytes, Option<u64>)> = plan
        .entries
        .into_iter()
        .map(|e| (e.key, e.value, e.ttl_ms))
        .collect();
    assert_eq!(got, vec![(Bytes::from("b"), Bytes::from("[1,2]"), Some(5))]);
    let stripped: String = text.chars().filter(|&c| c != '\r' && c != '\n').collect();
    assert_eq!(
        parse_import(stripped.as_bytes(), 10, 10)
            .expect("valid")
            .entries
            .len(),
        1
    );
}

/// An error inside an entry names the entry and gives its position in the whole document, as a
/// one-pass parse would; so do the faults of the document's own shape.
#[test]
fn errors_give_their_position_in_the_whole_document() {
    let text = doc(
        "{\"key\":\"a\",\"value\":1},\n{\"key\":\"b\",\"value\":1,\"ttl_ms\":\"x\"}",
        2,
    );
    let err = parse_import(text.as_bytes(), 10, 10)
        .err()
        .expect("an error")
        .to_string();
    assert_eq!(
        err,
        "invalid export document: entry 1: wrong type: found the string \"x\", expected a whole number >= 0 at line 2, column 33 (a truncated or corrupt backup file?)"
    );
    let cases = [
        (
            "",
            "the JSON ends too early (truncated?) at line 1, column 0",
        ),
        (
            "[]",
            "expected an object (the export document) at line 1, column 0",
        ),
        (
            r#"{"count":0,"count":0}"#,
            "duplicate field \"count\" at line 1, column 11",
        ),
        (
            r#"{"format":"x"} x"#,
            "trailing characters at line 1, column 15",
        ),
        (
            r#"{"format":"x"}"#,
            "missing field \"version\" at line 1, column 14",
        ),
        (
            r#"{"entries":{}}"#,
            "expected an array of entries at line 1, column 11",
        ),
        (
            r#"{"entries":[{"key":"a","value":1} 2]}"#,
            "expected ',' or ']' after an entry at line 1, column 34",
        ),
        (&numbered(2)[..60], "the JSON ends too early"),
    ];
    for (text, want) in cases {
        let err = parse_import(text.as_bytes(), 10, 10)
            .err()
            .expect("an error")
            .to_string();
        assert!(err.contains(want), "{text:?}: {err} should contain {want}");
    }
}

/// A document of another format or version is refused as such before its entries are read,
/// whatever shape they have.
#[test]
fn another_format_is_refused_before_its_entries() {
    let text = r#"{"format":"other","version":2,"entries":[{"id":1}],"count":1}"#;
    let err = parse_import(text.as_bytes(), 10, 10)
        .err()
        .expect("an error");
    assert_eq!(
        err,
        DocError::Unsupported {
            format: "other".to_string(),
            version: 2
        }
    );
}
