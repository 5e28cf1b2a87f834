//! Requests of every form get the same answer whichever node is asked: errors, raw variants
//! (chunked, `Expect: 100-continue`, HTTP/1.0, ...) and a numeric `X-Request-Id`.

use crate::cluster_common::{
    call, get, key_path, local_entries, node_of, put, Conn, IDS, MAX_VALUE,
};
use crate::common::Resp;
use crate::helpers::{
    assert_error, assert_no_membership_change, assert_same, assert_same_but_version, start,
};
use serde_json::json;

/// Errors are the same whichever node is asked. Those found before the owner is known (bad key,
/// method, oversized body) come from the asked node; those the owner finds (bad value) from the
/// owner, through the forward.
pub fn every_node_answers_errors_identically() {
    let (c, base) = start(2, None);
    let long_key = "k".repeat(251);
    let request_errors: Vec<(&str, String, Option<Vec<u8>>, u16)> = vec![
        ("GET", "/api/v1/cache/".into(), None, 400),
        ("DELETE", "/api/v1/cache/".into(), None, 400),
        ("GET", "/api/v1/cache/a/b".into(), None, 400),
        ("GET", "/api/v1/cache/%FF%FE".into(), None, 400),
        ("GET", format!("/api/v1/cache/{long_key}"), None, 414),
        (
            "POST",
            key_path("err-0"),
            Some(b"{\"value\":1}".to_vec()),
            405,
        ),
        (
            "PATCH",
            key_path("err-1"),
            Some(b"{\"value\":1}".to_vec()),
            405,
        ),
        (
            "PUT",
            key_path("err-2"),
            Some(vec![b'x'; MAX_VALUE + 4096 + 1000]),
            413,
        ),
    ];
    for (method, path, body, status) in &request_errors {
        let answers: Vec<Resp> = c
            .addrs
            .iter()
            .map(|a| call(*a, method, path, &[], body.as_deref()))
            .collect();
        let ctx = format!("{method} {path:.60}");
        assert_same(&answers, &ctx);
        for (n, a) in answers.iter().enumerate() {
            assert_error(a, *status, &ctx);
            assert_eq!(node_of(a), IDS[n], "{ctx}: answered where asked");
        }
        if *status == 405 {
            assert_eq!(
                answers[0].header("allow"),
                Some("GET, HEAD, PUT, DELETE, OPTIONS")
            );
        }
    }

    // One key per owner, so each error crosses every forwarding path.
    let mut per_owner: Vec<String> = Vec::new();
    for n in 0..3 {
        let key = (0..)
            .map(|i| format!("bad-value-{i}"))
            .find(|k| c.owner(k) == n)
            .expect("a key for each node");
        per_owner.push(key);
    }
    let big = format!("{{\"value\":\"{}\"}}", "v".repeat(MAX_VALUE + 10));
    let bodies: Vec<(Option<&[u8]>, u16, &str)> = vec![
        (
            Some(big.as_bytes()),
            413,
            "value larger than max_value_bytes",
        ),
        (Some(b"not json"), 400, "invalid JSON body"),
        (Some(b"{\"value\":1,\"extra\":2}"), 400, "invalid JSON body"),
        (Some(b"{\"ttl\":5}"), 400, "invalid JSON body"),
        (Some(b"{\"value\":1,\"ttl\":999999999999}"), 400, "ttl"),
        (Some(b"{\"value\":1,\"ttl\":-1}"), 400, "invalid JSON body"),
        (None, 411, "PUT needs a JSON body"),
    ];
    for key in &per_owner {
        let owner = c.owner(key);
        for (body, status, text) in &bodies {
            let ctx = format!(
                "PUT {key} {:?}",
                body.map(|b| String::from_utf8_lossy(&b[..b.len().min(40)]).into_owned())
            );
            let answers: Vec<Resp> = c
                .addrs
                .iter()
                .map(|a| call(*a, "PUT", &key_path(key), &[], *body))
                .collect();
            assert_same(&answers, &ctx);
            for a in &answers {
                assert_error(a, *status, &ctx);
                assert!(
                    a.json()["error"].as_str().unwrap_or("").contains(text),
                    "{ctx}: {}",
                    a.text()
                );
                assert_eq!(a.json()["key"], json!(key), "{ctx}");
                assert_eq!(node_of(a), IDS[owner], "{ctx}: the owner decides");
            }
        }
        for a in &c.addrs {
            assert_eq!(get(*a, key).status, 404, "a refused PUT stores nothing");
        }
    }
    for (n, id) in IDS.iter().enumerate() {
        assert_eq!(local_entries(c.addr(n)), 0, "{id} stores nothing");
    }
    assert_no_membership_change(&c, &base);
}

