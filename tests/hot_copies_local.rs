//! Read copies of hot keys on the requesting core (issue 13, `server::hot::local`), end to end
//! on one node with two cores: many connections (the kernel spreads them over both cores) read
//! one hot key while it is written, deleted, expired and flushed. Every read that starts after
//! a write was acknowledged must see that write, on every connection, and the node's metrics
//! must show that copies were served (so the checks cannot pass without copies).
//!
//! The node measures TTLs on a manual clock that only the test moves: `hot_keys.copy_ttl`
//! never runs out on its own, so only the write epochs can retire a copy here.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{build, Reader, Resp};
use dcache::clock::Clock;

/// Connections reading the hot key: with 16, the chance that the kernel puts them all on one
/// of the two cores is 2^-15.
const READERS: usize = 16;

const KEY_PATH: &str = "/api/v1/cache/hot";

fn node(clock: Clock) -> common::Running {
    common::run_single_with_clock(
        2,
        "hot_keys:\n  min_reads_per_sec: 1\n  copy_ttl: 1s\n",
        clock,
    )
}

fn readers(a: SocketAddr) -> Vec<Reader> {
    (0..READERS).map(|_| Reader::connect(a)).collect()
}

fn call(r: &mut Reader, method: &str, path: &str, body: Option<&str>) -> Resp {
    r.send(build(method, path, body).as_bytes());
    r.response(method == "HEAD").expect("a response")
}

/// GET the key twice pipelined on every reader (the second answer may be queued behind the
/// first: the pipelined path of a copy) and return every answer.
fn read_all(rs: &mut [Reader]) -> Vec<Resp> {
    let two = build("GET", KEY_PATH, None).repeat(2);
    let mut out = Vec::with_capacity(rs.len() * 2);
    for r in rs.iter_mut() {
        r.send(two.as_bytes());
        out.push(r.response(false).expect("first answer"));
        out.push(r.response(false).expect("second answer"));
    }
    out
}

