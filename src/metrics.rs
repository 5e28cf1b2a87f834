//! Per-core metrics, folded together at scrape time, and the Prometheus text exposition.
//!
//! Each core counts into plain `Cell`s it alone touches (Dragonfly's `GetMetrics` partials): no atomics
//! and no locks on the request path. `/admin/metrics` asks every core for a [`CoreSnapshot`] over the
//! mesh, merges them and renders text format 0.0.4. Keys never become label values: labels are drawn
//! from the small fixed sets below (route, method, status, core, peer node id), so cardinality is bounded.

use std::cell::{Cell, RefCell};
use std::fmt::Write as _;

use hdrhistogram::Histogram;

use crate::storage::ShardStats;

/// Route label of a request (a fixed set: never derived from the key).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteLabel {
    Health,
    Cache,
    Metrics,
    Cluster,
    Export,
    Import,
    Internal,
    Unknown,
}
const ROUTES: [&str; 8] = [
    "health", "cache", "metrics", "cluster", "export", "import", "internal", "unknown",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MethodLabel {
    Get,
    Head,
    Put,
    Post,
    Delete,
    Other,
}
const METHODS: [&str; 6] = ["GET", "HEAD", "PUT", "POST", "DELETE", "OTHER"];

/// Statuses we emit; anything else is counted under the last slot ("other").
const STATUSES: [u16; 24] = [
    200, 201, 204, 400, 404, 405, 408, 411, 413, 414, 415, 417, 431, 500, 501, 502, 503, 504, 505,
    507, 508, 100, 0, 0,
];
const STATUS_SLOTS: usize = STATUSES.len();
const CELLS: usize = ROUTES.len() * METHODS.len() * STATUS_SLOTS;

/// Request latency is recorded in microseconds, up to one minute, 2 significant digits (~1% error).
const LATENCY_MAX_US: u64 = 60_000_000;
const LATENCY_SIGFIG: u8 = 2;
/// Prometheus histogram bucket bounds in seconds.
const BUCKETS_S: [f64; 15] = [
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5,
];

fn status_slot(status: u16) -> usize {
    STATUSES
        .iter()
        .position(|&s| s == status)
        .unwrap_or(STATUS_SLOTS - 1)
}

fn new_histogram() -> Histogram<u64> {
    // Bounds are constants known to be valid, so construction cannot fail at run time.
    Histogram::new_with_bounds(1, LATENCY_MAX_US, LATENCY_SIGFIG).expect("valid histogram bounds")
}

/// One core's live counters. Owned by the core; only it writes them.
pub struct CoreMetrics {
    requests: Box<[Cell<u64>]>,
    latency: RefCell<Histogram<u64>>,
    pub connections_active: Cell<u64>,
    pub connections_accepted: Cell<u64>,
    pub connections_rejected: Cell<u64>,
    pub idle_closed: Cell<u64>,
    pub request_timeouts: Cell<u64>,
    pub cross_core_calls: Cell<u64>,
    pub errors_client: Cell<u64>,
    pub errors_server: Cell<u64>,
    /// Forwarded requests per (peer, result): result 0 ok, 1 error, 2 timeout.
    forwards: Box<[Cell<u64>]>,
    forward_latency: RefCell<Histogram<u64>>,
}

/// Labels of the forward result slots.
pub const FORWARD_RESULTS: [&str; 3] = ["ok", "error", "timeout"];

impl Default for CoreMetrics {
    fn default() -> Self {
        Self::new(0)
    }
}

impl CoreMetrics {
    /// Counters for a node with `peers` cluster members (forward counters per member).
    pub fn new(peers: usize) -> Self {
        CoreMetrics {
            forwards: (0..peers * FORWARD_RESULTS.len())
                .map(|_| Cell::new(0))
                .collect(),
            forward_latency: RefCell::new(new_histogram()),
            requests: (0..CELLS).map(|_| Cell::new(0)).collect(),
            latency: RefCell::new(new_histogram()),
            connections_active: Cell::new(0),
            connections_accepted: Cell::new(0),
            connections_rejected: Cell::new(0),
            idle_closed: Cell::new(0),
            request_timeouts: Cell::new(0),
            cross_core_calls: Cell::new(0),
            errors_client: Cell::new(0),
            errors_server: Cell::new(0),
        }
    }
}

pub fn inc(c: &Cell<u64>) {
    c.set(c.get().wrapping_add(1));
}

impl CoreMetrics {
    /// Count one response.
    pub fn request(&self, route: RouteLabel, method: MethodLabel, status: u16) {
        let idx = ((route as usize) * METHODS.len() + method as usize) * STATUS_SLOTS
            + status_slot(status);
        inc(&self.requests[idx]);
        if status >= 500 {
            inc(&self.errors_server);
        } else if status >= 400 && status != 404 {
            inc(&self.errors_client);
        }
    }

    /// Count one forwarded request to `peer` with result slot `result` that took `us` µs.
    pub fn forward(&self, peer: usize, result: usize, us: u64) {
        if let Some(c) = self.forwards.get(peer * FORWARD_RESULTS.len() + result) {
            inc(c);
        }
        let _ = self
            .forward_latency
            .borrow_mut()
            .record(us.clamp(1, LATENCY_MAX_US));
    }

    /// Record `n` requests that took `us` microseconds each (a pipelined batch shares one timing).
    pub fn latency(&self, us: u64, n: u64) {
        let _ = self
            .latency
            .borrow_mut()
            .record_n(us.clamp(1, LATENCY_MAX_US), n);
    }

    pub fn snapshot(&self, core: usize, shard: ShardStats) -> CoreSnapshot {
        CoreSnapshot {
            core,
            requests: self.requests.iter().map(Cell::get).collect(),
            latency: self.latency.borrow().clone(),
            connections_active: self.connections_active.get(),
            connections_accepted: self.connections_accepted.get(),
            connections_rejected: self.connections_rejected.get(),
            idle_closed: self.idle_closed.get(),
            request_timeouts: self.request_timeouts.get(),
            cross_core_calls: self.cross_core_calls.get(),
            errors_client: self.errors_client.get(),
            errors_server: self.errors_server.get(),
            forwards: self.forwards.iter().map(Cell::get).collect(),
            forward_latency: self.forward_latency.borrow().clone(),
            shard,
        }
    }
}

/// An owned copy of one core's metrics, sent across cores at scrape time.
#[derive(Clone)]
pub struct CoreSnapshot {
    pub core: usize,
    pub requests: Vec<u64>,
    pub latency: Histogram<u64>,
    pub connections_active: u64,
    pub connections_accepted: u64,
    pub connections_rejected: u64,
    pub idle_closed: u64,
    pub request_timeouts: u64,
    pub cross_core_calls: u64,
    pub errors_client: u64,
    pub errors_server: u64,
    pub forwards: Vec<u64>,
    pub forward_latency: Histogram<u64>,
    pub shard: ShardStats,
}

/// Node-level facts that are not per core.
pub struct NodeFacts<'a> {
    pub node_id: &'a str,
    pub version: &'a str,
    pub uptime_s: f64,
    pub start_time_s: f64,
    pub max_entries: u64,
    pub max_bytes: u64,
    pub draining: bool,
    /// Cluster member ids in ring order (labels for per-peer series).
    pub peers: &'a [&'a str],
}

