//! One core's live counters and, next to them, the table of Prometheus families read from their
//! snapshots.
//!
//! To add a metric: add the counter field (and its copy in [`CoreSnapshot`]), then one [`FAMILIES`]
//! entry.

use std::cell::{Cell, RefCell};

use hdrhistogram::Histogram;

use super::labels::{request_index, status_slot, MethodLabel, RouteLabel, CELLS};
use super::latency::Latency;
use super::render::{Family, Kind, Samples};
use super::snapshot::{CoreSnapshot, HintCounts};
use crate::storage::ShardStats;

/// Request latency is recorded in microseconds, up to one minute, 2 significant digits (~1% error).
pub(super) const LATENCY_MAX_US: u64 = 60_000_000;
const LATENCY_SIGFIG: u8 = 2;

/// An empty latency histogram (µs) with the bounds every core uses, so histograms merge.
pub(super) fn new_histogram() -> Histogram<u64> {
    // Bounds are constants known to be valid, so construction cannot fail at run time.
    Histogram::new_with_bounds(1, LATENCY_MAX_US, LATENCY_SIGFIG).expect("valid histogram bounds")
}

/// One core's live counters. Owned by the core; only it writes them (plain `Cell`s, no atomics).
pub(crate) struct CoreMetrics {
    /// Responses per (route, method, status slot); see `labels::request_index`.
    requests: Box<[Cell<u64>]>,
    /// Request latency in µs.
    latency: Latency,
    /// Open client connections on this core (gauge).
    pub connections_active: Cell<u64>,
    /// Bytes of read and write buffers this core's connections hold (gauge; an idle connection
    /// gives its buffers back).
    pub connection_buffer_bytes: Cell<u64>,
    /// Client connections accepted.
    pub connections_accepted: Cell<u64>,
    /// Connections refused with 503 at `max_connections`.
    pub connections_rejected: Cell<u64>,
    /// Keep-alive connections closed after the idle timeout.
    pub idle_closed: Cell<u64>,
    /// Requests answered 408 because head or body was too slow.
    pub request_timeouts: Cell<u64>,
    /// Key operations sent to another core's shard.
    pub cross_core_calls: Cell<u64>,
    /// Copies of writes sent to other replicas (this node coordinated the write).
    pub replica_writes: Cell<u64>,
    /// Copies a replica did not take (refused, unreachable, no answer in time): hinted instead.
    pub replica_write_failures: Cell<u64>,
    /// Forwards sent on to the key's next replica because the node tried could not answer.
    pub failovers: Cell<u64>,
    /// 4xx responses except 404 (counted by [`CoreMetrics::request`]).
    pub errors_client: Cell<u64>,
    /// 5xx responses (counted by [`CoreMetrics::request`]).
    pub errors_server: Cell<u64>,
    /// Forwarded requests per (peer, result): result 0 ok, 1 error, 2 timeout.
    forwards: Box<[Cell<u64>]>,
    /// Forward round-trip time in µs.
    forward_latency: RefCell<Histogram<u64>>,
    /// Refused credentials, TLS handshakes and the bounds that turned load away.
    pub trust: super::trust::TrustCounters,
    /// Flushes (`DELETE /admin/cache`) applied on this node, counted on the core that ran them.
    pub flushes: Cell<u64>,
    /// Hot keys (issue 13; families in `metrics::hot`): reads answered from a read copy on the
    /// requesting core / on a non-owner node, copies installed there, invalidations sent by the
    /// owner / received by a holder, writes that waited out a lease, GETs that joined a forward.
    pub hot_copy_reads_core: Cell<u64>,
    pub hot_copy_reads_node: Cell<u64>,
    pub hot_copy_fills_core: Cell<u64>,
    pub hot_copy_fills_node: Cell<u64>,
    pub hot_invalidations_sent: Cell<u64>,
    pub hot_invalidations_received: Cell<u64>,
    pub hot_lease_waits: Cell<u64>,
    pub forward_coalesced: Cell<u64>,
}

