//! The membership API of issue 10 as the scenarios use it: add and remove members, ask a node
//! what it knows of one, wait for a change to settle, and read the figures a report needs
//! (entries and ring shares, migration counters). Every call goes through the fault suite's
//! client, which never panics, so a node that is down or frozen is an `Err`, not a hang.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::nodes::{id, Nodes};
use crate::cluster_common::metric;
use crate::faults::client::Client;

/// Admin answers are small and quick; a node that takes longer is treated as not answering.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(3);
/// Pause between two polls of a change's progress: well under a probe round (200 ms).
const POLL: Duration = Duration::from_millis(50);

/// A JSON answer (status and body, `Null` when the body is not JSON), or why none came.
pub type Answer = Result<(u16, serde_json::Value), String>;

/// `method path` on `addr` with an optional JSON body.
pub fn call(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> Answer {
    let mut client = Client::with_timeout(addr, ADMIN_TIMEOUT);
    match client.call(method, path, body.map(str::as_bytes)) {
        Ok((status, bytes)) => Ok((
            status,
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).into_owned().into()),
        )),
        Err(e) => Err(format!("{method} {path} on {addr}: {e:?}")),
    }
}

pub fn get(addr: SocketAddr, path: &str) -> Answer {
    call(addr, "GET", path, None)
}

/// Prometheus text of `/admin/metrics`, empty when the node does not answer.
pub fn metrics_text(addr: SocketAddr) -> String {
    let mut client = Client::with_timeout(addr, ADMIN_TIMEOUT);
    match client.call("GET", "/admin/metrics", None) {
        Ok((200, bytes)) => String::from_utf8_lossy(&bytes).into_owned(),
        _ => String::new(),
    }
}

/// Fail at once, naming the route, when node `at` lacks the membership API: a build without
/// issue 10 would otherwise only show up as a change that never settles.
pub fn require_api(nodes: &Nodes, at: usize) {
    let addr = nodes.addrs[at];
    let me = id(at);
    let path = format!("/admin/cluster/nodes/{me}");
    match get(addr, &path) {
        Ok((200, doc)) if doc["status"].is_string() && doc["settled"].is_boolean() => {}
        other => panic!(
            "{me} lacks the membership API (issue 10): GET {path} answered {other:?}, \
             expected 200 {{\"node_id\":\"{me}\",\"status\":..,\"settled\":..}}"
        ),
    }
    match get(addr, "/admin/cluster") {
        Ok((200, doc)) if doc["epoch"].is_u64() && doc["membership"].is_array() => {}
        other => panic!(
            "{me}: GET /admin/cluster has no \"epoch\" or \"membership\" (issue 10): {other:?}"
        ),
    }
}

/// `POST /admin/cluster/nodes` on `at` for node `who`: 202 with status `joining`, or panics
/// with the answer.
pub fn add(nodes: &Nodes, at: usize, who: usize) -> serde_json::Value {
    let body = format!(
        "{{\"node_id\":\"{}\",\"address\":\"{}\"}}",
        id(who),
        nodes.addrs[who]
    );
    let answer = call(nodes.addrs[at], "POST", "/admin/cluster/nodes", Some(&body));
    match answer {
        Ok((202, doc)) if doc["status"] == "joining" && doc["node_id"] == id(who) => doc,
        other => panic!(
            "POST /admin/cluster/nodes {body} on {}: expected 202 {{\"status\":\"joining\"}}, \
             got {other:?}",
            id(at)
        ),
    }
}

/// `DELETE /admin/cluster/nodes/{who}` on `at`: 202 with status `leaving`, or panics.
pub fn remove(nodes: &Nodes, at: usize, who: usize) -> serde_json::Value {
    let path = format!("/admin/cluster/nodes/{}", id(who));
    match call(nodes.addrs[at], "DELETE", &path, None) {
        Ok((202, doc)) if doc["status"] == "leaving" && doc["node_id"] == id(who) => doc,
        other => panic!(
            "DELETE {path} on {}: expected 202 {{\"status\":\"leaving\"}}, got {other:?}",
            id(at)
        ),
    }
}

