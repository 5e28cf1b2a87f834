//! Prometheus text format 0.0.4: the family descriptor types used by the `FAMILIES` table and the
//! one loop that renders it, with small writers for labelled and histogram shapes.

use std::fmt::Write as _;

use hdrhistogram::Histogram;

use super::counters::{forward_index, new_histogram, FAMILIES, FORWARD_RESULTS};
use super::labels::{request_index, METHODS, ROUTES, STATUSES, STATUS_SLOTS};
use super::snapshot::{CoreSnapshot, NodeFacts};

/// Prometheus histogram bucket bounds in seconds.
const BUCKETS_S: [f64; 15] = [
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5,
];

/// Quantiles exposed by summary families.
const QUANTILES: [f64; 4] = [0.5, 0.9, 0.99, 0.999];

/// Prometheus metric type (the `# TYPE` line).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Counter,
    Gauge,
    Histogram,
    Summary,
}

impl Kind {
    /// The name used on the `# TYPE` line.
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
            Kind::Summary => "summary",
        }
    }
}

/// Reads one core's value of a series.
pub(super) type Read = fn(&CoreSnapshot) -> u64;
/// Reads one core's per-peer counters or gauges (indexed like `NodeFacts::peers`).
pub(super) type ReadPeers = fn(&CoreSnapshot) -> &[u64];
/// Picks one core's histogram (µs) of a family.
pub(super) type ReadHist = fn(&CoreSnapshot) -> &Histogram<u64>;

