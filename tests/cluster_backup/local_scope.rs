//! `?scope=local` imports and the one-import-per-node gate in a cluster: a client's local-scope
//! import never plants a key on a node that does not replicate it (those entries go to their
//! replicas), and a cluster import's sub-imports reach a node whose own import holds its slot.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::cluster_common::{
    call, get, is_replica, put, replicas_yaml, wait_serving, InProc, IDS, STEADY,
};
use crate::common::{Reader, Resp};
use crate::helpers::{entries, export, import};
use serde_json::{json, Value};

/// An export document of `entries` (`(key, value, version)`; no version: a new write).
fn document(entries: &[(String, Value, Option<&str>)]) -> Vec<u8> {
    let lines: Vec<String> = entries
        .iter()
        .map(|(k, v, version)| {
            let mut e = json!({"key": k, "value": v});
            if let Some(version) = version {
                e["version"] = json!(version);
            }
            e.to_string()
        })
        .collect();
    format!(
        "{{\"format\":\"distributed-cache-export\",\"version\":1,\"entries\":[\n{}\n],\"count\":{}}}",
        lines.join(",\n"),
        entries.len()
    )
    .into_bytes()
}

/// Keys this node holds, from its local export.
fn held(c: &InProc, node: usize) -> BTreeSet<String> {
    entries(&export(c.addr(node), "?scope=local").1)
        .into_keys()
        .collect()
}

/// A client's `?scope=local` import on node1 (one copy per key): the keys node1 replicates are
/// stored there only, every other entry goes to its replica instead, with last-writer-wins (an
/// older copy of a key written since is not applied), and node1 keeps none of them, so no later
/// hand-over can push a stale copy over the key's value.
pub fn a_clients_local_import_plants_no_key_on_a_non_replica() {
    let c = InProc::start(26, 2, STEADY, &replicas_yaml(1));
    wait_serving(&c.addrs, &[0, 1, 2], Duration::from_secs(10));
    let keys: Vec<String> = (0..60).map(|i| format!("lk-{i}")).collect();
    let (mine, foreign): (Vec<&String>, Vec<&String>) =
        keys.iter().partition(|k| is_replica(&c.ring, k, 1, 0));
    assert!(mine.len() > 5 && foreign.len() > 20, "{mine:?}");
    // A key written since the backup: its value is newer than the document's copy.
    let written = foreign[0].clone();
    let r = put(c.addr(1), &written, r#"{"value":"written since"}"#);
    assert_eq!(r.status, 201, "{}", r.text());

    let mut doc: Vec<(String, Value, Option<&str>)> = keys
        .iter()
        .filter(|k| **k != written)
        .enumerate()
        .map(|(i, k)| (k.clone(), json!(i), None))
        .collect();
    doc.push((written.clone(), json!("backup"), Some("0000000000000001")));
    let r: Resp = import(c.addr(0), "?scope=local", &document(&doc));
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    assert_eq!(
        (&j["imported"], &j["superseded"], &j["total"]),
        (&json!(59), &json!(1), &json!(60)),
        "{j}"
    );

    let here = held(&c, 0);
    let want: BTreeSet<String> = mine.iter().map(|k| k.to_string()).collect();
    assert_eq!(here, want, "node1 holds exactly the keys it replicates");
    for k in &foreign {
        let owner = (0..3)
            .find(|&n| is_replica(&c.ring, k, 1, n))
            .expect("a replica");
        assert!(held(&c, owner).contains(*k), "{k} reached {}", IDS[owner]);
    }
    assert_eq!(get(c.addr(2), &written).json()["value"], "written since");
    assert_eq!(get(c.addr(2), foreign[1]).status, 200);
}

/// Node1's own import holds its slot (its body is still arriving) while a cluster import runs
/// on node2: node2's sub-imports to node1 are applied (a peer's sub-import never waits for the
/// slot, so two cluster imports on two nodes cannot refuse each other's), and node1 still
/// refuses a client's second import.
pub fn a_cluster_import_reaches_a_node_whose_own_import_holds_its_slot() {
    let c = InProc::start(27, 2, STEADY, "");
    wait_serving(&c.addrs, &[0, 1, 2], Duration::from_secs(10));
    let own = document(&[("own-0".to_string(), json!(0), None)]);
    let mut running = Reader::connect(c.addr(0));
    running.send(
        format!(
            "POST /admin/import HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
            own.len()
        )
        .as_bytes(),
    );
    assert_eq!(running.response(false).expect("100 Continue").status, 100);
    running.send(&own[..10]);

    let keys: Vec<(String, Value, Option<&str>)> = (0..60)
        .map(|i| (format!("ck-{i}"), json!(i), None))
        .collect();
    let r = import(c.addr(1), "", &document(&keys));
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    assert_eq!(
        (&j["imported"], &j["failed"]),
        (&json!(60), &json!({})),
        "{j}"
    );
    let on_node1 = keys
        .iter()
        .filter(|k| is_replica(&c.ring, &k.0, 2, 0))
        .count();
    assert_eq!(j["nodes"][IDS[0]]["applied"], on_node1, "{j}");

    let second = import(c.addr(0), "", &document(&keys[..1]));
    assert_eq!(second.status, 503, "{}", second.text());
    assert!(second.header("retry-after").is_some());

    running.send(&own[10..]);
    let done = running.response(false).expect("an answer");
    assert_eq!(done.status, 200, "{}", done.text());
}

/// A membership change's move of keys names its epoch (`?move_epoch=E`): a node that has not
/// adopted that epoch refuses it with 409 and stores nothing (a hand-over of its older epoch
/// may be forgetting those keys, to it foreign, and would lose a copy that landed as a no-op);
/// at its own epoch or a later one it applies the move.
pub fn a_move_for_an_epoch_this_node_has_not_adopted_is_refused() {
    let c = InProc::start(28, 2, STEADY, "");
    wait_serving(&c.addrs, &[0, 1, 2], Duration::from_secs(10));
    let epoch = call(c.addr(0), "GET", "/admin/cluster", &[], None).json()["epoch"]
        .as_u64()
        .expect("an epoch in /admin/cluster");
    let key = (0..)
        .map(|i| format!("mv-{i}"))
        .find(|k| is_replica(&c.ring, k, 2, 0))
        .expect("a key node1 replicates");
    let doc = document(&[(key.clone(), json!("moved"), Some("0000000000000002"))]);
    // From a peer: with no secret configured, the forwarding marker says so.
    let peer = [("X-Cache-Forwarded", "node2")];
    let ahead = format!("/admin/import?scope=local&move_epoch={}", epoch + 1);
    let r = call(c.addr(0), "POST", &ahead, &peer, Some(&doc));
    assert_eq!(r.status, 409, "{}", r.text());
    let msg = r.json()["error"].as_str().unwrap_or_default().to_string();
    assert!(
        msg.contains("node1") && msg.contains(&format!("epoch {}", epoch + 1)),
        "{msg}"
    );
    assert!(!held(&c, 0).contains(&key), "a refused move stored nothing");

    let now = format!("/admin/import?scope=local&move_epoch={epoch}");
    let r = call(c.addr(0), "POST", &now, &peer, Some(&doc));
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        held(&c, 0).contains(&key),
        "the move at this node's epoch landed"
    );
}
