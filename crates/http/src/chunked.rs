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

const BAD_SIZE: ParseError = ParseError::BadRequest("invalid chunk size");
const BAD_EXT: ParseError = ParseError::BadRequest("invalid chunk extension");
const BAD_DATA_END: ParseError = ParseError::BadRequest("chunk data not followed by CRLF");
const BAD_TRAILER: ParseError = ParseError::BadRequest("malformed trailer field");

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
        Ok(match state {
            State::Size { size, digits } => self.size_byte(size, digits, b)?,
            State::Ext { size, ext, semi } => self.ext_byte(size, ext, semi, b)?,
            State::SizeLf { size } if b == b'\n' => self.end_size_line(size)?,
            State::SizeLf { .. } => return Err(ParseError::BadRequest("bare CR in chunk line")),
            State::DataEnd if b == b'\r' => State::DataLf,
            State::DataEnd | State::DataLf if b == b'\n' => State::Size { size: 0, digits: 0 },
            State::DataEnd | State::DataLf => return Err(BAD_DATA_END),
            // The trailer states; Data, Done and Failed never reach `step` (see `decode`) and
            // would fail closed in `trailer_byte` if they did.
            trailer => self.trailer_byte(trailer, b)?,
        })
    }

    /// One byte after `digits` hex digits of a chunk size (`size` so far).
    #[inline]
    fn size_byte(&mut self, size: u64, digits: u8, b: u8) -> Result<State, ParseError> {
        Ok(match (hex_val(b), digits) {
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
        })
    }

    /// One byte of the whitespace and extensions after a chunk size (`ext` bytes so far, `semi`
    /// once a `;` was seen).
    #[inline]
    fn ext_byte(&mut self, size: u64, ext: usize, semi: bool, b: u8) -> Result<State, ParseError> {
        if ext >= MAX_CHUNK_EXT_BYTES && !matches!(b, b'\r' | b'\n') {
            return Err(ParseError::BadRequest("chunk extension too long"));
        }
        Ok(match b {
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
        })
    }

    /// One byte of the trailer section, counted against the trailer limits.
    #[inline]
    fn trailer_byte(&mut self, trailer: State, b: u8) -> Result<State, ParseError> {
        self.trailer_bytes += 1;
        if self.trailer_bytes > self.max_trailer_bytes {
            return Err(ParseError::HeadersTooLarge);
        }
        Ok(match (trailer, b) {
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
            (State::TrailerValue, b'\n') | (State::TrailerValueLf, b'\n') => State::TrailerStart,
            (State::TrailerValue, _) if is_field_value_byte(b) => State::TrailerValue,
            // Includes obs-fold / leading whitespace, `name :`, bare CR, controls.
            _ => return Err(BAD_TRAILER),
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
#[path = "chunked_tests.rs"]
mod tests;
