//! Connection-level rows of the hardening catalogue: pipelining (H52-H54), `Expect` (H55), HEAD
//! sync (H57), slow and idle clients (H59-H62), half-close and EOF (H64, H65), endless
//! lines (H41, H45), the connection limit (H49), and random bytes that must never crash the node.

mod common;

use std::io::Write;
use std::net::{Shutdown, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{build, Reader};

fn health() -> String {
    build("GET", "/api/v1/health", None)
}

/// H53: 100 PUT/GET/DELETE requests in one write get 100 responses, in order.
#[test]
fn h53_hundred_pipelined_requests_in_one_write() {
    let node = common::run_single(2, "");
    let mut wire = String::new();
    let mut want = Vec::new();
    for i in 0..100 {
        let path = format!("/api/v1/cache/pipe{}", i / 3);
        let v = format!("{{\"value\":{}}}", i / 3);
        match i % 3 {
            0 => wire.push_str(&build("PUT", &path, Some(&v))),
            1 => wire.push_str(&build("GET", &path, None)),
            _ => wire.push_str(&build("DELETE", &path, None)),
        }
        want.push(match i % 3 {
            0 => (
                201,
                format!("{{\"key\":\"pipe{}\",\"created\":true}}", i / 3),
            ),
            1 => (
                200,
                format!("{{\"key\":\"pipe{}\",\"value\":{}}}", i / 3, i / 3),
            ),
            _ => (
                200,
                format!("{{\"key\":\"pipe{}\",\"deleted\":true}}", i / 3),
            ),
        });
    }
    let mut r = Reader::connect(node.addr());
    r.send(wire.as_bytes());
    for (i, w) in want.iter().enumerate() {
        let resp = r
            .response(false)
            .unwrap_or_else(|| panic!("response {i} lost"));
        assert_eq!((resp.status, resp.text()), w.clone(), "response {i}");
    }
    assert!(node.stop());
}

/// H54: valid, invalid, valid in one write: 200, then 400 with close, then nothing at all.
#[test]
fn h54_valid_then_invalid_then_valid() {
    let node = common::run_single(1, "");
    let a = node.addr();
    let smuggled =
        "PUT /api/v1/cache/smuggled HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\n{\"value\":1}";
    let invalid = "GET /api/v1/health HTTP/1.1\r\nHost: t\r\nContent-Length: +3\r\n\r\nabc";
    let mut r = Reader::connect(a);
    r.send(format!("{}{invalid}{smuggled}{}", health(), health()).as_bytes());
    assert_eq!(r.response(false).expect("first").status, 200);
    let bad = r.response(false).expect("400");
    assert_eq!(bad.status, 400);
    assert!(bad.closes());
    let (rest, eof) = r.drain(1 << 20);
    assert!(eof, "server did not close");
    assert!(
        rest.is_empty(),
        "bytes after the 400: {:?}",
        String::from_utf8_lossy(&rest)
    );
    assert_eq!(
        common::request(a, "GET", "/api/v1/cache/smuggled", None).status,
        404
    );
    assert!(node.stop());
}

/// H52: after `Connection: close` later pipelined requests are not processed.
#[test]
fn h52_connection_close_stops_the_pipeline() {
    let node = common::run_single(2, "");
    let a = node.addr();
    let close = "GET /api/v1/health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    let after = build("PUT", "/api/v1/cache/after-close", Some(r#"{"value":1}"#));
    let mut r = Reader::connect(a);
    r.send(format!("{close}{after}{}", health()).as_bytes());
    let resp = r.response(false).expect("response");
    assert_eq!(resp.status, 200);
    assert!(resp.closes());
    let (rest, eof) = r.drain(1 << 20);
    assert!(
        eof && rest.is_empty(),
        "eof {eof}, extra {:?}",
        String::from_utf8_lossy(&rest)
    );
    assert_eq!(
        common::request(a, "GET", "/api/v1/cache/after-close", None).status,
        404
    );
    assert!(node.stop());
}

/// H55: `Expect: 100-continue`: interim 100, then the final answer; a client that sends the body
/// straight away also works; a request that cannot succeed gets its final status instead of 100.
#[test]
fn h55_expect_100_continue() {
    let node = common::run_single(2, "");
    let a = node.addr();
    let head = "PUT /api/v1/cache/exp HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 11\r\n\r\n";
    let mut r = Reader::connect(a);
    r.send(head.as_bytes());
    assert_eq!(r.response(false).expect("interim").status, 100);
    r.send(br#"{"value":1}"#);
    assert_eq!(r.response(false).expect("final").status, 201);
    r.send(health().as_bytes());
    assert_eq!(r.response(false).expect("in sync").status, 200);

    let mut r = Reader::connect(a);
    r.send(format!("{}{{\"value\":2}}", head.replace("exp", "exp2")).as_bytes());
    let mut resp = r.response(false).expect("response");
    if resp.status == 100 {
        resp = r.response(false).expect("final after 100");
    }
    assert_eq!(resp.status, 201);

    let refused = [
        ("PUT /api/v1/cache/big", "Content-Length: 2000000", 413),
        ("POST /api/v1/cache/k", "Content-Length: 11", 405),
        ("PUT /nowhere", "Content-Length: 11", 404),
    ];
    for (line, cl, status) in refused {
        let mut r = Reader::connect(a);
        r.send(
            format!("{line} HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n{cl}\r\n\r\n")
                .as_bytes(),
        );
        let resp = r.response(false).expect("final status");
        assert_eq!(
            resp.status, status,
            "{line}: got {} instead of the final status",
            resp.status
        );
        assert!(
            resp.closes(),
            "{line}: the unsent body makes the connection unusable"
        );
    }
    assert!(node.stop());
}

/// H57: HEAD has GET's Content-Length but no body; the next response parses correctly.
#[test]
fn h57_head_keeps_connection_in_sync() {
    let node = common::run_single(1, "");
    let mut r = Reader::connect(node.addr());
    r.send(format!("{}{}", build("HEAD", "/api/v1/health", None), health()).as_bytes());
    let head = r.response(true).expect("HEAD");
    let get = r.response(false).expect("GET");
    assert_eq!((head.status, get.status), (200, 200));
    assert_eq!(
        head.header("content-length").unwrap(),
        get.body.len().to_string()
    );
    assert!(
        get.text().starts_with("{\"status\":\"healthy\""),
        "{}",
        get.text()
    );
    assert!(node.stop());
}

/// The latest a 300 ms `timeouts.*` value of the H59-H62 tests may be seen to fire: 10x the
/// timeout, more than 5x what firing it needs on a loaded 2-core machine. The lower bounds (the
/// timer must not fire early) are the timeout minus timer slack.
const FIRED_BY: Duration = Duration::from_millis(300 * 10);

/// Write `bytes` one at a time every `every` from another thread until told to stop.
fn trickle(stream: &std::net::TcpStream, bytes: &'static [u8], every: Duration) -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let mut s = stream.try_clone().expect("clone");
    let flag = Arc::clone(&stop);
    std::thread::spawn(move || {
        for b in bytes.iter().cycle() {
            if flag.load(Ordering::Relaxed) || s.write_all(&[*b]).is_err() {
                return;
            }
            std::thread::sleep(every);
        }
    });
    stop
}

/// H59: a head trickled byte by byte (never idle long) still gets 408 at the absolute deadline.
#[test]
fn h59_slowloris_head_gets_408_and_close() {
    let node = common::run_single(1, "timeouts: {header: \"300ms\"}\n");
    let mut r = Reader::connect(node.addr());
    let t0 = Instant::now();
    r.send(b"GET /api/v1/health HTTP/1.1\r\n");
    let stop = trickle(
        &r.stream,
        b"X-Slow: aaaaaaaaaaaaaaaaaaaa\r\n",
        Duration::from_millis(50),
    );
    let resp = r.response(false).expect("408");
    let took = t0.elapsed();
    stop.store(true, Ordering::Relaxed);
    assert_eq!(resp.status, 408, "{}", resp.text());
    assert!(resp.closes());
    assert!(
        took >= Duration::from_millis(280) && took < FIRED_BY,
        "408 after {took:?}"
    );
    assert!(r.drain(1 << 20).1, "no EOF after 408");
    assert!(common::healthy(node.addr()));
    assert!(node.stop());
}

/// H60: a body that arrives too slowly gets 408 and close.
#[test]
fn h60_slow_body_gets_408() {
    let node = common::run_single(1, "timeouts: {body: \"300ms\"}\n");
    let mut r = Reader::connect(node.addr());
    let t0 = Instant::now();
    r.send(
        b"PUT /api/v1/cache/slow HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n{\"value\":\"",
    );
    let stop = trickle(&r.stream, b"a", Duration::from_millis(50));
    let resp = r.response(false).expect("408");
    stop.store(true, Ordering::Relaxed);
    assert_eq!(resp.status, 408, "{}", resp.text());
    assert!(resp.closes());
    assert!(t0.elapsed() < FIRED_BY, "408 after {:?}", t0.elapsed());
    assert_eq!(
        common::request(node.addr(), "GET", "/api/v1/cache/slow", None).status,
        404
    );
    assert!(node.stop());
}

/// H61: a client that never reads its answers is dropped once a write does not finish within
/// `timeouts.write`: it gets what the socket buffers held, then the end of the connection, not
/// everything it asked for (a node without the write timeout would keep writing as it reads).
#[test]
fn h61_a_client_that_never_reads_is_dropped_after_the_write_timeout() {
    let node = common::run_single(1, "timeouts: {write: \"300ms\"}\n");
    let a = node.addr();
    let value = "x".repeat(256 * 1024);
    let body = format!("{{\"value\":\"{value}\"}}");
    let put = common::request(a, "PUT", "/api/v1/cache/big", Some(&body));
    assert_eq!(put.status, 201, "{}", put.text());
    // 128 answers of 256 KiB: 32 MiB, far more than loopback socket buffers take.
    let asked = 128;
    let mut r = Reader::connect(a);
    r.send(&b"GET /api/v1/cache/big HTTP/1.1\r\nHost: t\r\n\r\n".repeat(asked));
    // Not reading for 10x the timeout: the node's write stalls and must give up.
    std::thread::sleep(FIRED_BY);
    let all = asked * value.len();
    let (got, ended) = r.drain(all);
    assert!(
        ended && got.len() < all,
        "after {FIRED_BY:?} without reading: {} of {all} bytes, connection ended: {ended}",
        got.len()
    );
    assert!(common::healthy(a));
    assert!(node.stop());
}

/// H62: an idle keep-alive connection is closed after `timeouts.idle` (and counted); a busy one
/// whose requests are closer together than that is never closed.
#[test]
fn h62_idle_connection_is_closed_active_one_is_not() {
    let node = common::run_single(1, "timeouts: {idle: \"300ms\"}\n");
    let a = node.addr();
    let mut r = Reader::connect(a);
    let mut last_answer = Instant::now();
    for i in 0..10 {
        if i > 0 {
            std::thread::sleep(Duration::from_millis(100));
        }
        r.send(health().as_bytes());
        let resp = r.response(false).expect("active connection served");
        assert_eq!(resp.status, 200);
        last_answer = Instant::now();
    }
    let (rest, eof) = r.drain(1024);
    assert!(eof && rest.is_empty(), "idle connection not closed");
    let idle = last_answer.elapsed();
    assert!(
        idle >= Duration::from_millis(280) && idle < FIRED_BY,
        "closed after {idle:?} idle"
    );
    let m = common::request(a, "GET", "/admin/metrics", None).text();
    assert!(
        !m.contains("\ncache_connections_idle_closed_total 0\n"),
        "idle close not counted"
    );
    assert!(node.stop());
}

/// H64: a full request followed by shutdown(SHUT_WR) is still answered, then the server closes.
#[test]
fn h64_half_close_after_full_requests() {
    let node = common::run_single(2, "");
    let mut r = Reader::connect(node.addr());
    let put = build("PUT", "/api/v1/cache/half", Some(r#"{"value":1}"#));
    r.send(format!("{put}{}", build("GET", "/api/v1/cache/half", None)).as_bytes());
    r.stream.shutdown(Shutdown::Write).expect("half-close");
    assert_eq!(r.response(false).expect("PUT answered").status, 201);
    let got = r.response(false).expect("GET answered");
    assert_eq!(got.text(), r#"{"key":"half","value":1}"#);
    let (rest, eof) = r.drain(1024);
    assert!(eof && rest.is_empty());
    assert!(node.stop());
}

/// H65: a partial request then EOF gets no response and harms nothing.
#[test]
fn h65_partial_request_then_eof_gets_no_response() {
    let node = common::run_single(1, "");
    let a = node.addr();
    let partials: [&[u8]; 5] = [
        b"G",
        b"GET /api/v1/health HTTP/1.1\r\nHost:",
        b"GET /api/v1/health HTTP/1.1\r\nHost: t\r\n",
        b"PUT /api/v1/cache/p HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\n{\"va",
        b"PUT /api/v1/cache/p HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nb\r\n{\"value\":1}\r\n",
    ];
    for p in partials {
        let mut r = Reader::connect(a);
        r.set_timeout(Duration::from_secs(3));
        r.send(p);
        r.stream.shutdown(Shutdown::Write).expect("half-close");
        let (got, eof) = r.drain(1 << 16);
        assert!(
            eof,
            "{:?}: server kept the connection open after EOF",
            String::from_utf8_lossy(p)
        );
        assert!(
            got.is_empty(),
            "{:?}: got {:?}",
            String::from_utf8_lossy(p),
            String::from_utf8_lossy(&got)
        );
    }
    assert!(common::healthy(a));
    assert_eq!(
        common::request(a, "GET", "/api/v1/cache/p", None).status,
        404
    );
    assert!(node.stop());
}

/// Stream `prefix` then `filler` forever from another thread; returns bytes written before the
/// server stopped taking them.
fn endless(a: SocketAddr, prefix: &'static [u8], filler: u8, cap: usize) -> (common::Resp, usize) {
    let mut r = Reader::connect(a);
    let mut w = r.stream.try_clone().expect("clone");
    // A server that stops reading without closing must not hang the test.
    w.set_write_timeout(Some(Duration::from_secs(5)))
        .expect("write timeout");
    let written = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&written);
    let writer = std::thread::spawn(move || {
        if w.write_all(prefix).is_err() {
            return;
        }
        let block = vec![filler; 16 * 1024];
        while count.load(Ordering::Relaxed) < cap && w.write_all(&block).is_ok() {
            count.fetch_add(block.len(), Ordering::Relaxed);
        }
    });
    let resp = r.response(false).expect("an answer before the line ends");
    let (_, eof) = r.drain(usize::MAX);
    assert!(eof, "no EOF after the error");
    writer.join().expect("writer");
    (resp, written.load(Ordering::Relaxed))
}

/// H41/H45: a request line or header line that never ends is cut off (414/431 + close) after a
/// bounded amount of input, not buffered without limit.
#[test]
fn h41_h45_endless_lines_are_cut_off() {
    let node = common::run_single(1, "");
    let cap = 64 << 20;
    let (resp, written) = endless(node.addr(), b"GET /api/v1/cache/", b'a', cap);
    assert_eq!(resp.status, 414);
    assert!(resp.closes());
    assert!(
        written < cap,
        "server kept reading an endless request line ({written} bytes)"
    );
    let (resp, written) = endless(
        node.addr(),
        b"GET /api/v1/health HTTP/1.1\r\nX-Endless: ",
        b'b',
        cap,
    );
    assert_eq!(resp.status, 431);
    assert!(resp.closes());
    assert!(
        written < cap,
        "server kept reading an endless header line ({written} bytes)"
    );
    assert!(common::healthy(node.addr()));
    assert!(node.stop());
}

/// H49: beyond `limits.max_connections` new connections get 503 + close; existing ones work.
#[test]
fn h49_connection_limit() {
    let node = common::run_single(1, "limits: {max_connections: 2}\n");
    let a = node.addr();
    let mut c1 = Reader::connect(a);
    let mut c2 = Reader::connect(a);
    for c in [&mut c1, &mut c2] {
        c.send(health().as_bytes());
        assert_eq!(c.response(false).expect("within the limit").status, 200);
    }
    let mut c3 = Reader::connect(a);
    let refused = c3.response(false).expect("503 for the third connection");
    assert_eq!(refused.status, 503);
    assert!(refused.closes());
    c1.send(health().as_bytes());
    assert_eq!(
        c1.response(false)
            .expect("existing connection still served")
            .status,
        200
    );
    drop(c2);
    assert!(
        common::eventually(Duration::from_secs(2), || common::healthy(a)),
        "slot never freed"
    );
    assert!(node.stop());
}

/// Fuzz-style: a few hundred random or mangled requests (fixed seed) never crash the node, never
/// get a 500, and every answer starts with a status line.
#[test]
fn random_bytes_never_crash_the_node() {
    let node = common::run_single(2, "max_value_bytes: 4096\n");
    let a = node.addr();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let templates: [&[u8]; 4] = [
        b"PUT /api/v1/cache/fz HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\n{\"value\":1}",
        b"PUT /api/v1/cache/fz HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nb\r\n{\"value\":1}\r\n0\r\n\r\n",
        b"GET /api/v1/cache/f%41z?x=1 HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n\r\n",
        b"POST /admin/import HTTP/1.1\r\nHost: t\r\nContent-Length: 20\r\n\r\n{\"format\":\"x\",\"en\":",
    ];
    for case in 0..300 {
        let input: Vec<u8> = match case % 3 {
            0 => (0..next() % 600).map(|_| next() as u8).collect(),
            _ => {
                let mut t = templates[(next() % 4) as usize].to_vec();
                for _ in 0..1 + next() % 4 {
                    let i = (next() as usize) % t.len();
                    match next() % 3 {
                        0 => t[i] = next() as u8,
                        1 => {
                            let specials = b"\r\n: %\x00\xff0;";
                            t.insert(i, specials[(next() as usize) % specials.len()]);
                        }
                        _ => t.truncate(i.max(1)),
                    }
                }
                t
            }
        };
        let mut r = Reader::connect(a);
        r.set_timeout(Duration::from_secs(5));
        let _ = r.stream.write_all(&input);
        let _ = r.stream.shutdown(Shutdown::Write);
        let (got, _) = r.drain(1 << 20);
        let text = String::from_utf8_lossy(&got);
        assert!(
            got.is_empty() || text.starts_with("HTTP/1.1 "),
            "case {case}: {text:?} for {input:?}"
        );
        assert!(
            !text.contains("HTTP/1.1 500"),
            "case {case}: internal error for {input:?}"
        );
    }
    assert!(
        common::healthy(a),
        "node stopped answering after random input"
    );
    assert!(node.stop());
}
