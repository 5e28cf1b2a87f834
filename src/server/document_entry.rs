//! One entry of an import document: what it may hold and the checks it must pass, and the
//! errors of a document read in pieces, positioned as in the whole document.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::read::Limits;
use super::DocError;
use crate::storage::version::{self, Version};

/// One entry as the document gives it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry<'a> {
    #[serde(borrow)]
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

/// An entry that passed every check; its minified value is in the caller's buffer.
pub(super) struct Good<'a> {
    pub key: Cow<'a, str>,
    pub ttl_ms: Option<u64>,
    pub version: Version,
    pub tomb: bool,
}

/// Check entry `index` (`raw`, inside `doc`, which serde errors are positioned in) against
/// the limits, leaving its minified value in `value`; `None` when there is nothing to restore
/// (it expired in transit).
pub(super) fn check_entry<'r>(
    index: usize,
    raw: &'r RawValue,
    doc: &[u8],
    limits: Limits,
    value: &mut Vec<u8>,
) -> Result<Option<Good<'r>>, DocError> {
    let e: RawEntry<'r> = serde_json::from_str(raw.get()).map_err(|e| {
        let base = (raw.get().as_ptr() as usize).wrapping_sub(doc.as_ptr() as usize);
        match serde_error(doc, base, &e) {
            DocError::Json(what) => DocError::Json(format!("entry {index}: {what}")),
            other => other,
        }
    })?;
    if e.key.is_empty() || e.key.len() > limits.max_key {
        return Err(DocError::BadKey {
            index,
            max_key: limits.max_key,
        });
    }
    let version: Version = match &e.version {
        None => 0,
        Some(v) => version::parse_hex(v.as_bytes()).ok_or_else(|| DocError::BadVersion {
            index,
            key: e.key.to_string(),
            got: v.to_string(),
        })?,
    };
    let text = e.value.get().as_bytes();
    let tomb = e.deleted == Some(true);
    value.clear();
    if tomb {
        if text != b"null" {
            return Err(DocError::BadValue {
                index,
                key: e.key.into_owned(),
                why: "a deleted entry's value must be null",
            });
        }
    } else {
        crate::json::check(text).map_err(|why| DocError::BadValue {
            index,
            key: e.key.to_string(),
            why,
        })?;
        crate::json::minify(text, value);
        if value.len() > limits.max_value {
            return Err(DocError::ValueTooLarge {
                index,
                key: e.key.into_owned(),
                max_value: limits.max_value,
            });
        }
        if e.ttl_ms == Some(0) {
            return Ok(None); // expired in transit: nothing to restore
        }
    }
    Ok(Some(Good {
        key: e.key,
        // A tombstone's lifetime restarts wherever it is loaded (`tombstone_ttl`).
        ttl_ms: if tomb { None } else { e.ttl_ms },
        version,
        tomb,
    }))
}

/// serde_json's error `e` from parsing `doc[base..]`, with its position in `doc` (`doc` empty:
/// no position).
pub(super) fn serde_error(doc: &[u8], base: usize, e: &serde_json::Error) -> DocError {
    let full = crate::server::json_error::describe(e);
    let suffix = format!(" at line {}, column {}", e.line(), e.column());
    let what = full.strip_suffix(&suffix).unwrap_or(&full);
    if e.line() == 0 || base > doc.len() {
        return DocError::Json(what.to_string());
    }
    let sub = &doc[base..];
    // serde counts lines from 1 and columns as bytes since the line's start.
    let line_start = match e.line() {
        1 => 0,
        l => sub
            .iter()
            .enumerate()
            .filter(|(_, &b)| b == b'\n')
            .nth(l - 2)
            .map_or(sub.len(), |(i, _)| i + 1),
    };
    error_at(doc, base + line_start + e.column(), what)
}

/// `what` went wrong at byte `at` of `doc`: said with serde_json's line and column.
pub(super) fn error_at(doc: &[u8], at: usize, what: &str) -> DocError {
    let at = at.min(doc.len());
    let start = doc[..at]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    let line = 1 + doc[..start].iter().filter(|&&b| b == b'\n').count();
    DocError::Json(format!("{what} at line {line}, column {}", at - start))
}
