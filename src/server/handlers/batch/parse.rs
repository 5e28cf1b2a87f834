//! One op of a batch, checked on its own: an op that is JSON but not a valid operation (unknown
//! op, missing key, value too large...) is that op's own error in the results, with the status a
//! single request would get ([`OpError`]), and the others still run.

use std::borrow::Cow;

use base64::Engine as _;
use bytes::Bytes;
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use crate::server::router::{KeyLimits, RequestError, MAX_TTL_SECS};
use crate::storage::value::{encode_raw, MAX_CONTENT_TYPE_BYTES};

/// The content type of a raw put that names none.
const DEFAULT_RAW_TYPE: &str = "application/octet-stream";

/// One op as sent. `value` is kept apart from an absent one even when it is `null` (a JSON value
/// like any other, as in a single PUT).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OpDoc<'a> {
    #[serde(borrow)]
    op: Cow<'a, str>,
    #[serde(borrow)]
    key: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "present")]
    value: Option<&'a RawValue>,
    #[serde(default)]
    ttl: Option<u64>,
    #[serde(borrow, default)]
    value_base64: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    content_type: Option<Cow<'a, str>>,
}

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// A checked op.
#[derive(Debug)]
pub(crate) struct Op<'a> {
    pub key: Cow<'a, str>,
    pub action: Action,
}

/// What an op does to its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    Get,
    Delete,
    /// `stored` is the value's stored form (`storage::value`): minified JSON, or a raw value's
    /// content type and bytes. `ttl_s` is `None` for no expiry (`ttl` absent or 0).
    Put {
        stored: Bytes,
        ttl_s: Option<u64>,
    },
}

/// An op that cannot run as sent: its own result (with its key when it had one).
#[derive(Debug)]
pub(crate) struct OpError<'a> {
    pub key: Option<Cow<'a, str>>,
    pub err: RequestError,
}

fn bad(msg: &'static str) -> RequestError {
    RequestError::Bad(Cow::Borrowed(msg))
}

/// Check one op (the JSON text of one element of `ops`). `scratch` is a reusable buffer for
/// minifying a JSON value.
pub(crate) fn op<'a>(
    raw: &'a RawValue,
    limits: KeyLimits,
    scratch: &mut Vec<u8>,
) -> Result<Op<'a>, OpError<'a>> {
    let doc: OpDoc<'a> = serde_json::from_str(raw.get()).map_err(|e| OpError {
        key: key_of(raw),
        err: RequestError::Bad(Cow::Owned(format!("invalid op: {}", without_position(&e)))),
    })?;
    let OpDoc {
        op,
        key,
        value,
        ttl,
        value_base64,
        content_type,
    } = doc;
    let Some(key) = key else {
        return Err(OpError {
            key: None,
            err: bad("invalid op: missing field \"key\""),
        });
    };
    let fail = |err| OpError {
        key: Some(key.clone()),
        err,
    };
    check_key(&key, limits).map_err(fail)?;
    let has_put_fields =
        value.is_some() || ttl.is_some() || value_base64.is_some() || content_type.is_some();
    let action = match &*op {
        "get" | "delete" if has_put_fields => {
            return Err(fail(bad(
                "a get or delete carries only \"op\" and \"key\" (\"value\", \"ttl\", \"value_base64\" and \"content_type\" belong to a put)",
            )))
        }
        "get" => Action::Get,
        "delete" => Action::Delete,
        "put" => {
            let stored = match (value, value_base64) {
                (Some(v), None) if content_type.is_none() => json_value(v, limits, scratch),
                (Some(_), None) => Err(bad(
                    "\"content_type\" goes with \"value_base64\" (a raw value), not with \"value\"",
                )),
                (None, Some(b)) => raw_value(&b, content_type.as_deref(), limits),
                (Some(_), Some(_)) => Err(bad(
                    "a put carries either \"value\" (JSON) or \"value_base64\" (raw bytes), not both",
                )),
                (None, None) => Err(bad(
                    "a put needs \"value\" (any JSON) or \"value_base64\" (raw bytes, base64)",
                )),
            }
            .map_err(fail)?;
            Action::Put {
                stored,
                ttl_s: ttl_of(ttl).map_err(fail)?,
            }
        }
        _ => {
            return Err(fail(RequestError::Bad(Cow::Owned(format!(
                "unknown op \"{}\" (allowed: get, put, delete)",
                op.escape_debug()
            )))))
        }
    };
    Ok(Op { key, action })
}