/// What node `at` knows of member `who` (`GET /admin/cluster/nodes/{who}`).
pub fn member(nodes: &Nodes, at: usize, who: usize) -> Answer {
    get(
        nodes.addrs[at],
        &format!("/admin/cluster/nodes/{}", id(who)),
    )
}

/// Poll until `done(answer of at about who)` holds; `each` runs every round (e.g. to start
/// sending load to a joiner once it knows itself a member). Panics after `limit` with the last
/// answer, `at`'s `/admin/cluster` and every log; also at once if one of `watch` exited.
pub fn wait_member(
    nodes: &mut Nodes,
    at: usize,
    who: usize,
    watch: &[usize],
    limit: Duration,
    done: impl Fn(&serde_json::Value) -> bool,
    mut each: impl FnMut(&mut Nodes),
) -> Duration {
    let t = Instant::now();
    loop {
        for &w in watch {
            nodes.assert_alive(w);
        }
        let answer = member(nodes, at, who);
        if let Ok((200, doc)) = &answer {
            if done(doc) {
                return t.elapsed();
            }
        }
        each(nodes);
        if t.elapsed() > limit {
            let cluster = get(nodes.addrs[at], "/admin/cluster");
            panic!(
                "{} as {} sees it: not done within {limit:?}; last answer {answer:?}; \
                 /admin/cluster: {cluster:?}; logs:\n{}",
                id(who),
                id(at),
                nodes.logs()
            );
        }
        std::thread::sleep(POLL);
    }
}

/// Joined: active in a settled membership.
pub fn is_active(doc: &serde_json::Value) -> bool {
    doc["status"] == "active" && doc["settled"] == true
}

/// Left: removed, and so safe to stop.
pub fn is_safe_to_stop(doc: &serde_json::Value) -> bool {
    doc["safe_to_stop"] == true
}

/// Whether node `i` knows itself a member (joining or active) of a membership that also lists
/// every one of `members`: from then on a request sent to it belongs to the cluster.
pub fn knows_membership(nodes: &Nodes, i: usize, members: &[usize]) -> bool {
    let Ok((200, doc)) = get(nodes.addrs[i], "/admin/cluster") else {
        return false;
    };
    let listed = |m: usize| {
        doc["membership"].as_array().is_some_and(|rows| {
            rows.iter().any(|r| {
                r["node_id"] == id(m) && matches!(r["status"].as_str(), Some("joining" | "active"))
            })
        })
    };
    listed(i) && members.iter().all(|&m| listed(m))
}

/// Why node `i` is not ready yet, or its epoch: healthy (not syncing or draining), settled, a
/// membership of exactly `members` (all active), every other node of `live` seen up.
fn ready(nodes: &Nodes, i: usize, members: &[usize], live: &[usize]) -> Result<u64, String> {
    let addr = nodes.addrs[i];
    let (status, health) = get(addr, "/api/v1/health")?;
    let state = health["status"].as_str().unwrap_or("");
    if status != 200 || state == "syncing" || state == "draining" {
        return Err(format!("health {status} {state}"));
    }
    let (_, info) = get(addr, "/admin/cluster")?;
    if info["settled"] != true {
        return Err(format!("not settled (migration {})", info["migration"]));
    }
    let mut listed: Vec<String> = info["membership"]
        .as_array()
        .map(|rows| {
            let row = |r: &serde_json::Value| format!("{}={}", r["node_id"], r["status"]);
            rows.iter().map(row).collect()
        })
        .unwrap_or_default();
    listed.sort();
    let mut want: Vec<String> = members
        .iter()
        .map(|&m| format!("\"{}\"=\"active\"", id(m)))
        .collect();
    want.sort();
    if listed != want {
        return Err(format!("membership [{}]", listed.join(",")));
    }
    let rows = info["nodes"].as_array().cloned().unwrap_or_default();
    let not_up: Vec<String> = live
        .iter()
        .filter(|&&m| m != i)
        .filter(|&&m| {
            let row = rows.iter().find(|r| r["id"] == id(m));
            !row.is_some_and(|r| r["state"] == "up")
        })
        .map(|&m| id(m))
        .collect();
    if !not_up.is_empty() {
        return Err(format!("does not see {} up", not_up.join(",")));
    }
    info["epoch"].as_u64().ok_or_else(|| "no epoch".to_string())
}

