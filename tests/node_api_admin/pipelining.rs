//! Many requests on one connection: keys on both cores over one keep-alive connection, and a
//! pipeline of mixed requests answered in order.

use std::collections::HashMap;

use crate::common::{self, build, request, Reader};
use crate::metrics::metric;

/// 500 distinct keys over ONE keep-alive connection on a 2-core node: roughly half live on the
/// other core, so every request that crosses cores must come back on the right connection.
pub fn cross_core_keys_over_one_keep_alive_connection() {
    let node = common::run_single(2, "");
    let a = node.addr();
    let mut r = Reader::connect(a);
    for i in 0..500 {
        let body = format!("{{\"value\":{{\"i\":{i}}}}}");
        r.send(build("PUT", &format!("/api/v1/cache/key-{i}"), Some(&body)).as_bytes());
        let resp = r.response(false).expect("PUT response");
        assert_eq!(resp.status, 201, "key-{i}: {}", resp.text());
        assert!(!resp.closes());
    }
    for i in 0..500 {
        r.send(build("GET", &format!("/api/v1/cache/key-{i}"), None).as_bytes());
        let resp = r.response(false).expect("GET response");
        assert_eq!(
            resp.text(),
            format!("{{\"key\":\"key-{i}\",\"value\":{{\"i\":{i}}}}}")
        );
    }
    let m = request(a, "GET", "/admin/metrics", None).text();
    assert!(m.contains("cache_core_entries{core=\"0\"}"), "{m}");
    for core in 0..2 {
        let line = m
            .lines()
            .find(|l| l.starts_with(&format!("cache_core_entries{{core=\"{core}\"}}")))
            .expect("per-core gauge");
        let n: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        assert!(n > 100, "core {core} holds only {n} of 500 keys: {line}");
    }
    assert!(metric(&m, "cache_cross_core_calls_total") > 0.0);
    assert!(node.stop());
}

/// What the node must answer for one request of the pipeline (a tiny model of the cache).
fn expect(model: &mut HashMap<String, u32>, op: u32, key: &str, i: u32) -> (u16, String) {
    match op {
        0 => {
            let created = model.insert(key.to_string(), i).is_none();
            let status = if created { 201 } else { 200 };
            (
                status,
                format!("{{\"key\":\"{key}\",\"created\":{created}}}"),
            )
        }
        1 => match model.get(key) {
            Some(v) => (200, format!("{{\"key\":\"{key}\",\"value\":{v}}}")),
            None => (
                404,
                format!("{{\"error\":\"key not found\",\"status\":404,\"key\":\"{key}\"}}"),
            ),
        },
        _ => match model.remove(key) {
            Some(_) => (200, format!("{{\"key\":\"{key}\",\"deleted\":true}}")),
            None => (
                404,
                format!("{{\"error\":\"key not found\",\"status\":404,\"key\":\"{key}\"}}"),
            ),
        },
    }
}

/// 200 mixed PUT/GET/DELETE requests in one write: 200 responses, in order, each with the body the
/// sequential model predicts (more than `max_pipeline` = 128, and keys on both cores).
pub fn pipelined_mixed_requests_answer_in_order() {
    let node = common::run_single(2, "");
    let a = node.addr();
    let mut model = HashMap::new();
    let mut wire = String::new();
    let mut want = Vec::new();
    let mut seed: u32 = 12345;
    for i in 0..200u32 {
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
        let key = format!("p{}", (seed >> 16) % 23);
        let op = (seed >> 8) % 3;
        let path = format!("/api/v1/cache/{key}");
        wire.push_str(&match op {
            0 => build("PUT", &path, Some(&format!("{{\"value\":{i}}}"))),
            1 => build("GET", &path, None),
            _ => build("DELETE", &path, None),
        });
        want.push(expect(&mut model, op, &key, i));
    }
    let mut r = Reader::connect(a);
    r.send(wire.as_bytes());
    for (i, (status, body)) in want.iter().enumerate() {
        let resp = r
            .response(false)
            .unwrap_or_else(|| panic!("response {i} missing"));
        assert_eq!(
            (resp.status, resp.text()),
            (*status, body.clone()),
            "response {i}"
        );
    }
    r.send(build("GET", "/api/v1/health", None).as_bytes());
    assert_eq!(
        r.response(false).expect("in sync after pipeline").status,
        200
    );
    assert!(node.stop());
}

/// Answers ready at once (an unknown route, a health check, a malformed key) wait for the earlier
/// answers of the pipeline that another core is still working on: order is the request order.
pub fn immediate_answers_keep_their_place_in_a_pipeline() {
    let node = common::run_single(2, "");
    let a = node.addr();
    for i in 0..20 {
        let body = format!("{{\"value\":{i}}}");
        let put = request(a, "PUT", &format!("/api/v1/cache/o{i}"), Some(&body));
        assert_eq!(put.status, 201, "{}", put.text());
    }
    let mut wire = String::new();
    let mut want = Vec::new();
    for i in 0..20 {
        wire.push_str(&build("GET", &format!("/api/v1/cache/o{i}"), None));
        want.push((200, format!("o{i}")));
        let (path, status) = match i % 3 {
            0 => ("/nope", 404),
            1 => ("/api/v1/health", 200),
            _ => ("/api/v1/cache/", 400),
        };
        wire.push_str(&build("GET", path, None));
        want.push((status, String::new()));
    }
    let mut r = Reader::connect(a);
    r.send(wire.as_bytes());
    for (i, (status, key)) in want.iter().enumerate() {
        let resp = r
            .response(false)
            .unwrap_or_else(|| panic!("response {i} missing"));
        assert_eq!(resp.status, *status, "response {i}: {}", resp.text());
        if !key.is_empty() {
            assert!(
                resp.text().contains(&format!("\"key\":\"{key}\"")),
                "response {i} is not {key}'s: {}",
                resp.text()
            );
        }
    }
    assert!(node.stop());
}

