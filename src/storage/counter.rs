//! Counters: a stored value that is a JSON integer, added to with exact 64-bit arithmetic.
//!
//! A counter is an ordinary JSON value (its minified text, e.g. `42` or `-7`), so a GET shows it
//! in the usual envelope and replication, snapshots and export carry it unchanged. Only the JSON
//! integer syntax (`-?(0|[1-9][0-9]*)`, RFC 8259) within `i64` counts: `1.0`, `1e3`, `"5"`, a raw
//! value or a number outside `i64` is refused ([`Conflict::NotInteger`]), as Redis `INCR` refuses
//! a string that is not an integer, rather than guessing a conversion.

/// Longest text of an `i64`: `-9223372036854775808`.
pub const MAX_INTEGER_TEXT: usize = 20;

/// Why an increment cannot apply (409 Conflict: the key's state, not the request, is the issue).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conflict {
    /// The stored value is not a JSON integer in `i64` range.
    NotInteger,
    /// The result would leave `i64`.
    Overflow,
}

impl Conflict {
    pub fn message(self) -> &'static str {
        match self {
            Conflict::NotInteger => {
                "the stored value is not a JSON integer in the 64-bit signed range; incr only adds to integers"
            }
            Conflict::Overflow => {
                "the result would leave the 64-bit signed range (-9223372036854775808..=9223372036854775807); nothing changed"
            }
        }
    }
}

/// The integer a stored value holds, if it is exactly a JSON integer in `i64` range.
pub fn parse(stored: &[u8]) -> Result<i64, Conflict> {
    let digits = stored.strip_prefix(b"-").unwrap_or(stored);
    let well_formed = match digits {
        [] => false,
        [b'0'] => true,
        [b'1'..=b'9', rest @ ..] => rest.iter().all(u8::is_ascii_digit),
        _ => false,
    };
    if !well_formed || stored.len() > MAX_INTEGER_TEXT {
        return Err(Conflict::NotInteger);
    }
    // ASCII digits with an optional sign: valid UTF-8, and `i64::from_str` refuses only what
    // does not fit.
    std::str::from_utf8(stored)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or(Conflict::NotInteger)
}

/// `current + delta`, exactly, or [`Conflict::Overflow`].
pub fn add(current: i64, delta: i64) -> Result<i64, Conflict> {
    current.checked_add(delta).ok_or(Conflict::Overflow)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn json_integers_parse() {
        for (text, n) in [
            (&b"0"[..], 0),
            (b"-0", 0),
            (b"42", 42),
            (b"-7", -7),
            (b"9223372036854775807", i64::MAX),
            (b"-9223372036854775808", i64::MIN),
        ] {
            assert_eq!(parse(text), Ok(n), "{}", String::from_utf8_lossy(text));
        }
    }

    #[test]
    fn anything_else_is_not_an_integer() {
        for text in [
            &b""[..],
            b"-",
            b"01",
            b"+1",
            b"1.0",
            b"1e3",
            b"\"5\"",
            b"null",
            b" 1",
            b"9223372036854775808",
            b"-9223372036854775809",
            b"123456789012345678901234",
            b"\x00\x0aimage/png",
        ] {
            assert_eq!(
                parse(text),
                Err(Conflict::NotInteger),
                "{}",
                String::from_utf8_lossy(text)
            );
        }
    }

    #[test]
    fn addition_is_checked_at_both_ends() {
        assert_eq!(add(i64::MAX - 1, 1), Ok(i64::MAX));
        assert_eq!(add(i64::MAX, 1), Err(Conflict::Overflow));
        assert_eq!(add(i64::MIN, -1), Err(Conflict::Overflow));
        assert_eq!(add(i64::MIN, i64::MAX), Ok(-1));
    }

    proptest! {
        /// Every i64 round-trips through its text, and nothing else is accepted as its text.
        #[test]
        fn integer_text_round_trips(n in any::<i64>()) {
            prop_assert_eq!(parse(n.to_string().as_bytes()), Ok(n));
        }

        #[test]
        fn add_agrees_with_i128(a in any::<i64>(), b in any::<i64>()) {
            let exact = i128::from(a) + i128::from(b);
            match add(a, b) {
                Ok(r) => prop_assert_eq!(i128::from(r), exact),
                Err(_) => prop_assert!(i64::try_from(exact).is_err()),
            }
        }

        #[test]
        fn parse_never_panics_and_accepts_only_canonical_integers(s in proptest::collection::vec(any::<u8>(), 0..24)) {
            if let Ok(n) = parse(&s) {
                let canonical = n.to_string();
                prop_assert!(s == canonical.as_bytes() || (n == 0 && s == b"-0"));
            }
        }
    }
}
