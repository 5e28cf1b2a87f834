//! Byte classes and small grammar helpers shared by the request and chunked parsers
//! (RFC 9110 §5.6, RFC 3986 §2). Pure `match`es, which the compiler turns into range checks;
//! the classes every request runs over byte by byte (the path, the key, the Host) are also
//! 256-entry tables built from those same `match`es, one lookup per byte instead of a chain of
//! comparisons. Keeping them in one place means the head and the trailer parsers cannot drift
//! apart.

/// A byte class (or any per-byte value) as a table: `$class`, an expression of the byte `$b`,
/// for every byte, evaluated at compile time (a macro: a `const fn` cannot call a function
/// pointer).
macro_rules! table {
    (|$b:ident| $class:expr) => {{
        let mut t = {
            let $b = 0u8;
            [$class; 256]
        };
        let mut i = 1;
        while i < 256 {
            let $b = i as u8;
            t[i] = $class;
            i += 1;
        }
        t
    }};
}

/// [`is_pchar_literal`] as a table.
pub(crate) static PCHAR_LITERAL: [bool; 256] = table!(|b| is_pchar_literal(b));
/// Bytes a path may hold without an escape: `/` and RFC 3986 pchar literals (no `%`, `#`, `?`).
pub(crate) static PATH_LITERAL: [bool; 256] = table!(|b| b == b'/' || is_pchar_literal(b));
/// Bytes a `reg-name` may hold without an escape: RFC 3986 unreserved and sub-delims.
pub(crate) static REG_NAME_LITERAL: [bool; 256] = table!(|b| is_unreserved(b) || is_sub_delim(b));

/// Decimal digits: a port.
pub(crate) static DIGIT: [bool; 256] = table!(|b| b.is_ascii_digit());
/// [`is_tchar`] as a table: field names.
pub(crate) static TCHAR: [bool; 256] = table!(|b| is_tchar(b));
/// Field-value bytes that need no second look: HTAB, SP and VCHAR. A subset of
/// [`is_field_value_byte`] (obs-text is left to the full parser).
pub(crate) static FIELD_VCHAR: [bool; 256] = table!(|b| matches!(b, b'\t' | 0x20..=0x7e));

/// How many bytes at the start of `v` are in `class` (a table above): the usual path, Host and
/// key are in it throughout. Eight lookups per step joined without a branch each (a branch per
/// byte was most of the parser's own cost for a short GET), then byte by byte from the step
/// that has a byte outside the class.
#[inline]
pub(crate) fn class_run(v: &[u8], class: &[bool; 256]) -> usize {
    const STEP: usize = 8;
    let mut n = 0;
    for step in v.chunks_exact(STEP) {
        if !step.iter().fold(true, |all, &b| all & class[b as usize]) {
            break;
        }
        n += STEP;
    }
    let rest = v.get(n..).unwrap_or_default();
    n + rest
        .iter()
        .position(|&b| !class[b as usize])
        .unwrap_or(rest.len())
}

/// `class_run(v, &FIELD_VCHAR)`, eight bytes per step without a table: a field value is the
/// longest run of a head's line (a date, an ETag, a content type) and every forwarded answer
/// and request head goes through a handful of them. A step is eight bytes read as one word and
/// checked for a byte below SP or above `~` (the first such byte is where the run ends, unless
/// it is an HTAB, rare in values, which the table loop takes from there).
#[inline]
pub(crate) fn vchar_run(v: &[u8]) -> usize {
    let mut n = 0;
    while let Some(step) = v.get(n..).and_then(|r| r.first_chunk::<8>()) {
        let w = u64::from_le_bytes(*step);
        // A lane below 0x20 (its high bit set after the subtraction while not set in `w`), a
        // lane at 0x7f (0x80 after adding one) or above (high bit already set). A borrow or a
        // carry only ever marks lanes above a truly marked one, so the lowest mark is exact.
        let low = w.wrapping_sub(lanes(0x20)) & !w;
        let high = w.wrapping_add(lanes(0x01)) | w;
        let marked = (low | high) & lanes(0x80);
        if marked != 0 {
            n += (marked.trailing_zeros() / 8) as usize;
            break;
        }
        n += 8;
    }
    let rest = v.get(n..).unwrap_or_default();
    n + rest
        .iter()
        .position(|&b| !FIELD_VCHAR[b as usize])
        .unwrap_or(rest.len())
}

