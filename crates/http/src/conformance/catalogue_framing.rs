//! Catalogue rows H01-H21: message framing and request smuggling.

use super::{cat, run_table, Row, Want};
use crate::{parse_head, Framing, ParseError, Parsed, MAX_CHUNK_EXT_BYTES};

/// A POST head up to (not including) the framing fields.
const P: &[u8] = b"POST /k HTTP/1.1\r\nHost: a\r\n";
const BR: fn(&'static str) -> ParseError = ParseError::BadRequest;
const TE_CHUNKED: &[u8] = b"Transfer-Encoding: chunked\r\n\r\n";

fn post(fields: &[u8], body: &[u8]) -> Vec<u8> {
    cat(&[P, fields, b"\r\n", body])
}

fn chunked(body: &[u8]) -> Vec<u8> {
    cat(&[P, TE_CHUNKED, body])
}

#[test]
#[rustfmt::skip] // one row per line: the table stays readable as a table
fn h01_to_h12_framing_fields() {
    let not_final = BR("chunked is not the final transfer coding");
    let twice = BR("chunked applied more than once");
    let unsupported = ParseError::NotImplemented("unsupported transfer coding");
    let bad_cl = BR("invalid Content-Length value");
    let mut rows = vec![
        Row("H01", post(b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n", b"abc"), Want::Err(BR("both Content-Length and Transfer-Encoding"))),
        Row("H01", post(b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n", b"abc"), Want::Err(BR("both Content-Length and Transfer-Encoding"))),
        Row("H02", post(b"Content-Length: 1\r\nContent-Length: 2\r\n", b"ab"), Want::Err(BR("conflicting Content-Length headers"))),
        Row("H03", post(b"Content-Length: 5\r\ncontent-length: 5\r\n", b"abcde"), Want::Err(BR("conflicting Content-Length headers"))),
        Row("H03", post(b"Content-Length: 5, 5\r\n", b"abcde"), Want::Err(bad_cl)),
        Row("H04", post(b"Content-Length: 005\r\n", b"abcde"), Want::Body(Framing::Length(5), b"abcde")),
        Row("H04", post(b"Content-Length: 0\r\n", b""), Want::Body(Framing::Length(0), b"")),
        Row("H04", post(b"Content-Length:\t3 \r\n", b"abc"), Want::Body(Framing::Length(3), b"abc")),
        Row("H05", post(b"Content-Length: 10000000000\r\n", b""), Want::Err(ParseError::PayloadTooLarge)),
        Row("H05", post(b"Content-Length: 9999999999999999999\r\n", b""), Want::Err(ParseError::PayloadTooLarge)),
        Row("H06", post(b"Transfer-Encoding: chunked, gzip\r\n", b""), Want::Err(not_final)),
        Row("H06", post(b"Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n", b""), Want::Err(not_final)),
        Row("H08", chunked(b"0\r\n\r\n").replace_all(b"chunked", b"CHUNKED"), Want::Body(Framing::Chunked, b"")),
        Row("H08", chunked(b"1\r\nx\r\n0\r\n\r\n").replace_all(b"chunked", b"Chunked"), Want::Body(Framing::Chunked, b"x")),
        Row("H09", post(b"Transfer-Encoding: ,chunked\r\n", b"0\r\n\r\n"), Want::Body(Framing::Chunked, b"")),
        Row("H09", post(b"Transfer-Encoding: chunked,\r\n", b"0\r\n\r\n"), Want::Body(Framing::Chunked, b"")),
        Row("H09", post(b"Transfer-Encoding: , ,\r\n", b""), Want::Err(BR("empty Transfer-Encoding"))),
        Row("H09", post(b"Transfer-Encoding:\r\n", b""), Want::Err(BR("empty Transfer-Encoding"))),
        Row("H10", post(b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", b""), Want::Err(twice)),
        Row("H10", post(b"Transfer-Encoding: chunked, chunked\r\n", b""), Want::Err(twice)),
        Row("H11", b"POST /k HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_vec(), Want::Err(BR("Transfer-Encoding on HTTP/1.0"))),
        Row("H12", post(b"Transfer-Encoding : chunked\r\n", b""), Want::Err(BR("invalid header field name"))),
        Row("H12", cat(&[b"POST /k HTTP/1.1\r\n Transfer-Encoding: chunked\r\nHost: a\r\n\r\n"]), Want::Err(BR("invalid header field name"))),
        Row("H12", post(b"Transfer-Encoding:\x0bchunked\r\n", b""), Want::Err(BR("invalid header field value"))),
        Row("H12", post(b"Transfer-Encoding: chunked\x00\r\n", b""), Want::Err(BR("invalid header field value"))),
        Row("H12", post(b"X: X\rTransfer-Encoding: chunked\r\n", b""), Want::Err(BR("invalid header field value"))),
        // Bare LF is a line end under our policy, so this *is* a TE header (documented).
        Row("H12", post(b"X: X\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n"), Want::Body(Framing::Chunked, b"")),
        Row("H12", post(b"Transfer-Encoding: \xa0chunked\r\n", b""), Want::Err(BR("malformed Transfer-Encoding"))),
        Row("H12", post(b"Transfer-Encoding: chunked\xff\r\n", b""), Want::Err(BR("malformed Transfer-Encoding"))),
        Row("H12", post(b"Transfer-Encoding: chunked;q=1\r\n", b""), Want::Err(BR("malformed Transfer-Encoding"))),
    ];
    for v in [&b"+5"[..], b"-1", b"-0", b"0x10", b"5_0", b"1e3", b"abc", b"", b"5 5", "\u{665}".as_bytes(), b"00000000000000000001", b"1\xa0"] {
        rows.push(Row("H04", post(&cat(&[b"Content-Length: ", v, b"\r\n"]), b"abcde"), Want::Err(bad_cl)));
    }
    for v in [&b"gzip"[..], b"gzip, chunked", b"xchunked", b"identity", b"deflate,chunked"] {
        rows.push(Row("H07", post(&cat(&[b"Transfer-Encoding: ", v, b"\r\n"]), b""), Want::Err(unsupported)));
    }
    rows.push(Row("H07", post(b"Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n", b""), Want::Err(unsupported)));
    run_table(rows);
}

/// H12 exhaustively: each obfuscation byte before, inside or after the TE name or value.
/// Only OWS (SP/HTAB) around the value, or a bare LF that genuinely ends the line after the
/// value (our bare-LF policy), may leave a chunked request; everything else must not.
#[test]
fn h12_obfuscation_bytes_never_read_as_chunked() {
    let bytes = [
        0x01u8, 0x04, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x1f, 0x20, 0x7f, 0xa0, 0xff,
    ];
    for b in bytes {
        let ows = b == b' ' || b == b'\t';
        let x = &[b][..];
        let variants: [(&[&[u8]], bool); 6] = [
            (&[x, b"Transfer-Encoding: chunked"], false),
            (&[b"Transfer-", x, b"Encoding: chunked"], false),
            (&[b"Transfer-Encoding", x, b": chunked"], false),
            (&[b"Transfer-Encoding: ", x, b"chunked"], ows),
            (&[b"Transfer-Encoding: chun", x, b"ked"], false),
            (&[b"Transfer-Encoding: chunked", x], ows || b == b'\n'),
        ];
        for (parts, want_chunked) in variants {
            let input = post(&cat(&[&cat(parts), b"\r\n"]), b"0\r\n\r\n");
            let got = parse_head(&input, &Default::default());
            let is_chunked =
                matches!(&got, Ok(Parsed::Complete(h)) if h.framing == Framing::Chunked);
            assert_eq!(
                is_chunked,
                want_chunked,
                "{:?} -> {got:?}",
                String::from_utf8_lossy(&input)
            );
            if !want_chunked {
                // Either rejected (400/501), or (LF before the name) the head simply ended
                // before the TE line and the request has no body.
                let ok = match &got {
                    Err(e) => matches!(e.status(), 400 | 501),
                    Ok(Parsed::Complete(h)) => h.framing == Framing::None && b == b'\n',
                    Ok(Parsed::Partial) => false,
                };
                assert!(ok, "{:?} -> {got:?}", String::from_utf8_lossy(&input));
            }
        }
    }
}

#[test]
#[rustfmt::skip] // one row per line: the table stays readable as a table
fn h13_to_h21_chunked_body_and_defaults() {
    let bad_size = BR("invalid chunk size");
    let data_end = BR("chunk data not followed by CRLF");
    let mut long_ext = b"1;".to_vec();
    long_ext.resize(2 + MAX_CHUNK_EXT_BYTES, b'e');
    long_ext.extend_from_slice(b"\r\nx\r\n0\r\n\r\n");
    let mut rows = vec![
        Row("H13", chunked(b"\r\n"), Want::Err(bad_size)),
        Row("H13", chunked(b"0x5\r\nhello\r\n0\r\n\r\n"), Want::Err(bad_size)),
        Row("H13", chunked(b"+5\r\nhello\r\n0\r\n\r\n"), Want::Err(bad_size)),
        Row("H13", chunked(b"-5\r\nhello\r\n0\r\n\r\n"), Want::Err(bad_size)),
        Row("H13", chunked(b" 5\r\nhello\r\n0\r\n\r\n"), Want::Err(bad_size)),
        Row("H13", chunked(b"Z\r\n"), Want::Err(bad_size)),
        Row("H13", chunked(b"00000000000000005\r\nhello\r\n0\r\n\r\n"), Want::Err(BR("chunk size longer than 16 hex digits"))),
        Row("H13", chunked(b"0000000000000005\r\nhello\r\n0\r\n\r\n"), Want::Body(Framing::Chunked, b"hello")),
        Row("H14", chunked(b"3\r\nxxx__1a\r\n"), Want::Err(data_end)),
        Row("H14", chunked(b"3\r\nxxx\r_1a"), Want::Err(data_end)),
        Row("H14", chunked(b"3\r\nxxx_\n1a"), Want::Err(data_end)),
        Row("H14", chunked(b"5\r\nhello!!\r\n"), Want::Err(data_end)),
        Row("H15", chunked(b"2\nab\n0\n\n"), Want::Body(Framing::Chunked, b"ab")),
        Row("H16", chunked(b"5;name=val\r\nhello\r\n0\r\n\r\n"), Want::Body(Framing::Chunked, b"hello")),
        Row("H16", chunked(b"5 ;ext\r\nhello\r\n0;last\r\n\r\n"), Want::Body(Framing::Chunked, b"hello")),
        Row("H17", chunked(b"2;a\rb\r\nab\r\n0\r\n\r\n"), Want::Err(BR("bare CR in chunk line"))),
        Row("H17", chunked(b"2;a\x00b\r\nab\r\n0\r\n\r\n"), Want::Err(BR("invalid chunk extension"))),
        Row("H17", chunked(&long_ext), Want::Err(BR("chunk extension too long"))),
        Row("H18", chunked(b"101001\r\n"), Want::Err(ParseError::PayloadTooLarge)),
        Row("H18", chunked(b"ffffffffffffffff\r\n"), Want::Err(ParseError::PayloadTooLarge)),
        Row("H19", chunked(b"1\r\nx\r\n0\r\nX: y\r\n\r\n"), Want::Body(Framing::Chunked, b"x")),
        Row("H19", chunked(b"0\r\nContent-Length: 5\r\nTransfer-Encoding: gzip\r\nHost: evil\r\n\r\n"), Want::Body(Framing::Chunked, b"")),
        Row("H19", chunked(b"0\r\nX : y\r\n\r\n"), Want::Err(BR("malformed trailer field"))),
        Row("H19", chunked(b"0\r\nX: y\r\n z\r\n\r\n"), Want::Err(BR("malformed trailer field"))),
        Row("H19", chunked(&cat(&[b"0\r\nX: ", &[b'v'; 20_000], b"\r\n\r\n"])), Want::Err(ParseError::HeadersTooLarge)),
        Row("H20", post(b"", b""), Want::Head(|h| h.framing == Framing::None)),
        Row("H20", b"PUT /k HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(), Want::Body(Framing::None, b"")),
        Row("H21", b"GET /k HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello".to_vec(), Want::Body(Framing::Length(5), b"hello")),
        Row("H21", b"DELETE /k HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhel".to_vec(), Want::Partial),
    ];
    rows.push(Row("H17", chunked(&cat(&[b"1;", &[b'e'; MAX_CHUNK_EXT_BYTES - 1], b"\r\nx\r\n0\r\n\r\n"])), Want::Body(Framing::Chunked, b"x")));
    run_table(rows);
}

/// H21: a GET body is skipped by its Content-Length, never parsed as the next request.
#[test]
fn h21_get_body_is_not_a_request() {
    let input = b"GET /a HTTP/1.1\r\nHost: a\r\nContent-Length: 26\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n";
    let got = super::read_pipeline(input, &Default::default());
    assert_eq!(got.len(), 2, "{got:#?}");
    let paths: Vec<&[u8]> = got
        .iter()
        .map(|m| {
            let m = m.as_ref().unwrap();
            &input[m.at..][m.head.path.range()]
        })
        .collect();
    assert_eq!(paths, vec![&b"/a"[..], b"/b"]);
}

trait ReplaceAll {
    fn replace_all(self, from: &[u8], to: &[u8]) -> Vec<u8>;
}

impl ReplaceAll for Vec<u8> {
    fn replace_all(self, from: &[u8], to: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len());
        let mut i = 0;
        while i < self.len() {
            if self[i..].starts_with(from) {
                out.extend_from_slice(to);
                i += from.len();
            } else {
                out.push(self[i]);
                i += 1;
            }
        }
        out
    }
}
