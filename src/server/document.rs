//! The export document: its format, one entry per line, and the validating import parser.
//!
//! The document is one JSON object with one entry per line:
//! `{"format":..,"entries":[` LF `{entry},` LF ... `{entry}` LF `],"count":N,"nodes":[..],"missing":[..]}`.
//! Values are stored minified, so an entry never contains a raw newline: a node splices a peer's
//! export line by line (memory stays bounded to one page), and removing every CR/LF (as
//! `curl -d @file` does) still leaves the same document. Pure functions, no I/O.
//!
//! An entry is `{"key":..,"value":..,"ttl_ms":..,"version":"<16 hex>"}`; `ttl_ms` is absent for
//! keys without expiry and `version` for unversioned writes. A tombstone (a versioned delete,
//! only in node-to-node documents) is `{"key":..,"value":null,"deleted":true,"version":..}`.
//! Both fields were added without changing [`EXPORT_VERSION`]: a document without them is an
//! old backup and still imports (its entries are stamped as new writes by the import).

use std::borrow::Cow;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::http::response::json_escape;
use crate::storage::version::{self, Version};
use crate::storage::Entry;

/// Marker and version of the export document, checked on import.
pub(super) const EXPORT_FORMAT: &str = "distributed-cache-export";
pub(super) const EXPORT_VERSION: u32 = 1;

/// Whole cluster (default) or only this node (`?scope=local`, what nodes ask each other).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Scope {
    Cluster,
    /// This node only. `view` is the `view=` parameter a cluster export's coordinator sends
    /// (one rank digit per member, see `handlers::export::view`): export only the keys this node
    /// is chosen for. `None`: every live key this node holds.
    Local {
        view: Option<Box<[u8]>>,
    },
}

impl Scope {
    pub(super) fn from_query(q: Option<&[u8]>) -> Scope {
        if has_param(q, b"scope=local") {
            Scope::Local {
                view: param(q, b"view").map(Box::from),
            }
        } else {
            Scope::Cluster
        }
    }

    pub(super) fn is_local(&self) -> bool {
        matches!(self, Scope::Local { .. })
    }
}

pub(super) fn has_param(q: Option<&[u8]>, param: &[u8]) -> bool {
    q.is_some_and(|q| q.split(|&b| b == b'&').any(|p| p == param))
}

/// The value of query parameter `name` (`name=value`; the first one wins), unescaped as sent.
pub(super) fn param<'q>(q: Option<&'q [u8]>, name: &[u8]) -> Option<&'q [u8]> {
    q?.split(|&b| b == b'&').find_map(|p| {
        p.strip_prefix(name)
            .and_then(|rest| rest.strip_prefix(b"="))
    })
}

/// Append one export entry as a JSON object (no trailing separator).
pub(super) fn write_entry(out: &mut Vec<u8>, e: &Entry) {
    out.extend_from_slice(b"{\"key\":\"");
    json_escape(out, &e.key);
    if e.tomb {
        out.extend_from_slice(b"\",\"value\":null,\"deleted\":true");
    } else {
        out.extend_from_slice(b"\",\"value\":");
        out.extend_from_slice(&e.value);
        if let Some(t) = e.ttl_ms {
            out.extend_from_slice(b",\"ttl_ms\":");
            out.extend_from_slice(itoa::Buffer::new().format(t).as_bytes());
        }
    }
    if e.version != 0 {
        out.extend_from_slice(b",\"version\":\"");
        out.extend_from_slice(&version::hex(e.version));
        out.push(b'"');
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
    key: Cow<'a, str>,
    #[serde(borrow)]
    value: &'a RawValue,
    #[serde(default)]
    ttl_ms: Option<u64>,
    /// The write's version as hex; absent in old backups (the import stamps a new one).
    #[serde(default, borrow)]
    version: Option<Cow<'a, str>>,
    /// A tombstone (its `value` is `null`).
    #[serde(default)]
    deleted: Option<bool>,
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
    /// Entry `index`'s `version` is not 1 to 16 hex digits (`got`: what it says).
    BadVersion {
        index: usize,
        key: String,
        got: String,
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
            DocError::BadVersion { index, key, got } => write!(
                f,
                "entry {index} (key {key:?}): invalid version {got:?} (expected 1 to 16 hex digits)"
            ),
        }
    }
}

impl std::error::Error for DocError {}

/// A parsed, validated import document: entries as owned data. `version` 0 = the document gave
/// none (the import handler stamps a fresh one); `tomb` = a versioned delete.
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
        if let Some(entry) = parse_entry(index, e, max_key, max_value)? {
            entries.push(entry);
        }
    }
    Ok(ImportPlan { entries })
}

/// Validate one entry; `None` when there is nothing to restore (it expired in transit).
fn parse_entry(
    index: usize,
    e: ImportEntry<'_>,
    max_key: usize,
    max_value: usize,
) -> Result<Option<Entry>, DocError> {
    if e.key.is_empty() || e.key.len() > max_key {
        return Err(DocError::BadKey { index, max_key });
    }
    let version: Version = match &e.version {
        None => 0,
        Some(v) => version::parse_hex(v.as_bytes()).ok_or_else(|| DocError::BadVersion {
            index,
            key: e.key.to_string(),
            got: v.to_string(),
        })?,
    };
    let raw = e.value.get().as_bytes();
    let tomb = e.deleted == Some(true);
    let mut value = Vec::new();
    if tomb {
        if raw != b"null" {
            return Err(DocError::BadValue {
                index,
                key: e.key.into_owned(),
                why: "a deleted entry's value must be null",
            });
        }
    } else {
        crate::json::check(raw).map_err(|why| DocError::BadValue {
            index,
            key: e.key.to_string(),
            why,
        })?;
        crate::json::minify(raw, &mut value);
        if value.len() > max_value {
            return Err(DocError::ValueTooLarge {
                index,
                key: e.key.into_owned(),
                max_value,
            });
        }
        if e.ttl_ms == Some(0) {
            return Ok(None); // expired in transit: nothing to restore
        }
    }
    Ok(Some(Entry {
        key: Bytes::from(e.key.into_owned().into_bytes()),
        value: Bytes::from(value),
        // A tombstone's lifetime restarts wherever it is loaded (`tombstone_ttl`).
        ttl_ms: if tomb { None } else { e.ttl_ms },
        version,
        tomb,
    }))
}

#[cfg(test)]
#[path = "document_tests.rs"]
mod tests;
