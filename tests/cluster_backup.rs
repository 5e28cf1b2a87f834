//! Backup and restore of a whole cluster: `/admin/export` on any node streams every key once
//! (however many replicas hold it) as one document (which survives `curl -d @file` stripping
//! CR/LF), with the version of each value; `/admin/import` on any node puts each key back on each
//! of its replicas with its value, TTL and version, last-writer-wins (an old backup does not undo
//! later writes or deletes; `?overwrite=1` restores it anyway, as new writes); a truncated or
//! corrupt document is refused whole; and an export taken while a node is down names it under
//! `missing` when no live replica has its keys (single copy), and misses nothing with two copies.

#[path = "common/cluster.rs"]
mod cluster_common;
mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use cluster_common::{
    call, coordinator_without, delete, etag, etag_version, get, key_path, local_entries, node_of,
    owner_without, put, replicas_of, replicas_yaml, ring_changes, state_seen, wait_serving, InProc,
    Probing, Rng, IDS, STEADY,
};
use common::{eventually, Resp};
use serde_json::{json, Value};

/// Probing for the test that stops a node: it must be seen down within a second.
const QUICK: Probing = Probing {
    interval_ms: 100,
    timeout_ms: 100,
    fail_after: 3,
    recover_after: 1,
    connect_ms: 200,
    request_ms: 2000,
};

const TTL: u64 = 600;