/// How many bytes at the start of `v` are tchars (`class_run(v, &TCHAR)`), eight per step while
/// they are letters, digits and `-` (every field name a client or node usually sends), the
/// table from the first other byte on (usually the name's colon).
#[inline]
pub(crate) fn name_run(v: &[u8]) -> usize {
    let mut n = 0;
    while let Some(step) = v.get(n..).and_then(|r| r.first_chunk::<8>()) {
        let other = !usual_name_lanes(u64::from_le_bytes(*step)) & lanes(0x80);
        if other != 0 {
            n += (other.trailing_zeros() / 8) as usize;
            break;
        }
        n += 8;
    }
    let rest = v.get(n..).unwrap_or_default();
    n + rest
        .iter()
        .position(|&b| !TCHAR[b as usize])
        .unwrap_or(rest.len())
}

/// The byte `b` in every lane of a word (the word tests here and in `names.rs`).
pub(crate) const fn lanes(b: u8) -> u64 {
    u64::from_ne_bytes([b; 8])
}

/// 0x80 in each lane of `w` that holds an ASCII letter, digit or `-`; exact in every lane (no
/// carry or borrow crosses a lane: each sum below stays under 0x100).
#[inline]
fn usual_name_lanes(w: u64) -> u64 {
    let h = w & lanes(0x7f);
    let ascii = !w & lanes(0x80);
    // Lanes of `x` (each at most 0x7f) within `lo..=hi`.
    let within = |x: u64, lo: u8, hi: u8| {
        x.wrapping_add(lanes(0x80 - lo)) & !x.wrapping_add(lanes(0x7f - hi)) & lanes(0x80)
    };
    // Setting the case bit takes `A`-`Z` onto `a`-`z` and nothing else into that range.
    let letter = within(h | lanes(0x20), b'a', b'z');
    let digit = within(h, b'0', b'9');
    let x = h ^ lanes(b'-');
    let dash = !((x & lanes(0x7f)).wrapping_add(lanes(0x7f)) | x) & lanes(0x80);
    (letter | digit | dash) & ascii
}

/// `tchar` (RFC 9110 §5.6.2): the bytes allowed in methods, field names and coding names.
pub(crate) const fn is_tchar(b: u8) -> bool {
    matches!(b,
        b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9'
        | b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+'
        | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~')
}

/// Field-value byte as httparse accepts it: HTAB, SP, VCHAR, obs-text (opaque, never UTF-8).
/// Rejects NUL, other controls and DEL (RFC 9110 §5.5, catalogue H28).
pub(crate) fn is_field_value_byte(b: u8) -> bool {
    b == b'\t' || (0x20..=0x7e).contains(&b) || b >= 0x80
}

/// Value of one hex digit, `None` for anything else (no sign, no `0x`).
#[inline]
pub(crate) fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// RFC 3986 `unreserved`.
#[inline]
pub(crate) const fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// RFC 3986 `sub-delims`.
#[inline]
pub(crate) const fn is_sub_delim(b: u8) -> bool {
    matches!(
        b,
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
    )
}

/// RFC 3986 `pchar` minus `pct-encoded` (a `%` is checked separately with its two digits).
#[inline]
pub(crate) const fn is_pchar_literal(b: u8) -> bool {
    is_unreserved(b) || is_sub_delim(b) || b == b':' || b == b'@'
}

/// True when `s` holds only valid `%XX` escapes and bytes for which `literal` holds. Generic
/// (not a `fn` pointer) so `literal` is inlined: it runs for every byte of every request path.
#[inline]
pub(crate) fn is_pct_encoded_with(s: &[u8], literal: impl Fn(u8) -> bool) -> bool {
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        if b == b'%' {
            let hi = s.get(i + 1).copied().and_then(hex_val);
            let lo = s.get(i + 2).copied().and_then(hex_val);
            if hi.is_none() || lo.is_none() {
                return false;
            }
            i += 3;
        } else if literal(b) {
            i += 1;
        } else {
            return false;
        }
    }
    true
}

