//! Conformance tests across the module: the hardening catalogue as tables (one row per
//! entry, `docs/http-hardening.md`) and property tests (split invariance, pipelining,
//! no panics, reference chunked decoder). The small message driver here plays the
//! connection loop: parse a head, then take its body by the framing the head announced.

mod catalogue_framing;
mod catalogue_syntax;
mod props;

use bytes::BytesMut;

use super::{parse_head, ChunkStatus, ChunkedDecoder, Framing, Head, Limits, ParseError, Parsed};

/// How many of `n` values drawn from `strategy` (deterministically) `pred` holds for: the
/// fast-path property tests check with it that their generators reach the fast path often
/// enough for the property to say something.
pub(crate) fn share_of<S: proptest::strategy::Strategy>(
    strategy: S,
    n: usize,
    pred: impl Fn(&S::Value) -> bool,
) -> usize {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    (0..n)
        .filter(|_| pred(&strategy.new_tree(&mut runner).expect("a value").current()))
        .count()
}

/// One whole request as the connection loop would see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Msg {
    /// Where this request starts in the pipeline's input (head offsets are relative to it).
    pub at: usize,
    pub head: Head,
    pub body: Vec<u8>,
    /// Bytes of the input used by head + body framing.
    pub consumed: usize,
}

/// Read one request from the start of `buf`; `Ok(None)` when more bytes are needed.
pub(super) fn read_message(buf: &[u8], limits: &Limits) -> Result<Option<Msg>, ParseError> {
    let head = match parse_head(buf, limits)? {
        Parsed::Complete(h) => h,
        Parsed::Partial => return Ok(None),
    };
    let rest = &buf[head.head_len..];
    let (body, used) = match head.framing {
        Framing::None => (Vec::new(), 0),
        Framing::Length(n) => {
            let n = n as usize;
            if rest.len() < n {
                return Ok(None);
            }
            (rest[..n].to_vec(), n)
        }
        Framing::Chunked => {
            let mut dec = ChunkedDecoder::with_limits(limits);
            let mut out = BytesMut::new();
            match dec.decode(rest, &mut out)? {
                ChunkStatus::Done { consumed } => (out.to_vec(), consumed),
                ChunkStatus::NeedMore { .. } => return Ok(None),
            }
        }
    };
    let consumed = head.head_len + used;
    Ok(Some(Msg {
        at: 0,
        head,
        body,
        consumed,
    }))
}

/// Read requests until the buffer is used up, more bytes are needed, or an error; the
/// error (if any) is the last element, as the server would answer it before closing.
pub(super) fn read_pipeline(buf: &[u8], limits: &Limits) -> Vec<Result<Msg, ParseError>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < buf.len() {
        match read_message(&buf[at..], limits) {
            Ok(Some(m)) => {
                let m = Msg { at, ..m };
                at += m.consumed;
                out.push(Ok(m));
            }
            Ok(None) => break,
            Err(e) => {
                out.push(Err(e));
                break;
            }
        }
    }
    out
}

/// Expected outcome of one catalogue row.
pub(super) enum Want {
    /// This exact error (variant and message).
    Err(ParseError),
    /// A whole message with this framing and decoded body.
    Body(Framing, &'static [u8]),
    /// A whole message satisfying this predicate on the head.
    Head(fn(&Head) -> bool),
    /// No verdict yet: the parser waits for more bytes.
    Partial,
}

/// One catalogue entry: id (H01...), raw request bytes, expected outcome.
pub(super) struct Row(pub &'static str, pub Vec<u8>, pub Want);

/// Run a table against `read_message` with default limits; report every failing row at once.
pub(super) fn run_table(rows: Vec<Row>) {
    let limits = Limits::default();
    let mut failures = Vec::new();
    for Row(id, input, want) in rows {
        let got = read_message(&input, &limits);
        let ok = match (&want, &got) {
            (Want::Err(e), Err(g)) => e == g,
            (Want::Body(f, b), Ok(Some(m))) => m.head.framing == *f && m.body == *b,
            (Want::Head(pred), Ok(Some(m))) => pred(&m.head),
            (Want::Partial, Ok(None)) => true,
            _ => false,
        };
        if !ok {
            let shown = String::from_utf8_lossy(&input[..input.len().min(120)]).into_owned();
            failures.push(format!("{id}: input {shown:?} got {got:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} rows failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Concatenate byte pieces (rows mix ASCII literals with raw bytes).
pub(super) fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}
