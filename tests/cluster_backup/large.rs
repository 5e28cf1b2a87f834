//! A large cluster's round trip, with every stage working in pieces.

use crate::cluster_common::{self, delete, get, local_entries, node_of, InProc, IDS, STEADY};
use crate::helpers::{entries, export, import, per_node, per_replica, total_entries};
use serde_json::{json, Value};

/// Enough data that every stage works in pieces: import batches per replica (5000 entries per
/// sub-document), export pages per core (1000), several network reads per peer whose lines are
/// spliced across read boundaries, and the HTTP/1.0 (until-close) framing.
pub fn a_large_cluster_round_trips_through_export_and_import() {
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
