//! Batches on one node (two cores, so keys of both cores are in each batch).

use std::os::unix::fs::PermissionsExt;

use serde_json::{json, Value};

use crate::cluster_common::{call, etag, key_path};
use crate::common::run_single;
use crate::{batch, delete, get, post, put};

pub fn one_node_runs_every_op_in_op_order() {
    let node = run_single(2, "");
    let addr = node.addr();
    let ops = vec![
        json!({"op": "put", "key": "a", "value": {"n": [1, 2]}, "ttl": 60}),
        put("b", json!("x")),
        get("a"),
        get("missing"),
        delete("b"),
        get("b"),
        delete("b"),
        put("a", json!(2)),
        get("a"),
        json!({"op": "fetch", "key": "z"}),
        json!({"op": "put", "key": "a/b c", "value": null}),
        get("a/b c"),
    ];
    let r = batch(addr, &ops, &[]);
    let status: Vec<u64> = r
        .iter()
        .map(|x| x["status"].as_u64().expect("status"))
        .collect();
    assert_eq!(
        status,
        [201, 201, 200, 404, 200, 404, 404, 200, 200, 400, 201, 200],
        "{r:?}"
    );
    for (i, res) in r.iter().enumerate() {
        if let Some(key) = ops[i]["key"].as_str() {
            assert_eq!(res["key"], key, "result {i} names its key");
        }
    }
    assert_eq!(r[2]["value"], json!({"n": [1, 2]}));
    let ttl = r[2]["ttl"].as_u64().expect("ttl");
    assert!((1..=60).contains(&ttl), "ttl {ttl}");
    assert_eq!(
        r[2]["etag"], r[0]["etag"],
        "a get names the version the put wrote"
    );
    assert_eq!(r[3]["error"], "key not found");
    // A put without ttl replaces the entry, TTL included (as a single PUT does).
    assert_eq!(r[8]["value"], 2);
    assert!(r[8].get("ttl").is_none(), "{}", r[8]);
    assert_ne!(r[8]["etag"], r[0]["etag"]);
    assert!(r[9]["error"].as_str().unwrap_or("").contains("unknown op"));
    assert_eq!(r[11]["value"], Value::Null);

    // The single calls see what the batch wrote, with the same ETag, and the other way round.
    let single = call(addr, "GET", &key_path("a"), &[], None);
    assert_eq!(single.status, 200);
    assert_eq!(single.json()["value"], 2);
    assert_eq!(etag(&single), r[7]["etag"].as_str().expect("etag"));
    assert_eq!(call(addr, "GET", &key_path("a/b c"), &[], None).status, 200);
    let p = call(
        addr,
        "PUT",
        &key_path("s"),
        &[],
        Some(b"{\"value\":[true]}"),
    );
    assert_eq!(p.status, 201);
    let got = batch(addr, &[get("s")], &[]);
    assert_eq!(got[0]["value"], json!([true]));

    // Many keys over both cores: results stay in op order.
    let n = 200;
    let puts: Vec<Value> = (0..n).map(|i| put(&format!("k{i}"), json!(i))).collect();
    assert!(batch(addr, &puts, &[]).iter().all(|x| x["status"] == 201));
    let gets: Vec<Value> = (0..n).rev().map(|i| get(&format!("k{i}"))).collect();
    for (j, res) in batch(addr, &gets, &[]).iter().enumerate() {
        let i = n - 1 - j;
        assert_eq!(res["key"], format!("k{i}"));
        assert_eq!(res["value"], i, "{res}");
    }
}