fn export(addr: SocketAddr, query: &str) -> (Resp, Value) {
    let r = call(addr, "GET", &format!("/admin/export{query}"), &[], None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    let doc = r.json();
    (r, doc)
}

/// key -> (value, ttl_ms) of an export document.
fn entries(doc: &Value) -> BTreeMap<String, (Value, Option<u64>)> {
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
fn versions(doc: &Value) -> BTreeMap<String, String> {
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
fn per_node(nodes: &[usize], of: impl Fn(usize) -> (u64, u64, u64)) -> Value {
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
fn per_replica<'a>(
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

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|s| s.as_str().expect("string").to_string())
        .collect()
}

fn import(addr: SocketAddr, query: &str, body: &[u8]) -> Resp {
    call(
        addr,
        "POST",
        &format!("/admin/import{query}"),
        &[],
        Some(body),
    )
}

fn total_entries(c: &InProc, live: &[usize]) -> u64 {
    live.iter().map(|&n| local_entries(c.addr(n))).sum()
}

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

#[test]
fn a_cluster_export_restores_every_key_on_its_replicas() {
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

/// Cluster `test_no` with `replicas` copies per key: 60 keys written (value `i` for `miss-{i}`),
/// exported, then node3 stopped and seen down by the others. Returns the cluster, the keys and
/// the full export taken before the stop.
fn with_node3_down(test_no: u8, replicas: usize) -> (InProc, Vec<String>, Resp) {
    let mut c = InProc::start(test_no, 2, QUICK, &replicas_yaml(replicas));
    wait_serving(&c.addrs, &[0, 1, 2], Duration::from_secs(10));
    let keys: Vec<String> = (0..60).map(|i| format!("miss-{i}")).collect();
    for (i, key) in keys.iter().enumerate() {
        let r = put(c.addr(i % 3), key, &format!("{{\"value\":{i}}}"));
        assert_eq!(r.status, 201, "{}", r.text());
    }
    let (full, doc) = export(c.addr(1), "");
    assert_eq!(doc["count"], json!(keys.len()));
    assert!(strings(&doc["missing"]).is_empty());

    c.stop(2);
    let seen = eventually(Duration::from_secs(5), || {
        state_seen(c.addr(0), 2) == "down" && state_seen(c.addr(1), 2) == "down"
    });
    assert!(seen, "node3 seen down");
    (c, keys, full)
}

/// Single copy (`replicas: 1`): a down node's keys are nowhere else, so an export names it.
#[test]
fn an_export_with_a_node_down_lists_it_as_missing() {
    let (c, keys, _) = with_node3_down(21, 1);
    let down = 2;
    let kept: Vec<&String> = keys.iter().filter(|k| c.owner(k) != down).collect();
    assert!(kept.len() < keys.len(), "node3 owned some keys");
    for at in [0, 1] {
        let (_, doc) = export(c.addr(at), "");
        assert_eq!(strings(&doc["missing"]), ["node3"], "via {}", IDS[at]);
        let mut nodes = strings(&doc["nodes"]);
        nodes.sort();
        assert_eq!(nodes, ["node1", "node2"]);
        assert_eq!(doc["count"], json!(kept.len()));
        let got: Vec<String> = entries(&doc).into_keys().collect();
        let mut want: Vec<String> = kept.iter().map(|k| k.to_string()).collect();
        want.sort();
        assert_eq!(got, want, "export via {}", IDS[at]);
    }
    // Local scope: one node only, nobody missing.
    let (_, local) = export(c.addr(0), "?scope=local");
    assert_eq!(strings(&local["nodes"]), ["node1"]);
    assert!(strings(&local["missing"]).is_empty());
    let mine = keys.iter().filter(|k| c.owner(k) == 0).count();
    assert_eq!(local["count"], json!(mine));
}

/// Two copies (the default): with node3 down every key still has a live replica, so an export
/// via either survivor has every key, at the version it had, and misses nobody; restoring the
/// backup then reaches every key's live replicas and keeps node3's copies as hints.
#[test]
fn with_two_copies_an_export_with_a_node_down_misses_nothing() {
    let (c, keys, full) = with_node3_down(23, 2);
    let before = versions(&full.json());
    for at in [0, 1] {
        let (_, doc) = export(c.addr(at), "");
        assert!(
            strings(&doc["missing"]).is_empty(),
            "via {}: {doc}",
            IDS[at]
        );
        let mut nodes = strings(&doc["nodes"]);
        nodes.sort();
        assert_eq!(nodes, ["node1", "node2"]);
        assert_eq!(doc["count"], json!(keys.len()), "via {}", IDS[at]);
        assert_eq!(versions(&doc), before, "export via {}", IDS[at]);
        for (key, (value, _)) in entries(&doc) {
            let i: usize = key["miss-".len()..].parse().expect("index");
            assert_eq!(value, json!(i), "{key}");
        }
    }
    // Local scope: every copy node1 holds.
    let held = per_replica(&c, keys.iter(), 2);
    let (_, local) = export(c.addr(0), "?scope=local");
    assert_eq!(strings(&local["nodes"]), ["node1"]);
    assert!(strings(&local["missing"]).is_empty());
    assert_eq!(local["count"], json!(held[0]));

    // The backup again: the live replicas already hold these versions; node3's copies are
    // kept as hints for it.
    let live = [0, 1];
    let r = import(c.addr(0), "", &full.body);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json(),
        json!({"imported": 0, "rejected": 0, "superseded": keys.len(), "total": keys.len(),
            "nodes": per_node(&live, |i| (0, held[i], 0)), "unknown": [], "failed": {},
            "hinted": held[2], "hints_dropped": 0})
    );
    // As new writes: applied on every live replica, hinted for node3.
    let r = import(c.addr(1), "?overwrite=1", &full.body);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json(),
        json!({"imported": keys.len(), "rejected": 0, "superseded": 0, "total": keys.len(),
            "nodes": per_node(&live, |i| (held[i], 0, 0)), "unknown": [], "failed": {},
            "hinted": held[2], "hints_dropped": 0})
    );
    for (i, key) in keys.iter().enumerate() {
        let r = get(c.addr(i % 2), key);
        assert_eq!(r.status, 200, "{key}: {}", r.text());
        assert_eq!(r.json()["value"], json!(i));
        assert_eq!(node_of(&r), IDS[coordinator_without(&c.ring, key, 2, &[2])]);
        let exported = u64::from_str_radix(&before[key], 16).expect("hex");
        assert!(etag_version(&etag(&r)) > exported, "{key}: rewritten");
    }
    for n in live {
        assert_eq!(local_entries(c.addr(n)), held[n], "entries on {}", IDS[n]);
    }
}

/// Single copy: restoring a backup while a member is down puts that member's keys on the next
/// live node, as a write made during the outage would be (`PUT` is served by that stand-in),
/// so the restored data can be read at once.
#[test]
fn a_single_copy_restore_while_a_node_is_down_puts_its_keys_on_the_next_live_node() {
    let (c, keys, full) = with_node3_down(24, 1);
    let down = 2;
    let orphans = keys.iter().filter(|k| c.owner(k) == down).count();
    assert!(orphans > 5, "node3 owned some keys");
    let r = import(c.addr(0), "", &full.body);
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    // The survivors' own keys are there already at these versions; node3's are new to them.
    assert_eq!(j["imported"], json!(orphans), "{j}");
    assert_eq!(j["superseded"], json!(keys.len() - orphans), "{j}");
    for (i, key) in keys.iter().enumerate() {
        let r = get(c.addr(i % 2), key);
        assert_eq!(r.status, 200, "{key}: {}", r.text());
        assert_eq!(r.json()["value"], json!(i));
        assert_eq!(node_of(&r), IDS[owner_without(&c.ring, key, down)]);
    }
}

/// Enough data that every stage works in pieces: import batches per replica (5000 entries per
/// sub-document), export pages per core (1000), several network reads per peer whose lines are
/// spliced across read boundaries, and the HTTP/1.0 (until-close) framing.
#[test]
fn a_large_cluster_round_trips_through_export_and_import() {
    let c = InProc::start(22, 2, STEADY, "");
    let n = 18_000;
    let mut doc =
        String::from("{\"format\":\"distributed-cache-export\",\"version\":1,\"entries\":[");
    let mut per_owner = [0u64; 3];
    for i in 0..n {
        if i > 0 {
            doc.push(',');
        }
        let key = format!("big-{i:05}");
        per_owner[c.owner(&key)] += 1;
        doc.push_str(&format!(
            "{{\"key\":\"{key}\",\"value\":{{\"i\":{i},\"pad\":\"{}\"}}",
            "x".repeat(i % 200)
        ));
        if i % 7 == 0 {
            doc.push_str(",\"ttl_ms\":3600000");
        }
        doc.push('}');
    }
    doc.push_str(&format!("],\"count\":{n}}}"));
    assert!(per_owner.iter().all(|&k| k > 5000), "{per_owner:?}");

    let keys: Vec<String> = (0..n).map(|i| format!("big-{i:05}")).collect();
    let held = per_replica(&c, keys.iter(), 2);
    let all = [0, 1, 2];

    // A document without versions (an old backup): each entry becomes a new write.
    let r = import(c.addr(0), "", doc.as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    assert_eq!(j["imported"], json!(n));
    assert_eq!(j["nodes"], per_node(&all, |i| (held[i], 0, 0)), "{j}");
    for (i, id) in IDS.iter().enumerate() {
        assert_eq!(local_entries(c.addr(i)), held[i], "entries on {id}");
    }

    let check = |doc: &Value, via: &str| {
        assert_eq!(doc["count"], json!(n), "via {via}");
        let got = entries(doc);
        assert_eq!(got.len(), n, "via {via}: distinct keys");
        for i in (0..n).step_by(97).chain([n - 1]) {
            let key = format!("big-{i:05}");
            let (v, ttl) = &got[&key];
            assert_eq!(
                v,
                &json!({"i": i, "pad": "x".repeat(i % 200)}),
                "{key} via {via}"
            );
            if i % 7 == 0 {
                let ms = ttl.expect("ttl_ms");
                assert!((3_500_000..=3_600_000).contains(&ms), "{key}: {ms}");
            } else {
                assert_eq!(*ttl, None, "{key}");
            }
        }
    };
    let (resp, exported) = export(c.addr(1), "");
    check(&exported, "node2");
    let text = resp.text();
    assert_eq!(
        text.trim_end().split('\n').count(),
        n + 2,
        "one entry per line"
    );

    // HTTP/1.0: no chunked encoding, the document ends when the node closes the connection.
    let mut conn = cluster_common::Conn::open(c.addr(2));
    conn.reader.send(b"GET /admin/export HTTP/1.0\r\n\r\n");
    let (bytes, eof) = conn.reader.drain(64 * 1024 * 1024);
    assert!(eof, "closed at the end");
    let head_end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head")
        + 4;
    let head = String::from_utf8_lossy(&bytes[..head_end]).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(!head.contains("transfer-encoding"), "{head}");
    let doc10: Value = serde_json::from_slice(&bytes[head_end..]).expect("HTTP/1.0 export");
    check(&doc10, "node3 over HTTP/1.0");

    // Delete a third of the keys. The export (versions included) brings none of them back: the
    // tombstones are newer, and the other keys are there at the exported versions already.
    for i in (0..n).step_by(3) {
        assert_eq!(delete(c.addr(i % 3), &format!("big-{i:05}")).status, 200);
    }
    let deleted = n.div_ceil(3);
    let r = import(c.addr(2), "", &resp.body);
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    assert_eq!(
        (j["imported"].clone(), j["superseded"].clone()),
        (json!(0), json!(n)),
        "{j}"
    );
    assert_eq!(total_entries(&c, &all), 2 * (n - deleted) as u64);
    for i in (0..n).step_by(3 * 97) {
        let key = format!("big-{i:05}");
        assert_eq!(get(c.addr(i % 3), &key).status, 404, "{key} stays deleted");
    }
    // Restore everything via the third node, as new writes.
    let r = import(c.addr(2), "?overwrite=1", &resp.body);
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    assert_eq!(j["imported"], json!(n));
    assert_eq!(j["nodes"], per_node(&all, |i| (held[i], 0, 0)), "{j}");
    assert_eq!(total_entries(&c, &all), 2 * n as u64);
    for i in (0..n).step_by(500) {
        let key = format!("big-{i:05}");
        let g = get(c.addr(i % 3), &key);
        assert_eq!(g.status, 200, "{key}");
        assert_eq!(node_of(&g), IDS[c.owner(&key)]);
    }
}
