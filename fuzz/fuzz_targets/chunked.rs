//! `ChunkedDecoder` fed the input in fuzzer-chosen pieces gives the same result as fed whole;
//! no call consumes more than it was given, and the decoded body never exceeds the limit.
//!
//! Input layout: byte 0 picks the body limit (low 3 bits) and seeds the piece sizes (all 8 bits);
//! the rest is the chunked stream.
#![no_main]

use bytes::BytesMut;
use dcache_http::{ChunkStatus, ChunkedDecoder, Limits, ParseError};
use libfuzzer_sys::fuzz_target;

const BODY_LIMITS: [usize; 8] = [
    0,
    1,
    7,
    16,
    100,
    1024,
    65_536,
    dcache_http::DEFAULT_MAX_BODY_BYTES,
];

/// Where the stream ended: `Done` at an absolute offset, still `NeedMore`, or an error.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Done(usize),
    NeedMore,
    Failed(ParseError),
}

fn decoder(limit: usize, small_trailers: bool) -> ChunkedDecoder {
    if small_trailers {
        ChunkedDecoder::with_limits(&Limits {
            max_head_bytes: 64,
            max_body_bytes: limit,
            ..Limits::default()
        })
    } else {
        ChunkedDecoder::new(limit)
    }
}

/// One `decode` call with the invariants every call must keep.
fn step(
    d: &mut ChunkedDecoder,
    input: &[u8],
    out: &mut BytesMut,
    limit: usize,
) -> Result<ChunkStatus, ParseError> {
    let before = out.len();
    let r = d.decode(input, out);
    assert!(
        out.len() - before <= input.len(),
        "output grew more than the input"
    );
    assert!(out.len() <= limit, "decoded {} > limit {limit}", out.len());
    assert!(
        d.decoded_len() <= limit as u64,
        "announced {} > limit {limit}",
        d.decoded_len()
    );
    assert!(
        out.len() as u64 <= d.decoded_len(),
        "copied more than announced"
    );
    match r {
        Ok(ChunkStatus::Done { consumed }) => {
            assert!(
                consumed <= input.len(),
                "consumed {consumed} of {}",
                input.len()
            );
            assert!(d.is_done());
        }
        Ok(ChunkStatus::NeedMore { consumed }) => {
            assert_eq!(consumed, input.len(), "NeedMore must consume everything");
            assert!(!d.is_done());
        }
        Err(e) => assert!((400..=505).contains(&e.status()), "{e:?}"),
    }
    r
}

/// After the end, the decoder stays where it is: `Done` consumes nothing, errors are sticky.
fn check_sticky(d: &mut ChunkedDecoder, outcome: &Outcome, limit: usize) {
    if *outcome == Outcome::NeedMore {
        return;
    }
    let mut out = BytesMut::new();
    let again = step(d, b"0\r\n\r\n", &mut out, limit);
    match outcome {
        Outcome::Done(_) => assert_eq!(again, Ok(ChunkStatus::Done { consumed: 0 })),
        Outcome::Failed(e) => assert_eq!(again, Err(*e)),
        Outcome::NeedMore => unreachable!(),
    }
    assert!(out.is_empty());
}

/// Piece sizes from a tiny xorshift generator: mostly 0..=8 bytes, sometimes up to 255.
struct Cuts(u32);

impl Cuts {
    fn next(&mut self) -> usize {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        if x & 0x300 == 0 {
            (x >> 16) as usize & 0xff
        } else {
            (x >> 16) as usize % 9
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, input)) = data.split_first() else {
        return;
    };
    let limit = BODY_LIMITS[usize::from(ctl & 7)];
    let small_trailers = ctl & 8 != 0;

    // Whole.
    let mut whole = decoder(limit, small_trailers);
    let mut whole_out = BytesMut::new();
    let whole_outcome = match step(&mut whole, input, &mut whole_out, limit) {
        Ok(ChunkStatus::Done { consumed }) => Outcome::Done(consumed),
        Ok(ChunkStatus::NeedMore { .. }) => Outcome::NeedMore,
        Err(e) => Outcome::Failed(e),
    };
    check_sticky(&mut whole, &whole_outcome, limit);

    // In pieces, as a connection would: each call gets the next piece (NeedMore consumed all of
    // the previous one), and `Done` leaves the rest of the piece to the next request.
    let mut pieces = decoder(limit, small_trailers);
    let mut pieces_out = BytesMut::new();
    let mut cuts = Cuts(u32::from(ctl).wrapping_mul(0x9e37_79b9) | 1);
    let mut fed = 0;
    let pieces_outcome = loop {
        let n = cuts.next().min(input.len() - fed);
        let piece = &input[fed..fed + n];
        match step(&mut pieces, piece, &mut pieces_out, limit) {
            Ok(ChunkStatus::Done { consumed }) => break Outcome::Done(fed + consumed),
            Ok(ChunkStatus::NeedMore { .. }) if fed + n == input.len() => break Outcome::NeedMore,
            Ok(ChunkStatus::NeedMore { .. }) => fed += n,
            Err(e) => break Outcome::Failed(e),
        }
    };
    check_sticky(&mut pieces, &pieces_outcome, limit);

    assert_eq!(whole_outcome, pieces_outcome);
    assert_eq!(whole_out, pieces_out, "decoded body differs");
    assert_eq!(whole.decoded_len(), pieces.decoded_len());
});
