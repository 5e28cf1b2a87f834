//! What a request adds to the basic head ([`Options`]): a body type other than JSON, further
//! header fields checked for header injection ([`field_value`]), and whether it may be resent.

/// What a request adds to the basic head, and whether it may be sent twice.
#[derive(Clone, Copy, Debug)]
pub struct Options<'a> {
    /// `Content-Type` of the body (sent only with a body).
    pub content_type: &'a str,
    /// Further header fields, name and value; the values must already be valid field values
    /// (see [`field_value`]).
    pub headers: &'a [(&'a str, &'a str)],
    /// `false` for a request that must never be sent twice (an `incr`: a second send would count
    /// twice if the first one did reach the node): no retry on a stale keep-alive connection.
    pub idempotent: bool,
}

impl Default for Options<'_> {
    fn default() -> Self {
        Options {
            content_type: JSON_TYPE,
            headers: &[],
            idempotent: true,
        }
    }
}

/// The body type of every request but a raw value's.
pub const JSON_TYPE: &str = "application/json";

/// `value` if it can be sent as a header field value: visible ASCII, spaces and tabs inside, at
/// most [`MAX_FIELD_BYTES`]. A CR or LF would end the header (and start another: header
/// injection), so such text from the command line is refused with `what` named.
pub fn field_value<'a>(what: &str, value: &'a str) -> Result<&'a str, String> {
    let ok = value.len() <= MAX_FIELD_BYTES
        && !value.is_empty()
        && value
            .bytes()
            .all(|b| b == b' ' || b == b'\t' || (0x21..0x7f).contains(&b))
        && !value.starts_with([' ', '\t'])
        && !value.ends_with([' ', '\t']);
    if ok {
        Ok(value)
    } else {
        Err(format!(
            "{what} must be 1 to {MAX_FIELD_BYTES} visible ASCII characters (spaces only inside): {value:?}"
        ))
    }
}

/// Longest header value taken from the command line: far above any ETag list or media type,
/// well below the node's head limit (`limits.max_header_bytes`, 16 KiB by default).
pub const MAX_FIELD_BYTES: usize = 4096;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_from_the_command_line_cannot_inject_lines() {
        assert_eq!(field_value("x", "\"0a\", \"0b\""), Ok("\"0a\", \"0b\""));
        assert_eq!(field_value("x", "image/png; q=1"), Ok("image/png; q=1"));
        for bad in [
            "",
            "a\r\nX-Evil: 1",
            "a\nb",
            " lead",
            "trail ",
            "caf\u{e9}",
            "a\u{7f}",
        ] {
            let e = field_value("--if-match", bad).unwrap_err();
            assert!(e.contains("--if-match"), "{bad:?}: {e}");
        }
        assert!(field_value("x", &"a".repeat(MAX_FIELD_BYTES + 1)).is_err());
    }
}
