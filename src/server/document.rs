//! The export document: its format, one entry per line, and the validating import parser.
//!
//! The document is one JSON object with one entry per line:
//! `{"format":..,"entries":[` LF `{entry},` LF ... `{entry}` LF `],"count":N,"nodes":[..],"missing":[..]}`.
//! Values are stored minified, so an entry never contains a raw newline: a node splices a peer's
//! export line by line (memory stays bounded to one page), and removing every CR/LF (as
//! `curl -d @file` does) still leaves the same document. Pure functions, no I/O.

use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::http::response::json_escape;
use crate::storage::Entry;

/// Marker and version of the export document, checked on import.
pub(super) const EXPORT_FORMAT: &str = "distributed-cache-export";
pub(super) const EXPORT_VERSION: u32 = 1;

/// Whole cluster (default) or only this node (`?scope=local`, what nodes ask each other).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Scope {
    Cluster,
    Local,
}

impl Scope {
    pub(super) fn from_query(q: Option<&[u8]>) -> Scope {
        if has_param(q, b"scope=local") {
            Scope::Local
        } else {
            Scope::Cluster
        }
    }
}

pub(super) fn has_param(q: Option<&[u8]>, param: &[u8]) -> bool {
    q.is_some_and(|q| q.split(|&b| b == b'&').any(|p| p == param))
}

/// Append one export entry as a JSON object (no trailing separator).
pub(super) fn write_entry(out: &mut Vec<u8>, e: &Entry) {
    out.extend_from_slice(b"{\"key\":\"");
    json_escape(out, &e.key);
    out.extend_from_slice(b"\",\"value\":");
    out.extend_from_slice(&e.value);
    if let Some(t) = e.ttl_ms {
        out.extend_from_slice(b",\"ttl_ms\":");
        out.extend_from_slice(itoa::Buffer::new().format(t).as_bytes());
    }
    out.push(b'}');
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportDoc<'a> {
    format: &'a str,
    version: u32,
    #[serde(default)]
    node_id: Option<&'a str>,
    #[serde(default)]
    exported_at: Option<&'a str>,
    /// Members whose data the document holds / could not include (cluster exports).
    #[serde(default)]
    nodes: Option<Vec<&'a str>>,
    #[serde(default)]
    missing: Option<Vec<&'a str>>,
    #[serde(borrow)]
    entries: Vec<ImportEntry<'a>>,
    count: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportEntry<'a> {
    key: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    value: &'a RawValue,
    #[serde(default)]
    ttl_ms: Option<u64>,
}

/// Why an import document was refused; every variant maps to 400 (see [`DocError::status`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DocError {
    /// Not the JSON shape of an export document (serde's message names the problem and position).
    Json(String),
    /// Another format marker or version than this node writes.
    Unsupported { format: String, version: u32 },
    /// `count` disagrees with the number of entries held.
    CountMismatch { count: u64, entries: usize },
    /// Entry `index` has an empty key or one longer than `max_key_bytes`.
    BadKey { index: usize, max_key: usize },
    /// Entry `index`'s value is not valid JSON (`why`: what is wrong with it).
    BadValue {
        index: usize,
        key: String,
        why: &'static str,
    },
    /// Entry `index`'s minified value is larger than `max_value_bytes`.
    ValueTooLarge {
        index: usize,
        key: String,
        max_value: usize,
    },
}

impl DocError {
    /// The status a client gets for this refused import.
    pub(crate) fn status(&self) -> u16 {
        400
    }
}

impl std::fmt::Display for DocError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DocError::Json(e) => write!(
                f,
                "invalid export document: {e} (a truncated or corrupt backup file?)"
            ),
            DocError::Unsupported { format, version } => write!(
                f,
                "unsupported export document: format {format:?} version {version} (expected {EXPORT_FORMAT:?} version {EXPORT_VERSION})"
            ),
            DocError::CountMismatch { count, entries } => write!(
                f,
                "export document is inconsistent: count says {count} but it holds {entries} entries (truncated?)"
            ),
            DocError::BadKey { index, max_key } => write!(
                f,
                "entry {index}: key is empty or longer than max_key_bytes ({max_key})"
            ),
            DocError::BadValue { index, key, why } => {
                write!(f, "entry {index} (key {key:?}): invalid JSON value: {why}")
            }
            DocError::ValueTooLarge {
                index,
                key,
                max_value,
            } => write!(
                f,
                "entry {index} (key {key:?}): value larger than max_value_bytes ({max_value})"
            ),
        }
    }
}

impl std::error::Error for DocError {}

/// A parsed, validated import document: entries grouped as owned data.
pub(crate) struct ImportPlan {
    pub entries: Vec<Entry>,
}

/// Parse and validate an export document. Errors name the problem (and the byte position).
pub(crate) fn parse_import(
    body: &[u8],
    max_key: usize,
    max_value: usize,
) -> Result<ImportPlan, DocError> {
    let doc: ImportDoc<'_> = serde_json::from_slice(body)
        .map_err(|e| DocError::Json(super::json_error::describe(&e)))?;
    let _ = (doc.node_id, doc.exported_at, doc.nodes, doc.missing);
    if doc.format != EXPORT_FORMAT || doc.version != EXPORT_VERSION {
        return Err(DocError::Unsupported {
            format: doc.format.to_string(),
            version: doc.version,
        });
    }
    if doc.count != doc.entries.len() as u64 {
        return Err(DocError::CountMismatch {
            count: doc.count,
            entries: doc.entries.len(),
        });
    }
    let mut entries = Vec::with_capacity(doc.entries.len());
    for (index, e) in doc.entries.into_iter().enumerate() {
        if e.key.is_empty() || e.key.len() > max_key {
            return Err(DocError::BadKey { index, max_key });
        }
        let raw = e.value.get().as_bytes();
        crate::json::check(raw).map_err(|why| DocError::BadValue {
            index,
            key: e.key.to_string(),
            why,
        })?;
        let mut value = Vec::new();
        crate::json::minify(raw, &mut value);
        if value.len() > max_value {
            return Err(DocError::ValueTooLarge {
                index,
                key: e.key.into_owned(),
                max_value,
            });
        }
        if e.ttl_ms == Some(0) {
            continue; // expired in transit: nothing to restore
        }
        entries.push(Entry {
            key: Bytes::from(e.key.into_owned().into_bytes()),
            value: Bytes::from(value),
            ttl_ms: e.ttl_ms,
        });
    }
    Ok(ImportPlan { entries })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(entries: &str, count: usize) -> String {
        format!(
            "{{\"format\":\"{EXPORT_FORMAT}\",\"version\":{EXPORT_VERSION},\"entries\":[{entries}],\"count\":{count}}}"
        )
    }

    #[test]
    fn a_written_entry_parses_back() {
        let e = Entry {
            key: Bytes::from_static(b"k\"1"),
            value: Bytes::from_static(b"[1,2]"),
            ttl_ms: Some(5),
        };
        let mut line = Vec::new();
        write_entry(&mut line, &e);
        let text = doc(std::str::from_utf8(&line).expect("utf-8"), 1);
        let plan = parse_import(text.as_bytes(), 10, 10).expect("valid");
        assert_eq!(plan.entries, vec![e]);
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
        let bad_version =
            doc("", 0).replace(&format!("\"version\":{EXPORT_VERSION}"), "\"version\":9");
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
        assert_eq!(Scope::from_query(Some(b"a=1&scope=local")), Scope::Local);
        assert_eq!(Scope::from_query(None), Scope::Cluster);
        assert!(has_param(Some(b"if_absent=1"), b"if_absent=1"));
    }
}