/// Wait until every node of `live` is [`ready`] at one epoch; the time it took and the epoch, or
/// what was still wrong after `limit`.
pub fn settle(
    nodes: &Nodes,
    members: &[usize],
    live: &[usize],
    limit: Duration,
) -> Result<(Duration, u64), String> {
    let t = Instant::now();
    loop {
        let states: Vec<Result<u64, String>> = live
            .iter()
            .map(|&i| ready(nodes, i, members, live))
            .collect();
        let problems: Vec<String> = live
            .iter()
            .zip(&states)
            .filter_map(|(&i, s)| s.as_ref().err().map(|e| format!("{}: {e}", id(i))))
            .collect();
        let epochs: Vec<u64> = states.iter().filter_map(|s| s.clone().ok()).collect();
        if problems.is_empty() && epochs.windows(2).all(|w| w[0] == w[1]) {
            return Ok((t.elapsed(), epochs[0]));
        }
        if t.elapsed() > limit {
            let why = if problems.is_empty() {
                format!("epochs differ: {epochs:?}")
            } else {
                problems.join("; ")
            };
            return Err(why);
        }
        std::thread::sleep(POLL);
    }
}

/// Sums over `of` of the migration counters (`cache_migration_keys_moved_total`,
/// `cache_migration_bytes_moved_total`); None when a node does not export them.
pub fn migration_counters(nodes: &Nodes, of: &[usize]) -> (Option<f64>, Option<f64>) {
    let texts: Vec<String> = of.iter().map(|&i| metrics_text(nodes.addrs[i])).collect();
    let sum = |name: &str| -> Option<f64> { texts.iter().map(|t| metric(t, name)).sum() };
    (
        sum("cache_migration_keys_moved_total"),
        sum("cache_migration_bytes_moved_total"),
    )
}

/// Sum over `of` of `migration.keys_moved` in `/admin/cluster`: each node's part of its last
/// move, counted only when that move was of epoch `epoch` or later (a node that had nothing to
/// move in this change still shows the figure of an earlier one).
pub fn migration_keys_reported(nodes: &Nodes, of: &[usize], epoch: u64) -> Option<u64> {
    of.iter()
        .map(|&i| {
            let (_, info) = get(nodes.addrs[i], "/admin/cluster").ok()?;
            let mg = &info["migration"];
            let current = mg["epoch"].as_u64().is_none_or(|e| e >= epoch);
            Some(if current {
                mg["keys_moved"].as_u64()?
            } else {
                0
            })
        })
        .sum()
}

/// The membership epoch node `at` is at (0 when it does not answer).
pub fn epoch_of(nodes: &Nodes, at: usize) -> u64 {
    get(nodes.addrs[at], "/admin/cluster")
        .ok()
        .and_then(|(_, info)| info["epoch"].as_u64())
        .unwrap_or(0)
}

/// For each node of `live`: the entries it holds (its own row of `/admin/cluster`) and its ring
/// share as node `viewer` reports it (`ring_share`, or `share`).
pub fn entries_and_shares(
    nodes: &Nodes,
    viewer: usize,
    live: &[usize],
) -> Result<Vec<super::figures::Share>, String> {
    let (_, view) = get(nodes.addrs[viewer], "/admin/cluster")?;
    let rows = view["nodes"].as_array().cloned().unwrap_or_default();
    live.iter()
        .map(|&i| {
            let (_, own) = get(nodes.addrs[i], "/admin/cluster")?;
            let own_rows = own["nodes"].as_array().cloned().unwrap_or_default();
            let me = own_rows.iter().find(|r| r["id"] == id(i));
            let entries = me.and_then(|r| r["entries"].as_u64());
            let row = rows.iter().find(|r| r["id"] == id(i));
            let share = row.and_then(|r| r["ring_share"].as_f64().or(r["share"].as_f64()));
            match (entries, share) {
                (Some(entries), Some(share)) => Ok(super::figures::Share {
                    id: id(i),
                    entries,
                    share,
                }),
                _ => Err(format!(
                    "{}: no entries in its own row ({me:?}) or no share in {}'s ({row:?})",
                    id(i),
                    id(viewer)
                )),
            }
        })
        .collect()
}