pub fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A Prometheus histogram family (fixed `BUCKETS_S`) from an hdrhistogram of microseconds.
fn histogram(o: &mut String, name: &str, help: &str, hist: &Histogram<u64>) {
    family(o, name, "histogram", help);
    for le in BUCKETS_S {
        let n = hist.count_between(0, (le * 1e6) as u64);
        let _ = writeln!(o, "{name}_bucket{{le=\"{le}\"}} {n}");
    }
    let _ = writeln!(o, "{name}_bucket{{le=\"+Inf\"}} {}", hist.len());
    let _ = writeln!(o, "{name}_sum {:.6}", hist.mean() * hist.len() as f64 / 1e6);
    let _ = writeln!(o, "{name}_count {}", hist.len());
}

/// (name, help, how to read the value from one core's snapshot)
type Series = (&'static str, &'static str, fn(&CoreSnapshot) -> u64);

fn sum(snaps: &[CoreSnapshot], f: impl Fn(&CoreSnapshot) -> u64) -> u64 {
    snaps.iter().map(f).sum()
}

/// Render the node's metrics in Prometheus text format 0.0.4. `extra` is appended verbatim (cluster
/// metrics rendered by the cluster layer).
pub fn render(facts: &NodeFacts<'_>, snaps: &[CoreSnapshot], extra: &str) -> String {
    let mut o = String::with_capacity(16 * 1024);
    family(
        &mut o,
        "cache_node_info",
        "gauge",
        "Build and identity of this node (always 1).",
    );
    let _ = writeln!(
        o,
        "cache_node_info{{node_id=\"{}\",version=\"{}\"}} 1",
        label(facts.node_id),
        facts.version
    );
    family(
        &mut o,
        "cache_uptime_seconds",
        "gauge",
        "Seconds since the node started.",
    );
    let _ = writeln!(o, "cache_uptime_seconds {:.3}", facts.uptime_s);
    family(
        &mut o,
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since unix epoch in seconds.",
    );
    let _ = writeln!(o, "process_start_time_seconds {:.3}", facts.start_time_s);
    family(
        &mut o,
        "cache_draining",
        "gauge",
        "1 while the node is shutting down and refuses new work.",
    );
    let _ = writeln!(o, "cache_draining {}", u8::from(facts.draining));

    family(
        &mut o,
        "cache_requests_total",
        "counter",
        "HTTP responses sent, by route, method and status.",
    );
    for (r, route) in ROUTES.iter().enumerate() {
        for (m, method) in METHODS.iter().enumerate() {
            for (s, status) in STATUSES.iter().enumerate() {
                let idx = (r * METHODS.len() + m) * STATUS_SLOTS + s;
                let n = sum(snaps, |c| c.requests.get(idx).copied().unwrap_or(0));
                if n == 0 || (*status == 0 && s != STATUS_SLOTS - 1) {
                    continue;
                }
                let status = if s == STATUS_SLOTS - 1 {
                    "other".to_string()
                } else {
                    status.to_string()
                };
                let _ = writeln!(o, "cache_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {n}");
            }
        }
    }
    family(
        &mut o,
        "cache_errors_total",
        "counter",
        "Error responses: kind=client (4xx except 404), kind=server (5xx).",
    );
    let _ = writeln!(
        o,
        "cache_errors_total{{kind=\"client\"}} {}",
        sum(snaps, |c| c.errors_client)
    );
    let _ = writeln!(
        o,
        "cache_errors_total{{kind=\"server\"}} {}",
        sum(snaps, |c| c.errors_server)
    );

    let counters: [Series; 8] = [
        ("cache_hits_total", "Lookups that found a live key.", |c| {
            c.shard.hits
        }),
        (
            "cache_misses_total",
            "Lookups that found no live key.",
            |c| c.shard.misses,
        ),
        (
            "cache_sets_total",
            "Keys stored (created or replaced).",
            |c| c.shard.sets,
        ),
        ("cache_deletes_total", "Keys deleted by request.", |c| {
            c.shard.deletes
        }),
        (
            "cache_evictions_total",
            "Keys evicted by the LRU to respect cache_size/max_memory.",
            |c| c.shard.evictions,
        ),
        (
            "cache_expirations_total",
            "Keys removed because their TTL passed.",
            |c| c.shard.expirations,
        ),
        (
            "cache_cross_core_calls_total",
            "Key operations sent to another core's shard.",
            |c| c.cross_core_calls,
        ),
        (
            "cache_request_timeouts_total",
            "Requests answered 408 because head or body did not arrive in time.",
            |c| c.request_timeouts,
        ),
    ];
    for (name, help, f) in counters {
        family(&mut o, name, "counter", help);
        let _ = writeln!(o, "{name} {}", sum(snaps, f));
    }
    let gauges: [Series; 2] = [
        ("cache_entries", "Live keys held by this node.", |c| {
            c.shard.entries
        }),
        (
            "cache_bytes",
            "Bytes of keys, values and per-entry overhead held by this node.",
            |c| c.shard.bytes,
        ),
    ];
    for (name, help, f) in gauges {
        family(&mut o, name, "gauge", help);
        let _ = writeln!(o, "{name} {}", sum(snaps, f));
    }
    family(
        &mut o,
        "cache_max_entries",
        "gauge",
        "Configured cache_size (entries).",
    );
    let _ = writeln!(o, "cache_max_entries {}", facts.max_entries);
    family(
        &mut o,
        "cache_max_bytes",
        "gauge",
        "Configured max_memory in bytes (0 = unlimited).",
    );
    let _ = writeln!(o, "cache_max_bytes {}", facts.max_bytes);

    family(
        &mut o,
        "cache_connections_active",
        "gauge",
        "Open client connections.",
    );
    let _ = writeln!(
        o,
        "cache_connections_active {}",
        sum(snaps, |c| c.connections_active)
    );
    family(
        &mut o,
        "cache_connections_accepted_total",
        "counter",
        "Client connections accepted.",
    );
    let _ = writeln!(
        o,
        "cache_connections_accepted_total {}",
        sum(snaps, |c| c.connections_accepted)
    );
    family(
        &mut o,
        "cache_connections_rejected_total",
        "counter",
        "Connections refused with 503 at max_connections.",
    );
    let _ = writeln!(
        o,
        "cache_connections_rejected_total {}",
        sum(snaps, |c| c.connections_rejected)
    );
    family(
        &mut o,
        "cache_connections_idle_closed_total",
        "counter",
        "Keep-alive connections closed after the idle timeout.",
    );
    let _ = writeln!(
        o,
        "cache_connections_idle_closed_total {}",
        sum(snaps, |c| c.idle_closed)
    );

    family(
        &mut o,
        "cache_core_requests_total",
        "counter",
        "Requests answered, per worker core.",
    );
    for c in snaps {
        let _ = writeln!(
            o,
            "cache_core_requests_total{{core=\"{}\"}} {}",
            c.core,
            c.requests.iter().sum::<u64>()
        );
    }
    family(
        &mut o,
        "cache_core_entries",
        "gauge",
        "Live keys per core shard.",
    );
    for c in snaps {
        let _ = writeln!(
            o,
            "cache_core_entries{{core=\"{}\"}} {}",
            c.core, c.shard.entries
        );
    }

    let mut hist = new_histogram();
    for c in snaps {
        let _ = hist.add(&c.latency);
    }
    histogram(
        &mut o,
        "cache_request_duration_seconds",
        "Server time from a parsed request to its encoded response.",
        &hist,
    );
    family(
        &mut o,
        "cache_request_duration_quantile_seconds",
        "summary",
        "Exact latency quantiles since start (hdrhistogram, ~1% precision).",
    );
    for q in [0.5, 0.9, 0.99, 0.999] {
        let v = hist.value_at_quantile(q) as f64 / 1e6;
        let _ = writeln!(
            o,
            "cache_request_duration_quantile_seconds{{quantile=\"{q}\"}} {v:.6}"
        );
    }
    let _ = writeln!(
        o,
        "cache_request_duration_quantile_seconds_sum {:.6}",
        hist.mean() * hist.len() as f64 / 1e6
    );
    let _ = writeln!(
        o,
        "cache_request_duration_quantile_seconds_count {}",
        hist.len()
    );
    family(
        &mut o,
        "cache_forwarded_requests_total",
        "counter",
        "Requests forwarded to the owning node, by peer and result.",
    );
    for (p, peer) in facts.peers.iter().enumerate() {
        for (k, result) in FORWARD_RESULTS.iter().enumerate() {
            let n = sum(snaps, |c| {
                c.forwards
                    .get(p * FORWARD_RESULTS.len() + k)
                    .copied()
                    .unwrap_or(0)
            });
            if n > 0 {
                let _ = writeln!(
                    o,
                    "cache_forwarded_requests_total{{peer=\"{}\",result=\"{result}\"}} {n}",
                    label(peer)
                );
            }
        }
    }
    let mut fwd = new_histogram();
    for c in snaps {
        let _ = fwd.add(&c.forward_latency);
    }
    histogram(
        &mut o,
        "cache_forward_duration_seconds",
        "Time to forward a request to its owner and read the answer.",
        &fwd,
    );
    o.push_str(extra);
    o
}

