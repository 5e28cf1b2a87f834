//! Golden test: the rendered exposition must stay byte-for-byte what the pre-table `render` produced
//! (alerts, dashboards and integration tests match on names, label sets and order); families added
//! since (replication: replica writes, failovers, hints, tombstones, stale writes) come after them.

use hdrhistogram::Histogram;

use super::*;
use crate::storage::ShardStats;

/// A histogram holding `values` (µs), each recorded `n` times.
fn hist(values: &[(u64, u64)]) -> Histogram<u64> {
    let mut h = Histogram::new_with_bounds(1, 60_000_000, 2).expect("valid bounds");
    for &(v, n) in values {
        h.record_n(v, n).expect("in range");
    }
    h
}

/// A snapshot with distinct non-zero values in every field; `k` varies them between cores.
/// `pending` is the length of the per-peer hint gauges (shorter than the peer list = missing 0).
fn snapshot(core: usize, k: u64, requests: usize, forwards: usize, pending: usize) -> CoreSnapshot {
    CoreSnapshot {
        core,
        // Every fifth slot (co-prime with the 24 status slots, so every status, the unused
        // status-0 slot and the "other" slot all get hits), the rest zero (skipped in output).
        requests: (0..requests as u64)
            .map(|i| if i % 5 == k % 5 { i * k + 1 } else { 0 })
            .collect(),
        latency: hist(&[
            (3 * k, 5),
            (70 + k, 7),
            (260, k),
            (9_000, 2),
            (3_000_000, 1),
        ]),
        connections_active: 10 + k,
        connection_buffer_bytes: 17_000 + k,
        connections_accepted: 20 + k,
        connections_rejected: 30 + k,
        idle_closed: 40 + k,
        request_timeouts: 50 + k,
        cross_core_calls: 60 + k,
        replica_writes: 90 + k,
        replica_write_failures: 100 + k,
        failovers: 110 + k,
        errors_client: 70 + k,
        errors_server: 80 + k,
        forwards: (0..forwards as u64)
            .map(|i| if i == 4 { 0 } else { 100 * k + i })
            .collect(),
        forward_latency: hist(&[(400 * k, 3), (1_500, k), (30_000_000, 1)]),
        peer_batches: 210 + k,
        shard: ShardStats {
            hits: 1_000 + k,
            misses: 2_000 + k,
            evictions: 3_000 + k,
            expirations: 4_000 + k,
            entries: 5_000 + k,
            bytes: 6_000_000 + k,
            sets: 7_000 + k,
            deletes: 8_000 + k,
            tombstones: 9_000 + k,
            superseded: 10_000 + k,
            flushed: 10_500 + k,
        },
        hints: HintCounts {
            queued: 11_000 + k,
            delivered: 12_000 + k,
            dropped: 13_000 + k,
            bytes: 14_000 + k,
            pending: (0..pending as u64).map(|i| 100 * k + i).collect(),
        },
        trust: std::array::from_fn(|i| 20_000 + 100 * i as u64 + k),
        flushes: 30_000 + k,
        hot: hot::HotCounts {
            keys: 31_000 + k,
            copy_reads_core: 32_000 + k,
            copy_reads_node: 33_000 + k,
            copy_fills_core: 34_000 + k,
            copy_fills_node: 35_000 + k,
            invalidations_sent: 36_000 + k,
            invalidations_received: 37_000 + k,
            lease_waits: 38_000 + k,
            forward_coalesced: 39_000 + k,
        },
    }
}

/// Node facts with awkward label values (escaping) and three peers.
fn facts() -> NodeFacts<'static> {
    NodeFacts {
        node_id: "n\"1\\x\ny",
        version: "1.2.3-rc.4",
        uptime_s: 1234.56789,
        start_time_s: 1_700_000_000.123_6,
        max_entries: 123_456,
        max_bytes: 987_654_321,
        draining: true,
        peers: &["n\"1\\x\ny", "node-b", "node-c"],
    }
}

/// The text `render` produces for the fixture.
pub(super) fn rendered() -> String {
    let all = CoreMetrics::new(3);
    let snaps = [
        // A snapshot taken through the real path too (short forward table is fine: missing = 0).
        snapshot(
            0,
            2,
            all.snapshot(0, ShardStats::default(), HintCounts::default())
                .requests
                .len(),
            9,
            3,
        ),
        snapshot(1, 3, 17, 5, 2),
    ];
    render(&facts(), &snaps, "# HELP extra_metric x\nextra_metric 1\n")
}

#[test]
fn render_matches_golden() {
    let want = include_str!("golden_render.txt");
    let got = rendered();
    // `BLESS_GOLDEN=1 cargo test --lib golden` rewrites the file after an intended change (review
    // the diff: dashboards and alerts match on these names).
    if std::env::var_os("BLESS_GOLDEN").is_some() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/metrics/golden_render.txt");
        std::fs::write(path, &got).expect("write golden_render.txt");
        return;
    }
    if got != want {
        for (i, (g, w)) in got.lines().zip(want.lines()).enumerate() {
            assert_eq!(g, w, "first difference at line {}", i + 1);
        }
        assert_eq!(got.len(), want.len(), "same prefix, different length");
    }
}