/// Raw request variants (chunked body, `Expect: 100-continue`, HTTP/1.0, `Connection: close`,
/// a numeric `X-Request-Id`, a query string, OPTIONS) get the same answer from the owner and from
/// a node that forwards them.
pub fn request_variants_are_answered_the_same_through_a_forward() {
    let (c, base) = start(8, None);
    let key = (0..)
        .map(|i| format!("variant-{i}"))
        .find(|k| c.owner(k) == 1)
        .expect("a key owned by node2");
    let path = key_path(&key);
    let body = b"{\"value\":{\"via\":\"variant\"},\"ttl\":600}";
    let chunked = {
        let mut v = format!(
            "PUT {path} HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n",
            10
        )
        .into_bytes();
        v.extend_from_slice(&body[..10]);
        v.extend_from_slice(format!("\r\n{:x}\r\n", body.len() - 10).as_bytes());
        v.extend_from_slice(&body[10..]);
        v.extend_from_slice(b"\r\n0\r\n\r\n");
        v
    };
    // (name, request bytes, the key exists before it is sent, expected status, connection closes)
    let variants: Vec<(&str, Vec<u8>, bool, u16, bool)> = vec![
        ("chunked PUT", chunked, false, 201, false),
        (
            "HTTP/1.0 GET",
            format!("GET {path} HTTP/1.0\r\n\r\n").into_bytes(),
            true,
            200,
            true,
        ),
        (
            "HTTP/1.0 keep-alive GET",
            format!("GET {path} HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").into_bytes(),
            true,
            200,
            false,
        ),
        (
            "Connection: close GET",
            format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").into_bytes(),
            true,
            200,
            true,
        ),
        (
            "GET with a query",
            format!("GET {path}?a=1&b=%20 HTTP/1.1\r\nHost: t\r\n\r\n").into_bytes(),
            true,
            200,
            false,
        ),
        (
            "DELETE with a query",
            format!("DELETE {path}?x=y HTTP/1.1\r\nHost: t\r\n\r\n").into_bytes(),
            true,
            200,
            false,
        ),
        (
            "OPTIONS",
            format!("OPTIONS {path} HTTP/1.1\r\nHost: t\r\n\r\n").into_bytes(),
            true,
            204,
            false,
        ),
    ];
    for (name, bytes, exists, status, closes) in &variants {
        let mut answers = Vec::new();
        for a in &c.addrs {
            call(c.addr(1), "DELETE", &path, &[], None);
            if *exists {
                assert_eq!(call(c.addr(1), "PUT", &path, &[], Some(body)).status, 201);
            }
            let mut conn = Conn::open(*a);
            conn.reader.send(bytes);
            let r = conn.reader.response(false).expect("an answer");
            assert_eq!(r.status, *status, "{name} via {a}: {}", r.text());
            if *closes {
                assert!(conn.reader.is_closed(), "{name} via {a}: connection closes");
            } else {
                let h = conn.call("GET", "/api/v1/health", &[], None);
                assert_eq!(h.status, 200, "{name} via {a}: connection stays usable");
            }
            assert_eq!(
                r.header("etag").is_some(),
                matches!(*status, 200 | 201) && !name.contains("DELETE"),
                "{name} via {a}: a value or a write names its version"
            );
            answers.push(r);
        }
        assert_same_but_version(&answers, name);
    }
    // Expect: 100-continue: the interim answer, then the owner's final answer.
    let mut answers = Vec::new();
    for a in &c.addrs {
        call(c.addr(1), "DELETE", &path, &[], None);
        let mut conn = Conn::open(*a);
        conn.reader.send(
            format!(
                "PUT {path} HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        );
        let interim = conn.reader.response(false).expect("100 Continue");
        assert_eq!(interim.status, 100, "via {a}");
        conn.reader.send(body);
        let r = conn.reader.response(false).expect("final answer");
        assert_eq!(r.status, 201, "via {a}: {}", r.text());
        assert_eq!(node_of(&r), "node2");
        answers.push(r);
    }
    assert_same_but_version(&answers, "Expect: 100-continue PUT");
    assert_no_membership_change(&c, &base);
}

/// docs/api.md: "A numeric `X-Request-Id` request header is echoed in the response" — for every
/// response, so also when the node the client asked relays the owner's answer.
pub fn a_numeric_request_id_is_echoed_whichever_node_answers() {
    let (c, base) = start(9, None);
    let key = (0..)
        .map(|i| format!("reqid-{i}"))
        .find(|k| c.owner(k) == 2)
        .expect("a key owned by node3");
    assert_eq!(put(c.addr(2), &key, "{\"value\":7}").status, 201);
    for (n, a) in c.addrs.iter().enumerate() {
        for method in ["GET", "HEAD", "DELETE", "PUT"] {
            let id = format!("{}", 4242 + n);
            let body: Option<&[u8]> = (method == "PUT").then_some(b"{\"value\":7}");
            let r = call(*a, method, &key_path(&key), &[("X-Request-Id", &id)], body);
            assert!(r.status < 300, "{method} via {}: {}", IDS[n], r.text());
            assert_eq!(node_of(&r), "node3");
            assert_eq!(
                r.header("x-request-id"),
                Some(id.as_str()),
                "{method} via {} (owner node3): the client's X-Request-Id is echoed",
                IDS[n]
            );
        }
    }
    assert_no_membership_change(&c, &base);
}
