//! Unit tests: merging across cores, the family table's invariants and the hot-path counters.

use std::collections::HashSet;

use super::counters::FAMILIES;
use super::render::{Kind, Samples};
use super::*;
use crate::storage::ShardStats;

fn facts(peers: &'static [&'static str]) -> NodeFacts<'static> {
    NodeFacts {
        node_id: "n1",
        version: "0.1.0",
        uptime_s: 1.0,
        start_time_s: 2.0,
        max_entries: 10,
        max_bytes: 0,
        draining: false,
        peers,
    }
}

#[test]
fn render_merges_cores_and_names_are_unique() {
    let a = CoreMetrics::default();
    a.request(RouteLabel::Cache, MethodLabel::Get, 200);
    a.request(RouteLabel::Cache, MethodLabel::Get, 404);
    a.latency(120, 2);
    let b = CoreMetrics::default();
    b.request(RouteLabel::Cache, MethodLabel::Get, 200);
    b.request(RouteLabel::Cache, MethodLabel::Put, 400);
    let snaps = [
        a.snapshot(0, ShardStats::default(), HintCounts::default()),
        b.snapshot(1, ShardStats::default(), HintCounts::default()),
    ];
    let text = render(&facts(&[]), &snaps, "");
    assert!(
        text.contains("cache_requests_total{route=\"cache\",method=\"GET\",status=\"200\"} 2\n")
    );
    assert!(
        text.contains("cache_requests_total{route=\"cache\",method=\"GET\",status=\"404\"} 1\n")
    );
    assert!(text.contains("cache_errors_total{kind=\"client\"} 1\n"));
    assert!(text.contains("cache_request_duration_seconds_count 2\n"));
    assert!(text.contains("cache_request_duration_seconds_bucket{le=\"0.00025\"} 2\n"));
    let mut names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| l.split(' ').next().unwrap_or(""))
        .collect();
    assert_eq!(
        names.len(),
        FAMILIES.len() + super::trust::TRUST_COUNT + super::hot::HOT_FAMILIES.len(),
        "one family per table entry, per trust counter and per hot-key family"
    );
    let n = names.len();
    names.sort();
    names.dedup();
    assert_eq!(n, names.len(), "duplicate metric family");
}

/// Sample names a family emits (histograms and summaries add suffixed series).
fn sample_names(name: &str, kind: Kind) -> Vec<String> {
    let suffixes: &[&str] = match kind {
        Kind::Counter | Kind::Gauge => &[""],
        Kind::Histogram => &["_bucket", "_sum", "_count"],
        Kind::Summary => &["", "_sum", "_count"],
    };
    suffixes.iter().map(|s| format!("{name}{s}")).collect()
}

#[test]
fn family_names_are_unique() {
    let mut families = HashSet::new();
    let mut series = HashSet::new();
    for f in FAMILIES {
        assert!(families.insert(f.name), "duplicate family {}", f.name);
        for s in sample_names(f.name, f.kind) {
            assert!(
                series.insert(s.clone()),
                "sample name {s} clashes with another family"
            );
        }
    }
}

#[test]
fn family_kinds_match_sample_shapes() {
    for f in FAMILIES {
        let want = match f.samples {
            Samples::Histogram(_) => Some(Kind::Histogram),
            Samples::Quantiles(_) => Some(Kind::Summary),
            _ => None,
        };
        match want {
            Some(k) => assert_eq!(f.kind, k, "{}", f.name),
            None => assert!(matches!(f.kind, Kind::Counter | Kind::Gauge), "{}", f.name),
        }
        let counter_name = f.name.ends_with("_total");
        assert_eq!(
            counter_name,
            f.kind == Kind::Counter,
            "{}: _total iff counter",
            f.name
        );
        assert!(!f.help.is_empty() && !f.help.contains('\n'), "{}", f.name);
    }
}

#[test]
fn request_slots_and_error_kinds() {
    let m = CoreMetrics::default();
    m.request(RouteLabel::Unknown, MethodLabel::Other, 418); // not in STATUSES: "other"
    m.request(RouteLabel::Cache, MethodLabel::Delete, 404); // not an error
    m.request(RouteLabel::Cache, MethodLabel::Put, 507);
    m.request(RouteLabel::Health, MethodLabel::Head, 0); // lands in a spare slot: never rendered
    assert_eq!((m.errors_client.get(), m.errors_server.get()), (1, 1));
    let text = render(
        &facts(&[]),
        &[m.snapshot(3, ShardStats::default(), HintCounts::default())],
        "",
    );
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("cache_requests_total{"))
        .collect();
    assert_eq!(
        lines,
        [
            "cache_requests_total{route=\"cache\",method=\"PUT\",status=\"507\"} 1",
            "cache_requests_total{route=\"cache\",method=\"DELETE\",status=\"404\"} 1",
            "cache_requests_total{route=\"unknown\",method=\"OTHER\",status=\"other\"} 1",
        ]
    );
    assert!(text.contains("cache_core_requests_total{core=\"3\"} 4\n"));
}

