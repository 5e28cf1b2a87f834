//! One entry of an import document: what it may hold and the checks it must pass, and the
//! errors of a document read in pieces, positioned as in the whole document.

use std::borrow::Cow;

use base64::Engine as _;
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use super::read::Limits;
use super::DocError;
use crate::server::router::check_content_type;
use crate::storage::value::encode_raw;
use crate::storage::version::{self, Version};

/// One entry as the document gives it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry<'a> {
    #[serde(borrow)]
    key: Cow<'a, str>,
    /// A JSON value (`null` included: present, unlike an absent member).
    #[serde(default, borrow, deserialize_with = "present")]
    value: Option<&'a RawValue>,
    /// A raw value's bytes (standard base64), with `content_type`.
    #[serde(default, borrow)]
    value_base64: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    content_type: Option<Cow<'a, str>>,
    #[serde(default)]
    ttl_ms: Option<u64>,
    /// The write's version as hex; absent in old backups (the import stamps a new one).
    #[serde(default, borrow)]
    version: Option<Cow<'a, str>>,
    /// A tombstone (its `value` is `null`).
    #[serde(default)]
    deleted: Option<bool>,
}

/// A member that is present, whatever its value (`Option<&RawValue>` alone reads `null` as
/// absent).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&'de RawValue>::deserialize(d).map(Some)
}

/// The content type of a raw entry that gives none.
const DEFAULT_RAW_TYPE: &str = "application/octet-stream";

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
    let tomb = e.deleted == Some(true);
    value.clear();
    stored_value(&e, index, tomb, limits, value)?;
    if !tomb && e.ttl_ms == Some(0) {
        return Ok(None); // expired in transit: nothing to restore
    }
    Ok(Some(Good {
        key: e.key,
        // A tombstone's lifetime restarts wherever it is loaded (`tombstone_ttl`).
        ttl_ms: if tomb { None } else { e.ttl_ms },
        version,
        tomb,
    }))
}

/// Entry `index`'s value (`e.value` JSON, or `e.value_base64` raw) into `value`, in its
/// stored form.
fn stored_value(
    e: &RawEntry<'_>,
    index: usize,
    tomb: bool,
    limits: Limits,
    value: &mut Vec<u8>,
) -> Result<(), DocError> {
    let raw_error = |why: String| DocError::BadRaw {
        index,
        key: e.key.to_string(),
        why,
    };
    match (&e.value, &e.value_base64) {
        (Some(_), Some(_)) => {
            return Err(raw_error(
                "has both value and value_base64 (a JSON value or a raw one, not both)".into(),
            ))
        }
        (None, None) => {
            return Err(raw_error(
                "has no value (\"value\": JSON, or \"value_base64\" with \"content_type\")".into(),
            ))
        }
        (Some(_), None) if e.content_type.is_some() => {
            return Err(raw_error(
                "content_type belongs to a raw value (value_base64), not to a JSON value".into(),
            ))
        }
        (None, Some(_)) if tomb => {
            return Err(raw_error("a deleted entry's value must be null".into()))
        }
        (None, Some(b64)) => {
            raw_value(b64, e.content_type.as_deref(), limits, value).map_err(|why| match why {
                RawError::TooLarge => DocError::ValueTooLarge {
                    index,
                    key: e.key.to_string(),
                    max_value: limits.max_value,
                },
                RawError::Bad(why) => raw_error(why),
            })?
        }
        (Some(v), None) => {
            json_value(v.get().as_bytes(), tomb, limits, value).map_err(|why| match why {
                Some(why) => DocError::BadValue {
                    index,
                    key: e.key.to_string(),
                    why,
                },
                None => DocError::ValueTooLarge {
                    index,
                    key: e.key.to_string(),
                    max_value: limits.max_value,
                },
            })?
        }
    }
    Ok(())
}

/// A JSON entry value into `value` (minified); `Err(Some(why))`: not valid JSON (or not `null`
/// for a tombstone), `Err(None)`: larger than `max_value_bytes`.
fn json_value(
    text: &[u8],
    tomb: bool,
    limits: Limits,
    value: &mut Vec<u8>,
) -> Result<(), Option<&'static str>> {
    if tomb {
        return match text {
            b"null" => Ok(()),
            _ => Err(Some("a deleted entry's value must be null")),
        };
    }
    crate::json::check(text).map_err(Some)?;
    crate::json::minify(text, value);
    if value.len() > limits.max_value {
        return Err(None);
    }
    Ok(())
}

/// Why a raw entry value cannot be stored.
enum RawError {
    TooLarge,
    Bad(String),
}

/// A raw entry value into `value`, in its stored form (`storage::value`): the bytes decoded
/// straight behind the content type, no intermediate copy.
fn raw_value(
    b64: &str,
    content_type: Option<&str>,
    limits: Limits,
    value: &mut Vec<u8>,
) -> Result<(), RawError> {
    let ct = content_type.unwrap_or(DEFAULT_RAW_TYPE);
    check_content_type(ct.as_bytes())
        .map_err(|e| RawError::Bad(format!("content_type: {}", e.message(ct.as_bytes()))))?;
    // Refused before decoding: a huge string costs no buffer.
    if base64::decoded_len_estimate(b64.len()) > limits.max_value + 3 {
        return Err(RawError::TooLarge);
    }
    encode_raw(ct.as_bytes(), b"", value);
    let header = value.len();
    base64::engine::general_purpose::STANDARD
        .decode_vec(b64, value)
        .map_err(|e| {
            RawError::Bad(format!(
                "value_base64 is not standard base64 with padding: {e}"
            ))
        })?;
    if value.len() - header > limits.max_value {
        return Err(RawError::TooLarge);
    }
    Ok(())
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
