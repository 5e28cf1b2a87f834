//! What a stored value is: JSON text (the seed's envelope API) or raw bytes with their content
//! type (an image, protobuf, compressed HTML...).
//!
//! Both live in the same slot bytes, so replication, hints, snapshots, hand-over and repair carry
//! raw values without knowing about them. A JSON value is stored as its minified text, exactly as
//! before (a JSON text never starts with a NUL byte); a raw value is stored as
//! `0x00, len, content type (len bytes), body`. The content type is at most
//! [`MAX_CONTENT_TYPE_BYTES`], so its length fits the one length byte. An empty slot value is a
//! tombstone's and is never decoded.

/// First byte of a raw value's stored form (no JSON text starts with it).
pub const RAW_TAG: u8 = 0;
/// Longest content type stored with a raw value: one length byte. Real media types with their
/// parameters are far shorter (`application/vnd.openxmlformats-...` is 71 bytes).
pub const MAX_CONTENT_TYPE_BYTES: usize = 255;
/// Bytes a raw value's stored form adds before its content type: the tag and the length byte.
pub const RAW_HEADER_BYTES: usize = 2;

/// A stored value, decoded (borrowed from the slot).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stored<'a> {
    /// Minified JSON text.
    Json(&'a [u8]),
    /// Raw bytes and the content type they were stored with.
    Raw {
        content_type: &'a [u8],
        body: &'a [u8],
    },
}

impl<'a> Stored<'a> {
    /// Decode slot bytes. A malformed raw header (only possible from a corrupt source: every
    /// writer goes through [`encode_raw`]) decodes as an empty `application/octet-stream` body
    /// rather than panicking.
    #[inline]
    pub fn decode(stored: &'a [u8]) -> Stored<'a> {
        match stored {
            [RAW_TAG, len, rest @ ..] if rest.len() >= *len as usize => {
                let (content_type, body) = rest.split_at(*len as usize);
                Stored::Raw { content_type, body }
            }
            [RAW_TAG, ..] => Stored::Raw {
                content_type: b"application/octet-stream",
                body: b"",
            },
            json => Stored::Json(json),
        }
    }

    /// The value's payload size: the JSON text or the raw body (what `max_value_bytes` limits).
    pub fn payload_len(&self) -> usize {
        match self {
            Stored::Json(j) => j.len(),
            Stored::Raw { body, .. } => body.len(),
        }
    }
}

/// Append the stored form of a raw value to `out`. The caller checked the content type's length
/// (at most [`MAX_CONTENT_TYPE_BYTES`]); a longer one is cut there rather than corrupting the
/// length byte.
pub fn encode_raw(content_type: &[u8], body: &[u8], out: &mut Vec<u8>) {
    out.reserve(RAW_HEADER_BYTES + content_type.len().min(MAX_CONTENT_TYPE_BYTES) + body.len());
    encode_raw_head(content_type, out);
    out.extend_from_slice(body);
}

/// Append only the part of a raw value's stored form that precedes its body (tag, length,
/// content type: at most `RAW_HEADER_BYTES + MAX_CONTENT_TYPE_BYTES` bytes). A raw PUT stores
/// this head and the request body as two parts (`storage::lww::Write`), so the body is copied
/// once, into the slot; the stored bytes are exactly [`encode_raw`]'s.
pub fn encode_raw_head(content_type: &[u8], out: &mut Vec<u8>) {
    let ct = &content_type[..content_type.len().min(MAX_CONTENT_TYPE_BYTES)];
    out.push(RAW_TAG);
    out.push(ct.len() as u8);
    out.extend_from_slice(ct);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_values_decode_as_themselves() {
        for j in [&b"1"[..], b"{\"a\":[1,2]}", b"\"s\"", b"null", b"-0.5"] {
            assert_eq!(Stored::decode(j), Stored::Json(j));
            assert_eq!(Stored::decode(j).payload_len(), j.len());
        }
    }

    #[test]
    fn raw_values_round_trip_with_their_content_type() {
        for (ct, body) in [
            (&b"image/png"[..], &b"\x89PNG\r\n\x1a\n\0\0"[..]),
            (b"text/html; charset=utf-8", b""),
            (b"", b"\0\0\0"),
        ] {
            let mut out = Vec::new();
            encode_raw(ct, body, &mut out);
            assert_eq!(out.len(), RAW_HEADER_BYTES + ct.len() + body.len());
            let d = Stored::decode(&out);
            assert_eq!(
                d,
                Stored::Raw {
                    content_type: ct,
                    body
                }
            );
            assert_eq!(d.payload_len(), body.len());
        }
    }

    #[test]
    fn the_longest_content_type_fits_and_a_longer_one_is_cut() {
        let ct = vec![b'a'; MAX_CONTENT_TYPE_BYTES + 10];
        let mut out = Vec::new();
        encode_raw(&ct, b"x", &mut out);
        match Stored::decode(&out) {
            Stored::Raw { content_type, body } => {
                assert_eq!(content_type.len(), MAX_CONTENT_TYPE_BYTES);
                assert_eq!(body, b"x");
            }
            other => panic!("decoded {other:?}"),
        }
    }

    #[test]
    fn head_then_body_is_the_stored_form() {
        for ct in [&b"image/png"[..], b"", &[b'a'; MAX_CONTENT_TYPE_BYTES + 3]] {
            let (mut whole, mut head) = (Vec::new(), Vec::new());
            encode_raw(ct, b"\0body", &mut whole);
            encode_raw_head(ct, &mut head);
            assert_eq!([&head[..], b"\0body"].concat(), whole);
        }
    }

    #[test]
    fn a_truncated_raw_header_never_panics() {
        for bad in [&[RAW_TAG][..], &[RAW_TAG, 9, b'a']] {
            assert!(matches!(Stored::decode(bad), Stored::Raw { body: b"", .. }));
        }
    }
}