/// Every exposed family, in exposition order (dashboards and alerts depend on names and order).
/// Each entry says how to read its samples from the [`CoreSnapshot`]s (summed over cores unless
/// the shape says otherwise) or from `NodeFacts`.
pub(super) static FAMILIES: &[Family] = &[
    Family {
        name: "cache_node_info",
        kind: Kind::Gauge,
        help: "Build and identity of this node (always 1).",
        samples: Samples::Info,
    },
    Family {
        name: "cache_uptime_seconds",
        kind: Kind::Gauge,
        help: "Seconds since the node started.",
        samples: Samples::FactSecs(|f| f.uptime_s),
    },
    Family {
        name: "process_start_time_seconds",
        kind: Kind::Gauge,
        help: "Start time of the process since unix epoch in seconds.",
        samples: Samples::FactSecs(|f| f.start_time_s),
    },
    Family {
        name: "cache_draining",
        kind: Kind::Gauge,
        help: "1 while the node is shutting down and refuses new work.",
        samples: Samples::Fact(|f| u64::from(f.draining)),
    },
    Family {
        name: "cache_requests_total",
        kind: Kind::Counter,
        help: "HTTP responses sent, by route, method and status.",
        samples: Samples::Requests,
    },
    Family {
        name: "cache_errors_total",
        kind: Kind::Counter,
        help: "Error responses: kind=client (4xx except 404), kind=server (5xx).",
        samples: Samples::Split(
            "kind",
            &[
                ("client", |c| c.errors_client),
                ("server", |c| c.errors_server),
            ],
        ),
    },
    Family {
        name: "cache_hits_total",
        kind: Kind::Counter,
        help: "Lookups that found a live key (reads answered from a hot key's read copy included).",
        // A read answered from a copy found the key as surely as a shard lookup: leaving it out
        // would make a hot-key load look like a falling hit rate (the CacheLowHitRate alert).
        samples: Samples::Sum(|c| c.shard.hits + c.hot.copy_reads_core + c.hot.copy_reads_node),
    },
    Family {
        name: "cache_misses_total",
        kind: Kind::Counter,
        help: "Lookups that found no live key.",
        samples: Samples::Sum(|c| c.shard.misses),
    },
    Family {
        name: "cache_sets_total",
        kind: Kind::Counter,
        help: "Keys stored (created or replaced).",
        samples: Samples::Sum(|c| c.shard.sets),
    },
    Family {
        name: "cache_deletes_total",
        kind: Kind::Counter,
        help: "Keys deleted by request.",
        samples: Samples::Sum(|c| c.shard.deletes),
    },
    Family {
        name: "cache_evictions_total",
        kind: Kind::Counter,
        help: "Keys evicted by the LRU to respect cache_size/max_memory.",
        samples: Samples::Sum(|c| c.shard.evictions),
    },
    Family {
        name: "cache_expirations_total",
        kind: Kind::Counter,
        help: "Keys removed because their TTL passed.",
        samples: Samples::Sum(|c| c.shard.expirations),
    },
    Family {
        name: "cache_cross_core_calls_total",
        kind: Kind::Counter,
        help: "Key operations sent to another core's shard.",
        samples: Samples::Sum(|c| c.cross_core_calls),
    },
    Family {
        name: "cache_request_timeouts_total",
        kind: Kind::Counter,
        help: "Requests answered 408 because head or body did not arrive in time.",
        samples: Samples::Sum(|c| c.request_timeouts),
    },
    Family {
        name: "cache_entries",
        kind: Kind::Gauge,
        help: "Live keys held by this node.",
        samples: Samples::Sum(|c| c.shard.entries),
    },
    Family {
        name: "cache_bytes",
        kind: Kind::Gauge,
        help: "Bytes of keys, values and per-entry overhead held by this node.",
        samples: Samples::Sum(|c| c.shard.bytes),
    },
    Family {
        name: "cache_max_entries",
        kind: Kind::Gauge,
        help: "Configured cache_size (entries).",
        samples: Samples::Fact(|f| f.max_entries),
    },
    Family {
        name: "cache_max_bytes",
        kind: Kind::Gauge,
        help: "Configured max_memory in bytes (0 = unlimited).",
        samples: Samples::Fact(|f| f.max_bytes),
    },
    Family {
        name: "cache_connections_active",
        kind: Kind::Gauge,
        help: "Open client connections.",
        samples: Samples::Sum(|c| c.connections_active),
    },
    Family {
        name: "cache_connection_buffer_bytes",
        kind: Kind::Gauge,
        help: "Bytes of read and write buffers held by client connections (an idle one gives its buffers back after 250 ms).",
        samples: Samples::Sum(|c| c.connection_buffer_bytes),
    },
    Family {
        name: "cache_connections_accepted_total",
        kind: Kind::Counter,
        help: "Client connections accepted.",
        samples: Samples::Sum(|c| c.connections_accepted),
    },
    Family {
        name: "cache_connections_rejected_total",
        kind: Kind::Counter,
        help: "Connections refused with 503 at max_connections.",
        samples: Samples::Sum(|c| c.connections_rejected),
    },
    Family {
        name: "cache_connections_idle_closed_total",
        kind: Kind::Counter,
        help: "Keep-alive connections closed after the idle timeout.",
        samples: Samples::Sum(|c| c.idle_closed),
    },
    Family {
        name: "cache_core_requests_total",
        kind: Kind::Counter,
        help: "Requests answered, per worker core.",
        samples: Samples::PerCore(|c| c.requests.iter().sum()),
    },
    Family {
        name: "cache_core_entries",
        kind: Kind::Gauge,
        help: "Live keys per core shard.",
        samples: Samples::PerCore(|c| c.shard.entries),
    },
    Family {
        name: "cache_request_duration_seconds",
        kind: Kind::Histogram,
        help: "Server time from a parsed request to its encoded response.",
        samples: Samples::Histogram(|c| &c.latency),
    },
    Family {
        name: "cache_request_duration_quantile_seconds",
        kind: Kind::Summary,
        help: "Exact latency quantiles since start (hdrhistogram, ~1% precision).",
        samples: Samples::Quantiles(|c| &c.latency),
    },
    Family {
        name: "cache_forwarded_requests_total",
        kind: Kind::Counter,
        help: "Requests forwarded to the owning node, by peer and result.",
        samples: Samples::Forwards,
    },
    Family {
        name: "cache_forward_duration_seconds",
        kind: Kind::Histogram,
        help: "Time to forward a request to its owner and read the answer.",
        samples: Samples::Histogram(|c| &c.forward_latency),
    },
    Family {
        name: "cache_peer_batches_total",
        kind: Kind::Counter,
        help: "Batches of requests sent to peers, one write each (forwards, replica copies, invalidations): under reads only, forwards per batch = cache_forwarded_requests_total / this.",
        samples: Samples::Sum(|c| c.peer_batches),
    },
    Family {
        name: "cache_replica_writes_total",
        kind: Kind::Counter,
        help: "Copies of writes this node coordinated sent to the key's other replicas.",
        samples: Samples::Sum(|c| c.replica_writes),
    },
    Family {
        name: "cache_replica_write_failures_total",
        kind: Kind::Counter,
        help: "Replica copies not taken (refused, unreachable, no answer in time): kept as hints.",
        samples: Samples::Sum(|c| c.replica_write_failures),
    },
    Family {
        name: "cache_failovers_total",
        kind: Kind::Counter,
        help: "Forwards sent on to the key's next replica because the node tried could not answer.",
        samples: Samples::Sum(|c| c.failovers),
    },
    Family {
        name: "cache_hints_queued_total",
        kind: Kind::Counter,
        help: "Writes kept as hints for a replica that could not take them.",
        samples: Samples::Sum(|c| c.hints.queued),
    },
    Family {
        name: "cache_hints_delivered_total",
        kind: Kind::Counter,
        help: "Hints delivered to their replica.",
        samples: Samples::Sum(|c| c.hints.delivered),
    },
    Family {
        name: "cache_hints_dropped_total",
        kind: Kind::Counter,
        help: "Hints dropped at cluster.hint_max_entries/hint_max_bytes (the replica catches up by repair).",
        samples: Samples::Sum(|c| c.hints.dropped),
    },
    Family {
        name: "cache_hints_pending",
        kind: Kind::Gauge,
        help: "Hints waiting for each peer.",
        samples: Samples::Peers(|c| &c.hints.pending),
    },
    Family {
        name: "cache_hints_bytes",
        kind: Kind::Gauge,
        help: "Accounted bytes of the hints waiting, all peers.",
        samples: Samples::Sum(|c| c.hints.bytes),
    },
    Family {
        name: "cache_tombstones",
        kind: Kind::Gauge,
        help: "Delete tombstones held (kept at least tombstone_ttl).",
        samples: Samples::Sum(|c| c.shard.tombstones),
    },
    Family {
        name: "cache_stale_writes_prevented_total",
        kind: Kind::Counter,
        help: "Versioned writes refused because a newer version of the key was stored, or a later flush covered it.",
        samples: Samples::Sum(|c| c.shard.superseded),
    },
    Family {
        name: "cache_flushes_total",
        kind: Kind::Counter,
        help: "Flushes (DELETE /admin/cache) applied on this node, missed ones delivered late included.",
        samples: Samples::Sum(|c| c.flushes),
    },
    Family {
        name: "cache_flushed_keys_total",
        kind: Kind::Counter,
        help: "Live keys deleted on this node by flushes (each replica counts its copy).",
        samples: Samples::Sum(|c| c.shard.flushed),
    },
];

