//! Strict percent-decoding of one path segment (RFC 3986 §2.1, §3.3) into a key.
//!
//! Keys are byte strings: the caller splits the path on `/` first, then decodes each segment
//! here, so `%2F` is a key byte, not a separator, and no dot-segment normalisation happens.
//! Unlike the `percent-encoding` crate, a malformed escape is an error, never literal text;
//! otherwise `/k/%zz` and `/k/%25zz` would name the same key (`docs/http-hardening.md`, fact 3).

use super::syntax::{class_run, hex_val, is_pchar_literal, PCHAR_LITERAL};
use super::ParseError;

/// Strictly percent-decode one path segment into `out` (cleared first). Rejects `%zz`, `%`,
/// `%4`, `%g0`, raw bytes > 0x7e or controls or anything not allowed in a path segment by
/// RFC 3986 (400). `%2F` decodes to '/' (keys are byte strings; no dot-segment normalisation).
/// `%ff` decodes to the byte 0xff: the caller decides its UTF-8 policy.
pub fn decode_segment(seg: &[u8], out: &mut Vec<u8>) -> Result<(), ParseError> {
    out.clear();
    // Decoded length <= encoded length; one reservation at most, reused across calls.
    out.reserve(seg.len());
    // The usual key has no escape (`%` is no pchar literal): checked and copied whole.
    if class_run(seg, &PCHAR_LITERAL) == seg.len() {
        out.extend_from_slice(seg);
        return Ok(());
    }
    let mut i = 0;
    while let Some(&b) = seg.get(i) {
        if b == b'%' {
            let hi = seg.get(i + 1).copied().and_then(hex_val);
            let lo = seg.get(i + 2).copied().and_then(hex_val);
            let (Some(hi), Some(lo)) = (hi, lo) else {
                return Err(ParseError::BadRequest("malformed percent-escape in key"));
            };
            out.push(hi << 4 | lo);
            i += 3;
        } else if is_pchar_literal(b) {
            out.push(b);
            i += 1;
        } else {
            return Err(ParseError::BadRequest("byte not allowed in key segment"));
        }
    }
    Ok(())
}

/// [`decode_segment`] that borrows: the segment itself when it holds no escape (the usual
/// key, which then costs no copy), else its decoding in `out`.
#[inline]
pub fn decode_segment_borrowed<'a>(
    seg: &'a [u8],
    out: &'a mut Vec<u8>,
) -> Result<&'a [u8], ParseError> {
    if class_run(seg, &PCHAR_LITERAL) == seg.len() {
        return Ok(seg);
    }
    decode_segment(seg, out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(seg: &[u8]) -> Result<Vec<u8>, ParseError> {
        let mut out = b"stale".to_vec();
        decode_segment(seg, &mut out).map(|()| out)
    }

    #[test]
    fn a_plain_segment_is_borrowed_an_escaped_one_decoded() {
        let mut out = b"stale".to_vec();
        let plain = b"user:42";
        let got = decode_segment_borrowed(plain, &mut out).expect("plain");
        assert!(std::ptr::eq(got, &plain[..]), "borrowed, not copied");
        let mut out = Vec::new();
        assert_eq!(decode_segment_borrowed(b"a%2Fb", &mut out), Ok(&b"a/b"[..]));
        let mut out = Vec::new();
        assert!(decode_segment_borrowed(b"a%zz", &mut out).is_err());
        let mut out = Vec::new();
        assert!(decode_segment_borrowed(b"a b", &mut out).is_err());
    }

    #[test]
    fn valid_escapes() {
        assert_eq!(dec(b"a%20b"), Ok(b"a b".to_vec()));
        assert_eq!(dec(b"%2F"), Ok(b"/".to_vec()));
        assert_eq!(dec(b"%2f%2F"), Ok(b"//".to_vec()));
        assert_eq!(dec(b"%00"), Ok(vec![0]));
        assert_eq!(dec(b"%ff%FF"), Ok(vec![0xff, 0xff]));
        assert_eq!(dec(b"%25zz"), Ok(b"%zz".to_vec()));
        assert_eq!(
            dec(b""),
            Ok(vec![]),
            "out is cleared even for an empty segment"
        );
        assert_eq!(
            dec(b".."),
            Ok(b"..".to_vec()),
            "no dot-segment normalisation"
        );
    }

    #[test]
    fn allowed_literals() {
        let all = b"AZaz09-._~!$&'()*+,;=:@";
        assert_eq!(dec(all), Ok(all.to_vec()));
    }

    #[test]
    fn invalid_escapes() {
        for bad in [
            &b"%"[..],
            b"%4",
            b"%zz",
            b"%g0",
            b"%0g",
            b"a%",
            b"%%41",
            b"%+1",
            b"% 1",
        ] {
            assert!(
                matches!(dec(bad), Err(ParseError::BadRequest(_))),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn rejected_raw_bytes() {
        let raw: &[&[u8]] = &[
            b" ",
            b"?",
            b"#",
            b"/",
            b"\"",
            b"<",
            b">",
            b"[",
            b"]",
            b"\\",
            b"^",
            b"`",
            b"{",
            b"|",
            b"}",
            b"\x00",
            b"\x1f",
            b"\x7f",
            b"\x80",
            b"\xff",
            "é".as_bytes(),
        ];
        for bad in raw {
            assert!(
                matches!(dec(bad), Err(ParseError::BadRequest(_))),
                "{bad:?}"
            );
        }
    }
}
