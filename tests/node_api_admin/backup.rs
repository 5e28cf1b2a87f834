//! Backup and restore of one node through `/admin/export` and `/admin/import`.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;

use crate::common::{self, request, Resp};

fn export(a: SocketAddr) -> (Resp, serde_json::Value) {
    let resp = request(a, "GET", "/admin/export", None);
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.header("content-type"), Some("application/json"));
    let doc = resp.json();
    (resp, doc)
}

fn entries_by_key(doc: &serde_json::Value) -> BTreeMap<String, serde_json::Value> {
    let entries = doc["entries"].as_array().expect("entries array");
    assert_eq!(doc["count"], entries.len(), "count field");
    entries
        .iter()
        .map(|e| (e["key"].as_str().unwrap().to_string(), e["value"].clone()))
        .collect()
}

fn import(a: SocketAddr, query: &str, body: &[u8]) -> Resp {
    let text = String::from_utf8(body.to_vec()).expect("utf-8 test document");
    request(a, "POST", &format!("/admin/import{query}"), Some(&text))
}

/// Export, delete everything, import the export with CR/LF stripped (as `curl -d @file` sends
/// it): the deletes are newer than the exported versions, so nothing comes back; imported with
/// `?overwrite=1` every key comes back with the same value, and the TTL survives.
pub fn export_clear_import_round_trip() {
    let node = common::run_single(2, "");
    let a = node.addr();
    let mut bodies = BTreeMap::new();
    for i in 0..60 {
        let key = format!("e{i}");
        let value = match i % 4 {
            0 => format!("\"line one\\nline two\\r\\n {i}\""),
            1 => format!("{{ \"n\" : {i},\n \"list\": [1, 2.5, null, \"☃\"] }}"),
            2 => "\"tab\\tquote\\\"back\\\\slash \\u0001\"".to_string(),
            _ => format!("[{i}, true]"),
        };
        assert_eq!(
            request(
                a,
                "PUT",
                &format!("/api/v1/cache/{key}"),
                Some(&format!("{{\"value\":{value}}}"))
            )
            .status,
            201
        );
        bodies.insert(key, value);
    }
    assert_eq!(
        request(
            a,
            "PUT",
            "/api/v1/cache/ttl%2Fkey",
            Some(r#"{"value":"t","ttl":3600}"#)
        )
        .status,
        201
    );
    let before: BTreeMap<String, String> = bodies
        .keys()
        .map(|k| {
            (
                k.clone(),
                request(a, "GET", &format!("/api/v1/cache/{k}"), None).text(),
            )
        })
        .collect();

    let (raw, doc) = export(a);
    assert_eq!(doc["format"], "distributed-cache-export");
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["count"], 61);
    let stripped: Vec<u8> = raw
        .body
        .iter()
        .copied()
        .filter(|b| *b != b'\r' && *b != b'\n')
        .collect();
    let stripped_doc: serde_json::Value =
        serde_json::from_slice(&stripped).expect("still JSON without CR/LF");
    assert_eq!(stripped_doc, doc, "removing CR/LF changed the document");

    for k in bodies
        .keys()
        .chain(std::iter::once(&"ttl%2Fkey".to_string()))
    {
        assert_eq!(
            request(a, "DELETE", &format!("/api/v1/cache/{k}"), None).status,
            200,
            "{k}"
        );
    }
    assert_eq!(export(a).1["count"], 0);

    let resp = import(a, "", &stripped);
    assert_eq!(resp.status, 200, "{}", resp.text());
    let j = resp.json();
    assert_eq!(
        (
            &j["imported"],
            &j["superseded"],
            &j["rejected"],
            &j["total"]
        ),
        (&0.into(), &61.into(), &0.into(), &61.into()),
        "{j}"
    );
    assert_eq!(
        j["nodes"],
        serde_json::json!({"t1": {"applied": 0, "superseded": 61, "rejected": 0}})
    );
    assert_eq!(export(a).1["count"], 0, "the deletes won");
    for k in before.keys() {
        let r = request(a, "GET", &format!("/api/v1/cache/{k}"), None);
        assert_eq!(r.status, 404, "{k} stays deleted");
    }

    let resp = import(a, "?overwrite=1", &stripped);
    assert_eq!(resp.status, 200, "{}", resp.text());
    let j = resp.json();
    assert_eq!(
        (
            &j["imported"],
            &j["superseded"],
            &j["rejected"],
            &j["total"]
        ),
        (&61.into(), &0.into(), &0.into(), &61.into()),
        "{j}"
    );
    for (k, body) in &before {
        assert_eq!(
            &request(a, "GET", &format!("/api/v1/cache/{k}"), None).text(),
            body,
            "{k}"
        );
    }
    let t = request(a, "GET", "/api/v1/cache/ttl%2Fkey", None).json();
    assert_eq!(t["value"], "t");
    assert!(
        (3590..=3600).contains(&t["ttl"].as_u64().expect("ttl kept")),
        "{t}"
    );
    assert_eq!(entries_by_key(&export(a).1), entries_by_key(&doc));
    assert!(node.stop());
}

/// A truncated or corrupt backup is refused whole (400 with a message) and stores nothing.
pub fn corrupt_import_is_400_and_changes_nothing() {
    let node = common::run_single(2, "");
    let a = node.addr();
    for i in 0..20 {
        let r = request(
            a,
            "PUT",
            &format!("/api/v1/cache/c{i}"),
            Some(&format!("{{\"value\":{i}}}")),
        );
        assert_eq!(r.status, 201);
    }
    let (raw, doc) = export(a);
    for i in 0..20 {
        assert_eq!(
            request(a, "DELETE", &format!("/api/v1/cache/c{i}"), None).status,
            200
        );
    }
    let text = raw.text();
    let mut fewer = doc.clone();
    fewer["entries"].as_array_mut().unwrap().pop();
    let mut wrong_format = doc.clone();
    wrong_format["format"] = "something-else".into();
    let mut bad_entry = doc.clone();
    bad_entry["entries"][3]["key"] = "".into();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated half", text.as_bytes()[..text.len() / 2].to_vec()),
        ("truncated tail", text.as_bytes()[..text.len() - 3].to_vec()),
        ("empty body", Vec::new()),
        ("not an object", b"[1,2,3]".to_vec()),
        ("empty object", b"{}".to_vec()),
        ("count mismatch", fewer.to_string().into_bytes()),
        ("wrong format", wrong_format.to_string().into_bytes()),
        ("empty key", bad_entry.to_string().into_bytes()),
        ("garbage", b"\x7fELF not json".to_vec()),
    ];
    for (what, body) in cases {
        let resp = import(a, "", &body);
        assert_eq!(resp.status, 400, "{what}: {}", resp.text());
        let j = resp.json();
        assert!(
            j["error"].as_str().is_some_and(|m| m.len() > 10),
            "{what}: {j}"
        );
        assert_eq!(
            export(a).1["count"],
            0,
            "{what}: a refused import stored entries"
        );
    }
    let keys: HashSet<String> = entries_by_key(&doc).into_keys().collect();
    assert_eq!(keys.len(), 20);
    assert!(node.stop());
}