/// Strip optional whitespace (SP / HTAB) from both ends (RFC 9110 §5.6.3 OWS).
pub(crate) fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// One `name:value CRLF` line at the start of `line`: the name, where the OWS-trimmed value
/// lies in `line`, and the line's length with its CRLF; `None` for any other line (a
/// bare LF, obs-text, a space before the colon). The field line of both one-pass head readers
/// (`request_common.rs`, `response_common.rs`).
#[inline]
pub(crate) fn plain_field_line(line: &[u8]) -> Option<(&[u8], std::ops::Range<usize>, usize)> {
    let name_len = name_run(line);
    if name_len == 0 || line.get(name_len) != Some(&b':') {
        return None;
    }
    let mut value_at = name_len + 1;
    // The usual one space after the colon, then the value's own bytes.
    while matches!(line.get(value_at), Some(b' ' | b'\t')) {
        value_at += 1;
    }
    let end = value_at + vchar_run(line.get(value_at..)?);
    if line.get(end..end + 2)? != b"\r\n" {
        return None;
    }
    // Leading OWS is skipped above; trailing OWS is trimmed here (usually one look at the last
    // byte).
    let mut value_end = end;
    while value_end > value_at && matches!(line[value_end - 1], b' ' | b'\t') {
        value_end -= 1;
    }
    Some((line.get(..name_len)?, value_at..value_end, end + 2))
}

/// Members of a comma-separated list (RFC 9110 §5.6.1), OWS-trimmed, empty members skipped.
pub(crate) fn list_members(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim_ows)
        .filter(|m| !m.is_empty())
}