/// Labels of the forward result slots.
pub(super) const FORWARD_RESULTS: [&str; 3] = ["ok", "error", "timeout"];

/// Index of the forward counter for (peer, result slot).
#[inline]
pub(super) const fn forward_index(peer: usize, result: usize) -> usize {
    peer * FORWARD_RESULTS.len() + result
}

/// Bump a counter by one (wrapping: counters never panic on the request path).
#[inline]
pub(crate) fn inc(c: &Cell<u64>) {
    c.set(c.get().wrapping_add(1));
}

impl Default for CoreMetrics {
    /// Counters for a node without cluster peers.
    fn default() -> Self {
        Self::new(0)
    }
}

impl CoreMetrics {
    /// Counters for a node with `peers` cluster members (forward counters per member).
    pub(crate) fn new(peers: usize) -> Self {
        let zeros = |n: usize| (0..n).map(|_| Cell::new(0)).collect();
        CoreMetrics {
            requests: zeros(CELLS),
            latency: Latency::new(new_histogram()),
            connections_active: Cell::new(0),
            connection_buffer_bytes: Cell::new(0),
            connections_accepted: Cell::new(0),
            connections_rejected: Cell::new(0),
            idle_closed: Cell::new(0),
            request_timeouts: Cell::new(0),
            cross_core_calls: Cell::new(0),
            replica_writes: Cell::new(0),
            replica_write_failures: Cell::new(0),
            failovers: Cell::new(0),
            errors_client: Cell::new(0),
            errors_server: Cell::new(0),
            forwards: zeros(forward_index(peers, 0)),
            forward_latency: RefCell::new(new_histogram()),
            trust: Default::default(),
            flushes: Cell::new(0),
            hot_copy_reads_core: Cell::new(0),
            hot_copy_reads_node: Cell::new(0),
            hot_copy_fills_core: Cell::new(0),
            hot_copy_fills_node: Cell::new(0),
            hot_invalidations_sent: Cell::new(0),
            hot_invalidations_received: Cell::new(0),
            hot_lease_waits: Cell::new(0),
            forward_coalesced: Cell::new(0),
        }
    }

