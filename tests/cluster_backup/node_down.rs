//! Export and import while a node is down: with a single copy the export names it under
//! `missing` and a restore puts its keys on the next live node; with two copies nothing is missed.

use std::time::Duration;

use crate::cluster_common::{
    coordinator_without, etag, etag_version, get, local_entries, node_of, owner_without, put,
    replicas_yaml, state_seen, wait_serving, InProc, Probing, IDS,
};
use crate::common::{eventually, Resp};
use crate::helpers::{entries, export, import, per_node, per_replica, strings, versions};
use serde_json::json;

/// Probing for the test that stops a node: it must be seen down within a second.
const QUICK: Probing = Probing {
    interval_ms: 100,
    timeout_ms: 100,
    fail_after: 3,
    recover_after: 1,
    connect_ms: 200,
    request_ms: 2000,
};

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
pub fn an_export_with_a_node_down_lists_it_as_missing() {
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
pub fn with_two_copies_an_export_with_a_node_down_misses_nothing() {
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
pub fn a_single_copy_restore_while_a_node_is_down_puts_its_keys_on_the_next_live_node() {
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