#[test]
fn forwards_count_per_peer_and_ignore_unknown_peers() {
    let m = CoreMetrics::new(2);
    m.forward(1, 2, 5_000);
    m.forward(1, 2, 0); // clamped to 1 µs
    m.forward(7, 0, 10); // no such peer: latency only
    let s = m.snapshot(0, ShardStats::default(), HintCounts::default());
    assert_eq!(s.forwards, [0, 0, 0, 0, 0, 2]);
    assert_eq!(s.forward_latency.len(), 3);
    let text = render(&facts(&["a", "b"]), &[s], "");
    assert!(text.contains("cache_forwarded_requests_total{peer=\"b\",result=\"timeout\"} 2\n"));
    assert!(!text.contains("cache_forwarded_requests_total{peer=\"a\""));
    assert!(text.contains("cache_forward_duration_seconds_count 3\n"));
}

#[test]
fn label_escapes_quotes_backslashes_and_newlines() {
    assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

#[test]
fn replication_counters_sum_over_cores() {
    let a = CoreMetrics::new(3);
    inc(&a.replica_writes);
    inc(&a.replica_writes);
    inc(&a.replica_write_failures);
    inc(&a.failovers);
    let b = CoreMetrics::new(3);
    inc(&b.replica_writes);
    let shard = |tombstones, superseded| ShardStats {
        tombstones,
        superseded,
        ..ShardStats::default()
    };
    let hints = |queued, dropped, bytes, pending: &[u64]| HintCounts {
        queued,
        delivered: queued - 1,
        dropped,
        bytes,
        pending: pending.to_vec(),
    };
    let snaps = [
        a.snapshot(0, shard(4, 7), hints(5, 1, 300, &[0, 2, 1])),
        b.snapshot(1, shard(1, 0), hints(2, 0, 100, &[0, 1])),
    ];
    let text = render(&facts(&["n1", "n2", "n3"]), &snaps, "");
    for want in [
        "cache_replica_writes_total 3\n",
        "cache_replica_write_failures_total 1\n",
        "cache_failovers_total 1\n",
        "cache_hints_queued_total 7\n",
        "cache_hints_delivered_total 5\n",
        "cache_hints_dropped_total 1\n",
        "cache_hints_bytes 400\n",
        "cache_tombstones 5\n",
        "cache_stale_writes_prevented_total 7\n",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    let pending: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("cache_hints_pending{"))
        .collect();
    // This node (n1) has no series; a core's shorter table counts 0 for the missing peers.
    assert_eq!(
        pending,
        [
            "cache_hints_pending{peer=\"n2\"} 3",
            "cache_hints_pending{peer=\"n3\"} 1"
        ]
    );
}

#[test]
fn hints_pending_has_a_series_per_peer_even_when_nothing_waits() {
    let m = CoreMetrics::new(2);
    let s = m.snapshot(0, ShardStats::default(), HintCounts::default());
    let text = render(&facts(&["a", "n1"]), &[s], "");
    assert!(
        text.contains("cache_hints_pending{peer=\"a\"} 0\n"),
        "{text}"
    );
    assert!(!text.contains("cache_hints_pending{peer=\"n1\"}"));
    // A standalone node (only itself in the list) has no series, but the family is declared.
    let alone = render(&facts(&["n1"]), &[], "");
    assert!(alone.contains("# TYPE cache_hints_pending gauge\n"));
    assert!(!alone.contains("cache_hints_pending{"));
}

#[test]
fn member_states_are_one_hot_and_sync_figures_render() {
    let mut o = String::new();
    let sync = SyncFacts {
        syncing: true,
        syncs: 2,
        stalls: 1,
        hints_received: 30,
        keys_repaired: 40,
        bytes_repaired: 5_000,
        last_duration_ms: 1_234,
    };
    render_replication(&mut o, &[("n1", "syncing"), ("n\"2", "down")], &sync);
    let states: Vec<&str> = o
        .lines()
        .filter(|l| l.starts_with("cache_cluster_node_state{"))
        .collect();
    assert_eq!(
        states,
        [
            "cache_cluster_node_state{node=\"n1\",state=\"up\"} 0",
            "cache_cluster_node_state{node=\"n1\",state=\"down\"} 0",
            "cache_cluster_node_state{node=\"n1\",state=\"syncing\"} 1",
            "cache_cluster_node_state{node=\"n1\",state=\"draining\"} 0",
            "cache_cluster_node_state{node=\"n\\\"2\",state=\"up\"} 0",
            "cache_cluster_node_state{node=\"n\\\"2\",state=\"down\"} 1",
            "cache_cluster_node_state{node=\"n\\\"2\",state=\"syncing\"} 0",
            "cache_cluster_node_state{node=\"n\\\"2\",state=\"draining\"} 0",
        ]
    );
    for want in [
        "# TYPE cache_syncing gauge\ncache_syncing 1\n",
        "# TYPE cache_sync_total counter\ncache_sync_total 2\n",
        "cache_stalls_total 1\n",
        "cache_sync_hints_received_total 30\n",
        "cache_repair_keys_total 40\n",
        "cache_repair_bytes_total 5000\n",
        "# TYPE cache_sync_last_duration_seconds gauge\ncache_sync_last_duration_seconds 1.234\n",
    ] {
        assert!(o.contains(want), "missing {want:?} in\n{o}");
    }
    // Same naming rules as the table: `_total` iff counter, one HELP and TYPE per family.
    for line in o.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
        let (name, kind) = line.split_once(' ').unwrap_or_default();
        assert_eq!(name.ends_with("_total"), kind == "counter", "{line}");
        assert!(o.contains(&format!("# HELP {name} ")), "{name}");
        assert!(
            FAMILIES.iter().all(|f| f.name != name),
            "{name} also in FAMILIES"
        );
    }
}
