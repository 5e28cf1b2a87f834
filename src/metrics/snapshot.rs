//! Owned, plain-integer copies of the metrics that cross cores at scrape time ([`CoreSnapshot`]) and
//! the node-level facts ([`NodeFacts`]) rendered beside them.

use hdrhistogram::Histogram;

use crate::storage::ShardStats;

/// An owned copy of one core's metrics, sent across cores at scrape time. Fields mirror
/// [`CoreMetrics`](super::CoreMetrics); `shard` holds the core's storage counters.
#[derive(Clone)]
pub(crate) struct CoreSnapshot {
    /// Core index (the `core` label).
    pub core: usize,
    /// Responses per (route, method, status slot).
    pub requests: Vec<u64>,
    /// Request latency in µs.
    pub latency: Histogram<u64>,
    /// Open client connections.
    pub connections_active: u64,
    /// Bytes of connection buffers held.
    pub connection_buffer_bytes: u64,
    /// Client connections accepted.
    pub connections_accepted: u64,
    /// Connections refused at `max_connections`.
    pub connections_rejected: u64,
    /// Keep-alive connections closed when idle.
    pub idle_closed: u64,
    /// Requests answered 408.
    pub request_timeouts: u64,
    /// Key operations sent to another core.
    pub cross_core_calls: u64,
    /// Copies of writes sent to other replicas.
    pub replica_writes: u64,
    /// Copies a replica did not take (hinted instead).
    pub replica_write_failures: u64,
    /// Forwards sent on to the key's next replica.
    pub failovers: u64,
    /// 4xx responses except 404.
    pub errors_client: u64,
    /// 5xx responses.
    pub errors_server: u64,
    /// Forwarded requests per (peer, result).
    pub forwards: Vec<u64>,
    /// Forward round-trip time in µs.
    pub forward_latency: Histogram<u64>,
    /// Batches of requests written to peers: forwards, replica copies, invalidations. Set from
    /// the core's peer client at scrape time (the cluster layer knows no metrics).
    pub peer_batches: u64,
    /// The core shard's storage counters and gauges.
    pub shard: ShardStats,
    /// The core's hints (writes kept for replicas that could not take them).
    pub hints: HintCounts,
    /// The trust counters, indexed by `Trust`.
    pub trust: [u64; super::trust::TRUST_COUNT],
    /// Flushes applied on this node by this core.
    pub flushes: u64,
    /// Hot-key figures (the `keys` gauge is set from the core's tracker by the scrape).
    pub hot: super::hot::HotCounts,
}

/// One core's hinted hand-off figures, copied from its hint queues at scrape time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct HintCounts {
    /// Hints kept (cumulative).
    pub queued: u64,
    /// Hints delivered and confirmed by their replica (cumulative).
    pub delivered: u64,
    /// Hints dropped because a bound was hit (cumulative): that replica needs a repair.
    pub dropped: u64,
    /// Accounted bytes of the hints waiting now (gauge).
    pub bytes: u64,
    /// Hints waiting now per cluster member, in ring order (labels: `NodeFacts::peers`).
    pub pending: Vec<u64>,
}

/// Node-level facts that are not per core.
pub(crate) struct NodeFacts<'a> {
    /// This node's id (label of `cache_node_info`).
    pub node_id: &'a str,
    /// Build version (label of `cache_node_info`).
    pub version: &'a str,
    /// Seconds since start.
    pub uptime_s: f64,
    /// Process start, seconds since the unix epoch.
    pub start_time_s: f64,
    /// Configured `cache_size`.
    pub max_entries: u64,
    /// Configured `max_memory` (0 = unlimited).
    pub max_bytes: u64,
    /// True while shutting down.
    pub draining: bool,
    /// Cluster member ids in ring order (labels for per-peer series).
    pub peers: &'a [&'a str],
}