/// Decimal `1*DIGIT` with at most 19 digits (fits u64 without overflow checks); no sign,
/// no whitespace, no underscores: Rust's `parse` would accept `+5`
/// (`docs/http-hardening.md`, fact 2).
pub(crate) fn parse_decimal(s: &[u8]) -> Option<u64> {
    /// 19 decimal digits always fit in a u64 (max 9_999_999_999_999_999_999 < 2^64).
    const MAX_DIGITS: usize = 19;
    if s.is_empty() || s.len() > MAX_DIGITS || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        s.iter()
            .fold(0u64, |acc, &d| acc * 10 + u64::from(d - b'0')),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tchar_excludes_separators_and_controls() {
        for b in [
            b' ', b'"', b'(', b')', b',', b'/', b':', b';', b'<', b'=', b'>', b'?', b'@',
        ] {
            assert!(!is_tchar(b), "{}", b as char);
        }
        for b in [0u8, 0x0b, 0x7f, 0xa0, 0xff] {
            assert!(!is_tchar(b), "{b:#x}");
        }
        assert!(b"Aa0!#$%&'*+-.^_`|~".iter().all(|&b| is_tchar(b)));
    }

    #[test]
    fn field_value_bytes() {
        assert!(
            is_field_value_byte(b'\t') && is_field_value_byte(b' ') && is_field_value_byte(0xff)
        );
        for b in [0u8, 1, 8, 0x0a, 0x0b, 0x0d, 0x1f, 0x7f] {
            assert!(!is_field_value_byte(b), "{b:#x}");
        }
    }

    #[test]
    fn decimal_is_strict() {
        assert_eq!(parse_decimal(b"0"), Some(0));
        assert_eq!(parse_decimal(b"005"), Some(5));
        assert_eq!(
            parse_decimal(b"9999999999999999999"),
            Some(9_999_999_999_999_999_999)
        );
        for bad in [
            &b""[..],
            b"+5",
            b"-1",
            b"-0",
            b"0x10",
            b"5_0",
            b"1e3",
            b"5 5",
            b" 5",
            b"10000000000000000000",
        ] {
            assert_eq!(
                parse_decimal(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(parse_decimal("٥".as_bytes()), None);
    }

    #[test]
    fn list_and_trim() {
        let v: Vec<&[u8]> = list_members(b" ,a ,\tb,, c\t,").collect();
        assert_eq!(v, vec![&b"a"[..], b"b", b"c"]);
        assert_eq!(trim_ows(b" \t x \t"), b"x");
        assert_eq!(trim_ows(b"  "), b"");
    }

    /// Every byte value at every lane of two steps and the tail, after value bytes: the run
    /// ends where the table says (0x1f and 0xff at any lane are the edges a word check can miss).
    #[test]
    fn a_vchar_run_stops_at_every_byte_outside_the_class_in_every_lane() {
        for b in 0..=255u8 {
            for at in 0..19 {
                let mut v = [b'a'; 19];
                v[at] = b;
                let naive = v
                    .iter()
                    .position(|&b| !FIELD_VCHAR[b as usize])
                    .unwrap_or(19);
                assert_eq!(vchar_run(&v), naive, "byte {b:#04x} at {at}");
                assert_eq!(vchar_run(&v[..at]), at, "the run before it");
            }
        }
    }

    /// Every byte value at every lane of two steps and the tail, after name bytes: the run of
    /// tchars ends where the table says.
    #[test]
    fn a_name_run_stops_at_every_byte_outside_tchar_in_every_lane() {
        for b in 0..=255u8 {
            for at in 0..19 {
                for fill in [b'a', b'Z', b'0', b'-', b'_'] {
                    let mut v = [fill; 19];
                    v[at] = b;
                    let naive = v.iter().position(|&b| !TCHAR[b as usize]).unwrap_or(19);
                    assert_eq!(
                        name_run(&v),
                        naive,
                        "byte {b:#04x} at {at} among {fill:#04x}"
                    );
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn a_name_run_is_the_class_run_of_tchar(
            v in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
            lead in 0usize..40,
        ) {
            let mut v = v;
            for (i, b) in v.iter_mut().enumerate().take(lead) {
                *b = b"Content-Type_X-9.z~"[i % 19];
            }
            proptest::prop_assert_eq!(name_run(&v), class_run(&v, &TCHAR));
        }

        #[test]
        fn a_class_run_ends_at_the_first_byte_outside_the_class(
            v in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
            lead in 0usize..40,
        ) {
            // Mostly literal bytes, so runs of every length are tried, not only short ones.
            let mut v = v;
            for (i, b) in v.iter_mut().enumerate().take(lead) {
                *b = b"abc/xyz-019"[i % 11];
            }
            for class in [&PATH_LITERAL, &REG_NAME_LITERAL, &PCHAR_LITERAL, &DIGIT] {
                let naive = v.iter().position(|&b| !class[b as usize]).unwrap_or(v.len());
                proptest::prop_assert_eq!(class_run(&v, class), naive);
            }
        }

        #[test]
        fn a_vchar_run_is_the_class_run_of_field_vchar(
            v in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
            lead in 0usize..40,
            tab in 0usize..40,
        ) {
            // Mostly value bytes (with an HTAB somewhere), so long runs and every lane of a
            // step are tried; the tail is any bytes: controls, DEL, obs-text.
            let mut v = v;
            for (i, b) in v.iter_mut().enumerate().take(lead) {
                *b = if i == tab { b'\t' } else { b" ~\"W/0123!zZ"[i % 12] };
            }
            let naive = v.iter().position(|&b| !FIELD_VCHAR[b as usize]).unwrap_or(v.len());
            proptest::prop_assert_eq!(vchar_run(&v), naive);
        }
    }

    #[test]
    fn pct_encoded() {
        assert!(is_pct_encoded_with(b"a%2Fb%ff", is_pchar_literal));
        for bad in [&b"%"[..], b"%4", b"%zz", b"%g0", b"a b", b"/"] {
            assert!(!is_pct_encoded_with(bad, is_pchar_literal), "{:?}", bad);
        }
        assert_eq!(hex_val(b'F'), Some(15));
        assert_eq!(hex_val(b'g'), None);
    }
}
