//! A whole cluster exported, cleared and restored: every key back on each of its replicas with
//! its value, TTL and version, last-writer-wins unless `?overwrite=1`; a truncated or corrupt
//! document is refused whole.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::cluster_common::{
    call, delete, etag, etag_version, get, key_path, local_entries, node_of, put, replicas_of,
    ring_changes, wait_serving, InProc, Rng, IDS, STEADY,
};
use crate::helpers::{
    entries, export, import, per_node, per_replica, strings, total_entries, versions,
};
use serde_json::{json, Value};

const TTL: u64 = 600;

/// The keys and values written: every JSON shape, escapes (a key with a newline and a tab, so
/// the one-entry-per-line format is really tested), non-ASCII, pretty-printed input.
fn dataset() -> Vec<(String, String, Value, bool)> {
    let mut out = Vec::new();
    for i in 0..90 {
        let key = match i {
            0 => "line\nbreak".to_string(),
            1 => "tab\there".to_string(),
            2 => "quote\"and\\slash/".to_string(),
            3 => "ключ-ü-🚀".to_string(),
            _ => format!("bk-{i}"),
        };
        let (body_value, value) = match i % 5 {
            0 => (
                "{ \"a\" : [ 1 , 2.50 , { \"b\" : null } ] ,\n \"s\" : \"x y\" }".to_string(),
                json!({"a": [1, 2.50, {"b": null}], "s": "x y"}),
            ),
            1 => (
                "\"multi\\nline\\r\\nstring \\u00e9\"".to_string(),
                json!("multi\nline\r\nstring é"),
            ),
            2 => (format!("{i}"), json!(i)),
            3 => ("[true,false,null]".to_string(), json!([true, false, null])),
            _ => (
                format!("{{\"i\":{i},\"name\":\"entry {i}\"}}"),
                json!({"i": i, "name": format!("entry {i}")}),
            ),
        };
        let with_ttl = i % 3 == 0;
        let body = if with_ttl {
            format!("{{\"value\": {body_value}, \"ttl\": {TTL}}}")
        } else {
            format!("{{\"value\": {body_value}}}")
        };
        out.push((key, body, value, with_ttl));
    }
    out
}

