//! Bounded imports on one node: one import at a time (the next one gets 503 with `Retry-After`
//! as soon as its head arrives, before its body is read), a peer's sub-import is never held up
//! by it, and imports work again once the slot is free.

use crate::common::{self, request, Reader, Resp};
use crate::metrics::metric;

/// An export document of `n` entries `{prefix}{i}` -> `i` (unversioned: stored as new writes).
fn document(prefix: &str, n: usize) -> String {
    let entries: Vec<String> = (0..n)
        .map(|i| format!("{{\"key\":\"{prefix}{i}\",\"value\":{i}}}"))
        .collect();
    format!(
        "{{\"format\":\"distributed-cache-export\",\"version\":1,\"entries\":[\n{}\n],\"count\":{n}}}",
        entries.join(",\n")
    )
}

fn import_head(query: &str, len: usize, extra: &str) -> String {
    format!(
        "POST /admin/import{query} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n{extra}Content-Length: {len}\r\n\r\n"
    )
}

/// Send the head of an import of `len` bytes with `Expect: 100-continue` and wait for the
/// interim answer: the node has then read the head and holds its import slot for it.
fn start_import(addr: std::net::SocketAddr, len: usize) -> Reader {
    let mut r = Reader::connect(addr);
    r.send(import_head("", len, "Expect: 100-continue\r\n").as_bytes());
    let interim = r.response(false).expect("100 Continue");
    assert_eq!(interim.status, 100, "{}", interim.text());
    r
}

/// Import `doc` on a fresh connection.
fn import(addr: std::net::SocketAddr, query: &str, extra: &str, doc: &str) -> Resp {
    let mut r = Reader::connect(addr);
    r.send(format!("{}{doc}", import_head(query, doc.len(), extra)).as_bytes());
    r.response(false).expect("an answer")
}

/// The refusal of a second import: 503, `Retry-After`, and a message saying why.
fn assert_busy(r: &Resp, what: &str) {
    assert_eq!(r.status, 503, "{what}: {}", r.text());
    let retry: u64 = r
        .header("retry-after")
        .unwrap_or_else(|| panic!("{what}: no Retry-After"))
        .parse()
        .expect("Retry-After in seconds");
    assert!((1..=60).contains(&retry), "{what}: Retry-After {retry}");
    let msg = r.json()["error"].as_str().expect("error").to_string();
    assert!(
        msg.contains("another import is already running on this node"),
        "{what}: {msg}"
    );
}

/// While one import's body is still arriving, a second import is refused with 503 and
/// `Retry-After`, whether its body came with its head or it waits for `100 Continue` (then
/// before sending it); the first import then completes, and a new one succeeds afterwards.
pub fn a_second_import_is_refused_while_one_runs() {
    let node = common::run_single(2, "");
    let a = node.addr();
    let first = document("first-", 300);
    let (part, rest) = first.split_at(first.len() / 2);
    let mut running = start_import(a, first.len());
    running.send(part.as_bytes());

    let refused = import(a, "", "", &document("second-", 5));
    assert_busy(&refused, "body sent with the head");
    assert!(refused.closes(), "the unread body closes the connection");

    let mut waiting = Reader::connect(a);
    waiting.send(import_head("", 1000, "Expect: 100-continue\r\n").as_bytes());
    let r = waiting.response(false).expect("an answer before the body");
    assert_busy(&r, "Expect: 100-continue");
    assert!(r.closes());
    // `?scope=local` from a client needs the slot too.
    assert_busy(
        &import(a, "?scope=local", "", &document("local-", 3)),
        "scope=local from a client",
    );

    running.send(rest.as_bytes());
    let done = running.response(false).expect("the first import's answer");
    assert_eq!(done.status, 200, "{}", done.text());
    assert_eq!(done.json()["imported"], 300);
    assert_eq!(
        request(a, "GET", "/api/v1/cache/second-1", None).status,
        404,
        "the refused import stored nothing"
    );

    let after = import(a, "", "", &document("after-", 5));
    assert_eq!(after.status, 200, "{}", after.text());
    assert_eq!(after.json()["imported"], 5);
    let text = request(a, "GET", "/admin/metrics", None).text();
    assert_eq!(metric(&text, "cache_imports_busy_total"), 3.0);
    assert!(node.stop());
}

/// A peer's local-scope sub-import (what a cluster import running on another node sends) is
/// applied while this node's own import holds the slot: two cluster imports started on two
/// nodes at once would otherwise refuse each other's and both fail.
pub fn a_peers_sub_import_passes_while_an_import_holds_the_slot() {
    let node = common::run_single(2, "");
    let a = node.addr();
    let first = document("own-", 10);
    let mut running = start_import(a, first.len());
    running.send(&first.as_bytes()[..20]);
    assert_busy(
        &import(a, "", "", &document("probe-", 1)),
        "a client's import",
    );

    let sub = import(
        a,
        "?scope=local",
        "X-Cache-Forwarded: t2\r\n",
        &document("sub-", 4),
    );
    assert_eq!(sub.status, 200, "{}", sub.text());
    assert_eq!(sub.json()["imported"], 4);
    assert_eq!(
        request(a, "GET", "/api/v1/cache/sub-3", None).json()["value"],
        3
    );

    running.send(&first.as_bytes()[20..]);
    let done = running.response(false).expect("an answer");
    assert_eq!(done.status, 200, "{}", done.text());
    assert!(node.stop());
}

/// A corrupt document leaves the slot free: the next import runs.
pub fn a_refused_document_frees_the_slot() {
    let node = common::run_single(1, "");
    let a = node.addr();
    let bad = document("bad-", 10).replace("\"count\":10", "\"count\":11");
    let r = import(a, "", "", &bad);
    assert_eq!(r.status, 400, "{}", r.text());
    let ok = import(a, "", "", &document("good-", 10));
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(ok.json()["imported"], 10);
    assert!(node.stop());
}