/// Escape a label value (node ids are validated, but be safe).
pub fn label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_merges_cores_and_names_are_unique() {
        let a = CoreMetrics::default();
        a.request(RouteLabel::Cache, MethodLabel::Get, 200);
        a.request(RouteLabel::Cache, MethodLabel::Get, 404);
        a.latency(120, 2);
        let b = CoreMetrics::default();
        b.request(RouteLabel::Cache, MethodLabel::Get, 200);
        b.request(RouteLabel::Cache, MethodLabel::Put, 400);
        let facts = NodeFacts {
            node_id: "n1",
            version: "0.1.0",
            uptime_s: 1.0,
            start_time_s: 2.0,
            max_entries: 10,
            max_bytes: 0,
            draining: false,
            peers: &[],
        };
        let snaps = [
            a.snapshot(0, ShardStats::default()),
            b.snapshot(1, ShardStats::default()),
        ];
        let text = render(&facts, &snaps, "");
        assert!(text
            .contains("cache_requests_total{route=\"cache\",method=\"GET\",status=\"200\"} 2\n"));
        assert!(text
            .contains("cache_requests_total{route=\"cache\",method=\"GET\",status=\"404\"} 1\n"));
        assert!(text.contains("cache_errors_total{kind=\"client\"} 1\n"));
        assert!(text.contains("cache_request_duration_seconds_count 2\n"));
        assert!(text.contains("cache_request_duration_seconds_bucket{le=\"0.00025\"} 2\n"));
        let mut names: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .map(|l| l.split(' ').next().unwrap_or(""))
            .collect();
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(n, names.len(), "duplicate metric family");
    }
}
