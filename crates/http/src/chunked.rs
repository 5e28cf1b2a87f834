//! Incremental decoder for the chunked transfer coding (RFC 9112 §7.1).
//!
//! A byte-driven state machine: it consumes every byte it is given (chunk data in bulk), so
//! the caller never re-feeds bytes and any split of the input gives the same result. It
//! owns the chunked smuggling rules that httparse leaves open (catalogue H13-H19): a chunk
//! size is 1..=16 hex digits (httparse reads an empty line as 0), extensions are bounded and
//! control-free, data must end in CRLF (or bare LF, the same policy as the head), the
//! decoded total is checked before any data is read, and trailers are validated, counted
//! against the head limit and discarded, never merged into the head.

use bytes::BytesMut;

use super::syntax::{hex_val, is_field_value_byte, is_tchar};
use super::{Limits, ParseError, DEFAULT_MAX_HEAD_BYTES, MAX_CHUNK_EXT_BYTES, MAX_HEADERS};

/// 16 hex digits span u64; more can only be padding or an overflow attempt.
const MAX_CHUNK_SIZE_DIGITS: u8 = 16;

/// Result of one [`ChunkedDecoder::decode`] call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkStatus {
    /// The body and trailer section ended after `consumed` bytes of this input; the rest is
    /// the next request.
    Done { consumed: usize },
    /// All `consumed` bytes (always the whole input) were used; call again with more.
    NeedMore { consumed: usize },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Reading chunk-size hex digits.
    Size {
        size: u64,
        digits: u8,
    },
    /// After the size: `BWS` until `;` (`semi` false) then extension bytes until line end.
    Ext {
        size: u64,
        ext: usize,
        semi: bool,
    },
    /// CR seen on the size line; LF must follow.
    SizeLf {
        size: u64,
    },
    /// Copying chunk data.
    Data {
        left: u64,
    },
    /// After the data: CRLF or LF must follow.
    DataEnd,
    /// CR seen after the data; LF must follow.
    DataLf,
    /// Trailer section (after the last chunk), at the start of a line.
    TrailerStart,
    TrailerName,
    TrailerValue,
    TrailerValueLf,
    /// CR seen on the empty line that ends the trailer section.
    TrailerEndLf,
    Done,
    /// Sticky: the stream cannot be framed any more.
    Failed(ParseError),
}

/// Incremental chunked decoder: feed it the bytes after the head (and later more bytes).
#[derive(Debug)]
pub struct ChunkedDecoder {
    state: State,
    max_body_bytes: u64,
    max_trailer_bytes: usize,
    decoded: u64,
    trailer_bytes: usize,
    trailer_fields: usize,
}

impl ChunkedDecoder {
    /// Decoder with a body limit; trailers are bounded by [`DEFAULT_MAX_HEAD_BYTES`].
    pub fn new(max_body_bytes: usize) -> Self {
        ChunkedDecoder {
            state: State::Size { size: 0, digits: 0 },
            max_body_bytes: max_body_bytes as u64,
            max_trailer_bytes: DEFAULT_MAX_HEAD_BYTES,
            decoded: 0,
            trailer_bytes: 0,
            trailer_fields: 0,
        }
    }

    /// Decoder using `limits.max_body_bytes` and `limits.max_head_bytes` for the trailers.
    pub fn with_limits(limits: &Limits) -> Self {
        ChunkedDecoder {
            max_trailer_bytes: limits.max_head_bytes,
            ..Self::new(limits.max_body_bytes)
        }
    }

    /// True once the last chunk and the trailer section were consumed.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Body bytes announced so far by complete chunk-size lines (never above the limit).
    pub fn decoded_len(&self) -> u64 {
        self.decoded
    }

    /// Consume as much of `input` as possible, appending decoded data to `out`.
    /// Returns how many input bytes were consumed; the caller drops those and calls again
    /// with the rest plus new bytes. Done after the last chunk and the trailer section
    /// (trailers are parsed, counted against a limit, and discarded, never merged).
    /// After an error every later call returns the same error.
    pub fn decode(&mut self, input: &[u8], out: &mut BytesMut) -> Result<ChunkStatus, ParseError> {
        let mut i = 0;
        loop {
            match self.state {
                State::Done => return Ok(ChunkStatus::Done { consumed: i }),
                State::Failed(e) => return Err(e),
                State::Data { left } => {
                    let avail = input.get(i..).unwrap_or_default();
                    if avail.is_empty() {
                        return Ok(ChunkStatus::NeedMore { consumed: i });
                    }
                    let n = usize::try_from(left).map_or(avail.len(), |l| l.min(avail.len()));
                    // Grows with bytes actually received, never with the claimed size.
                    out.extend_from_slice(avail.get(..n).unwrap_or_default());
                    i += n;
                    let left = left - n as u64;
                    self.state = if left == 0 {
                        State::DataEnd
                    } else {
                        State::Data { left }
                    };
                }
                state => {
                    let Some(&b) = input.get(i) else {
                        return Ok(ChunkStatus::NeedMore { consumed: i });
                    };
                    i += 1;
                    self.state = match self.step(state, b) {
                        Ok(next) => next,
                        Err(e) => State::Failed(e),
                    };
                }
            }
        }
    }