/// The same head sent again is answered from the connection's kept head (`http::HeadMemo`):
/// its answer must still be the one for that request now. Identical PUT heads with different
/// bodies store each body, a GET head repeated after a DELETE answers 404, a repeated head
/// split over two writes waits for its end, and a head that only starts like the kept one is
/// read as itself.
pub fn repeated_heads_are_answered_as_sent() {
    let node = common::run_single(1, "");
    let a = node.addr();
    let (k, get, del) = (
        "/api/v1/cache/same",
        build("GET", "/api/v1/cache/same", None),
        build("DELETE", "/api/v1/cache/same", None),
    );
    let mut wire = String::new();
    let mut want: Vec<(u16, &str)> = Vec::new();
    for (put, v) in [
        (201, "{\"value\":1}"),
        (200, "{\"value\":2}"),
        (200, "{\"value\":3}"),
    ] {
        // One head for all three PUTs (same length of body), then a GET of what it stored.
        wire.push_str(&build("PUT", k, Some(v)));
        wire.push_str(&get);
        wire.push_str(&get);
        want.extend([(put, ""), (200, &v[9..10]), (200, &v[9..10])]);
    }
    wire.push_str(&del);
    wire.push_str(&get);
    wire.push_str(&get);
    want.extend([(200, ""), (404, ""), (404, "")]);
    let mut r = Reader::connect(a);
    r.send(wire.as_bytes());
    for (i, (status, value)) in want.iter().enumerate() {
        let resp = r
            .response(false)
            .unwrap_or_else(|| panic!("response {i} missing"));
        let text = resp.text();
        assert_eq!(resp.status, *status, "response {i}: {text}");
        if !value.is_empty() {
            assert!(
                text.contains(&format!("\"value\":{value}}}")),
                "response {i}: {text}"
            );
        }
    }
    // The kept GET head again, in two writes: nothing is answered before its end.
    let put = request(a, "PUT", k, Some("{\"value\":4}"));
    assert_eq!(put.status, 201, "{}", put.text());
    let (first, rest) = get.as_bytes().split_at(get.len() - 2);
    r.send(first);
    std::thread::sleep(std::time::Duration::from_millis(50));
    r.send(rest);
    let resp = r.response(false).expect("the split GET's answer");
    assert!(resp.text().contains("\"value\":4"), "{}", resp.text());
    // A head that starts like the kept one but goes on (a header more) is read as itself.
    let longer = format!("GET {k} HTTP/1.1\r\nHost: t\r\nX-Request-Id: longer-head\r\n\r\n");
    r.send(longer.as_bytes());
    let resp = r.response(false).expect("the longer head's answer");
    assert_eq!(resp.header("x-request-id"), Some("longer-head"));
    assert!(node.stop());
}

/// A connection keeps its last head's route with the head: every way a head can arrive (the
/// kept one again, a new one kept in its place, one too long to keep, one read while the memo
/// rests after a run of different heads) is routed as itself.
pub fn repeated_heads_keep_their_route() {
    let node = common::run_single(1, "");
    let a = node.addr();
    let put = request(a, "PUT", "/api/v1/cache/r", Some("{\"value\":7}"));
    assert_eq!(put.status, 201, "{}", put.text());
    #[derive(Clone, Copy)]
    enum Want {
        Value,
        Health,
        Miss(usize),
    }
    let value = build("GET", "/api/v1/cache/r", None);
    let health = build("GET", "/api/v1/health", None);
    // Longer than the memo keeps (256 bytes): parsed, routed, not kept.
    let long_health = format!(
        "GET /api/v1/health HTTP/1.1\r\nHost: t\r\nX-Pad: {}\r\n\r\n",
        "p".repeat(300)
    );
    let mut wire = String::new();
    let mut want = Vec::new();
    let mut add = |w: &mut String, head: &str, what: Want| {
        w.push_str(head);
        want.push(what);
    };
    add(&mut wire, &value, Want::Value);
    add(&mut wire, &value, Want::Value);
    add(&mut wire, &long_health, Want::Health);
    add(&mut wire, &value, Want::Value);
    add(&mut wire, &health, Want::Health);
    add(&mut wire, &health, Want::Health);
    add(&mut wire, &value, Want::Value);
    // Different heads in a row: the memo rests, then looks again, while routes alternate.
    for i in 0..40 {
        let miss = build("GET", &format!("/api/v1/cache/m{i}"), None);
        add(&mut wire, &miss, Want::Miss(i));
        let (head, what) = if i % 3 == 0 {
            (&health, Want::Health)
        } else {
            (&value, Want::Value)
        };
        add(&mut wire, head, what);
        add(&mut wire, head, what);
    }
    let mut r = Reader::connect(a);
    r.send(wire.as_bytes());
    for (i, what) in want.iter().enumerate() {
        let resp = r
            .response(false)
            .unwrap_or_else(|| panic!("response {i} missing"));
        let text = resp.text();
        match what {
            Want::Value => {
                assert_eq!(resp.status, 200, "response {i}: {text}");
                assert_eq!(text, "{\"key\":\"r\",\"value\":7}", "response {i}");
            }
            Want::Health => {
                assert_eq!(resp.status, 200, "response {i}: {text}");
                assert!(text.contains("\"uptime_seconds\""), "response {i}: {text}");
            }
            Want::Miss(m) => {
                assert_eq!(resp.status, 404, "response {i}: {text}");
                assert!(
                    text.contains(&format!("\"key\":\"m{m}\"")),
                    "response {i}: {text}"
                );
            }
        }
    }
    assert!(node.stop());
}
