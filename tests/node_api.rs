//! The public HTTP API of one node, end to end over raw sockets: the deployment guide's curl
//! sequence, JSON value round-trips, create/replace, TTL, LRU eviction, size limits and the key
//! encoding policy. Admin endpoints and pipelining are in `node_api_admin/`.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{request, Reader, Resp};
use dcache::clock::Clock;

fn get(a: SocketAddr, key_path: &str) -> Resp {
    request(a, "GET", &format!("/api/v1/cache/{key_path}"), None)
}

fn put(a: SocketAddr, key_path: &str, body: &str) -> Resp {
    request(a, "PUT", &format!("/api/v1/cache/{key_path}"), Some(body))
}

/// Every error body has the documented shape `{"error": text, "status": N[, "key": k]}`.
fn assert_error_shape(r: &Resp, status: u16) {
    assert_eq!(r.status, status, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    let j = r.json();
    assert!(j["error"].as_str().is_some_and(|e| !e.is_empty()), "{j}");
    assert_eq!(j["status"], status, "{j}");
}

/// The guide's verification steps (health, PUT, GET, cluster) plus DELETE and the miss after it.
#[test]
fn seed_curl_sequence() {
    let node = common::run_single(2, "");
    let a = node.addr();

    let h = request(a, "GET", "/api/v1/health", None);
    assert_eq!(h.status, 200);
    assert_eq!(h.json()["status"], "healthy");
    assert_eq!(h.json()["node_id"], "t1");

    let p = put(a, "test", r#"{"value":"hello world"}"#);
    assert_eq!(p.status, 201, "{}", p.text());
    assert_eq!(p.text(), r#"{"key":"test","created":true}"#);

    let g = get(a, "test");
    assert_eq!(g.status, 200);
    assert_eq!(g.header("content-type"), Some("application/json"));
    assert_eq!(g.text(), r#"{"key":"test","value":"hello world"}"#);

    let c = request(a, "GET", "/admin/cluster", None);
    assert_eq!(c.status, 200);
    assert_eq!(c.json()["node_id"], "t1");

    let d = request(a, "DELETE", "/api/v1/cache/test", None);
    assert_eq!(d.status, 200);
    assert_eq!(d.text(), r#"{"key":"test","deleted":true}"#);

    let miss = get(a, "test");
    assert_error_shape(&miss, 404);
    assert_eq!(miss.json()["key"], "test");
    assert_error_shape(&request(a, "DELETE", "/api/v1/cache/test", None), 404);
    assert!(node.stop());
}

/// HEAD answers with GET's status and headers (Date aside) and no body, for a hit and a miss,
/// and the connection stays in sync for the request after it.
#[test]
fn head_matches_get_without_body() {
    let node = common::run_single(1, "");
    let a = node.addr();
    assert_eq!(put(a, "h", r#"{"value":[1,2,3]}"#).status, 201);
    for key in ["h", "absent"] {
        let mut r = Reader::connect(a);
        let path = format!("/api/v1/cache/{key}");
        let pipeline = [
            common::build("HEAD", &path, None),
            common::build("GET", &path, None),
            common::build("HEAD", &path, None),
        ]
        .concat();
        r.send(pipeline.as_bytes());
        let head = r.response(true).expect("HEAD response");
        let get = r.response(false).expect("GET response after HEAD");
        let again = r.response(true).expect("second HEAD response");
        let strip = |resp: &Resp| -> Vec<(String, String)> {
            let mut h = resp.headers.clone();
            h.retain(|(n, _)| !n.eq_ignore_ascii_case("date"));
            h
        };
        assert_eq!(head.status, get.status, "{key}");
        assert_eq!(strip(&head), strip(&get), "{key}");
        assert_eq!(strip(&again), strip(&get), "{key}");
        let len: usize = get.header("content-length").unwrap().parse().unwrap();
        assert_eq!(len, get.body.len(), "{key}");
        assert!(
            r.pending().is_empty(),
            "HEAD sent body bytes: {:?}",
            r.pending()
        );
    }
    assert!(node.stop());
}

#[test]
fn wrong_method_is_405_with_allow_and_connection_stays_open() {
    let node = common::run_single(1, "");
    let a = node.addr();
    let cases = [
        ("POST", "/api/v1/cache/k", "GET, HEAD, PUT, DELETE, OPTIONS"),
        (
            "PATCH",
            "/api/v1/cache/k",
            "GET, HEAD, PUT, DELETE, OPTIONS",
        ),
        ("DELETE", "/api/v1/health", "GET, HEAD, OPTIONS"),
        ("PUT", "/admin/metrics", "GET, HEAD, OPTIONS"),
        ("GET", "/admin/import", "POST, OPTIONS"),
    ];
    let mut r = Reader::connect(a);
    for (method, path, allow) in cases {
        r.send(common::build(method, path, None).as_bytes());
        let resp = r.response(false).expect("response");
        assert_error_shape(&resp, 405);
        assert_eq!(resp.header("allow"), Some(allow), "{method} {path}");
        assert!(!resp.closes(), "{method} {path}: 405 must not close");
    }
    r.send(common::build("GET", "/api/v1/health", None).as_bytes());
    assert_eq!(r.response(false).expect("health").status, 200);
    assert!(node.stop());
}

#[test]
fn unknown_paths_are_404_json() {
    let node = common::run_single(1, "");
    let a = node.addr();
    for path in [
        "/nope",
        "/api/v1/cachex",
        "/api/v2/cache/k",
        "/admin",
        "/api/v1/health/x",
    ] {
        let r = request(a, "GET", path, None);
        assert_error_shape(&r, 404);
    }
    assert!(node.stop());
}

/// `GET /` answers an index of the API instead of a 404, so `curl localhost:8001/` shows the way.
#[test]
fn root_lists_the_api() {
    let node = common::run_single(1, "");
    let a = node.addr();
    let r = request(a, "GET", "/", None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    let j = r.json();
    assert_eq!(j["docs"], "docs/api.md", "{j}");
    let routes = j["routes"].as_array().expect("routes array");
    let cache = routes
        .iter()
        .find(|r| r["path"] == "/api/v1/cache/{key}")
        .expect("the cache route is listed");
    assert!(
        cache["methods"].as_array().unwrap().contains(&"PUT".into()),
        "{j}"
    );
    // Every listed route exists and allows the methods listed (OPTIONS answers its Allow).
    for route in routes {
        let path = route["path"]
            .as_str()
            .unwrap()
            .replace("{key}", "k")
            .replace("{node_id}", "n1");
        let r = request(a, "OPTIONS", &path, None);
        assert_eq!(r.status, 204, "{path}");
        let allow = r.header("allow").unwrap_or_default().to_string();
        for m in route["methods"].as_array().unwrap() {
            assert!(
                allow.contains(m.as_str().unwrap()),
                "{path}: {m} not in {allow}"
            );
        }
    }
    assert_eq!(request(a, "PUT", "/", Some("{}")).status, 405);
    assert!(node.stop());
}

#[test]
fn options_lists_allowed_methods() {
    let node = common::run_single(1, "");
    let a = node.addr();
    for (path, allow) in [
        ("/api/v1/cache/k", "GET, HEAD, PUT, DELETE, OPTIONS"),
        ("/api/v1/health", "GET, HEAD, OPTIONS"),
        ("/admin/import", "POST, OPTIONS"),
    ] {
        let r = request(a, "OPTIONS", path, None);
        assert_eq!(r.status, 204, "{path}");
        assert_eq!(r.header("allow"), Some(allow), "{path}");
        assert!(r.body.is_empty());
    }
    assert!(node.stop());
}

/// RFC 9110 §8.6: "A server MUST NOT send a Content-Length header field in any response with a
/// status code of 1xx (Informational) or 204 (No Content)."
#[test]
fn no_content_response_has_no_content_length() {
    let node = common::run_single(1, "");
    let r = request(node.addr(), "OPTIONS", "/api/v1/cache/k", None);
    assert_eq!(r.status, 204);
    assert_eq!(r.header("content-length"), None, "{:?}", r.headers);
    assert!(node.stop());
}

/// Any JSON value is stored and returned as sent (minified outside strings).
#[test]
fn json_values_round_trip() {
    let node = common::run_single(2, "");
    let a = node.addr();
    let cases: &[(&str, &str)] = &[
        (r#"{"a":1,"b":[true,false,null],"c":{"d":"e"}}"#, ""),
        ("[1,2,3]", ""),
        ("[]", ""),
        ("{}", ""),
        ("0", ""),
        ("-12.5e-3", ""),
        ("18446744073709551616123", ""),
        ("true", ""),
        ("null", ""),
        (r#""""#, ""),
        ("\"héllo ☃ 😀 日本語\"", ""),
        (r#""\u00e9\ud83d\ude00""#, ""),
        (r#""a\"b\\c\n\t\r\u0000\/""#, ""),
        (r#""  spaces  inside  ""#, ""),
        ("{ \"spaced\" :\n [ 1 ,\t2 ] }", r#"{"spaced":[1,2]}"#),
    ];
    for (i, (value, minified)) in cases.iter().enumerate() {
        let key = format!("v{i}");
        let p = put(a, &key, &format!("{{\"value\":{value}}}"));
        assert_eq!(p.status, 201, "{value}: {}", p.text());
        let g = get(a, &key);
        assert_eq!(g.status, 200, "{value}");
        let want = if minified.is_empty() { value } else { minified };
        assert_eq!(g.text(), format!("{{\"key\":\"{key}\",\"value\":{want}}}"));
        let sent: serde_json::Value = serde_json::from_str(value).unwrap();
        assert_eq!(g.json()["value"], sent, "{value}");
    }
    assert!(node.stop());
}

#[test]
fn put_replace_is_200_and_create_is_201() {
    let node = common::run_single(2, "");
    let a = node.addr();
    let first = put(a, "r", r#"{"value":"one"}"#);
    assert_eq!(first.status, 201);
    assert_eq!(first.json()["created"], true);
    let second = put(a, "r", r#"{"value":"two"}"#);
    assert_eq!(second.status, 200);
    assert_eq!(second.text(), r#"{"key":"r","created":false}"#);
    assert_eq!(get(a, "r").text(), r#"{"key":"r","value":"two"}"#);
    // After a delete the key is new again.
    assert_eq!(request(a, "DELETE", "/api/v1/cache/r", None).status, 200);
    assert_eq!(put(a, "r", r#"{"value":"three"}"#).status, 201);
    assert!(node.stop());
}

/// TTLs on a manual clock: no sleeping, and exact remaining seconds at every step.
#[test]
fn ttl_expires_and_get_shows_remaining_seconds() {
    let clock = Clock::manual();
    let node = common::run_single_with_clock(1, "", clock.clone());
    let a = node.addr();
    let p = put(a, "short", r#"{"value":"x","ttl":1}"#);
    assert_eq!(p.status, 201);
    assert_eq!(p.text(), r#"{"key":"short","created":true,"ttl":1}"#);
    let g = get(a, "short");
    assert_eq!(g.status, 200);
    assert_eq!(g.text(), r#"{"key":"short","value":"x","ttl":1}"#);

    assert_eq!(put(a, "long", r#"{"value":"y","ttl":100}"#).status, 201);
    assert_eq!(get(a, "long").json()["ttl"], 100);
    assert_eq!(put(a, "forever", r#"{"value":"z","ttl":0}"#).status, 201);
    assert_eq!(get(a, "forever").text(), r#"{"key":"forever","value":"z"}"#);

    // 1 ms before the deadline the entry is still there, its ttl rounded up to 1 s.
    clock.advance(Duration::from_millis(999));
    assert_eq!(
        get(a, "short").text(),
        r#"{"key":"short","value":"x","ttl":1}"#
    );
    clock.advance(Duration::from_millis(1));
    assert_eq!(get(a, "short").status, 404, "ttl 1 entry gone after 1 s");
    assert_eq!(get(a, "long").json()["ttl"], 99);
    assert_eq!(get(a, "forever").status, 200);
    // A TTL beyond ten years is almost certainly milliseconds by mistake.
    let r = put(a, "k", r#"{"value":1,"ttl":315360001}"#);
    assert_error_shape(&r, 400);
    assert!(node.stop());
}

/// cache_size 10 on one core: the 11th key evicts the least recently used, and a key read just
/// before survives.
#[test]
fn lru_eviction_at_cache_size() {
    let yaml =
        common::single(1, "pin_threads: false\n").replace("cache_size: 1000", "cache_size: 10");
    let node = common::start(&yaml);
    let a = node.local_addr();
    for i in 0..10 {
        assert_eq!(
            put(a, &format!("k{i}"), &format!("{{\"value\":{i}}}")).status,
            201
        );
    }
    assert_eq!(get(a, "k0").status, 200, "touch k0 so k1 becomes the LRU");
    assert_eq!(put(a, "k10", r#"{"value":10}"#).status, 201);
    assert_eq!(get(a, "k1").status, 404, "k1 was least recently used");
    assert_eq!(get(a, "k0").status, 200, "recently read key survives");
    for i in 2..=10 {
        assert_eq!(get(a, &format!("k{i}")).status, 200, "k{i}");
    }
    let m = request(a, "GET", "/admin/metrics", None).text();
    assert!(m.contains("\ncache_evictions_total 1\n"), "{m}");
    assert!(m.contains("\ncache_entries 10\n"), "{m}");
    node.shutdown();
    assert!(node.wait(Duration::from_secs(5)));
}

#[test]
fn value_larger_than_max_value_bytes_is_413() {
    let node = common::run_single(1, "max_value_bytes: 100\n");
    let a = node.addr();
    let fits = format!("\"{}\"", "a".repeat(98));
    assert_eq!(put(a, "ok", &format!("{{\"value\":{fits}}}")).status, 201);
    let mut r = Reader::connect(a);
    let too_big = format!("{{\"value\":\"{}\"}}", "a".repeat(99));
    r.send(common::build("PUT", "/api/v1/cache/big", Some(&too_big)).as_bytes());
    let resp = r.response(false).expect("413");
    assert_error_shape(&resp, 413);
    // The body was read whole, so the connection can carry on.
    r.send(common::build("GET", "/api/v1/cache/big", None).as_bytes());
    assert_eq!(r.response(false).expect("next").status, 404);
    // A body far beyond the limit is refused from its Content-Length alone.
    let huge = format!("{{\"value\":\"{}\"}}", "a".repeat(10_000));
    let resp = put(a, "huge", &huge);
    assert_error_shape(&resp, 413);
    assert!(resp.closes());
    assert!(node.stop());
}

#[test]
fn key_longer_than_max_key_bytes_is_414() {
    let node = common::run_single(1, "");
    let a = node.addr();
    let body = r#"{"value":1}"#;
    assert_eq!(put(a, &"k".repeat(250), body).status, 201);
    let r = put(a, &"k".repeat(251), body);
    assert_error_shape(&r, 414);
    assert!(!r.closes());
    // The limit applies to the decoded key: 250 bytes written as 750 characters of escapes.
    assert_eq!(put(a, &"%41".repeat(250), body).status, 201);
    assert_eq!(get(a, &"A".repeat(250)).status, 200);
    assert_error_shape(&put(a, &"%41".repeat(251), body), 414);
    assert!(node.stop());
}

#[test]
fn key_percent_decoding() {
    let node = common::run_single(2, "");
    let a = node.addr();
    let v = r#"{"value":1}"#;
    let p = put(a, "a%2Fb", v);
    assert_eq!(p.status, 201);
    assert_eq!(p.json()["key"], "a/b");
    assert_eq!(
        get(a, "a%2fb").json()["key"],
        "a/b",
        "hex digits are case-insensitive"
    );
    assert_eq!(get(a, "a%2Fb").text(), r#"{"key":"a/b","value":1}"#);
    assert_eq!(put(a, "caf%C3%A9", v).status, 201);
    assert_eq!(get(a, "caf%C3%A9").json()["key"], "café");
    assert_eq!(put(a, "a%20b", v).status, 201);
    assert_eq!(get(a, "a%20b").json()["key"], "a b");
    // `%25zz` is the key "%zz"; the raw `%zz` is malformed and never aliases it.
    assert_eq!(put(a, "%25zz", v).status, 201);
    assert_eq!(get(a, "%25zz").json()["key"], "%zz");
    assert_error_shape(&get(a, "%zz"), 400);
    assert_error_shape(&get(a, ""), 400);
    let not_utf8 = get(a, "%ff");
    assert_error_shape(&not_utf8, 400);
    assert!(not_utf8.json()["error"].as_str().unwrap().contains("UTF-8"));
    let slash = get(a, "a/b");
    assert_error_shape(&slash, 400);
    assert!(
        slash.json()["error"].as_str().unwrap().contains("%2F"),
        "{}",
        slash.text()
    );
    // No dot-segment normalisation: ".." is an ordinary key.
    assert_eq!(get(a, "..").status, 404);
    assert_eq!(put(a, "..", v).status, 201);
    assert_eq!(get(a, "..").json()["key"], "..");
    assert!(node.stop());
}
