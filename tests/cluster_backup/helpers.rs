//! What the backup tests share: export and import calls, and reading export documents and
//! import answers.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use crate::cluster_common::{call, local_entries, replicas_of, InProc, IDS};
use crate::common::Resp;
use serde_json::{json, Value};

pub fn export(addr: SocketAddr, query: &str) -> (Resp, Value) {
    let r = call(addr, "GET", &format!("/admin/export{query}"), &[], None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    let doc = r.json();
    (r, doc)
}

/// key -> (value, ttl_ms) of an export document.
pub fn entries(doc: &Value) -> BTreeMap<String, (Value, Option<u64>)> {
    doc["entries"]
        .as_array()
        .expect("entries array")
        .iter()
        .map(|e| {
            let key = e["key"].as_str().expect("key").to_string();
            (key, (e["value"].clone(), e["ttl_ms"].as_u64()))
        })
        .collect()
}

/// key -> version (the hex digits of its `ETag`) of an export document.
pub fn versions(doc: &Value) -> BTreeMap<String, String> {
    doc["entries"]
        .as_array()
        .expect("entries array")
        .iter()
        .map(|e| {
            let key = e["key"].as_str().expect("key").to_string();
            let v = e["version"]
                .as_str()
                .unwrap_or_else(|| panic!("{key:?}: no version"));
            (key, v.to_string())
        })
        .collect()
}

/// The `nodes` member of an import answer: what each node `i` did, `of(i)` = (applied,
/// superseded, rejected), for the nodes in `nodes`.
pub fn per_node(nodes: &[usize], of: impl Fn(usize) -> (u64, u64, u64)) -> Value {
    let mut m = serde_json::Map::new();
    for &i in nodes {
        let (applied, superseded, rejected) = of(i);
        m.insert(
            IDS[i].to_string(),
            json!({"applied": applied, "superseded": superseded, "rejected": rejected}),
        );
    }
    Value::Object(m)
}

/// Keys of `keys` of which node `i` is a replica (`replicas` copies per key), per node.
pub fn per_replica<'a>(
    c: &InProc,
    keys: impl Iterator<Item = &'a String>,
    replicas: usize,
) -> [u64; 3] {
    let mut out = [0u64; 3];
    for k in keys {
        for n in replicas_of(&c.ring, k, replicas) {
            out[n] += 1;
        }
    }
    out
}

pub fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|s| s.as_str().expect("string").to_string())
        .collect()
}

pub fn import(addr: SocketAddr, query: &str, body: &[u8]) -> Resp {
    call(
        addr,
        "POST",
        &format!("/admin/import{query}"),
        &[],
        Some(body),
    )
}

pub fn total_entries(c: &InProc, live: &[usize]) -> u64 {
    live.iter().map(|&n| local_entries(c.addr(n))).sum()
}
