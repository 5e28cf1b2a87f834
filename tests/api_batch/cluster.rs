//! Batches across three nodes: every owner in one batch, and an owner killed under a batch.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::cluster_common::{
    call, etag, key_path, metric_sum, metrics, node_of, replicas_of, ring_changes, InProc, Probing,
    ProcCluster, IDS, STEADY,
};
use crate::{batch, delete, get, put};

const CLIENT: &str = "batch-cluster-client-token-0123";
const SECRET: &str = "batch-cluster-secret-0123456789";

/// Token files (mode 0600) and the `auth:` YAML naming them: a client token and the cluster
/// secret, so every sub-batch and copy must carry the secret to be served.
struct Auth {
    dir: std::path::PathBuf,
    yaml: String,
}

impl Auth {
    fn new(tag: &str) -> Auth {
        let dir = std::env::temp_dir().join(format!("dcache-batch-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("token dir");
        let mut yaml = String::from("auth:\n");
        for (key, token) in [
            ("client_token_file", CLIENT),
            ("cluster_secret_file", SECRET),
        ] {
            let p = dir.join(key);
            std::fs::write(&p, format!("{token}\n")).expect("write token");
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).expect("chmod");
            yaml.push_str(&format!("  {key}: \"{}\"\n", p.display()));
        }
        Auth { dir, yaml }
    }
}

impl Drop for Auth {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const BEARER: [(&str, &str); 1] = [("Authorization", "Bearer batch-cluster-client-token-0123")];

fn sum(addrs: &[SocketAddr], name: &str) -> f64 {
    addrs.iter().map(|a| metric_sum(&metrics(*a), name)).sum()
}

fn owned_by_each(c_owner: impl Fn(&str) -> usize, keys: &[String]) {
    for (n, id) in IDS.iter().enumerate() {
        let owned = keys.iter().filter(|k| c_owner(k) == n).count();
        assert!(owned >= 5, "{id} owns only {owned} of the keys");
    }
}

pub fn three_nodes_one_sub_batch_per_peer_and_writes_replicated() {
    let auth = Auth::new("three");
    let c = InProc::start(90, 2, STEADY, &auth.yaml);
    let addrs = c.addrs.clone();
    let keys: Vec<String> = (0..60).map(|i| format!("bk{i}")).collect();
    owned_by_each(|k| c.owner(k), &keys);
    let changes = ring_changes(&addrs);

    // Every owner's keys in one batch via node1 (a raw value among them).
    let fwd = metric_sum(&metrics(addrs[0]), "cache_forwarded_requests_total");
    let copies = sum(&addrs, "cache_replica_writes_total");
    let mut ops: Vec<Value> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| put(k, json!(i)))
        .collect();
    ops.push(json!({"op": "put", "key": "bk-raw", "value_base64": "AAEC/w==", "content_type": "application/x-bin"}));
    let written = batch(addrs[0], &ops, &BEARER);
    for (res, op) in written.iter().zip(&ops) {
        assert_eq!(res["status"], 201, "{res}");
        assert_eq!(res["key"], op["key"]);
    }
    let sub_batches = metric_sum(&metrics(addrs[0]), "cache_forwarded_requests_total") - fwd;
    assert_eq!(sub_batches, 2.0, "one sub-batch per peer, in one round");
    // Each write has two copies: the coordinator copied every one to the other replica.
    let copied = sum(&addrs, "cache_replica_writes_total") - copies;
    assert_eq!(copied, ops.len() as f64);