/// Where a family's samples come from and how they are laid out.
pub(super) enum Samples {
    /// `{node_id, version}` identity sample with value 1.
    Info,
    /// One integer sample read from the node facts.
    Fact(fn(&NodeFacts<'_>) -> u64),
    /// One sample in seconds (3 decimals) read from the node facts.
    FactSecs(fn(&NodeFacts<'_>) -> f64),
    /// One sample summed over cores.
    Sum(Read),
    /// One sample per value of label `.0`, each summed over cores.
    Split(&'static str, &'static [(&'static str, Read)]),
    /// One sample per core, labelled `core`.
    PerCore(Read),
    /// Non-zero request cells, labelled route, method and status.
    Requests,
    /// Non-zero forward counters, labelled peer and result.
    Forwards,
    /// One sample per cluster member other than this node, labelled `peer`, summed over cores
    /// (zeros included, so every peer has a series).
    Peers(ReadPeers),
    /// A histogram over the fixed `BUCKETS_S`, merged over cores.
    Histogram(ReadHist),
    /// Exact quantiles of the merged hdrhistogram, as a summary.
    Quantiles(ReadHist),
}

/// One metric family: declared once in `FAMILIES`, rendered by [`render`].
pub(super) struct Family {
    /// Family name (sample names derive from it).
    pub(super) name: &'static str,
    /// Prometheus type.
    pub(super) kind: Kind,
    /// `# HELP` text.
    pub(super) help: &'static str,
    /// How to read and lay out the samples.
    pub(super) samples: Samples,
}

/// Write the `# HELP` and `# TYPE` lines of a family (also used by the cluster layer's metrics).
pub(crate) fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Escape a label value (node ids are validated, but be safe).
pub(crate) fn label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Render the node's metrics in Prometheus text format 0.0.4. `extra` is appended verbatim (cluster
/// metrics rendered by the cluster layer).
pub(crate) fn render(facts: &NodeFacts<'_>, snaps: &[CoreSnapshot], extra: &str) -> String {
    let mut o = String::with_capacity(16 * 1024);
    for f in FAMILIES {
        family(&mut o, f.name, f.kind.as_str(), f.help);
        samples(&mut o, f, facts, snaps);
    }
    // The trust counters, after the table's families (one counter each, summed over cores).
    for (i, (name, help)) in super::trust::TRUST_FAMILIES.iter().enumerate() {
        family(&mut o, name, "counter", help);
        let total = snaps.iter().fold(0u64, |a, c| a.wrapping_add(c.trust[i]));
        let _ = writeln!(o, "{name} {total}");
    }
    // The hot-key families (issue 13), after the trust counters.
    for f in super::hot::HOT_FAMILIES {
        family(&mut o, f.name, f.kind.as_str(), f.help);
        samples(&mut o, f, facts, snaps);
    }
    o.push_str(extra);
    o
}

/// Write the sample lines of family `f`.
fn samples(o: &mut String, f: &Family, facts: &NodeFacts<'_>, snaps: &[CoreSnapshot]) {
    let name = f.name;
    match f.samples {
        Samples::Info => {
            let (id, version) = (label(facts.node_id), facts.version);
            let _ = writeln!(o, "{name}{{node_id=\"{id}\",version=\"{version}\"}} 1");
        }
        Samples::Fact(read) => {
            let _ = writeln!(o, "{name} {}", read(facts));
        }
        Samples::FactSecs(read) => {
            let _ = writeln!(o, "{name} {:.3}", read(facts));
        }
        Samples::Sum(read) => {
            let _ = writeln!(o, "{name} {}", sum(snaps, read));
        }
        Samples::Split(key, series) => {
            for &(value, read) in series {
                let _ = writeln!(o, "{name}{{{key}=\"{value}\"}} {}", sum(snaps, read));
            }
        }
        Samples::PerCore(read) => {
            for c in snaps {
                let _ = writeln!(o, "{name}{{core=\"{}\"}} {}", c.core, read(c));
            }
        }
        Samples::Requests => requests(o, name, snaps),
        Samples::Forwards => forwards(o, name, facts.peers, snaps),
        Samples::Peers(read) => per_peer(o, name, facts, snaps, read),
        Samples::Histogram(read) => histogram(o, name, &merge(snaps, read)),
        Samples::Quantiles(read) => quantiles(o, name, &merge(snaps, read)),
    }
}

/// Sum of one series over cores.
fn sum(snaps: &[CoreSnapshot], read: impl Fn(&CoreSnapshot) -> u64) -> u64 {
    snaps.iter().map(read).sum()
}

/// Value of slot `i` of a per-core counter vector summed over cores (missing slots count 0).
fn sum_slot(snaps: &[CoreSnapshot], i: usize, vec: fn(&CoreSnapshot) -> &[u64]) -> u64 {
    sum(snaps, |c| vec(c).get(i).copied().unwrap_or(0))
}

/// The cores' histograms of one family merged into one.
fn merge(snaps: &[CoreSnapshot], read: ReadHist) -> Histogram<u64> {
    let mut hist = new_histogram();
    for c in snaps {
        let _ = hist.add(read(c));
    }
    hist
}

/// Non-zero request cells. Spare status slots (0) are skipped; the last slot is "other".
fn requests(o: &mut String, name: &str, snaps: &[CoreSnapshot]) {
    for (r, route) in ROUTES.iter().enumerate() {
        for (m, method) in METHODS.iter().enumerate() {
            for (s, &status) in STATUSES.iter().enumerate() {
                let n = sum_slot(snaps, request_index(r, m, s), |c| &c.requests);
                let other = s == STATUS_SLOTS - 1;
                if n == 0 || (status == 0 && !other) {
                    continue;
                }
                let status = if other {
                    "other".to_string()
                } else {
                    status.to_string()
                };
                let _ = writeln!(
                    o,
                    "{name}{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {n}"
                );
            }
        }
    }
}

/// Non-zero forward counters per (peer, result), peers in ring order.
fn forwards(o: &mut String, name: &str, peers: &[&str], snaps: &[CoreSnapshot]) {
    for (p, peer) in peers.iter().enumerate() {
        for (k, result) in FORWARD_RESULTS.iter().enumerate() {
            let n = sum_slot(snaps, forward_index(p, k), |c| &c.forwards);
            if n > 0 {
                let peer = label(peer);
                let _ = writeln!(o, "{name}{{peer=\"{peer}\",result=\"{result}\"}} {n}");
            }
        }
    }
}

/// One sample per peer other than this node (ring order), zeros included.
fn per_peer(
    o: &mut String,
    name: &str,
    facts: &NodeFacts<'_>,
    snaps: &[CoreSnapshot],
    read: ReadPeers,
) {
    for (p, peer) in facts.peers.iter().enumerate() {
        if *peer == facts.node_id {
            continue;
        }
        let n = sum_slot(snaps, p, read);
        let _ = writeln!(o, "{name}{{peer=\"{}\"}} {n}", label(peer));
    }
}

/// Sum of all recorded values (µs) in seconds.
fn seconds_sum(hist: &Histogram<u64>) -> f64 {
    hist.mean() * hist.len() as f64 / 1e6
}

/// Histogram samples (cumulative fixed buckets, sum, count) from an hdrhistogram of microseconds.
fn histogram(o: &mut String, name: &str, hist: &Histogram<u64>) {
    for le in BUCKETS_S {
        let n = hist.count_between(0, (le * 1e6) as u64);
        let _ = writeln!(o, "{name}_bucket{{le=\"{le}\"}} {n}");
    }
    let _ = writeln!(o, "{name}_bucket{{le=\"+Inf\"}} {}", hist.len());
    let _ = writeln!(o, "{name}_sum {:.6}", seconds_sum(hist));
    let _ = writeln!(o, "{name}_count {}", hist.len());
}

/// Summary samples (exact quantiles in seconds, sum, count) from an hdrhistogram of microseconds.
fn quantiles(o: &mut String, name: &str, hist: &Histogram<u64>) {
    for q in QUANTILES {
        let v = hist.value_at_quantile(q) as f64 / 1e6;
        let _ = writeln!(o, "{name}{{quantile=\"{q}\"}} {v:.6}");
    }
    let _ = writeln!(o, "{name}_sum {:.6}", seconds_sum(hist));
    let _ = writeln!(o, "{name}_count {}", hist.len());
}
