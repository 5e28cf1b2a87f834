//! The node-wide replication series of `/admin/metrics`: each member's state as this node sees
//! it (one-hot) and this node's catch-up progress. The server layer gathers the plain values
//! (membership and sync atomics) and this module renders them, so the shapes are unit-tested here.

use std::fmt::Write as _;

use super::render::{family, label};

/// The member states, in the order their series are written (the `state` label values).
pub(crate) const NODE_STATES: [&str; 4] = ["up", "down", "syncing", "draining"];

/// This node's catch-up figures (cumulative since start, except `syncing` and the last duration).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct SyncFacts {
    /// This node's own state is syncing now.
    pub syncing: bool,
    /// Catch-ups completed.
    pub syncs: u64,
    /// Stalls detected (each starts a catch-up).
    pub stalls: u64,
    /// Hints received from peers while catching up.
    pub hints_received: u64,
    /// Entries fetched by repair.
    pub keys_repaired: u64,
    /// Bytes of keys and values fetched by repair.
    pub bytes_repaired: u64,
    /// Duration of the last completed catch-up in ms (0 before the first).
    pub last_duration_ms: u64,
}

/// Append the replication families. `states` is (member id, state label) in ring order, this node
/// included; a label outside [`NODE_STATES`] gets 0 in every series.
pub(crate) fn render_replication(o: &mut String, states: &[(&str, &str)], s: &SyncFacts) {
    family(
        o,
        "cache_cluster_node_state",
        "gauge",
        "This node's view of each member's state (itself included): 1 for the current one of up, down, syncing, draining.",
    );
    for &(node, now) in states {
        let node = label(node);
        for state in NODE_STATES {
            let v = u8::from(state == now);
            let _ = writeln!(
                o,
                "cache_cluster_node_state{{node=\"{node}\",state=\"{state}\"}} {v}"
            );
        }
    }
    family(
        o,
        "cache_syncing",
        "gauge",
        "1 while this node catches up from its peers (health answers 503; it coordinates no key).",
    );
    let _ = writeln!(o, "cache_syncing {}", u8::from(s.syncing));
    let counters = [
        (
            "cache_sync_total",
            "Catch-ups from peers completed (at start, after a pause or a stall).",
            s.syncs,
        ),
        (
            "cache_stalls_total",
            "Times a core found the process had stood still (SIGSTOP, VM pause, starvation); each starts a catch-up.",
            s.stalls,
        ),
        (
            "cache_sync_hints_received_total",
            "Hints received from peers while catching up.",
            s.hints_received,
        ),
        (
            "cache_repair_keys_total",
            "Entries (values and tombstones) fetched from peers by repair because their digests differed.",
            s.keys_repaired,
        ),
        (
            "cache_repair_bytes_total",
            "Bytes of keys and values fetched from peers by repair.",
            s.bytes_repaired,
        ),
    ];
    for (name, help, value) in counters {
        family(o, name, "counter", help);
        let _ = writeln!(o, "{name} {value}");
    }
    family(
        o,
        "cache_sync_last_duration_seconds",
        "gauge",
        "Duration of the last completed catch-up (0 before the first).",
    );
    let secs = s.last_duration_ms as f64 / 1000.0;
    let _ = writeln!(o, "cache_sync_last_duration_seconds {secs:.3}");
}