    // Read back via node2, in op order, with a miss among them.
    let mut gets: Vec<Value> = keys.iter().rev().map(|k| get(k)).collect();
    gets.insert(7, get("bk-missing"));
    gets.push(get("bk-raw"));
    let read = batch(addrs[1], &gets, &BEARER);
    for (res, op) in read.iter().zip(&gets) {
        let key = op["key"].as_str().expect("key");
        assert_eq!(res["key"], key);
        if key == "bk-missing" {
            assert_eq!(res["status"], 404, "{res}");
            continue;
        }
        let put_res = &written[ops.iter().position(|o| o["key"] == key).expect("written")];
        assert_eq!(res["status"], 200, "{res}");
        assert_eq!(
            res["etag"], put_res["etag"],
            "{key}: the version the batch wrote"
        );
        if key == "bk-raw" {
            assert_eq!(res["value_base64"], "AAEC/w==");
            assert_eq!(res["content_type"], "application/x-bin");
        } else {
            let i: usize = key[2..].parse().expect("index");
            assert_eq!(res["value"], i);
        }
    }
    // The single calls agree, via node3 (forwarded to each key's coordinator).
    for k in keys.iter().take(12) {
        let r = call(addrs[2], "GET", &key_path(k), &BEARER, None);
        assert_eq!(r.status, 200, "{k}: {}", r.text());
        let w = &written[ops.iter().position(|o| o["key"] == k.as_str()).expect("op")];
        assert_eq!(etag(&r), w["etag"].as_str().expect("etag"));
        assert_eq!(node_of(&r), IDS[c.owner(k)]);
    }
    // Ops on one key run in order, whoever coordinates it.
    let mut seq = Vec::new();
    for k in keys.iter().take(9) {
        seq.extend([
            delete(k),
            get(k),
            put(k, json!("again")),
            get(k),
            delete(k),
            delete(k),
        ]);
    }
    let r = batch(addrs[2], &seq, &BEARER);
    for (j, chunk) in r.chunks(6).enumerate() {
        let status: Vec<&Value> = chunk.iter().map(|x| &x["status"]).collect();
        assert_eq!(
            status,
            [200, 404, 201, 200, 200, 404],
            "{}: {chunk:?}",
            keys[j]
        );
        assert_eq!(chunk[3]["value"], "again");
    }
    // Without the client's token the batch is refused before anything runs.
    let body = json!({"ops": [get("bk0")]}).to_string();
    assert_eq!(crate::post(addrs[1], body.as_bytes(), &[]).status, 401);
    assert_eq!(
        ring_changes(&addrs),
        changes,
        "no membership change during the test"
    );
}

/// Probing slow enough that the killed node is still taken for up when the batch arrives, so the
/// batch meets it dead (the failover path, not a placement around a known-down node), and
/// requests bounded at 2 s.
const SLOW_DETECTION: Probing = Probing {
    request_ms: 2000,
    ..STEADY
};

pub fn a_killed_owner_fails_over_per_op_to_the_next_replica() {
    let mut c = ProcCluster::start(91, "api-batch-kill", 1, SLOW_DETECTION);
    let addrs = c.addrs.clone();
    let ring = c.ring.clone();
    let victim = 1;
    let keys: Vec<String> = (0..60).map(|i| format!("fk{i}")).collect();
    owned_by_each(|k| crate::cluster_common::owner(&ring, k), &keys);
    let ops: Vec<Value> = keys
        .iter()
        .map(|k| put(k, json!(format!("v-{k}"))))
        .collect();
    assert!(batch(addrs[0], &ops, &[])
        .iter()
        .all(|r| r["status"] == 201));

    c.kill9(victim);
    let failovers = metric_sum(&metrics(addrs[0]), "cache_failovers_total");
    let gets: Vec<Value> = keys.iter().map(|k| get(k)).collect();
    let t = Instant::now();
    let read = batch(addrs[0], &gets, &[]);
    let took = t.elapsed();
    assert!(took < Duration::from_secs(10), "took {took:?}");
    for (res, k) in read.iter().zip(&keys) {
        assert_eq!(res["status"], 200, "{k}: {res}");
        assert_eq!(res["value"], format!("v-{k}"));
    }
    let owned = keys
        .iter()
        .filter(|k| replicas_of(&ring, k, 2)[0] == victim)
        .count();
    let moved = metric_sum(&metrics(addrs[0]), "cache_failovers_total") - failovers;
    assert!(
        moved >= owned as f64,
        "the {owned} ops of {}'s keys failed over ({moved} counted)",
        IDS[victim]
    );
    // Writes fail over too, and land: read back through the other survivor.
    let ops: Vec<Value> = keys.iter().map(|k| put(k, json!("after"))).collect();
    let written = batch(addrs[2], &ops, &[]);
    assert!(written.iter().all(|r| r["status"] == 200), "{written:?}");
    let read = batch(addrs[0], &gets, &[]);
    assert!(read.iter().all(|r| r["value"] == "after"), "{read:?}");
}