    /// Count one response.
    #[inline]
    pub(crate) fn request(&self, route: RouteLabel, method: MethodLabel, status: u16) {
        inc(&self.requests[request_index(route as usize, method as usize, status_slot(status))]);
        if status >= 500 {
            inc(&self.errors_server);
        } else if status >= 400 && status != 404 {
            inc(&self.errors_client);
        }
    }

    /// Count one forwarded request to `peer` with result slot `result` that took `us` µs.
    #[inline]
    pub(crate) fn forward(&self, peer: usize, result: usize, us: u64) {
        if let Some(c) = self.forwards.get(forward_index(peer, result)) {
            inc(c);
        }
        let _ = self
            .forward_latency
            .borrow_mut()
            .record(us.clamp(1, LATENCY_MAX_US));
    }

    /// Record `n` requests that took `us` microseconds each (a pipelined batch shares one timing).
    #[inline]
    pub(crate) fn latency(&self, us: u64, n: u64) {
        self.latency.record_n(us, n);
    }

    /// An owned copy of these counters plus the shard's and the hints', labelled with `core`, to
    /// send at scrape time.
    pub(crate) fn snapshot(
        &self,
        core: usize,
        shard: ShardStats,
        hints: HintCounts,
    ) -> CoreSnapshot {
        CoreSnapshot {
            core,
            requests: self.requests.iter().map(Cell::get).collect(),
            latency: self.latency.read(),
            connections_active: self.connections_active.get(),
            connection_buffer_bytes: self.connection_buffer_bytes.get(),
            connections_accepted: self.connections_accepted.get(),
            connections_rejected: self.connections_rejected.get(),
            idle_closed: self.idle_closed.get(),
            request_timeouts: self.request_timeouts.get(),
            cross_core_calls: self.cross_core_calls.get(),
            replica_writes: self.replica_writes.get(),
            replica_write_failures: self.replica_write_failures.get(),
            failovers: self.failovers.get(),
            errors_client: self.errors_client.get(),
            errors_server: self.errors_server.get(),
            forwards: self.forwards.iter().map(Cell::get).collect(),
            forward_latency: self.forward_latency.borrow().clone(),
            peer_batches: 0,
            shard,
            hints,
            trust: self.trust.snapshot(),
            flushes: self.flushes.get(),
            hot: super::hot::HotCounts::read(self),
        }
    }
}