/// The value of `cache_hot_copy_reads_total{where="core"}` (and the fills) on the node.
fn copy_counts(a: SocketAddr) -> (u64, u64) {
    let m = common::request(a, "GET", "/admin/metrics", None);
    assert_eq!(m.status, 200);
    let text = m.text();
    let find = |name: &str| -> u64 {
        let prefix = format!("{name}{{where=\"core\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .unwrap_or_else(|| panic!("no {prefix} in the metrics"))
            .trim()
            .parse()
            .expect("a number")
    };
    (
        find("cache_hot_copy_reads_total"),
        find("cache_hot_copy_fills_total"),
    )
}

#[test]
fn every_read_after_an_acknowledged_write_sees_it_on_every_connection() {
    let node = node(Clock::manual());
    let a = node.addr();
    let mut rs = readers(a);
    let mut writer = Reader::connect(a);
    for i in 1..=150u32 {
        let w = call(
            &mut writer,
            "PUT",
            KEY_PATH,
            Some(&format!("{{\"value\":{i}}}")),
        );
        assert!(w.status == 200 || w.status == 201, "{}", w.text());
        for r in read_all(&mut rs) {
            assert_eq!(r.status, 200, "{}", r.text());
            assert_eq!(
                r.json()["value"],
                i,
                "write {i} acknowledged, then read {}",
                r.text()
            );
        }
    }
    let (reads, fills) = copy_counts(a);
    assert!(fills > 0, "no copy was filled");
    assert!(reads > 150, "only {reads} reads were answered from copies");
    assert!(node.stop());
}

#[test]
fn delete_expiry_and_flush_end_every_copy() {
    let clock = Clock::manual();
    let node = node(clock.clone());
    let a = node.addr();
    let mut rs = readers(a);
    let mut w = Reader::connect(a);
    let warm = |rs: &mut [Reader], want: &str| {
        // Twice: the first round fills the copies, the second is answered from them.
        for _ in 0..2 {
            for r in read_all(rs) {
                assert_eq!(r.status, 200, "{}", r.text());
                assert_eq!(r.json()["value"], want);
            }
        }
    };
    let all_missing = |rs: &mut [Reader], after: &str| {
        for r in read_all(rs) {
            assert_eq!(r.status, 404, "after {after}: {}", r.text());
        }
    };

    // DELETE.
    assert_eq!(
        call(&mut w, "PUT", KEY_PATH, Some(r#"{"value":"a"}"#)).status,
        201
    );
    warm(&mut rs, "a");
    let before = copy_counts(a).0;
    assert_eq!(call(&mut w, "DELETE", KEY_PATH, None).status, 200);
    all_missing(&mut rs, "DELETE");

    // The value's TTL: 5 s on the node's clock, copies or not.
    let p = call(&mut w, "PUT", KEY_PATH, Some(r#"{"value":"b","ttl":5}"#));
    assert_eq!(p.status, 201, "{}", p.text());
    warm(&mut rs, "b");
    clock.advance(Duration::from_millis(4_999));
    for r in read_all(&mut rs) {
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["ttl"], 1, "{}", r.text());
    }
    clock.advance(Duration::from_millis(1));
    all_missing(&mut rs, "the TTL ran out");

    // A flush of everything (`DELETE /admin/cache`).
    assert_eq!(
        call(&mut w, "PUT", KEY_PATH, Some(r#"{"value":"c"}"#)).status,
        201
    );
    warm(&mut rs, "c");
    let f = call(&mut w, "DELETE", "/admin/cache", None);
    assert_eq!(f.status, 200, "{}", f.text());
    all_missing(&mut rs, "the flush");
    let after = copy_counts(a).0;
    assert!(
        after > before,
        "no read was answered from a copy ({before} → {after})"
    );
    assert!(node.stop());
}

/// What must be equal whoever answered (the owner core or a copy): everything but `Date`
/// (the clock is manual, so `Cache-Control: max-age` must agree too).
fn comparable(r: &Resp) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut h: Vec<(String, String)> = r
        .headers
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
        .filter(|(n, _)| n != "date")
        .collect();
    h.sort();
    (r.status, h, r.body.clone())
}

#[test]
fn a_copy_answers_exactly_like_the_owner() {
    let node = node(Clock::manual());
    let a = node.addr();
    let mut rs = readers(a);
    let mut w = Reader::connect(a);
    let body = "<h1>hi</h1>";
    let put = format!(
        "PUT {KEY_PATH}?ttl=300 HTTP/1.1\r\nHost: t\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    w.send(put.as_bytes());
    assert_eq!(w.response(false).expect("PUT answer").status, 201);
    let before = copy_counts(a).0;
    let answers: Vec<Resp> = (0..3).flat_map(|_| read_all(&mut rs)).collect();
    let first = comparable(&answers[0]);
    assert_eq!(first.0, 200);
    assert_eq!(answers[0].text(), body);
    assert_eq!(
        answers[0].header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(answers[0].header("etag").is_some() && answers[0].header("last-modified").is_some());
    assert_eq!(answers[0].header("cache-control"), Some("max-age=300"));
    for r in &answers {
        assert_eq!(comparable(r), first);
    }
    let etag = answers[0].header("etag").expect("etag").to_string();
    for r in rs.iter_mut() {
        let head = call(r, "HEAD", KEY_PATH, None);
        assert_eq!(head.status, 200);
        assert!(head.body.is_empty());
        assert_eq!(head.header("etag"), Some(etag.as_str()));
        assert_eq!(head.header("content-length"), Some("11"));
        let cond = format!("GET {KEY_PATH} HTTP/1.1\r\nHost: t\r\nIf-None-Match: {etag}\r\n\r\n");
        r.send(cond.as_bytes());
        let nm = r.response(false).expect("304");
        assert_eq!(nm.status, 304);
        assert_eq!(nm.header("etag"), Some(etag.as_str()));
    }
    let after = copy_counts(a).0;
    assert!(after > before, "no answer came from a copy");
    assert!(node.stop());
}
