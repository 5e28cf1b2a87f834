//! The numbers on `top`'s screen: each node's scrape turned into a [`Row`] of rates (deltas between
//! two scrapes divided by the time between them), cluster totals, and the sort order. Pure: the
//! scrape times come in with the scrapes, so the rate math is tested without a clock.

use std::cmp::Ordering;
use std::time::{Duration, Instant};

use super::metrics::Counters;
use crate::nodes::NodeAddr;

/// What one node answered at one instant.
#[derive(Clone, Debug)]
pub struct Scrape {
    /// When the answer arrived (the caller's clock: `Instant::now()` live, chosen in tests).
    pub at: Instant,
    /// The node's data, or why it could not be read (connection refused, timeout, not 200).
    pub result: Result<NodeData, String>,
}

/// One node's answers to `/admin/metrics` and `/admin/cluster`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeData {
    /// Its `node_id`, when `/admin/cluster` answered.
    pub id: Option<String>,
    pub counters: Counters,
    /// Its live share of the hash space (0..=1) as it sees it.
    pub ring_share: Option<f64>,
    /// Ids of the members it currently sees down.
    pub sees_down: Vec<String>,
}

/// A node's state on screen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Up,
    /// Answers, but is shutting down (health answers 503).
    Draining,
    /// Answers `top`, yet some other member marks it down: a partition, or a peer still probing.
    Suspect,
    /// Did not answer `top`.
    Down,
    /// The cluster line only: some member is down.
    Degraded,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Up => "up",
            State::Draining => "draining",
            State::Suspect => "suspect",
            State::Down => "down",
            State::Degraded => "degraded",
        }
    }
}

/// One line of the table. Rates are `None` until two scrapes of the node exist (and after a
/// counter went backwards: the node restarted between the two).
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub name: String,
    pub addr: String,
    pub state: State,
    pub req_s: Option<f64>,
    /// Hits and misses during the last interval (for the hit ratio, per node and in total).
    pub lookups: Option<(f64, f64)>,
    pub p50: Option<f64>,
    pub p99: Option<f64>,
    pub entries: Option<f64>,
    pub bytes: Option<f64>,
    pub ring: Option<f64>,
    pub fwd_s: Option<f64>,
    pub fwd_fail_s: Option<f64>,
    pub err_s: Option<f64>,
    /// Why a down node is down.
    pub error: Option<String>,
}

impl Row {
    /// Hits / lookups over the last interval; `None` when there were no lookups.
    pub fn hit_ratio(&self) -> Option<f64> {
        let (h, m) = self.lookups?;
        (h + m > 0.0).then(|| h / (h + m))
    }
}

/// The column the table is sorted by; `s` on the keyboard moves to the next one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SortKey {
    #[default]
    Name,
    Requests,
    HitRatio,
    P99,
    Entries,
    Memory,
    Errors,
}

impl SortKey {
    pub fn next(self) -> SortKey {
        use SortKey::*;
        match self {
            Name => Requests,
            Requests => HitRatio,
            HitRatio => P99,
            P99 => Entries,
            Entries => Memory,
            Memory => Errors,
            Errors => Name,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SortKey::Name => "node",
            SortKey::Requests => "req/s",
            SortKey::HitRatio => "hit%",
            SortKey::P99 => "p99",
            SortKey::Entries => "entries",
            SortKey::Memory => "memory",
            SortKey::Errors => "err/s",
        }
    }

    /// The value a row sorts on (larger first); `None` for [`SortKey::Name`].
    fn value(self, r: &Row) -> Option<f64> {
        match self {
            SortKey::Name => None,
            SortKey::Requests => r.req_s,
            SortKey::HitRatio => r.hit_ratio(),
            SortKey::P99 => r.p99,
            SortKey::Entries => r.entries,
            SortKey::Memory => r.bytes,
            SortKey::Errors => r.err_s,
        }
    }
}

/// Everything one screen shows.
#[derive(Clone, Debug, PartialEq)]
pub struct Frame {
    pub rows: Vec<Row>,
    pub total: Row,
    pub nodes_up: usize,
    pub sort: SortKey,
}

/// The previous scrape of every node, so the next one can be turned into rates.
pub struct Model {
    nodes: Vec<NodeAddr>,
    prev: Vec<Option<(Instant, Counters)>>,
    /// Each node's id once it answered, so a node that goes down keeps its name on screen.
    ids: Vec<Option<String>>,
}

impl Model {
    pub fn new(nodes: Vec<NodeAddr>) -> Model {
        let prev = vec![None; nodes.len()];
        let ids = vec![None; nodes.len()];
        Model { nodes, prev, ids }
    }

    pub fn nodes(&self) -> &[NodeAddr] {
        &self.nodes
    }

