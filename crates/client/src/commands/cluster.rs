//! `cluster [status]`, `cluster add` and `cluster remove`: the elastic cluster's membership
//! (`/admin/cluster`, `/admin/cluster/nodes`: admin calls, the admin token when the nodes require
//! tokens). Here: the dispatch and `status`, the table of the membership document as the first
//! answering node sees it (epoch, leader, settled, each member with its status joined with that
//! node's probe view, the key migration while one runs). Changing the membership is in
//! [`change`], waiting for a change to finish in [`wait`].

pub mod change;
pub mod wait;

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::Ctx;
use crate::cli::ClusterCmd;
use crate::output::{bytes_text, secs_text};
use crate::{EXIT_FAILED, EXIT_OK};

/// The admin route of the cluster's state.
pub const CLUSTER_PATH: &str = "/admin/cluster";

/// `cluster` (= `cluster status`), `cluster add`, `cluster remove`. `timeout` is the global
/// `--timeout` as given: for a change, the bound of the whole wait.
pub fn run(ctx: &Ctx, action: Option<ClusterCmd>, timeout: Option<Duration>) -> u8 {
    match action.unwrap_or(ClusterCmd::Status) {
        ClusterCmd::Status => status(ctx),
        ClusterCmd::Add {
            node_id,
            address,
            wait,
        } => change::add(ctx, &node_id, &address, &wait, timeout),
        ClusterCmd::Remove { node_id, wait } => change::remove(ctx, &node_id, &wait, timeout),
    }
}

/// The cluster as the first answering node sees it: 1 when a member is down or disagrees on the
/// ring.
pub fn status(ctx: &Ctx) -> u8 {
    let (node, r) = match ctx.any("GET", CLUSTER_PATH) {
        Ok(x) => x,
        Err(e) => return ctx.out.client_error(&e),
    };
    let Some(v) = r.json().filter(|_| r.status == 200) else {
        return ctx.out.http_failure("cluster status", &r);
    };
    if ctx.out.json {
        ctx.out.value(&v);
    } else {
        print!("{}", status_text(&node.addr, &v, unix_ms_now()));
    }
    let members = v["nodes"].as_array().map(Vec::as_slice).unwrap_or_default();
    let agrees = members
        .iter()
        .all(|m| m["ring_agrees"].as_bool() != Some(false));
    if v["nodes_up"] == v["nodes_total"] && agrees {
        EXIT_OK
    } else {
        EXIT_FAILED
    }
}

/// Milliseconds since the Unix epoch (0 if the clock is before it), as `started_unix_ms`.
fn unix_ms_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The text of `cluster status` for the `/admin/cluster` answer `v` of the node at `addr`, at
/// `now_ms`. A node without elastic membership (no `epoch`) gets the probe table alone.
pub fn status_text(addr: &str, v: &Value, now_ms: u64) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "cluster seen by {} ({addr}): {}/{} nodes up, ring {}, {} virtual nodes per node",
        v["node_id"].as_str().unwrap_or("?"),
        v["nodes_up"],
        v["nodes_total"],
        v["ring_version"].as_str().unwrap_or("?"),
        v["virtual_nodes"]
    );
    if let Some(epoch) = v["epoch"].as_u64() {
        let settled = match v["settled"].as_bool() {
            Some(true) => "yes",
            Some(false) => "no (keys are moving)",
            None => "?",
        };
        let _ = writeln!(
            o,
            "epoch {epoch}, leader {}, settled: {settled}",
            v["leader"].as_str().unwrap_or("?")
        );
    }
    let _ = writeln!(
        o,
        "  {:<12} {:<22} {:<8} {:<8} {:>10} {:>10} {:>10} {:>11}",
        "node", "address", "status", "probe", "ring share", "entries", "bytes", "ring agrees"
    );
    for row in rows(v) {
        o.push_str(&row);
        o.push('\n');
    }
    if let Some(line) = migration_text(&v["migration"], now_ms) {
        o.push_str(&line);
        o.push('\n');
    }
    o
}

