//! Request-parser micro-benchmarks: `parse_head` on what wrk and our client send, a pipelined
//! batch of 16, the chunked decoder and key percent-decoding; plus the client's response parser.
//!
//!     cargo bench --bench parse            # all cases; add a substring to filter
//!
//! Last results (2026-11-25, 2-vCPU AMD EPYC Zen 3 KVM guest, Linux 6.18, shared with builds;
//! ns/op, median of 7 samples; all figures in docs/benchmarks.md):
//!   parse_head GET (wrk) 91.5, GET (curl) 110, PUT 144, x16 pipelined 101/request,
//!   Partial 31.7, ChunkedDecoder 20.8/KiB chunk, decode_segment 26.2, client response 64.7.

#[path = "harness.rs"]
mod harness;

use bytes::BytesMut;
use dcache::http::parse_response_head;
use dcache::http::{decode_segment, parse_head, ChunkedDecoder, Limits, Parsed};

const GET_WRK: &[u8] = b"GET /api/v1/cache/bench:hit HTTP/1.1\r\nHost: 127.0.0.1:18080\r\n\r\n";
const GET_CURL: &[u8] = b"GET /api/v1/cache/user%2F42 HTTP/1.1\r\nHost: localhost:8001\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n";
const PUT: &[u8] = b"PUT /api/v1/cache/key%3A000000000042 HTTP/1.1\r\nHost: 127.0.0.1:18080\r\nContent-Type: application/json\r\nContent-Length: 42\r\n\r\n{\"value\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}";
const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nDate: Wed, 25 Nov 2026 18:07:48 GMT\r\nContent-Type: application/json\r\nContent-Length: 52\r\nX-Cache-Node: node1\r\n\r\n{\"key\":\"bench:hit\",\"value\":\"xxxxxxxxxxxxxxxxxxxxxx\"}";

/// What a node answers a forwarded GET (the forwarder reads one per forward).
const ANSWER: &[u8] = b"HTTP/1.1 200 OK\r\nDate: Sat, 05 Dec 2026 16:09:23 GMT\r\nContent-Type: application/json\r\nContent-Length: 68\r\nX-Cache-Node: node2\r\nX-Request-Id: 72057594037930113\r\nETag: \"01a246f7a0a30000\"\r\nCache-Control: no-cache\r\nLast-Modified: Sat, 05 Dec 2026 16:09:23 GMT\r\n\r\n{\"key\":\"key:0000000000042\",\"value\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}";
/// What a node sends a peer for a client's GET (the owner parses one per forward; its
/// `X-Request-Id` differs every time, so no head is kept for it).
const FORWARD: &[u8] = b"GET /api/v1/cache/key:0000000000042 HTTP/1.1\r\nHost: 127.0.0.1:8002\r\nX-Cache-Forwarded: node1\r\nX-Request-Id: 72057594037930113\r\n\r\n";

fn head_len(buf: &[u8], limits: &Limits) -> usize {
    match parse_head(buf, limits) {
        Ok(Parsed::Complete(h)) => h.head_len,
        other => panic!("benchmark input does not parse: {other:?}"),
    }
}

fn main() {
    let h = harness::Harness::from_args();
    let limits = Limits::default();
    h.run("parse_head GET (wrk, 1 header)", 1, || {
        head_len(GET_WRK, &limits)
    });
    h.run("parse_head GET (curl, 3 headers)", 1, || {
        head_len(GET_CURL, &limits)
    });
    h.run("parse_head PUT (Content-Length)", 1, || {
        head_len(PUT, &limits)
    });

    let pipelined: Vec<u8> = GET_WRK.repeat(16);
    h.run("parse_head x16 pipelined GETs (per request)", 16, || {
        let mut at = 0;
        while at < pipelined.len() {
            at += head_len(&pipelined[at..], &limits);
        }
        at
    });

    let mut partial = GET_WRK.to_vec();
    partial.truncate(GET_WRK.len() - 3);
    h.run("parse_head partial head (Partial)", 1, || {
        matches!(parse_head(&partial, &limits), Ok(Parsed::Partial))
    });

    let mut chunked = Vec::new();
    for _ in 0..64 {
        chunked.extend_from_slice(b"400\r\n");
        chunked.extend_from_slice(&[b'x'; 1024]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let mut out = BytesMut::with_capacity(64 * 1024);
    h.run("ChunkedDecoder 64 x 1 KiB chunks (per chunk)", 64, || {
        out.clear();
        let mut d = ChunkedDecoder::new(1 << 20);
        d.decode(&chunked, &mut out).expect("valid chunked body")
    });

    let mut key = Vec::with_capacity(64);
    h.run("decode_segment key%3A000000000042", 1, || {
        decode_segment(b"key%3A000000000042", &mut key).map(|()| key.len())
    });

    h.run("client parse_response_head (200, 5 headers)", 1, || {
        parse_response_head(RESPONSE, false, |_, _| {}).map(|h| h.map(|h| h.head_len))
    });

    h.run("parse_head forwarded GET (peer, 3 headers)", 1, || {
        head_len(FORWARD, &limits)
    });
    // The forwarder's reading: every field shown to a callback that picks the few it wants.
    let wanted = [
        "content-type",
        "x-cache-node",
        "x-request-id",
        "etag",
        "cache-control",
    ];
    h.run(
        "parse_response_head forwarded answer (9 fields, 5 picked)",
        1,
        || {
            let mut picked = 0;
            let head = parse_response_head(ANSWER, false, |n, v| {
                if wanted.iter().any(|w| n.eq_ignore_ascii_case(w)) {
                    picked += v.len();
                }
            });
            head.map(|h| h.map(|h| h.head_len + picked))
        },
    );
}