/// The key of an op that is not valid otherwise, to name it in its error (read only then).
fn key_of(raw: &RawValue) -> Option<Cow<'_, str>> {
    #[derive(Deserialize)]
    struct KeyOnly<'a> {
        #[serde(borrow)]
        key: Cow<'a, str>,
    }
    serde_json::from_str::<KeyOnly<'_>>(raw.get())
        .ok()
        .map(|k| k.key)
}

/// serde_json's message without its position (the op is one element; the position inside it
/// says little once the document is split).
fn without_position(e: &serde_json::Error) -> String {
    let full = crate::server::json_error::describe(e);
    let at = format!(" at line {}, column {}", e.line(), e.column());
    match full.strip_suffix(&at) {
        Some(msg) => msg.to_string(),
        None => full,
    }
}

/// The key rules of a single request (after its percent-decoding): not empty, not only `/`
/// (such a key could not be named in a path), at most `max_key_bytes`. A JSON string is UTF-8.
fn check_key(key: &str, limits: KeyLimits) -> Result<(), RequestError> {
    if key.is_empty() {
        return Err(bad("empty key"));
    }
    if key.bytes().all(|b| b == b'/') {
        return Err(bad("key made only of '/' is not allowed"));
    }
    if key.len() > limits.max_key_bytes {
        return Err(RequestError::KeyTooLong);
    }
    Ok(())
}

/// A put's `ttl`: the single PUT's rules (seconds, 0 or absent = none, at most ten years).
fn ttl_of(ttl: Option<u64>) -> Result<Option<u64>, RequestError> {
    match ttl {
        Some(t) if t > MAX_TTL_SECS => Err(bad("ttl larger than ten years (ttl is in seconds)")),
        Some(0) | None => Ok(None),
        Some(t) => Ok(Some(t)),
    }
}

/// A JSON value's stored form: its minified text, checked like a single PUT's.
fn json_value(
    v: &RawValue,
    limits: KeyLimits,
    scratch: &mut Vec<u8>,
) -> Result<Bytes, RequestError> {
    let raw = v.get().as_bytes();
    let text: &[u8] = match crate::json::check(raw) {
        Ok(false) => raw,
        Ok(true) => {
            crate::json::minify(raw, scratch);
            scratch
        }
        Err(why) => {
            return Err(RequestError::Bad(Cow::Owned(format!(
                "invalid JSON value: {why}"
            ))))
        }
    };
    if text.len() > limits.max_value_bytes {
        return Err(RequestError::ValueTooLarge);
    }
    Ok(Bytes::copy_from_slice(text))
}

/// A raw value's stored form: its content type and the decoded bytes.
fn raw_value(b64: &str, ct: Option<&str>, limits: KeyLimits) -> Result<Bytes, RequestError> {
    let ct = ct.unwrap_or(DEFAULT_RAW_TYPE);
    check_content_type(ct)?;
    // Decoded, base64 is 3 bytes per 4 characters: refuse a value far too large before decoding.
    if b64.len() / 4 * 3 > limits.max_value_bytes + 3 {
        return Err(RequestError::ValueTooLarge);
    }
    let mut stored = Vec::new();
    encode_raw(ct.as_bytes(), b"", &mut stored);
    let header = stored.len();
    base64::engine::general_purpose::STANDARD
        .decode_vec(b64, &mut stored)
        .map_err(|e| RequestError::Bad(Cow::Owned(format!("invalid value_base64: {e}"))))?;
    if stored.len() - header > limits.max_value_bytes {
        return Err(RequestError::ValueTooLarge);
    }
    Ok(Bytes::from(stored))
}

/// A raw value's content type is sent back as a `Content-Type` header: a media type of visible
/// ASCII (spaces inside for parameters), no control character (no header injection), at most
/// [`MAX_CONTENT_TYPE_BYTES`].
fn check_content_type(ct: &str) -> Result<(), RequestError> {
    if ct.len() > MAX_CONTENT_TYPE_BYTES {
        return Err(bad("content_type longer than 255 bytes"));
    }
    let visible = ct.bytes().all(|b| b == b' ' || b.is_ascii_graphic());
    if !visible || ct.trim() != ct || !ct.contains('/') {
        return Err(bad(
            "content_type must be a media type of visible ASCII such as image/png (it is sent back as the Content-Type header)",
        ));
    }
    Ok(())
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