/// One line per member: the membership document's members (with their status) joined with this
/// node's probe view (`nodes`) by id, then any probed node the document does not list. Without
/// a membership document, the probe view alone.
fn rows(v: &Value) -> Vec<String> {
    let probed = v["nodes"].as_array().map(Vec::as_slice).unwrap_or_default();
    let members = v["membership"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let probe_of = |id: &str| probed.iter().find(|p| p["id"].as_str() == Some(id));
    let mut out: Vec<String> = members
        .iter()
        .map(|m| {
            let id = m["node_id"].as_str().unwrap_or("?");
            let status = m["status"].as_str().unwrap_or("?");
            let addr = m["address"].as_str().unwrap_or("?");
            row(id, addr, status, probe_of(id))
        })
        .collect();
    let listed = |id: &str| members.iter().any(|m| m["node_id"].as_str() == Some(id));
    for p in probed {
        let id = p["id"].as_str().unwrap_or("?");
        if !listed(id) {
            out.push(row(id, p["address"].as_str().unwrap_or("?"), "-", Some(p)));
        }
    }
    out
}

/// A member's line; the probe columns are `-` when this node has no probe of it (yet).
fn row(id: &str, addr: &str, status: &str, probe: Option<&Value>) -> String {
    let Some(p) = probe else {
        return format!("  {id:<12} {addr:<22} {status:<8} {:<8}", "-");
    };
    format!(
        "  {id:<12} {addr:<22} {status:<8} {:<8} {:>9.1}% {:>10} {:>10} {:>11}{}",
        p["state"].as_str().unwrap_or("?"),
        p["ring_share"].as_f64().unwrap_or(0.0) * 100.0,
        p["entries"].as_u64().unwrap_or(0),
        bytes_text(p["bytes"].as_u64().unwrap_or(0)),
        match p["ring_agrees"].as_bool() {
            Some(false) => "NO",
            _ => "yes",
        },
        p["last_error"]
            .as_str()
            .map(|e| format!("  last error: {e}"))
            .unwrap_or_default()
    )
}

/// The migration's progress while one runs (`migration.running`), else `None`.
pub fn migration_text(m: &Value, now_ms: u64) -> Option<String> {
    if m["running"].as_bool() != Some(true) {
        return None;
    }
    let mut line = format!(
        "migration of epoch {}: {} keys ({}) moved, {} scanned",
        m["epoch"],
        m["keys_moved"].as_u64().unwrap_or(0),
        bytes_text(m["bytes_moved"].as_u64().unwrap_or(0)),
        m["keys_scanned"].as_u64().unwrap_or(0)
    );
    if let Some(start) = m["started_unix_ms"].as_u64().filter(|s| *s <= now_ms) {
        let _ = write!(line, ", running for {}", secs_text((now_ms - start) / 1000));
    }
    let pending: Vec<&str> = m["peers_pending"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    if !pending.is_empty() {
        let _ = write!(line, ", waiting for {}", pending.join(", "));
    }
    Some(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn answer() -> Value {
        json!({
            "node_id": "node1", "nodes_up": 3, "nodes_total": 3, "ring_version": "0x1",
            "virtual_nodes": 150, "epoch": 6, "leader": "node1", "settled": false,
            "membership": [
                {"node_id": "node1", "address": "h:8001", "status": "active"},
                {"node_id": "node2", "address": "h:8002", "status": "leaving"},
                {"node_id": "node4", "address": "h:8004", "status": "joining"}
            ],
            "nodes": [
                {"id": "node1", "address": "h:8001", "state": "self", "ring_share": 0.5,
                 "entries": 10, "bytes": 2048, "ring_agrees": true},
                {"id": "node2", "address": "h:8002", "state": "up", "ring_share": 0.5,
                 "entries": 7, "bytes": 100, "ring_agrees": false, "last_error": "boom"}
            ],
            "migration": {"running": true, "epoch": 6, "started_unix_ms": 1_000,
                          "keys_moved": 42, "bytes_moved": 3072, "keys_scanned": 99,
                          "peers_pending": ["node2", "node4"]}
        })
    }

    #[test]
    fn the_table_joins_membership_and_probes_and_shows_the_migration() {
        let text = status_text("h:8001", &answer(), 66_000);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("cluster seen by node1 (h:8001): 3/3 nodes up"));
        assert_eq!(
            lines[1],
            "epoch 6, leader node1, settled: no (keys are moving)"
        );
        assert!(lines[2].contains("status") && lines[2].contains("probe"));
        let node1: Vec<&str> = lines[3].split_whitespace().collect();
        assert_eq!(
            node1,
            ["node1", "h:8001", "active", "self", "50.0%", "10", "2.0", "KiB", "yes"]
        );
        assert!(lines[4].contains("leaving") && lines[4].contains(" NO  last error: boom"));
        let node4: Vec<&str> = lines[5].split_whitespace().collect();
        assert_eq!(node4, ["node4", "h:8004", "joining", "-"]);
        assert_eq!(
            lines[6],
            "migration of epoch 6: 42 keys (3.0 KiB) moved, 99 scanned, running for 1 min 5 s, \
             waiting for node2, node4"
        );
        assert_eq!(lines.len(), 7);
    }

    #[test]
    fn a_settled_cluster_has_no_migration_line_and_old_nodes_their_probe_table() {
        let mut v = answer();
        v["settled"] = json!(true);
        v["migration"]["running"] = json!(false);
        let text = status_text("h:8001", &v, 0);
        assert!(text.contains("settled: yes\n"), "{text}");
        assert!(!text.contains("migration"), "{text}");

        // A node without membership: no epoch line, a row per probed node, status unknown.
        let old = json!({"node_id": "t1", "nodes_up": 1, "nodes_total": 1,
            "nodes": [{"id": "t1", "address": "a:1", "state": "self", "ring_share": 1.0}]});
        let text = status_text("a:1", &old, 0);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].contains("1/1 nodes up"));
        let row: Vec<&str> = lines[2].split_whitespace().collect();
        assert_eq!(&row[..5], ["t1", "a:1", "-", "self", "100.0%"]);
    }

    #[test]
    fn a_migration_started_in_the_future_shows_no_duration() {
        let m = json!({"running": true, "epoch": 2, "started_unix_ms": 5_000});
        let line = migration_text(&m, 1_000).unwrap();
        assert_eq!(line, "migration of epoch 2: 0 keys (0 B) moved, 0 scanned");
        assert!(migration_text(&json!(null), 0).is_none());
    }
}
