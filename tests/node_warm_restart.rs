//! Warm restart with `data_dir`: a node that stops (shutdown after draining) writes one snapshot
//! per core; the next start loads them (values, TTLs, versions, tombstones), then deletes them.
//! A corrupt snapshot is refused with a message naming the file and the node starts
//! empty. Real in-process nodes on ephemeral ports, spoken to in raw HTTP.

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{request, run_single, Running};

/// A fresh directory for one test's snapshots.
fn data_dir(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "dcache-warm-{}-{name}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A two-core node keeping its snapshots in `dir` (another node's files are refused: a unit
/// test of the snapshot format covers that).
fn node(dir: &Path) -> Running {
    run_single(2, &format!("data_dir: \"{}\"\n", dir.display()))
}

fn snapshots(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|it| {
            it.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn a_stopped_node_comes_back_with_its_values_ttls_versions_and_deletes() {
    let dir = data_dir("roundtrip");
    let n = node(&dir);
    let addr = n.addr();
    let mut etags = Vec::new();
    for i in 0..200 {
        let body = format!("{{\"value\":{{\"i\":{i}}}}}");
        let r = request(addr, "PUT", &format!("/api/v1/cache/k{i}"), Some(&body));
        assert_eq!(r.status, 201, "{}", r.text());
        etags.push(
            r.header("etag")
                .expect("a PUT answers its version")
                .to_string(),
        );
    }
    let r = request(
        addr,
        "PUT",
        "/api/v1/cache/ttl",
        Some("{\"value\":1,\"ttl\":3600}"),
    );
    assert_eq!(r.status, 201);
    for i in 0..20 {
        let r = request(addr, "DELETE", &format!("/api/v1/cache/k{i}"), None);
        assert_eq!(r.status, 200, "{}", r.text());
    }
    assert!(n.stop(), "the node stops");
    let files = snapshots(&dir);
    assert_eq!(files, ["shard-0.snap", "shard-1.snap"], "one file per core");

    let n = node(&dir);
    let addr = n.addr();
    assert!(
        snapshots(&dir).is_empty(),
        "loaded snapshots are deleted: a later crash must not bring this state back"
    );
    for (i, before) in etags.iter().enumerate() {
        let r = request(addr, "GET", &format!("/api/v1/cache/k{i}"), None);
        if i < 20 {
            assert_eq!(r.status, 404, "k{i} was deleted before the stop");
        } else {
            assert_eq!(r.status, 200, "k{i}: {}", r.text());
            assert_eq!(r.json()["value"]["i"], i);
            assert_eq!(
                r.header("etag"),
                Some(before.as_str()),
                "k{i} keeps its version"
            );
        }
    }
    let r = request(addr, "GET", "/api/v1/cache/ttl", None);
    let ttl = r.json()["ttl"].as_u64().expect("the TTL survives");
    assert!((3500..=3600).contains(&ttl), "remaining TTL {ttl}");
    // A write after the restart gets a newer version than any from before it.
    let r = request(addr, "PUT", "/api/v1/cache/k100", Some("{\"value\":0}"));
    let after = r.header("etag").expect("etag").to_string();
    assert!(after > etags[100], "{after} after {}", etags[100]);
    assert!(n.stop());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_corrupt_snapshot_is_refused_and_the_node_starts_empty() {
    let dir = data_dir("corrupt");
    let n = node(&dir);
    let r = request(n.addr(), "PUT", "/api/v1/cache/a", Some("{\"value\":1}"));
    assert_eq!(r.status, 201);
    assert!(n.stop());
    let file = dir.join("shard-0.snap");
    let mut bytes = std::fs::read(&file).expect("snapshot written");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&file, bytes).expect("corrupt it");

    let n = node(&dir);
    let r = request(n.addr(), "GET", "/api/v1/cache/a", None);
    assert_eq!(
        r.status, 404,
        "nothing from a refused snapshot set is served"
    );
    let health = request(n.addr(), "GET", "/api/v1/health", None);
    assert_eq!(health.status, 200, "the node serves, empty");
    assert!(
        snapshots(&dir).is_empty(),
        "the refused files are not loaded again"
    );
    assert!(n.stop());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn without_data_dir_nothing_is_written() {
    let n = run_single(1, "");
    let r = request(n.addr(), "PUT", "/api/v1/cache/a", Some("{\"value\":1}"));
    assert_eq!(r.status, 201);
    assert!(n.stop());
    let n = run_single(1, "");
    let r = request(n.addr(), "GET", "/api/v1/cache/a", None);
    assert_eq!(r.status, 404, "no data_dir: a restart starts empty");
    assert!(n.stop());
}
