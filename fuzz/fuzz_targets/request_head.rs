//! `parse_head` on arbitrary bytes: never panics; a complete head lies inside the input, its
//! spans are in bounds, it parses the same from exactly its own bytes, and a shorter prefix of
//! it is never rejected (a request arriving in pieces must not be refused); every error maps to
//! a status in 400..=505. The common-head path gives the full parser's answer on every input,
//! and so does a connection's `HeadMemo` (the same bytes again, then a prefix, then again).
#![no_main]

use dcache_http::{parse_head, parse_head_full, Framing, HeadMemo, Limits, Parsed, Span};
use libfuzzer_sys::fuzz_target;

fn in_bounds(s: Span, len: usize) -> bool {
    s.start() <= s.end() && s.end() <= len
}

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    assert_eq!(parse_head(data, &limits), parse_head_full(data, &limits));
    let mut memo = HeadMemo::new(limits);
    for buf in [data, data, &data[..data.len() / 2], data] {
        assert_eq!(memo.parse(buf), parse_head(buf, &limits));
    }
    match parse_head(data, &limits) {
        Ok(Parsed::Complete(h)) => {
            assert!(
                h.head_len > 0 && h.head_len <= data.len(),
                "head_len {}",
                h.head_len
            );
            assert!(h.head_len <= limits.max_head_bytes);
            assert!(in_bounds(h.path, h.head_len), "path {:?}", h.path);
            assert_eq!(data[h.path.start()], b'/', "path is origin-form");
            if let Some(q) = h.query {
                assert!(in_bounds(q, h.head_len), "query {q:?}");
                assert!(
                    q.start() == h.path.end() + 1,
                    "query {q:?} after path {:?}",
                    h.path
                );
            }
            if let Some(id) = h.request_id {
                assert!(in_bounds(id, h.head_len), "request id {id:?}");
                assert!(id.len() <= dcache_http::MAX_REQUEST_ID_BYTES);
            }
            if let Framing::Length(n) = h.framing {
                assert!(n <= limits.max_body_bytes as u64, "content-length {n}");
            }
            // The head alone parses to the same head (bytes after it never matter) ...
            let alone = parse_head(&data[..h.head_len], &limits);
            assert_eq!(alone, Ok(Parsed::Complete(h)));
            // ... and a prefix of it only ever asks for more bytes.
            for cut in [h.head_len - 1, h.head_len / 2] {
                let partial = parse_head(&data[..cut], &limits);
                assert_eq!(partial, Ok(Parsed::Partial), "prefix of {cut} bytes");
            }
        }
        Ok(Parsed::Partial) => {}
        Err(e) => {
            let status = e.status();
            assert!((400..=505).contains(&status), "{e:?} -> {status}");
            assert!(!e.message().is_empty());
        }
    }
});
