//! Request paths for keys: percent-encode a key into `/api/v1/cache/{key}`.

/// The API prefix under which every key lives.
pub const CACHE_PATH: &str = "/api/v1/cache/";

/// Append `key` percent-encoded as one path segment: RFC 3986 unreserved bytes stay, every other
/// byte becomes `%XX` (so `/`, space, `%` and UTF-8 all survive the node's strict decoding).
pub fn push_encoded_key(out: &mut Vec<u8>, key: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in key {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }
}

/// `/api/v1/cache/{percent-encoded key}`.
pub fn key_path(key: &str) -> String {
    let mut out = CACHE_PATH.as_bytes().to_vec();
    push_encoded_key(&mut out, key.as_bytes());
    // Only ASCII was pushed.
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_percent_encoded() {
        assert_eq!(key_path("user:42"), "/api/v1/cache/user%3A42");
        assert_eq!(key_path("a/b c%"), "/api/v1/cache/a%2Fb%20c%25");
        assert_eq!(key_path("café"), "/api/v1/cache/caf%C3%A9");
        assert_eq!(key_path("A-z_0.~"), "/api/v1/cache/A-z_0.~");
    }

    #[test]
    fn encoded_keys_decode_back_with_the_nodes_decoder() {
        let key = "x/ y%z:é\u{1}".as_bytes();
        let mut enc = Vec::new();
        push_encoded_key(&mut enc, key);
        let mut dec = Vec::new();
        dcache_http::decode_segment(&enc, &mut dec).unwrap();
        assert_eq!(dec, key);
    }
}
