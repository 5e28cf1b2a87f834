//! `/admin/cluster` and `/admin/metrics` of a test cluster's nodes: membership as each node sees
//! it, local entries, metric samples, and waiting until the cluster has settled.

use std::net::SocketAddr;
use std::time::Duration;

use super::http::call;
use super::topology::IDS;

pub fn cluster_info(addr: SocketAddr) -> serde_json::Value {
    let r = call(addr, "GET", "/admin/cluster", &[], None);
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

/// The state (`self`, `up`, `down`) node `at` reports for member `of`.
pub fn state_seen(addr: SocketAddr, of: usize) -> String {
    let info = cluster_info(addr);
    info["nodes"]
        .as_array()
        .expect("nodes array")
        .iter()
        .find(|n| n["id"] == IDS[of])
        .and_then(|n| n["state"].as_str())
        .unwrap_or("<absent>")
        .to_string()
}

/// Whether `/admin/cluster` document `info` shows member `of` up by a probe that answered: a
/// peer starts up before its first probe, and a probe that failed while it was still starting
/// counts toward `fail_after` until one succeeds, so a test that kills it meanwhile would see it
/// marked down after fewer failures than it waits for.
fn probed_up(info: &serde_json::Value, of: usize) -> bool {
    info["nodes"].as_array().is_some_and(|nodes| {
        nodes.iter().any(|n| {
            n["id"] == IDS[of]
                && n["state"] == "up"
                && n.get("last_probe_ms_ago").is_some()
                && n.get("last_error").is_none_or(|e| e.as_str() == Some(""))
        })
    })
}

/// Entries node `addr` holds locally (its own member row in `/admin/cluster`).
pub fn local_entries(addr: SocketAddr) -> u64 {
    let info = cluster_info(addr);
    let me = info["node_id"].clone();
    info["nodes"]
        .as_array()
        .expect("nodes array")
        .iter()
        .find(|n| n["id"] == me)
        .and_then(|n| n["entries"].as_u64())
        .expect("entries of self")
}

/// Wait until every node in `live` has caught up itself (`status: healthy`) and reports every
/// other node in `live` as up. Its own status is checked too: a node starts by catching up, and
/// its peers may still see it up until they hear so, which let a test take its "nothing changes
/// from here" figures before the start had settled (a CI run saw `ring_changes` move after).
pub fn wait_all_up(addrs: &[SocketAddr], live: &[usize], limit: Duration) {
    let ok = crate::common::eventually(limit, || {
        live.iter().all(|&at| {
            let info = cluster_info(addrs[at]);
            info["status"] == "healthy"
                && live
                    .iter()
                    .filter(|&&of| of != at)
                    .all(|&of| probed_up(&info, of))
        })
    });
    assert!(
        ok,
        "cluster members did not all see each other up within {limit:?}"
    );
}

pub fn metrics(addr: SocketAddr) -> String {
    let r = call(addr, "GET", "/admin/metrics", &[], None);
    assert_eq!(r.status, 200, "{}", r.text());
    r.text()
}

/// The value of one exact series (`name{labels}` as printed), if present.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// Sum of every series of metric `name` (all label sets).
pub fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let rest = l.strip_prefix(name)?;
            if !(rest.starts_with('{') || rest.starts_with(' ')) {
                return None;
            }
            rest.rsplit(' ').next()?.parse::<f64>().ok()
        })
        .sum()
}

/// `cache_ring_changes_total` of each node in `addrs`.
pub fn ring_changes(addrs: &[SocketAddr]) -> Vec<f64> {
    addrs
        .iter()
        .map(|a| metric(&metrics(*a), "cache_ring_changes_total").unwrap_or(f64::NAN))
        .collect()
}

/// Wait until every node in `live` has caught up from its peers (`/api/v1/health` 200, not
/// `syncing`) and sees every other one in `live` up. A node that starts counts its peers'
/// start-up (syncing, then up) as membership changes; once this returns the cluster is settled,
/// so `ring_changes` taken then is the baseline a test that expects no change compares with.
pub fn wait_serving(addrs: &[SocketAddr], live: &[usize], limit: Duration) {
    let ok = crate::common::eventually(limit, || {
        live.iter().all(|&n| crate::common::healthy(addrs[n]))
    });
    assert!(ok, "cluster members did not all catch up within {limit:?}");
    wait_all_up(addrs, live, limit);
}