pub fn raw_values_go_in_as_base64_and_come_back_as_sent() {
    let node = run_single(1, "");
    let addr = node.addr();
    let bytes: &[u8] = b"\x89PNG\r\n\x1a\n\0\xff\"\\";
    let b64 = "iVBORw0KGgoA/yJc";
    let r = batch(
        addr,
        &[
            json!({"op": "put", "key": "img", "value_base64": b64, "content_type": "image/png", "ttl": 30}),
            get("img"),
            json!({"op": "put", "key": "blob", "value_base64": ""}),
            get("blob"),
        ],
        &[],
    );
    assert_eq!(r[0]["status"], 201, "{r:?}");
    assert_eq!(r[1]["value_base64"], b64);
    assert_eq!(r[1]["content_type"], "image/png");
    assert!(r[1].get("value").is_none());
    assert!(r[1]["ttl"].as_u64().is_some_and(|t| t <= 30));
    assert_eq!(r[3]["value_base64"], "");
    assert_eq!(r[3]["content_type"], "application/octet-stream");
    // A single GET answers the bytes themselves with their type.
    let single = call(addr, "GET", &key_path("img"), &[], None);
    assert_eq!(single.status, 200);
    assert_eq!(single.body, bytes);
    assert_eq!(single.header("content-type"), Some("image/png"));
    assert_eq!(etag(&single), r[1]["etag"].as_str().expect("etag"));
}

pub fn malformed_and_oversized_batches_are_refused_whole() {
    let node = run_single(1, "limits:\n  max_import_bytes: 1MiB\n");
    let addr = node.addr();
    let refused = |body: &[u8], status: u16, says: &str| {
        let r = post(addr, body, &[]);
        assert_eq!(r.status, status, "{}", r.text());
        let msg = r.json()["error"].as_str().unwrap_or("").to_string();
        assert!(msg.contains(says), "{msg:?} should say {says:?}");
    };
    refused(b"not json", 400, "invalid batch document");
    refused(b"{\"op\":[]}", 400, "unknown field \"op\"");
    refused(
        br#"{"ops":[{"op":"get","key":"a"},{"op":"get",]}"#,
        400,
        "op 1:",
    );
    let doc = |n: usize| json!({ "ops": vec![get("k"); n] }).to_string();
    refused(doc(1001).as_bytes(), 413, "at most 1000 ops");
    let full = batch(addr, &vec![get("k"); 1000], &[]);
    assert!(full.iter().all(|r| r["status"] == 404));
    // A body over limits.max_import_bytes is refused before it is read.
    let big = format!(
        "{{\"ops\":[{{\"op\":\"put\",\"key\":\"k\",\"value\":\"{}\"}}]}}",
        "x".repeat(1 << 20)
    );
    assert_eq!(post(addr, big.as_bytes(), &[]).status, 413);
    // Not a batch route method.
    let r = call(addr, "GET", "/api/v1/batch", &[], None);
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("POST, OPTIONS"));
    // A bad op fails alone: the good ones around it run.
    let r = batch(
        addr,
        &[
            put("ok", json!(1)),
            json!({"op": "put", "key": "k", "value": 1, "ttl": -5}),
            json!({"op": "get", "key": ""}),
            get("ok"),
        ],
        &[],
    );
    let status: Vec<&Value> = r.iter().map(|x| &x["status"]).collect();
    assert_eq!(status, [201, 400, 400, 200], "{r:?}");
    assert_eq!(r[1]["key"], "k");
}

pub fn tokens_guard_batches_like_writes() {
    let dir = std::env::temp_dir().join(format!("dcache-api-batch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("token dir");
    let file = |name: &str, token: &str| {
        let p = dir.join(name);
        std::fs::write(&p, format!("{token}\n")).expect("write token");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        p.to_str().expect("utf-8").to_string()
    };
    let yaml = format!(
        "auth:\n  client_token_file: \"{}\"\n  client_read_token_file: \"{}\"\n",
        file("client", "batch-client-token-1234567890"),
        file("read", "batch-read-token-12345678901")
    );
    let node = run_single(1, &yaml);
    let addr = node.addr();
    let body = json!({"ops": [get("a")]}).to_string();
    let none = post(addr, body.as_bytes(), &[]);
    assert_eq!(none.status, 401, "{}", none.text());
    let read = [("Authorization", "Bearer batch-read-token-12345678901")];
    // A batch may write: a read-only token is not enough, even for gets.
    assert_eq!(post(addr, body.as_bytes(), &read).status, 403);
    let client = [("Authorization", "Bearer batch-client-token-1234567890")];
    let r = batch(addr, &[put("a", json!(1)), get("a")], &client);
    assert_eq!(
        (r[0]["status"].as_u64(), r[1]["value"].as_u64()),
        (Some(201), Some(1))
    );
    drop(node);
    let _ = std::fs::remove_dir_all(&dir);
}
