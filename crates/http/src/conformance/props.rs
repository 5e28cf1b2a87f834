//! Property tests: split invariance, pipelining, no panics on arbitrary bytes, the chunked
//! decoder against a simple reference decoder, and the head memo against the parser.

use bytes::BytesMut;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;

use super::{read_pipeline, Msg};
use crate::{
    parse_head, parse_head_full, ChunkStatus, ChunkedDecoder, Framing, HeadMemo, Limits, Method,
    Parsed, Version,
};

/// How a generated body is framed; chunked carries everything needed to encode it.
#[derive(Clone, Debug)]
enum Body {
    None,
    Length(Vec<u8>),
    Chunked(Chunked),
}

#[derive(Clone, Debug)]
struct Chunked {
    /// (data, leading zeros on the size, uppercase hex, extension)
    chunks: Vec<(Vec<u8>, usize, bool, Option<&'static str>)>,
    trailers: Vec<(String, Vec<u8>)>,
    eol: &'static str,
}

impl Chunked {
    fn encode(&self) -> (Vec<u8>, Vec<u8>) {
        let (mut wire, mut body) = (Vec::new(), Vec::new());
        for (data, zeros, upper, ext) in &self.chunks {
            let hex = if *upper {
                format!("{:X}", data.len())
            } else {
                format!("{:x}", data.len())
            };
            wire.extend_from_slice("0".repeat(*zeros).as_bytes());
            wire.extend_from_slice(hex.as_bytes());
            wire.extend_from_slice(ext.unwrap_or("").as_bytes());
            wire.extend_from_slice(self.eol.as_bytes());
            wire.extend_from_slice(data);
            wire.extend_from_slice(self.eol.as_bytes());
            body.extend_from_slice(data);
        }
        wire.extend_from_slice(format!("0{}", self.eol).as_bytes());
        for (name, value) in &self.trailers {
            wire.extend_from_slice(format!("{name}: ").as_bytes());
            wire.extend_from_slice(value);
            wire.extend_from_slice(self.eol.as_bytes());
        }
        wire.extend_from_slice(self.eol.as_bytes());
        (wire, body)
    }
}

#[derive(Clone, Debug)]
struct Req {
    leading: usize,
    method: (&'static str, Method),
    path: String,
    query: Option<String>,
    v10: bool,
    connection: Option<&'static str>,
    fields: Vec<(String, Vec<u8>)>,
    body: Body,
    eol: &'static str,
}

/// Wire bytes, head length and decoded body of a generated request.
struct Encoded {
    wire: Vec<u8>,
    head_len: usize,
    body: Vec<u8>,
}

impl Req {
    fn encode(&self) -> Encoded {
        let eol = self.eol;
        let mut w = eol.repeat(self.leading).into_bytes();
        let version = if self.v10 { "HTTP/1.0" } else { "HTTP/1.1" };
        let query = self
            .query
            .as_ref()
            .map(|q| format!("?{q}"))
            .unwrap_or_default();
        w.extend_from_slice(
            format!(
                "{} {}{query} {version}{eol}Host: h{eol}",
                self.method.0, self.path
            )
            .as_bytes(),
        );
        if let Some(c) = self.connection {
            w.extend_from_slice(format!("Connection: {c}{eol}").as_bytes());
        }
        for (name, value) in &self.fields {
            w.extend_from_slice(format!("{name}:").as_bytes());
            w.extend_from_slice(value);
            w.extend_from_slice(eol.as_bytes());
        }
        let (framing_field, wire_body, body) = match &self.body {
            Body::None => (String::new(), Vec::new(), Vec::new()),
            Body::Length(b) => (
                format!("Content-Length: {}{eol}", b.len()),
                b.clone(),
                b.clone(),
            ),
            Body::Chunked(c) => {
                let (wire, body) = c.encode();
                (format!("Transfer-Encoding: chunked{eol}"), wire, body)
            }
        };
        w.extend_from_slice(framing_field.as_bytes());
        w.extend_from_slice(eol.as_bytes());
        let head_len = w.len();
        w.extend_from_slice(&wire_body);
        Encoded {
            wire: w,
            head_len,
            body,
        }
    }

    fn framing(&self) -> Framing {
        match &self.body {
            Body::None => Framing::None,
            Body::Length(b) => Framing::Length(b.len() as u64),
            Body::Chunked(_) => Framing::Chunked,
        }
    }

