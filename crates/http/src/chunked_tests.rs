//! Unit tests for `chunked.rs` (a child module of it; see the `#[path]` there).

use super::*;

/// Decode `input` in one call with a 1 KiB body limit: (status, body).
fn run(input: &[u8]) -> Result<(ChunkStatus, Vec<u8>), ParseError> {
    let mut d = ChunkedDecoder::new(1024);
    let mut out = BytesMut::new();
    let st = d.decode(input, &mut out)?;
    Ok((st, out.to_vec()))
}

fn bad(input: &[u8]) -> ParseError {
    match run(input) {
        Err(e) => e,
        Ok(r) => panic!("{:?} accepted: {r:?}", String::from_utf8_lossy(input)),
    }
}

#[test]
fn simple_body_and_rest() {
    let input = b"4\r\nRust\r\n5;a=b\r\n is f\r\n0\r\n\r\nNEXT";
    let (st, body) = run(input).unwrap();
    assert_eq!(body, b"Rust is f");
    assert_eq!(
        st,
        ChunkStatus::Done {
            consumed: input.len() - 4
        }
    );
}

#[test]
fn bare_lf_accepted_consistently() {
    let (st, body) = run(b"2\nab\n0\n\n").unwrap();
    assert_eq!(
        (st, body.as_slice()),
        (ChunkStatus::Done { consumed: 8 }, &b"ab"[..])
    );
}

#[test]
fn chunk_size_grammar() {
    for input in [
        &b"\r\n"[..],
        b"0x5\r\n",
        b"+5\r\n",
        b"-5\r\n",
        b" 5\r\n",
        b"Z\r\n",
        b"5 5\r\n",
    ] {
        assert!(matches!(bad(input), ParseError::BadRequest(_)), "{input:?}");
    }
    assert_eq!(
        bad(b"00000000000000001\r\n"),
        ParseError::BadRequest("chunk size longer than 16 hex digits")
    );
    assert_eq!(bad(b"ffffffffffffffff\r\n"), ParseError::PayloadTooLarge);
    assert!(
        run(b"0000000000000002\r\nab\r\n0\r\n\r\n").is_ok(),
        "16 digits with zeros"
    );
    assert!(run(b"5 \r\nhello\r\n0\r\n\r\n").is_ok(), "trailing BWS");
    assert!(run(b"5 ;ext\r\nhello\r\n0\r\n\r\n").is_ok());
}

#[test]
fn data_terminator() {
    for input in [
        &b"3\r\nxxx__1a\r\n"[..],
        b"3\r\nxxx\r_1a",
        b"3\r\nxxx_\n1a",
        b"5\r\nhello!!\r\n",
    ] {
        assert_eq!(
            bad(input),
            ParseError::BadRequest("chunk data not followed by CRLF")
        );
    }
}

#[test]
fn extension_bounds() {
    assert_eq!(
        bad(b"2;a\rb\r\n"),
        ParseError::BadRequest("bare CR in chunk line")
    );
    assert_eq!(
        bad(b"2;a\x00b\r\n"),
        ParseError::BadRequest("invalid chunk extension")
    );
    let mut long = b"1;".to_vec();
    long.resize(1 + MAX_CHUNK_EXT_BYTES, b'a');
    let mut ok = long.clone();
    ok.extend_from_slice(b"\r\nx\r\n0\r\n\r\n");
    assert!(
        run(&ok).is_ok(),
        "exactly MAX_CHUNK_EXT_BYTES bytes after the size"
    );
    long.extend_from_slice(b"a\r\n");
    assert_eq!(
        bad(&long),
        ParseError::BadRequest("chunk extension too long")
    );
}

#[test]
fn body_limit_checked_on_claim() {
    let mut d = ChunkedDecoder::new(10);
    let mut out = BytesMut::new();
    assert!(d.decode(b"6\r\nabcdef\r\n", &mut out).is_ok());
    assert_eq!(
        d.decode(b"5\r\n", &mut out),
        Err(ParseError::PayloadTooLarge)
    );
    assert_eq!(
        d.decode(b"", &mut out),
        Err(ParseError::PayloadTooLarge),
        "sticky"
    );
    assert_eq!(out.as_ref(), b"abcdef");
}

#[test]
fn trailers_discarded_and_bounded() {
    let (st, body) = run(b"1\r\na\r\n0\r\nContent-Length: 5\r\nX: y\r\n\r\n").unwrap();
    assert!(matches!(st, ChunkStatus::Done { .. }));
    assert_eq!(body, b"a");
    for input in [
        &b"0\r\n X: y\r\n\r\n"[..],
        b"0\r\nX : y\r\n\r\n",
        b"0\r\n: y\r\n\r\n",
        b"0\r\nX: a\rb\r\n\r\n",
        b"0\r\nX: \x01\r\n\r\n",
        b"0\r\nX\r\n\r\n",
        b"0\r\n\rx",
    ] {
        assert_eq!(
            bad(input),
            ParseError::BadRequest("malformed trailer field"),
            "{input:?}"
        );
    }
    let mut d = ChunkedDecoder::with_limits(&Limits {
        max_head_bytes: 8,
        ..Limits::default()
    });
    let mut out = BytesMut::new();
    assert_eq!(
        d.decode(b"0\r\nXY: 1234\r\n\r\n", &mut out),
        Err(ParseError::HeadersTooLarge)
    );
    let mut many = b"0\r\n".to_vec();
    for _ in 0..=MAX_HEADERS {
        many.extend_from_slice(b"X: y\r\n");
    }
    assert_eq!(bad(&many), ParseError::TooManyHeaders);
}

#[test]
fn byte_at_a_time_and_done_is_sticky() {
    let input = b"3;x\r\nabc\r\n0\r\nT: v\r\n\r\n";
    let mut d = ChunkedDecoder::new(1024);
    let mut out = BytesMut::new();
    for (n, b) in input.iter().enumerate() {
        let st = d.decode(std::slice::from_ref(b), &mut out).unwrap();
        let expect = if n + 1 == input.len() {
            ChunkStatus::Done { consumed: 1 }
        } else {
            ChunkStatus::NeedMore { consumed: 1 }
        };
        assert_eq!(st, expect, "byte {n}");
    }
    assert!(d.is_done());
    assert_eq!(d.decoded_len(), 3);
    assert_eq!(
        d.decode(b"GET", &mut out),
        Ok(ChunkStatus::Done { consumed: 0 })
    );
    assert_eq!(out.as_ref(), b"abc");
}