pub fn a_cluster_export_restores_every_key_on_its_replicas() {
    let c = InProc::start(20, 2, STEADY, "");
    wait_serving(&c.addrs, &[0, 1, 2], Duration::from_secs(10));
    let changes = ring_changes(&c.addrs);
    let data = dataset();
    let mut rng = Rng(20);
    let mut per_owner = [0u64; 3];
    let mut written: BTreeMap<String, String> = BTreeMap::new();
    for (key, body, _, _) in &data {
        let r = put(c.addr(rng.below(3)), key, body);
        assert_eq!(r.status, 201, "PUT {key:?}: {}", r.text());
        per_owner[c.owner(key)] += 1;
        written.insert(key.clone(), etag(&r).trim_matches('"').to_string());
    }
    assert!(per_owner.iter().all(|&n| n > 10), "{per_owner:?}");
    // Copies per node: two of each key, on its preference list.
    let held = per_replica(&c, data.iter().map(|d| &d.0), 2);
    assert_eq!(held.iter().sum::<u64>(), 2 * data.len() as u64);

    // Export via node1: every key of every node, one entry per line.
    let (resp, doc) = export(c.addr(0), "");
    assert_eq!(doc["format"], "distributed-cache-export");
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["node_id"], "node1");
    assert_eq!(doc["count"], json!(data.len()), "count");
    let mut nodes = strings(&doc["nodes"]);
    nodes.sort();
    assert_eq!(nodes, IDS, "nodes");
    assert!(strings(&doc["missing"]).is_empty(), "missing");
    let exported = entries(&doc);
    assert_eq!(exported.len(), data.len(), "one entry per key");
    assert_eq!(
        versions(&doc),
        written,
        "each key at the version its PUT acknowledged"
    );
    for (key, _, value, with_ttl) in &data {
        let (v, ttl) = exported
            .get(key)
            .unwrap_or_else(|| panic!("{key:?} exported"));
        assert_eq!(v, value, "{key:?}");
        match ttl {
            Some(ms) if *with_ttl => assert!(
                (TTL * 1000 - 30_000..=TTL * 1000).contains(ms),
                "{key:?} ttl_ms {ms}"
            ),
            None if !with_ttl => {}
            other => panic!("{key:?}: ttl_ms {other:?}, written with ttl: {with_ttl}"),
        }
    }
    let text = resp.text();
    let lines: Vec<&str> = text.trim_end_matches('\n').split('\n').collect();
    assert_eq!(
        lines.len(),
        data.len() + 2,
        "header, one line per entry, footer"
    );
    for l in &lines[1..lines.len() - 1] {
        assert!(l.starts_with("{\"key\":"), "entry line: {l}");
    }

    // Any node exports the same data.
    for (n, id) in IDS.iter().enumerate().skip(1) {
        let (_, other) = export(c.addr(n), "");
        assert_eq!(other["node_id"], *id);
        assert_eq!(other["count"], json!(data.len()));
        let theirs: BTreeMap<String, Value> = entries(&other)
            .into_iter()
            .map(|(k, (v, _))| (k, v))
            .collect();
        let ours: BTreeMap<String, Value> = exported
            .iter()
            .map(|(k, (v, _))| (k.clone(), v.clone()))
            .collect();
        assert_eq!(theirs, ours, "export via {id}");
        assert_eq!(versions(&other), written, "versions exported via {id}");
    }

    // `curl -d @file` drops every CR and LF: still the same document.
    let stripped: Vec<u8> = resp
        .body
        .iter()
        .copied()
        .filter(|b| *b != b'\r' && *b != b'\n')
        .collect();
    let reparsed: Value = serde_json::from_slice(&stripped).expect("stripped document parses");
    assert_eq!(reparsed, doc, "removing CR/LF changes nothing");

    // Delete everything.
    for (key, _, _, _) in &data {
        let r = delete(c.addr(rng.below(3)), key);
        assert_eq!(r.status, 200, "DELETE {key:?}: {}", r.text());
    }
    assert_eq!(total_entries(&c, &[0, 1, 2]), 0);

    // Truncated or corrupt documents: 400 with a reason, nothing stored anywhere.
    let text = String::from_utf8(stripped.clone()).expect("utf-8");
    let n = data.len();
    let mut bad: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "cut in half",
            stripped[..stripped.len() / 2].to_vec(),
            "invalid export document",
        ),
        (
            "last byte missing",
            stripped[..stripped.len() - 1].to_vec(),
            "invalid export document",
        ),
        (
            "count off by one",
            text.replace(&format!("\"count\":{n}"), &format!("\"count\":{}", n + 1))
                .into_bytes(),
            "count",
        ),
        (
            "entry with a misspelt member",
            text.replacen("\"value\":", "\"valeu\":", 40).into_bytes(),
            "invalid export document",
        ),
        (
            "wrong format",
            text.replace("distributed-cache-export", "some-other-export")
                .into_bytes(),
            "unsupported",
        ),
        (
            "wrong version",
            text.replacen("\"version\":1", "\"version\":2", 1)
                .into_bytes(),
            "unsupported",
        ),
        ("empty body", Vec::new(), "invalid export document"),
    ];
    let mut garbage = stripped.clone();
    let mid = garbage.len() * 2 / 3;
    garbage.splice(mid..mid, b"\x00garbage}".iter().copied());
    bad.push(("garbage in the middle", garbage, "invalid export document"));
    let too_long_key = text.replacen(
        "\"key\":\"bk-10\"",
        &format!("\"key\":\"{}\"", "k".repeat(251)),
        1,
    );
    assert_ne!(too_long_key, text);
    bad.push(("a key too long", too_long_key.into_bytes(), "key"));
    for (name, body, reason) in &bad {
        for at in [1, 0] {
            let r = import(c.addr(at), "", body);
            assert_eq!(r.status, 400, "{name} via {}: {}", IDS[at], r.text());
            let j = r.json();
            assert_eq!(j["status"], 400);
            let msg = j["error"].as_str().unwrap_or("");
            assert!(msg.contains(reason), "{name}: {msg}");
        }
        assert_eq!(total_entries(&c, &[0, 1, 2]), 0, "{name}: nothing imported");
    }

    // Import via node2: every exported version is older than the tombstone its key got since,
    // so the deletes win and nothing comes back (an old backup never undoes later writes).
    let all = [0, 1, 2];
    let r = import(c.addr(1), "", &stripped);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json(),
        json!({"imported": 0, "rejected": 0, "superseded": n, "total": n,
            "nodes": per_node(&all, |i| (0, held[i], 0)), "unknown": [], "failed": {},
            "hinted": 0, "hints_dropped": 0})
    );
    assert_eq!(total_entries(&c, &all), 0, "the deletes won");
    for (i, (key, _, _, _)) in data.iter().enumerate() {
        assert_eq!(get(c.addr(i % 3), key).status, 404, "{key:?} stays deleted");
    }

    // `?overwrite=1` via node2: every entry is a new write, back on each of its replicas.
    let r = import(c.addr(1), "?overwrite=1", &stripped);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json(),
        json!({"imported": n, "rejected": 0, "superseded": 0, "total": n,
            "nodes": per_node(&all, |i| (held[i], 0, 0)), "unknown": [], "failed": {},
            "hinted": 0, "hints_dropped": 0})
    );
    for (i, id) in IDS.iter().enumerate() {
        assert_eq!(local_entries(c.addr(i)), held[i], "entries on {id}");
    }
    for (key, _, value, with_ttl) in &data {
        let owner = c.owner(key);
        let exported_version = u64::from_str_radix(&written[key], 16).expect("hex");
        // On each replica itself (not forwarded any further), at one new version.
        let mut restored = None;
        for n in replicas_of(&c.ring, key, 2) {
            let r = call(
                c.addr(n),
                "GET",
                &key_path(key),
                &[("X-Cache-Forwarded", "test")],
                None,
            );
            assert_eq!(r.status, 200, "{key:?} stored on its replica {}", IDS[n]);
            assert_eq!(&r.json()["value"], value, "{key:?} on {}", IDS[n]);
            let v = etag(&r);
            assert!(etag_version(&v) > exported_version, "{key:?}: a new write");
            assert_eq!(
                restored.get_or_insert(v.clone()),
                &v,
                "{key:?}: one version"
            );
        }
        for a in &c.addrs {
            let r = get(*a, key);
            assert_eq!(r.status, 200, "{key:?}: {}", r.text());
            assert_eq!(node_of(&r), IDS[owner]);
            let j = r.json();
            assert_eq!(&j["value"], value, "{key:?}");
            let original = exported[key].1;
            match (j["ttl"].as_u64(), original) {
                (Some(ttl), Some(ms)) => {
                    assert!(*with_ttl);
                    let want = ms.div_ceil(1000);
                    assert!(
                        ttl <= want && ttl + 5 >= want,
                        "{key:?}: ttl {ttl} s after import, {ms} ms at export"
                    );
                }
                (None, None) => assert!(!with_ttl),
                other => panic!("{key:?}: ttl {other:?}"),
            }
        }
    }

    // Importing the same document again changes nothing (safe to retry: the restored values are
    // newer); with `overwrite=1` it writes everything again (counts stay); `if_absent=1` keeps.
    let r = import(c.addr(2), "", &resp.body);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        (r.json()["imported"].clone(), r.json()["superseded"].clone()),
        (json!(0), json!(n))
    );
    let r = import(c.addr(2), "?overwrite=1", &resp.body);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["imported"], json!(n));
    assert_eq!(r.json()["nodes"], per_node(&all, |i| (held[i], 0, 0)));
    let r = import(c.addr(0), "?if_absent=1", &resp.body);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["imported"], 0);
    assert_eq!(r.json()["rejected"], json!(n));
    assert_eq!(r.json()["nodes"], per_node(&all, |i| (0, 0, held[i])));
    assert_eq!(total_entries(&c, &all), 2 * n as u64);
    assert_eq!(ring_changes(&c.addrs), changes, "no membership change");
}