    fn keep_alive(&self) -> bool {
        match (self.v10, self.connection) {
            (_, Some("close")) => false,
            (true, Some("keep-alive")) => true,
            (v10, _) => !v10,
        }
    }
}

fn field_value() -> impl Strategy<Value = Vec<u8>> {
    // Visible ASCII, SP/HTAB and obs-text: everything httparse lets through.
    vec(prop_oneof![0x20u8..0x7f, Just(b'\t'), 0x80u8..=0xff], 0..24)
}

fn chunked() -> impl Strategy<Value = Chunked> {
    let ext = prop_oneof![
        Just(None),
        Just(Some(";a=b")),
        Just(Some(" ;x")),
        Just(Some(";q=\"v w\""))
    ];
    let chunk = (vec(any::<u8>(), 1..40), 0usize..4, any::<bool>(), ext);
    let trailer = ("X-T[a-z]{0,6}", field_value());
    (
        vec(chunk, 0..5),
        vec(trailer, 0..3),
        prop_oneof![Just("\r\n"), Just("\n")],
    )
        .prop_map(|(chunks, trailers, eol)| Chunked {
            chunks,
            trailers,
            eol,
        })
}

fn request() -> impl Strategy<Value = Req> {
    let method = prop_oneof![
        Just(("GET", Method::Get)),
        Just(("HEAD", Method::Head)),
        Just(("PUT", Method::Put)),
        Just(("POST", Method::Post)),
        Just(("DELETE", Method::Delete)),
    ];
    let segment = "([A-Za-z0-9._~!$&'()*+,;=:@-]|%[0-9A-Fa-f]{2}){0,6}";
    let path = vec(segment, 1..4).prop_map(|s| format!("/{}", s.join("/")));
    let query = proptest::option::of("[A-Za-z0-9=&%{}|/?]{0,10}");
    let connection = prop_oneof![Just(None), Just(Some("close")), Just(Some("keep-alive"))];
    // Names prefixed so they never collide with the fields that carry semantics.
    let fields = vec(("X-F[A-Za-z0-9-]{0,8}", field_value()), 0..5);
    let body = prop_oneof![
        Just(Body::None),
        vec(any::<u8>(), 0..64).prop_map(Body::Length),
        chunked().prop_map(Body::Chunked),
    ];
    let eol = prop_oneof![Just("\r\n"), Just("\n")];
    (
        0usize..=2,
        method,
        path,
        query,
        any::<bool>(),
        connection,
        fields,
        body,
        eol,
    )
        .prop_map(
            |(leading, method, path, query, v10, connection, fields, body, eol)| {
                // Transfer-Encoding on 1.0 is a framing error, so 1.0 only for other bodies.
                let v10 = v10 && !matches!(body, Body::Chunked(_));
                Req {
                    leading,
                    method,
                    path,
                    query,
                    v10,
                    connection,
                    fields,
                    body,
                    eol,
                }
            },
        )
}

/// Feed `input` to a fresh decoder in pieces cut at `cuts`; (decoded, consumed, done).
fn decode_in_pieces(
    input: &[u8],
    cuts: &[Index],
    limit: usize,
) -> Result<(Vec<u8>, usize, bool), crate::ParseError> {
    let mut points: Vec<usize> = cuts.iter().map(|i| i.index(input.len() + 1)).collect();
    points.push(input.len());
    points.sort_unstable();
    let mut dec = ChunkedDecoder::new(limit);
    let mut out = BytesMut::new();
    let (mut start, mut consumed) = (0, 0);
    for p in points {
        match dec.decode(&input[start..p], &mut out)? {
            ChunkStatus::NeedMore { consumed: c } => {
                assert_eq!(c, p - start, "NeedMore must consume everything");
                consumed += c;
            }
            ChunkStatus::Done { consumed: c } => return Ok((out.to_vec(), consumed + c, true)),
        }
        start = p;
    }
    Ok((out.to_vec(), consumed, false))
}

/// Straightforward, non-incremental decoder for *valid* encodings (test oracle).
fn reference_decode(input: &[u8]) -> (Vec<u8>, usize) {
    let line = |at: usize| -> (usize, &[u8]) {
        let nl = at + input[at..].iter().position(|&b| b == b'\n').unwrap();
        let end = if nl > at && input[nl - 1] == b'\r' {
            nl - 1
        } else {
            nl
        };
        (nl + 1, &input[at..end])
    };
    let (mut at, mut body) = (0, Vec::new());
    loop {
        let (next, l) = line(at);
        let digits: Vec<u8> = l
            .iter()
            .copied()
            .take_while(u8::is_ascii_hexdigit)
            .collect();
        let size = usize::from_str_radix(std::str::from_utf8(&digits).unwrap(), 16).unwrap();
        at = next;
        if size == 0 {
            loop {
                let (next, l) = line(at);
                at = next;
                if l.is_empty() {
                    return (body, at);
                }
            }
        }
        body.extend_from_slice(&input[at..at + size]);
        at = line(at + size).0;
    }
}

fn check_head(req: &Req, wire: &[u8], head: &crate::Head) -> Result<(), TestCaseError> {
    prop_assert_eq!(head.method, req.method.1);
    prop_assert_eq!(
        head.version,
        if req.v10 {
            Version::Http10
        } else {
            Version::Http11
        }
    );
    prop_assert_eq!(&wire[head.path.range()], req.path.as_bytes());
    prop_assert_eq!(
        head.query.map(|q| wire[q.range()].to_vec()),
        req.query.clone().map(String::into_bytes)
    );
    prop_assert_eq!(head.framing, req.framing());
    prop_assert_eq!(head.keep_alive, req.keep_alive());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// (1) Every prefix of a head is Partial, every longer buffer gives the same Head, and a
    /// chunked body decodes the same whatever the split.
    #[test]
    fn split_invariance(req in request(), cuts in vec(any::<Index>(), 0..6)) {
        let Encoded { wire, head_len, body } = req.encode();
        let limits = Limits::default();
        let Ok(Parsed::Complete(head)) = parse_head(&wire, &limits) else {
            return Err(TestCaseError::fail(format!("not complete: {:?}", parse_head(&wire, &limits))));
        };
        prop_assert_eq!(head.head_len, head_len);
        check_head(&req, &wire, &head)?;
        for k in 0..head_len {
            prop_assert_eq!(parse_head(&wire[..k], &limits), Ok(Parsed::Partial), "prefix {}", k);
        }
        for k in head_len..=wire.len() {
            prop_assert_eq!(parse_head(&wire[..k], &limits), Ok(Parsed::Complete(head)));
        }
        let rest = &wire[head_len..];
        match head.framing {
            Framing::Chunked => {
                let (got, consumed, done) = decode_in_pieces(rest, &cuts, limits.max_body_bytes)?;
                prop_assert!(done);
                prop_assert_eq!(consumed, rest.len());
                prop_assert_eq!(got, body);
            }
            Framing::Length(n) => prop_assert_eq!(n as usize, body.len()),
            Framing::None => prop_assert!(body.is_empty()),
        }
    }

    /// (2) N pipelined requests give exactly N messages, in order, equal to parsing each alone.
    #[test]
    fn pipelining(reqs in vec(request(), 1..6)) {
        let encoded: Vec<Encoded> = reqs.iter().map(Req::encode).collect();
        let all: Vec<u8> = encoded.iter().flat_map(|e| e.wire.clone()).collect();
        let got = read_pipeline(&all, &Limits::default());
        prop_assert_eq!(got.len(), reqs.len());
        let mut at = 0;
        for ((req, enc), msg) in reqs.iter().zip(&encoded).zip(got) {
            let Msg { at: m_at, head, body, consumed } = msg?;
            prop_assert_eq!(m_at, at);
            prop_assert_eq!(consumed, enc.wire.len());
            prop_assert_eq!(&body, &enc.body);
            check_head(req, &enc.wire, &head)?;
            at += consumed;
        }
    }

    /// (3) Arbitrary (and mutated valid) bytes never panic; results respect every limit; the
    /// common-head path answers as the full parser does.
    #[test]
    fn arbitrary_bytes_respect_limits(
        input in prop_oneof![
            vec(any::<u8>(), 0..600),
            vec(prop::sample::select(b"GET /HTP1.0\r\n:;, chunkedContent-LngthTrsfr-Eco\t%2F#?Host".to_vec()), 0..600),
            (request(), vec((any::<Index>(), any::<u8>()), 1..4)).prop_map(|(r, muts)| {
                let mut w = r.encode().wire;
                for (i, b) in muts { let i = i.index(w.len()); w[i] = b; }
                w
            }),
        ],
        small in any::<bool>(),
        (max_head, max_target, max_body) in (0usize..400, 0usize..200, 0usize..200),
        cut in any::<Index>(),
    ) {
        let limits = if small {
            Limits { max_head_bytes: max_head, max_target_bytes: max_target, max_body_bytes: max_body }
        } else {
            Limits::default()
        };
        prop_assert_eq!(parse_head(&input, &limits), parse_head_full(&input, &limits));
        match parse_head(&input, &limits) {
            Ok(Parsed::Complete(h)) => {
                prop_assert!(h.head_len <= input.len() && h.head_len <= limits.max_head_bytes);
                prop_assert!(h.path.end() <= h.head_len && h.path.len() <= limits.max_target_bytes);
                prop_assert_eq!(input.get(h.path.start()), Some(&b'/'));
                if let Some(q) = &h.query { prop_assert!(q.start() > h.path.end() && q.end() <= h.head_len); }
                if let Some(r) = &h.request_id { prop_assert!(r.end() <= h.head_len); }
                if let Some(a) = &h.authorization { prop_assert!(a.end() <= h.head_len && a.len() <= crate::MAX_AUTHORIZATION_BYTES); }
                if let Framing::Length(n) = h.framing { prop_assert!(n <= limits.max_body_bytes as u64); }
            }
            Ok(Parsed::Partial) => prop_assert!(input.len() < limits.max_head_bytes),
            Err(e) => prop_assert!(e.must_close() && !e.message().is_empty()),
        }
        if let Ok((out, consumed, _)) = decode_in_pieces(&input, &[cut], limits.max_body_bytes) {
            prop_assert!(consumed <= input.len() && out.len() <= limits.max_body_bytes);
        }
    }

    /// (5) A complete head is a function of its own bytes (what `HeadMemo` relies on): the
    /// same head bytes followed by anything else parse to the same head.
    #[test]
    fn a_complete_head_ignores_what_follows(
        input in prop_oneof![
            request().prop_map(|r| r.encode().wire),
            (request(), vec((any::<Index>(), any::<u8>()), 1..4)).prop_map(|(r, muts)| {
                let mut w = r.encode().wire;
                for (i, b) in muts { let i = i.index(w.len()); w[i] = b; }
                w
            }),
        ],
        suffix in vec(any::<u8>(), 0..64),
        small in any::<bool>(),
    ) {
        let limits = if small {
            Limits { max_head_bytes: 160, max_target_bytes: 40, max_body_bytes: 16 }
        } else {
            Limits::default()
        };
        if let Ok(Parsed::Complete(h)) = parse_head(&input, &limits) {
            let other = [&input[..h.head_len], &suffix[..]].concat();
            prop_assert_eq!(parse_head(&other, &limits), Ok(Parsed::Complete(h)));
        }
    }

    /// (6) One connection's memo answers every buffer as `parse_head` does, whatever came
    /// before: heads repeated (the memo's hits), changed by a byte, cut short, followed by
    /// other bytes, and long runs of different heads (the memo's rest).
    #[test]
    fn the_memo_answers_as_the_parser(
        pool in vec(request().prop_map(|r| r.encode().wire), 1..4),
        stream in vec((any::<Index>(), 0u8..4, any::<Index>(), any::<u8>()), 1..40),
        small in any::<bool>(),
    ) {
        let limits = if small {
            Limits { max_head_bytes: 160, max_target_bytes: 40, max_body_bytes: 16 }
        } else {
            Limits::default()
        };
        let mut memo = HeadMemo::new(limits);
        for (pick, how, at, byte) in stream {
            let mut buf = pool[pick.index(pool.len())].clone();
            match how {
                0 => {}
                1 => { let i = at.index(buf.len()); buf[i] = byte; }
                2 => buf.truncate(at.index(buf.len())),
                _ => buf.extend_from_slice(&pool[at.index(pool.len())]),
            }
            prop_assert_eq!(memo.parse(&buf), parse_head(&buf, &limits));
        }
    }

    /// (4) The chunked decoder agrees with the reference decoder on valid encodings, fed in
    /// random pieces, and stops exactly at the end of the trailer section.
    #[test]
    fn chunked_matches_reference(enc in chunked(), cuts in vec(any::<Index>(), 0..8)) {
        let (mut wire, body) = enc.encode();
        let end = wire.len();
        wire.extend_from_slice(b"GET / HTTP/1.1\r\n");
        let (ref_body, ref_consumed) = reference_decode(&wire);
        prop_assert_eq!(&ref_body, &body, "oracle sanity");
        prop_assert_eq!(ref_consumed, end);
        let (got, consumed, done) = decode_in_pieces(&wire, &cuts, usize::MAX)?;
        prop_assert!(done);
        prop_assert_eq!(consumed, ref_consumed);
        prop_assert_eq!(got, ref_body);
        // One byte less than the limit must be refused as soon as the size line is read.
        if !body.is_empty() {
            prop_assert_eq!(decode_in_pieces(&wire, &cuts, body.len() - 1).map(|_| ()), Err(crate::ParseError::PayloadTooLarge));
        }
    }
}
