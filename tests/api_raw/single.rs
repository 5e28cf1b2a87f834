//! Raw values and caching headers on one node.

use std::time::Duration;

use dcache::clock::Clock;

use crate::common::{self, Resp};
use crate::{get, http_date_secs, put_raw, send, unix_now, BINARY};

fn assert_error(r: &Resp, status: u16, needle: &str) {
    assert_eq!(r.status, status, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    let body = r.json();
    assert_eq!(body["status"], status);
    let msg = body["error"].as_str().expect("error text");
    assert!(msg.contains(needle), "{msg:?} should say {needle:?}");
}

pub fn a_binary_value_comes_back_byte_for_byte_with_its_type() {
    let node = common::run_single(2, "");
    let a = node.addr();
    let before = unix_now();
    let p = put_raw(a, "/api/v1/cache/img", "image/png", &[], BINARY);
    assert_eq!(p.status, 201, "{}", p.text());
    assert_eq!(p.text(), r#"{"key":"img","created":true}"#);
    let tag = p.header("etag").expect("ETag on the PUT").to_string();

    let g = get(a, "/api/v1/cache/img");
    assert_eq!(g.status, 200);
    assert_eq!(g.body, BINARY, "exactly the bytes stored");
    assert_eq!(g.header("content-type"), Some("image/png"));
    assert_eq!(g.header("content-length"), Some(&*BINARY.len().to_string()));
    assert_eq!(g.header("etag"), Some(&*tag));
    assert_eq!(g.header("cache-control"), Some("no-cache"));
    assert_eq!(g.header("age"), None, "an origin sends no Age");
    let modified = http_date_secs(g.header("last-modified").expect("Last-Modified"));
    assert!(
        (before..=unix_now()).contains(&modified),
        "Last-Modified {modified} is the write's time ({before}..)"
    );

    let h = send(a, "HEAD", "/api/v1/cache/img", &[], None);
    assert_eq!(h.status, 200);
    assert!(h.body.is_empty());
    assert_eq!(h.header("content-length"), g.header("content-length"));
    assert_eq!(h.header("content-type"), Some("image/png"));
    assert_eq!(h.header("etag"), Some(&*tag));

    // Replaced by another raw value, then by a JSON one: each GET answers in its own form.
    let p = put_raw(
        a,
        "/api/v1/cache/img",
        "application/octet-stream",
        &[],
        b"\0",
    );
    assert_eq!(p.status, 200);
    assert_eq!(p.json()["created"], false);
    let g = get(a, "/api/v1/cache/img");
    assert_eq!(
        (g.body.as_slice(), g.header("content-type")),
        (&b"\0"[..], Some("application/octet-stream"))
    );
    let p = send(
        a,
        "PUT",
        "/api/v1/cache/img",
        &[],
        Some(br#"{"value":[1,"x"]}"#),
    );
    assert_eq!(p.status, 200);
    let g = get(a, "/api/v1/cache/img");
    assert_eq!(g.text(), r#"{"key":"img","value":[1,"x"]}"#);
    assert_eq!(g.header("content-type"), Some("application/json"));
    assert_eq!(g.header("cache-control"), Some("no-cache"));
    assert!(g.header("last-modified").is_some() && g.header("etag").is_some());
    assert!(node.stop());
}

pub fn the_content_type_chooses_the_envelope_or_raw_bytes() {
    let node = common::run_single(1, "");
    let a = node.addr();
    let envelope = br#"{"value":{"a":1},"ttl":0}"#;
    for (i, ct) in [
        None,
        Some("application/json"),
        Some("application/json; charset=utf-8"),
        Some("APPLICATION/JSON"),
        Some("application/x-www-form-urlencoded"),
    ]
    .into_iter()
    .enumerate()
    {
        let path = format!("/api/v1/cache/j{i}");
        let headers: Vec<(&str, &str)> = ct.map(|t| ("Content-Type", t)).into_iter().collect();
        let p = send(a, "PUT", &path, &headers, Some(envelope));
        assert_eq!(p.status, 201, "{ct:?}: {}", p.text());
        let g = get(a, &path);
        assert_eq!(
            g.text(),
            format!(r#"{{"key":"j{i}","value":{{"a":1}}}}"#),
            "{ct:?}"
        );
    }
    // Any other type: the body is the value, even when it looks like the envelope.
    for (i, ct) in [
        "text/plain;charset=UTF-8",
        "text/html; charset=utf-8",
        "application/vnd.api+json",
        "application/protobuf",
    ]
    .into_iter()
    .enumerate()
    {
        let path = format!("/api/v1/cache/r{i}");
        assert_eq!(put_raw(a, &path, ct, &[], envelope).status, 201, "{ct}");
        let g = get(a, &path);
        assert_eq!(g.body, envelope, "{ct}");
        assert_eq!(g.header("content-type"), Some(ct), "the type as sent");
    }
    assert!(node.stop());
}

pub fn bad_content_types_and_ttls_are_refused_with_the_reason() {
    let node = common::run_single(1, "");
    let a = node.addr();
    let path = "/api/v1/cache/k";
    let r = put_raw(a, path, "png", &[], b"x");
    assert_error(&r, 400, "malformed Content-Type \"png\"");
    assert_eq!(r.json()["key"], "k");
    let long = format!("application/{}", "x".repeat(300));
    assert_error(
        &put_raw(a, path, &long, &[], b"x"),
        415,
        "longer than the 255",
    );
    assert_error(
        &put_raw(
            a,
            &format!("{path}?ttl=5"),
            "a/b",
            &[("X-Cache-TTL", "6")],
            b"x",
        ),
        400,
        "disagree",
    );
    assert_error(
        &put_raw(a, &format!("{path}?ttl=soon"), "a/b", &[], b"x"),
        400,
        "invalid ?ttl=",
    );
    assert_error(
        &put_raw(a, path, "a/b", &[("X-Cache-TTL", "-1")], b"x"),
        400,
        "invalid X-Cache-TTL",
    );
    assert_error(
        &put_raw(a, path, "a/b", &[("X-Cache-TTL", "315360001")], b"x"),
        400,
        "ten years",
    );
    // A JSON PUT takes its TTL from the body only: a TTL elsewhere is not silently dropped.
    let json = Some(&br#"{"value":1}"#[..]);
    let r = send(a, "PUT", path, &[("X-Cache-TTL", "5")], json);
    assert_error(&r, 400, "in the body");
    let r = send(a, "PUT", &format!("{path}?ttl=5"), &[], json);
    assert_error(&r, 400, "in the body");
    assert_eq!(get(a, path).status, 404, "nothing was stored");
    assert!(node.stop());
}

pub fn a_raw_ttl_from_the_query_or_header_shows_in_max_age_and_expires() {
    let clock = Clock::manual();
    let node = common::run_single_with_clock(2, "", clock.clone());
    let a = node.addr();
    let p = put_raw(a, "/api/v1/cache/q?ttl=60", "text/plain", &[], b"by query");
    assert_eq!(p.status, 201);
    assert_eq!(p.text(), r#"{"key":"q","created":true,"ttl":60}"#);
    let h = [("X-Cache-TTL", "10")];
    assert_eq!(
        put_raw(a, "/api/v1/cache/h", "text/plain", &h, b"by header").status,
        201
    );
    let both = [("X-Cache-TTL", "30")];
    let p = put_raw(
        a,
        "/api/v1/cache/b?x=1&ttl=30",
        "text/plain",
        &both,
        b"both",
    );
    assert_eq!(p.status, 201, "{}", p.text());
    let zero = [("X-Cache-TTL", "0")];
    assert_eq!(
        put_raw(a, "/api/v1/cache/z", "text/plain", &zero, b"kept").status,
        201
    );

    let max_age = |key: &str| {
        get(a, &format!("/api/v1/cache/{key}"))
            .header("cache-control")
            .map(str::to_string)
    };
    assert_eq!(max_age("q").as_deref(), Some("max-age=60"));
    assert_eq!(max_age("h").as_deref(), Some("max-age=10"));
    assert_eq!(max_age("b").as_deref(), Some("max-age=30"));
    assert_eq!(max_age("z").as_deref(), Some("no-cache"), "0 = no expiry");

    // max-age counts down, rounded down (a cache must not keep it past the expiry here).
    clock.advance(Duration::from_millis(9_500));
    assert_eq!(max_age("h").as_deref(), Some("max-age=0"));
    assert_eq!(max_age("q").as_deref(), Some("max-age=50"));
    clock.advance(Duration::from_millis(500));
    assert_eq!(get(a, "/api/v1/cache/h").status, 404);
    let g = get(a, "/api/v1/cache/b");
    assert_eq!((g.status, g.body.as_slice()), (200, &b"both"[..]));
    clock.advance(Duration::from_secs(3600));
    assert_eq!(get(a, "/api/v1/cache/q").status, 404);
    assert_eq!(get(a, "/api/v1/cache/z").body, b"kept");
    assert!(node.stop());
}

pub fn max_value_bytes_bounds_the_raw_body() {
    let node = common::run_single(1, "max_value_bytes: 4096\n");
    let a = node.addr();
    let at_limit: Vec<u8> = (0..4096u32).map(|i| (i * 7 % 256) as u8).collect();
    let p = put_raw(
        a,
        "/api/v1/cache/big",
        "application/octet-stream",
        &[],
        &at_limit,
    );
    assert_eq!(p.status, 201, "{}", p.text());
    assert_eq!(get(a, "/api/v1/cache/big").body, at_limit);
    let mut over = at_limit.clone();
    over.push(0);
    let r = put_raw(
        a,
        "/api/v1/cache/big",
        "application/octet-stream",
        &[],
        &over,
    );
    assert_error(&r, 413, "max_value_bytes");
    assert_eq!(get(a, "/api/v1/cache/big").body, at_limit, "unchanged");
    assert!(node.stop());
}

pub fn cache_control_without_ttl_follows_the_config() {
    for (setting, sent) in [
        ("no-store", Some("no-store")),
        ("\"private, max-age=60\"", Some("private, max-age=60")),
        ("none", None),
    ] {
        let node = common::run_single(1, &format!("cache_control_no_ttl: {setting}\n"));
        let a = node.addr();
        assert_eq!(put_raw(a, "/api/v1/cache/k", "a/b", &[], b"v").status, 201);
        assert_eq!(
            get(a, "/api/v1/cache/k").header("cache-control"),
            sent,
            "{setting}"
        );
        let ttl = [("X-Cache-TTL", "100")];
        assert_eq!(put_raw(a, "/api/v1/cache/t", "a/b", &ttl, b"v").status, 201);
        let g = get(a, "/api/v1/cache/t");
        let left = g
            .header("cache-control")
            .and_then(|c| c.strip_prefix("max-age="));
        let left: u64 = left
            .and_then(|s| s.parse().ok())
            .expect("max-age with a TTL");
        assert!((90..=100).contains(&left), "{setting}: max-age={left}");
        assert!(node.stop());
    }
}

/// Entries of an export document by key.
fn entries(doc: &serde_json::Value) -> std::collections::BTreeMap<String, serde_json::Value> {
    doc["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| (e["key"].as_str().expect("key").to_string(), e.clone()))
        .collect()
}

pub fn export_then_import_restores_raw_values_on_another_node() {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let from = common::run_single(2, "");
    let a = from.addr();
    assert_eq!(
        put_raw(a, "/api/v1/cache/bin", "image/png", &[], BINARY).status,
        201
    );
    let ttl = [("X-Cache-TTL", "600")];
    let html = "text/html; charset=\"utf-8\"";
    assert_eq!(
        put_raw(a, "/api/v1/cache/page", html, &ttl, b"<p>hi</p>").status,
        201
    );
    assert_eq!(
        put_raw(a, "/api/v1/cache/empty", "text/plain", &[], b"").status,
        201
    );
    let json = Some(&br#"{"value":{"n":1}}"#[..]);
    assert_eq!(send(a, "PUT", "/api/v1/cache/json", &[], json).status, 201);

    let export = get(a, "/admin/export");
    assert_eq!(export.status, 200, "{}", export.text());
    let doc = export.json();
    let e = entries(&doc);
    assert_eq!(e.len(), 4);
    assert_eq!(e["bin"]["value_base64"], b64.encode(BINARY));
    assert_eq!(e["bin"]["content_type"], "image/png");
    assert!(e["bin"].get("value").is_none());
    assert_eq!(e["page"]["content_type"], html);
    assert!(e["page"]["ttl_ms"].as_u64().is_some_and(|t| t > 590_000));
    assert_eq!(e["empty"]["value_base64"], "");
    assert_eq!(e["json"]["value"], serde_json::json!({"n": 1}));
    assert!(e["json"].get("value_base64").is_none());
    // One entry per line, as for JSON values.
    assert_eq!(export.text().matches("\n{\"key\":").count(), 4);

    let to = common::run_single(1, "");
    let b = to.addr();
    let r = send(b, "POST", "/admin/import", &[], Some(&export.body));
    assert_eq!(r.status, 200, "{}", r.text());
    let g = get(b, "/api/v1/cache/bin");
    assert_eq!(
        (g.body.as_slice(), g.header("content-type")),
        (BINARY, Some("image/png"))
    );
    let g = get(b, "/api/v1/cache/page");
    assert_eq!(g.body, b"<p>hi</p>");
    assert_eq!(g.header("content-type"), Some(html));
    let max_age = g
        .header("cache-control")
        .and_then(|c| c.strip_prefix("max-age="));
    assert!(
        max_age
            .and_then(|s| s.parse::<u64>().ok())
            .is_some_and(|s| s > 590),
        "{max_age:?}"
    );
    let g = get(b, "/api/v1/cache/empty");
    assert_eq!((g.status, g.body.len()), (200, 0));
    assert_eq!(
        get(b, "/api/v1/cache/json").text(),
        r#"{"key":"json","value":{"n":1}}"#
    );
    // The versions travelled: both nodes name the same ETag and Last-Modified.
    for key in ["bin", "page", "json"] {
        let (x, y) = (
            get(a, &format!("/api/v1/cache/{key}")),
            get(b, &format!("/api/v1/cache/{key}")),
        );
        assert_eq!(x.header("etag"), y.header("etag"), "{key}");
        assert_eq!(
            x.header("last-modified"),
            y.header("last-modified"),
            "{key}"
        );
    }

    // A hand-made raw entry without a content type is octet-stream; a bad one names the entry.
    let doc = |entry: &str| {
        format!(
            "{{\"format\":\"distributed-cache-export\",\"version\":1,\"entries\":[{entry}],\"count\":1}}"
        )
    };
    let ok = doc(r#"{"key":"hand","value_base64":"AAEC"}"#);
    assert_eq!(
        send(b, "POST", "/admin/import", &[], Some(ok.as_bytes())).status,
        200
    );
    let g = get(b, "/api/v1/cache/hand");
    assert_eq!(g.body, [0, 1, 2]);
    assert_eq!(g.header("content-type"), Some("application/octet-stream"));
    let bad = doc(r#"{"key":"x","value_base64":"%%%","content_type":"a/b"}"#);
    let r = send(b, "POST", "/admin/import", &[], Some(bad.as_bytes()));
    assert_error(
        &r,
        400,
        "entry 0 (key \"x\"): value_base64 is not standard base64",
    );
    assert!(from.stop() && to.stop());
}
