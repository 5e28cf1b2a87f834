//! The export document: its format (one entry per line) and writing it; reading one for an import,
//! in bounded memory, is in `document_read.rs`.
//!
//! The document is one JSON object with one entry per line:
//! `{"format":..,"entries":[` LF `{entry},` LF ... `{entry}` LF `],"count":N,"nodes":[..],"missing":[..]}`.
//! Values are stored minified, so an entry never contains a raw newline: a node splices a peer's
//! export line by line (memory stays bounded to one page), and removing every CR/LF (as
//! `curl -d @file` does) still leaves the same document. Pure functions, no I/O.
//!
//! An entry is `{"key":..,"value":..,"ttl_ms":..,"version":"<16 hex>"}`; `ttl_ms` is absent for
//! keys without expiry and `version` for unversioned writes. A raw value (bytes stored with their
//! content type, issue 12) has `"value_base64":"<standard base64>","content_type":".."` instead
//! of `value`: JSON cannot hold arbitrary bytes. A tombstone (a versioned delete, only in
//! node-to-node documents) is `{"key":..,"value":null,"deleted":true,"version":..}`. These
//! fields were added without changing [`EXPORT_VERSION`]: a document without them is an old
//! backup and still imports (its entries are stamped as new writes by the import), and a
//! document without raw values is read by older nodes as before.

#[path = "document_entry.rs"]
mod entry;
#[path = "document_read.rs"]
mod read;

pub(crate) use read::{Checked, ImportDoc, Limits, Validator};

use base64::Engine as _;

use crate::http::response::json_escape;
use crate::storage::value::Stored;
use crate::storage::version;
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
        match Stored::decode(&e.value) {
            Stored::Json(value) => {
                out.extend_from_slice(b"\",\"value\":");
                out.extend_from_slice(value);
            }
            Stored::Raw { content_type, body } => {
                out.extend_from_slice(b"\",\"value_base64\":\"");
                write_base64(out, body);
                out.extend_from_slice(b"\",\"content_type\":\"");
                json_escape(out, content_type);
                out.push(b'"');
            }
        }
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

/// Append `bytes` in standard base64 (with padding), encoded in place: no temporary string.
fn write_base64(out: &mut Vec<u8>, bytes: &[u8]) {
    let at = out.len();
    let len = base64::encoded_len(bytes.len(), true).unwrap_or(0);
    out.resize(at + len, 0);
    let engine = base64::engine::general_purpose::STANDARD;
    let written = engine.encode_slice(bytes, &mut out[at..]).unwrap_or(0);
    out.truncate(at + written);
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
    /// Entry `index`'s raw value (`value_base64`, `content_type`) cannot be stored (`why`).
    BadRaw {
        index: usize,
        key: String,
        why: String,
    },
    /// Entry `index`'s minified value (a raw value's bytes) is larger than `max_value_bytes`.
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
            DocError::BadRaw { index, key, why } => {
                write!(f, "entry {index} (key {key:?}): {why}")
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

/// A whole import document as owned entries (`version` 0: the document gave none, the import
/// stamps one; `tomb`: a versioned delete). For documents known to be small (a catch-up
/// page); `POST /admin/import` reads its body in windows instead ([`ImportDoc::windows`]).
pub(crate) struct ImportPlan {
    pub entries: Vec<Entry>,
}

/// Parse and validate a whole export document. Errors name the problem (and the byte position).
/// Checked and read in small steps, as an import does (the fuzz target goes through here).
pub(crate) fn parse_import(
    body: &[u8],
    max_key: usize,
    max_value: usize,
) -> Result<ImportPlan, DocError> {
    let mut v = Validator::new(body, Limits { max_key, max_value });
    let doc = loop {
        if let Checked::Done(doc) = v.step(SMALL_STEP, SMALL_WINDOW_BYTES)? {
            break doc;
        }
    };
    let entries: Vec<Entry> = doc
        .windows(SMALL_STEP, SMALL_WINDOW_BYTES)
        .flatten()
        .collect();
    debug_assert_eq!(
        entries.len(),
        doc.live,
        "the windows hand out what the check counted"
    );
    Ok(ImportPlan { entries })
}

/// Steps and windows of [`parse_import`]: small, so step and window boundaries fall everywhere.
const SMALL_STEP: usize = 64;
const SMALL_WINDOW_BYTES: usize = 64 * 1024;

#[cfg(test)]
#[path = "document_raw_tests.rs"]
mod raw_tests;
#[cfg(test)]
#[path = "document_tests.rs"]
mod tests;
