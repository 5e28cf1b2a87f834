//! Tiny JSON text helpers that work on already-validated JSON (serde_json checked it).

/// Copy `raw` into `out` without insignificant whitespace. Strings (and their escapes) are copied
/// untouched, so the value means exactly the same; stored values then contain no raw newline,
/// which keeps export files intact through `curl -d @file` (it strips CR and LF).
pub fn minify(raw: &[u8], out: &mut Vec<u8>) {
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

/// True when `raw` contains a whitespace byte anywhere (then [`minify`] may shorten it).
pub fn has_whitespace(raw: &[u8]) -> bool {
    raw.iter()
        .any(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minify_keeps_strings_and_drops_whitespace() {
        let mut out = Vec::new();
        minify(b" { \"a b\" : [1, 2,\n\t\"x\\\" y\"] } ", &mut out);
        assert_eq!(out, b"{\"a b\":[1,2,\"x\\\" y\"]}".to_vec());
        assert!(has_whitespace(b"[1, 2]"));
        assert!(!has_whitespace(b"[1,2]"));
    }
}
