//! The figures the closing note asks for, computed from a history and the ring alone
//! (pure, so `figures_tests.rs` checks them on fabricated input): foreground latency in a window,
//! how evenly the entries are spread against the ring shares, and how many copies a membership
//! change should move.

use std::time::{Duration, Instant};

use dcache::cluster::ring::Ring;

use crate::cluster_common::VNODES;
use crate::faults::history::Event;

/// The `q` quantile (0..=1, nearest rank) of `latencies`, sorted in place; None when empty.
pub fn quantile(latencies: &mut [Duration], q: f64) -> Option<Duration> {
    if latencies.is_empty() {
        return None;
    }
    latencies.sort_unstable();
    let rank = (q * latencies.len() as f64).ceil() as usize;
    Some(latencies[rank.clamp(1, latencies.len()) - 1])
}

/// The p99 of the answered load operations (not the final reads) invoked in `[from, to)`, and
/// how many there were. Failed and unanswered ones are left out: they are counted elsewhere,
/// and a timeout would stand for the client's limit rather than for the cluster.
pub fn p99(events: &[Event], from: Instant, to: Instant) -> (Option<Duration>, usize) {
    let mut lat: Vec<Duration> = events
        .iter()
        .filter(|e| !e.final_read && e.succeeded() && e.invoke >= from && e.invoke < to)
        .map(|e| e.complete.saturating_duration_since(e.invoke))
        .collect();
    (quantile(&mut lat, 0.99), lat.len())
}

/// `12.3ms`, or `-` for no figure.
pub fn ms(d: Option<Duration>) -> String {
    d.map_or_else(|| "-".into(), |d| format!("{:.1}ms", d.as_secs_f64() * 1e3))
}

/// One member's entries and the fraction of the hash space the ring gives it.
#[derive(Clone, Debug)]
pub struct Share {
    pub id: String,
    pub entries: u64,
    pub share: f64,
}

/// One row of the distribution table.
#[derive(Clone, Debug)]
pub struct Spread {
    pub id: String,
    pub entries: u64,
    /// `share` × every member's entries: what this member would hold if copies followed the
    /// ring exactly.
    pub expected: f64,
    /// Percentage points between this member's fraction of the entries and its share.
    pub off_points: f64,
}

/// Each member's entries against its ring share (shares renormalised over `rows`, so a member
/// that is not listed does not count), and the largest gap in percentage points.
pub fn spread(rows: &[Share]) -> (Vec<Spread>, f64) {
    let total: u64 = rows.iter().map(|r| r.entries).sum();
    let shares: f64 = rows.iter().map(|r| r.share).sum();
    let out: Vec<Spread> = rows
        .iter()
        .map(|r| {
            let share = if shares > 0.0 { r.share / shares } else { 0.0 };
            let fraction = if total > 0 {
                r.entries as f64 / total as f64
            } else {
                0.0
            };
            Spread {
                id: r.id.clone(),
                entries: r.entries,
                expected: share * total as f64,
                off_points: (fraction - share) * 100.0,
            }
        })
        .collect();
    let worst = out.iter().map(|s| s.off_points.abs()).fold(0.0, f64::max);
    (out, worst)
}

/// The ring the nodes build from `ids`.
pub fn ring_of(ids: &[String]) -> Ring {
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    Ring::new(&ids, VNODES).expect("valid ring")
}

/// Node ids of `key`'s `replicas` copies in `ring`.
pub fn holders(ring: &Ring, key: &str, replicas: usize) -> Vec<String> {
    ring.preference(key.as_bytes(), replicas)
        .iter()
        .map(|i| ring.node_id(i).to_string())
        .collect()
}

/// Copies of `keys` that a change from ring `before` to ring `after` gives a new holder (each
/// key counts once per member of its new replica set that was not in its old one).
pub fn copies_to_move(before: &Ring, after: &Ring, replicas: usize, keys: &[String]) -> usize {
    keys.iter()
        .map(|k| {
            let old = holders(before, k, replicas);
            holders(after, k, replicas)
                .iter()
                .filter(|n| !old.contains(n))
                .count()
        })
        .sum()
}

/// For each id of `ring`: how many of `keys` it should hold with `replicas` copies.
pub fn placement(ring: &Ring, replicas: usize, keys: &[String]) -> Vec<(String, usize)> {
    let mut counts: Vec<(String, usize)> = (0..ring.node_count())
        .map(|i| (ring.node_id(i).to_string(), 0))
        .collect();
    for k in keys {
        for i in ring.preference(k.as_bytes(), replicas).iter() {
            counts[i].1 += 1;
        }
    }
    counts
}

#[cfg(test)]
#[path = "figures_tests.rs"]
mod tests;