    /// One byte of a chunk-size line, a data terminator or the trailer section.
    fn step(&mut self, state: State, b: u8) -> Result<State, ParseError> {
        const BAD_SIZE: ParseError = ParseError::BadRequest("invalid chunk size");
        const BAD_EXT: ParseError = ParseError::BadRequest("invalid chunk extension");
        const BAD_DATA_END: ParseError = ParseError::BadRequest("chunk data not followed by CRLF");
        const BAD_TRAILER: ParseError = ParseError::BadRequest("malformed trailer field");
        Ok(match state {
            State::Size { size, digits } => match (hex_val(b), digits) {
                (Some(_), MAX_CHUNK_SIZE_DIGITS) => {
                    return Err(ParseError::BadRequest(
                        "chunk size longer than 16 hex digits",
                    ))
                }
                (Some(v), _) => State::Size {
                    size: size << 4 | u64::from(v),
                    digits: digits + 1,
                },
                // Empty, ` 5`, `+5`, `-5`, `Z`: a size must start with a hex digit.
                (None, 0) => return Err(BAD_SIZE),
                (None, _) => match b {
                    b';' => State::Ext {
                        size,
                        ext: 1,
                        semi: true,
                    },
                    b' ' | b'\t' => State::Ext {
                        size,
                        ext: 1,
                        semi: false,
                    },
                    b'\r' => State::SizeLf { size },
                    b'\n' => self.end_size_line(size)?,
                    _ => return Err(BAD_SIZE), // `0x5`, `5_0`
                },
            },
            State::Ext { size, ext, semi } => {
                if ext >= MAX_CHUNK_EXT_BYTES && !matches!(b, b'\r' | b'\n') {
                    return Err(ParseError::BadRequest("chunk extension too long"));
                }
                match b {
                    b'\r' => State::SizeLf { size },
                    b'\n' => self.end_size_line(size)?,
                    b' ' | b'\t' | b';' => State::Ext {
                        size,
                        ext: ext + 1,
                        semi: semi || b == b';',
                    },
                    // Before the first `;` only whitespace may follow the size (`5 5` is bad).
                    _ if semi && is_field_value_byte(b) => State::Ext {
                        size,
                        ext: ext + 1,
                        semi,
                    },
                    _ => return Err(BAD_EXT),
                }
            }
            State::SizeLf { size } if b == b'\n' => self.end_size_line(size)?,
            State::SizeLf { .. } => return Err(ParseError::BadRequest("bare CR in chunk line")),
            State::DataEnd if b == b'\r' => State::DataLf,
            State::DataEnd | State::DataLf if b == b'\n' => State::Size { size: 0, digits: 0 },
            State::DataEnd | State::DataLf => return Err(BAD_DATA_END),
            // The trailer states; Data, Done and Failed never reach `step` (see `decode`) and
            // would fail closed below if they did.
            trailer => {
                self.trailer_bytes += 1;
                if self.trailer_bytes > self.max_trailer_bytes {
                    return Err(ParseError::HeadersTooLarge);
                }
                match (trailer, b) {
                    (State::TrailerStart, b'\r') => State::TrailerEndLf,
                    (State::TrailerStart, b'\n') | (State::TrailerEndLf, b'\n') => State::Done,
                    (State::TrailerStart, _) if is_tchar(b) => State::TrailerName,
                    (State::TrailerName, _) if is_tchar(b) => State::TrailerName,
                    (State::TrailerName, b':') => {
                        self.trailer_fields += 1;
                        if self.trailer_fields > MAX_HEADERS {
                            return Err(ParseError::TooManyHeaders);
                        }
                        State::TrailerValue
                    }
                    (State::TrailerValue, b'\r') => State::TrailerValueLf,
                    (State::TrailerValue, b'\n') | (State::TrailerValueLf, b'\n') => {
                        State::TrailerStart
                    }
                    (State::TrailerValue, _) if is_field_value_byte(b) => State::TrailerValue,
                    // Includes obs-fold / leading whitespace, `name :`, bare CR, controls.
                    _ => return Err(BAD_TRAILER),
                }
            }
        })
    }

    /// A complete size line: last chunk, or data after a body-limit check on the claim.
    fn end_size_line(&mut self, size: u64) -> Result<State, ParseError> {
        if size == 0 {
            return Ok(State::TrailerStart);
        }
        match self.decoded.checked_add(size) {
            Some(total) if total <= self.max_body_bytes => {
                self.decoded = total;
                Ok(State::Data { left: size })
            }
            _ => Err(ParseError::PayloadTooLarge),
        }
    }
}

#[cfg(test)]
mod tests {
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
}