    /// Turn one scrape of every node (in [`Model::nodes`] order) into a frame sorted by `sort`.
    pub fn update(&mut self, scrapes: &[Scrape], sort: SortKey) -> Frame {
        let seen_down: Vec<&str> = scrapes
            .iter()
            .filter_map(|s| s.result.as_ref().ok())
            .flat_map(|d| d.sees_down.iter().map(String::as_str))
            .collect();
        let mut rows = Vec::with_capacity(scrapes.len());
        for (i, s) in scrapes.iter().enumerate() {
            let node = &self.nodes[i];
            let row = match &s.result {
                Ok(d) => {
                    let prev = self.prev[i].replace((s.at, d.counters));
                    if d.id.is_some() {
                        self.ids[i].clone_from(&d.id);
                    }
                    let name = self.ids[i].clone().unwrap_or_else(|| node.name.clone());
                    let suspect = seen_down.contains(&name.as_str());
                    up_row(name, node, d, prev.map(|(t, c)| (c, s.at - t)), suspect)
                }
                Err(e) => {
                    self.prev[i] = None;
                    down_row(self.ids[i].as_deref().unwrap_or(&node.name), node, e)
                }
            };
            rows.push(row);
        }
        let total = totals(&rows);
        sort_rows(&mut rows, sort);
        Frame {
            nodes_up: rows.iter().filter(|r| r.state != State::Down).count(),
            rows,
            total,
            sort,
        }
    }
}

/// Per-second rate of a counter; `None` without time or when it went backwards (a restart).
pub fn rate(prev: f64, cur: f64, elapsed: Duration) -> Option<f64> {
    let secs = elapsed.as_secs_f64();
    (secs > 0.0 && cur >= prev).then(|| (cur - prev) / secs)
}

fn up_row(
    name: String,
    node: &NodeAddr,
    d: &NodeData,
    prev: Option<(Counters, Duration)>,
    suspect: bool,
) -> Row {
    let c = &d.counters;
    let r = |f: fn(&Counters) -> f64| prev.and_then(|(p, dt)| rate(f(&p), f(c), dt));
    let state = match (c.draining, suspect) {
        (true, _) => State::Draining,
        (false, true) => State::Suspect,
        (false, false) => State::Up,
    };
    let lookups = prev.and_then(|(p, _)| {
        (c.hits >= p.hits && c.misses >= p.misses).then_some((c.hits - p.hits, c.misses - p.misses))
    });
    Row {
        name,
        addr: node.addr.clone(),
        state,
        req_s: r(|c| c.requests),
        lookups,
        p50: c.p50,
        p99: c.p99,
        entries: Some(c.entries),
        bytes: Some(c.bytes),
        ring: d.ring_share,
        fwd_s: r(|c| c.forwards),
        fwd_fail_s: r(|c| c.forward_failures),
        err_s: r(|c| c.errors),
        error: None,
    }
}

fn down_row(name: &str, node: &NodeAddr, error: &str) -> Row {
    Row {
        name: name.to_string(),
        addr: node.addr.clone(),
        state: State::Down,
        req_s: None,
        lookups: None,
        p50: None,
        p99: None,
        entries: None,
        bytes: None,
        ring: None,
        fwd_s: None,
        fwd_fail_s: None,
        err_s: None,
        error: Some(error.to_string()),
    }
}

/// The cluster line: sums of rates, entries, bytes and ring shares; the hit ratio of all lookups;
/// the worst p50/p99 (quantiles cannot be summed). A column is `None` when no node has a value.
fn totals(rows: &[Row]) -> Row {
    let sum = |f: fn(&Row) -> Option<f64>| rows.iter().filter_map(f).reduce(|a, b| a + b);
    let max = |f: fn(&Row) -> Option<f64>| rows.iter().filter_map(f).reduce(f64::max);
    let lookups = rows
        .iter()
        .filter_map(|r| r.lookups)
        .reduce(|a, b| (a.0 + b.0, a.1 + b.1));
    let up = rows.iter().filter(|r| r.state != State::Down).count();
    Row {
        name: "cluster".to_string(),
        addr: format!("{up}/{} up", rows.len()),
        state: if up == rows.len() {
            State::Up
        } else {
            State::Degraded
        },
        req_s: sum(|r| r.req_s),
        lookups,
        p50: max(|r| r.p50),
        p99: max(|r| r.p99),
        entries: sum(|r| r.entries),
        bytes: sum(|r| r.bytes),
        ring: sum(|r| r.ring),
        fwd_s: sum(|r| r.fwd_s),
        fwd_fail_s: sum(|r| r.fwd_fail_s),
        err_s: sum(|r| r.err_s),
        error: None,
    }
}

/// Name ascending; any other key largest first, rows without a value last, ties by name.
pub fn sort_rows(rows: &mut [Row], key: SortKey) {
    rows.sort_by(|a, b| {
        let by_value = match (key.value(a), key.value(b)) {
            (Some(x), Some(y)) => y.total_cmp(&x),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        };
        by_value.then_with(|| a.name.cmp(&b.name))
    });
}

#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;
