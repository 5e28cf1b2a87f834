//! Tiny JSON text helpers that work on already-validated JSON (serde_json checked it).

/// Copy `raw` into `out` without insignificant whitespace. Strings (and their escapes) are copied
/// untouched, so the value means exactly the same; stored values then contain no raw newline,
/// which keeps export files intact through `curl -d @file` (it strips CR and LF).
pub(crate) fn minify(raw: &[u8], out: &mut Vec<u8>) {
    out.clear();
    let mut in_str = false;
    let mut escaped = false;
    for &b in raw {
        if in_str {
            out.push(b);
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_str = false;
            }
        } else {
            match b {
                b' ' | b'\t' | b'\r' | b'\n' => {}
                b'"' => {
                    in_str = true;
                    out.push(b);
                }
                _ => out.push(b),
            }
        }
    }
}

/// Deepest nesting accepted in a stored value: serde_json's own recursion limit, which a borrowed
/// `RawValue` skips over unchecked (catalogue H70).
pub(crate) const MAX_DEPTH: usize = 128;

/// Check what serde_json does not check inside a `RawValue`: nesting depth and UTF-16 surrogate
/// escapes (a lone `\ud800` is not a Unicode scalar; catalogue H69). Returns whether the text has
/// insignificant whitespace (then [`minify`] shortens it).
pub(crate) fn check(raw: &[u8]) -> Result<bool, &'static str> {
    let mut depth = 0usize;
    let mut ws = false;
    let mut i = 0;
    let mut in_str = false;
    // A high surrogate escape seen just before: the next token must be a low surrogate escape.
    let mut want_low = false;
    while i < raw.len() {
        let b = raw[i];
        if in_str {
            if b == b'\\' {
                let esc = raw.get(i + 1).copied().unwrap_or(0);
                if esc == b'u' {
                    let unit = raw
                        .get(i + 2..i + 6)
                        .and_then(|h| std::str::from_utf8(h).ok())
                        .and_then(|h| u16::from_str_radix(h, 16).ok())
                        .ok_or("invalid \\u escape")?;
                    let low = (0xDC00..=0xDFFF).contains(&unit);
                    if want_low != low {
                        return Err("lone UTF-16 surrogate in a \\u escape");
                    }
                    want_low = (0xD800..=0xDBFF).contains(&unit);
                    i += 6;
                    continue;
                }
                if want_low {
                    return Err("lone UTF-16 surrogate in a \\u escape");
                }
                i += 2;
                continue;
            }
            if want_low {
                return Err("lone UTF-16 surrogate in a \\u escape");
            }
            if b == b'"' {
                in_str = false;
            }
            i += 1;
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err("value nested deeper than 128 levels");
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            b' ' | b'\t' | b'\r' | b'\n' => ws = true,
            _ => {}
        }
        i += 1;
    }
    Ok(ws)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minify_keeps_strings_and_drops_whitespace() {
        let mut out = Vec::new();
        minify(b" { \"a b\" : [1, 2,\n\t\"x\\\" y\"] } ", &mut out);
        assert_eq!(out, b"{\"a b\":[1,2,\"x\\\" y\"]}".to_vec());
        assert_eq!(check(b"[1, 2]"), Ok(true));
        assert_eq!(check(b"[1,2]"), Ok(false));
        assert_eq!(check(b"\"a b\""), Ok(false));
    }

    #[test]
    fn check_rejects_lone_surrogates_and_deep_nesting() {
        assert!(check(br#""\ud800""#).is_err());
        assert!(check(br#""\udc00x""#).is_err());
        assert!(check(br#""\ud800\u0041""#).is_err());
        assert!(check(br#""\ud83d\ude00""#).is_ok());
        assert!(check(br#""\\ud800""#).is_ok());
        let deep = "[".repeat(129) + &"]".repeat(129);
        assert!(check(deep.as_bytes()).is_err());
        let ok = "[".repeat(128) + &"]".repeat(128);
        assert!(check(ok.as_bytes()).is_ok());
    }
}
