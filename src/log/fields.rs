//! Structured fields of a log line (`peer`, `key`, `request_id`, `trace_id`, ...) and how each format
//! writes them: `name=value` after a text line's message, `"name":value` members in a JSON line.
//!
//! Values are borrowed and converted only after the level check passed (the macros evaluate
//! them inside `if enabled(level)`), so a disabled line costs one atomic load.

use crate::http::response::json_escape;

/// One field value. `None` fields are left out (a request without an id has no `request_id`).
#[derive(Clone, Copy, Debug)]
pub enum Value<'a> {
    Str(&'a str),
    /// Raw bytes such as a cache key; written lossily as UTF-8 (and escaped).
    Bytes(&'a [u8]),
    U64(u64),
    None,
}

/// Conversion used by the log macros: `warn!(peer = id, request_id = n; "...")`.
pub trait ToValue {
    fn to_value(&self) -> Value<'_>;
}

impl ToValue for str {
    fn to_value(&self) -> Value<'_> {
        Value::Str(self)
    }
}
impl ToValue for String {
    fn to_value(&self) -> Value<'_> {
        Value::Str(self)
    }
}
impl ToValue for [u8] {
    fn to_value(&self) -> Value<'_> {
        Value::Bytes(self)
    }
}
impl ToValue for u64 {
    fn to_value(&self) -> Value<'_> {
        Value::U64(*self)
    }
}
impl ToValue for usize {
    fn to_value(&self) -> Value<'_> {
        Value::U64(*self as u64)
    }
}
impl ToValue for u32 {
    fn to_value(&self) -> Value<'_> {
        Value::U64(u64::from(*self))
    }
}
impl ToValue for u16 {
    fn to_value(&self) -> Value<'_> {
        Value::U64(u64::from(*self))
    }
}
impl<T: ToValue + ?Sized> ToValue for &T {
    fn to_value(&self) -> Value<'_> {
        (**self).to_value()
    }
}
impl<T: ToValue> ToValue for Option<T> {
    fn to_value(&self) -> Value<'_> {
        self.as_ref().map_or(Value::None, ToValue::to_value)
    }
}

impl ToValue for Value<'_> {
    fn to_value(&self) -> Value<'_> {
        *self
    }
}

/// Append ` name=value` for each field; values with spaces, quotes, `=` or control characters
/// are quoted and escaped, so a client-chosen key cannot forge another field or line.
pub(super) fn write_text(out: &mut Vec<u8>, fields: &[(&str, Value<'_>)]) {
    for (name, value) in fields {
        let text = match *value {
            Value::None => continue,
            Value::U64(n) => {
                out.push(b' ');
                out.extend_from_slice(name.as_bytes());
                out.push(b'=');
                out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
                continue;
            }
            Value::Str(s) => std::borrow::Cow::Borrowed(s),
            Value::Bytes(b) => String::from_utf8_lossy(b),
        };
        out.push(b' ');
        out.extend_from_slice(name.as_bytes());
        out.push(b'=');
        let plain = !text.is_empty()
            && !text
                .bytes()
                .any(|b| b <= b' ' || b == b'"' || b == b'=' || b == 0x7f);
        if plain {
            out.extend_from_slice(text.as_bytes());
        } else {
            out.push(b'"');
            json_escape(out, text.as_bytes());
            out.push(b'"');
        }
    }
}

/// Append `,"name":value` for each field (numbers as JSON numbers, text as strings).
pub(super) fn write_json(out: &mut Vec<u8>, fields: &[(&str, Value<'_>)]) {
    for (name, value) in fields {
        if matches!(value, Value::None) {
            continue;
        }
        out.extend_from_slice(b",\"");
        json_escape(out, name.as_bytes());
        out.extend_from_slice(b"\":");
        match *value {
            Value::U64(n) => out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes()),
            Value::Str(s) => json_string(out, s),
            Value::Bytes(b) => json_string(out, &String::from_utf8_lossy(b)),
            Value::None => {}
        }
    }
}

/// `"text"`, escaped.
pub(super) fn json_string(out: &mut Vec<u8>, text: &str) {
    out.push(b'"');
    json_escape(out, text.as_bytes());
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(fields: &[(&str, Value<'_>)]) -> String {
        let mut out = Vec::new();
        write_text(&mut out, fields);
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn text_fields_quote_what_could_forge_a_field() {
        let key: &[u8] = b"user 1\nINFO x=y";
        let fields = [
            ("peer", "node2".to_value()),
            ("key", key.to_value()),
            ("request_id", Value::None),
            ("status", 503u16.to_value()),
        ];
        assert_eq!(
            text(&fields),
            " peer=node2 key=\"user 1\\nINFO x=y\" status=503"
        );
        assert_eq!(text(&[("peer", "".to_value())]), " peer=\"\"");
        assert!(matches!(None::<u64>.to_value(), Value::None));
        assert!(matches!(Value::Str("r-9").to_value(), Value::Str("r-9")));
    }

    #[test]
    fn json_fields_are_valid_json_members() {
        let mut out = b"{\"message\":\"m\"".to_vec();
        let bad: &[u8] = b"k\xff\"";
        let fields = [
            ("request_id", Value::U64(42)),
            ("key", bad.to_value()),
            ("none", Value::None),
        ];
        write_json(&mut out, &fields);
        out.push(b'}');
        let v: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
        assert_eq!(v["request_id"], 42);
        assert_eq!(v["key"], "k\u{fffd}\"");
        assert!(v.get("none").is_none());
    }
}
