//! The checker: pure over a [`History`], it finds the reads that contradict what the cluster
//! acknowledged before them.
//!
//! An operation is *acknowledged* when it got a 2xx answer, or a 404 to a DELETE (the key is
//! absent either way). For each read, the *floor* is the latest acknowledged write or delete of its key that completed
//! before the read was invoked (latest by invoke time). A read is legal when the floor explains
//! it, or a write that might have landed does:
//! * floor PUT n: a value v >= n written by a PUT invoked before the read completed (acknowledged
//!   or not: an unanswered write may have landed), or a 404 when a DELETE was attempted after the
//!   floor and before the read completed;
//! * floor DELETE: a 404, or a value of a PUT invoked after the delete and before the read ended;
//! * no floor: a 404, or any value of a PUT invoked before the read completed.
//!
//! During the load an unexplained read is a *stale read*. The final reads (every key through
//! every node, after the faults healed) are checked the same way: an unexplained one is a *lost
//! write* (floor PUT) or an *undone delete* (floor DELETE); final reads of one key that disagree
//! or fail are *divergent*. Values are per-key counters, so "older" is a number comparison.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::{Duration, Instant};

use super::history::{Event, History, Op, Outcome};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    StaleRead,
    LostWrite,
    UndoneDelete,
    Divergent,
}

/// One contradiction: the read, and the acknowledged operation it contradicts.
#[derive(Clone, Debug)]
pub struct Anomaly<'a> {
    pub kind: Kind,
    pub read: &'a Event,
    pub floor: Option<&'a Event>,
    pub why: &'static str,
}

/// The figures of one run and its anomalies.
#[derive(Debug, Default)]
pub struct Report<'a> {
    pub ops: usize,
    pub acked: usize,
    pub failed: usize,
    /// Of `failed`: no connection at all (the node asked was down), as opposed to an error
    /// answered by a running node.
    pub refused: usize,
    pub unknown: usize,
    pub stale: usize,
    pub lost: usize,
    pub undone: usize,
    pub divergent: usize,
    /// Longest time during the load in which no operation succeeded.
    pub unavailable: Duration,
    pub anomalies: Vec<Anomaly<'a>>,
}

impl Report<'_> {
    /// Nothing contradicts an acknowledgement.
    pub fn clean(&self) -> bool {
        self.stale + self.lost + self.undone + self.divergent == 0
    }

    /// The first `n` anomalies, one line each and one per key, those of the final reads first;
    /// times relative to the run's start.
    pub fn details(&self, h: &History, n: usize) -> String {
        let mut out = String::new();
        let mut order: Vec<&Anomaly> = self.anomalies.iter().collect();
        order.sort_by_key(|a| a.kind == Kind::StaleRead);
        let mut keys = std::collections::HashSet::new();
        for a in order
            .into_iter()
            .filter(|a| keys.insert(a.read.key))
            .take(n)
        {
            let r = a.read;
            out.push_str(&format!(
                "  {:?} k{} via node{}: GET [{:.3}s..{:.3}s] read {} ({}); floor: ",
                a.kind,
                r.key,
                r.node + 1,
                h.secs(r.invoke),
                h.secs(r.complete),
                shown(r.value),
                a.why
            ));
            match a.floor {
                Some(f) => out.push_str(&format!(
                    "{} {} [{:.3}s..{:.3}s] via node{}\n",
                    f.op.name(),
                    shown(f.value),
                    h.secs(f.invoke),
                    h.secs(f.complete),
                    f.node + 1
                )),
                None => out.push_str("none\n"),
            }
        }
        out
    }
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ops {:>7} ok {:>7} failed {:>5} (no connection {:>5}) unknown {:>4} | stale {:>4} \
             lost {:>4} undone {:>4} divergent {:>4} | unavailable {:>5.2}s",
            self.ops,
            self.acked,
            self.failed,
            self.refused,
            self.unknown,
            self.stale,
            self.lost,
            self.undone,
            self.divergent,
            self.unavailable.as_secs_f64()
        )
    }
}

fn shown(v: Option<u64>) -> String {
    v.map_or_else(|| "absent".to_string(), |n| n.to_string())
}

/// Everything about one key the read checks need, indexed once.
#[derive(Default)]
struct KeyView<'a> {
    /// Acknowledged writes and deletes, by completion time.
    acked: Vec<&'a Event>,
    /// `latest[i]`: index in `acked` of the latest-invoked among `acked[..=i]`.
    latest: Vec<usize>,
    /// Every attempted PUT, by the value it wrote (values are unique per key).
    puts: HashMap<u64, &'a Event>,
    /// Invoke times of every attempted DELETE, sorted.
    deletes: Vec<Instant>,
}

impl<'a> KeyView<'a> {
    fn build(events: &[&'a Event]) -> KeyView<'a> {
        let mut v = KeyView::default();
        for e in events.iter().copied().filter(|e| !e.final_read) {
            match e.op {
                Op::Put => {
                    v.puts.insert(e.value.unwrap_or(0), e);
                }
                Op::Delete => v.deletes.push(e.invoke),
                Op::Get => {}
            }
            if e.acked_write() {
                v.acked.push(e);
            }
        }
        v.acked.sort_by_key(|e| e.complete);
        v.deletes.sort();
        for i in 0..v.acked.len() {
            let prev = if i == 0 { 0 } else { v.latest[i - 1] };
            let best = if v.acked[i].invoke >= v.acked[prev].invoke {
                i
            } else {
                prev
            };
            v.latest.push(best);
        }
        v
    }

    /// The latest acknowledged operation completed before `t`.
    fn floor(&self, t: Instant) -> Option<&'a Event> {
        let n = self.acked.partition_point(|e| e.complete < t);
        (n > 0).then(|| self.acked[self.latest[n - 1]])
    }

    /// Why `read` contradicts `floor`, or None when something explains it.
    fn contradiction(&self, read: &Event, floor: Option<&Event>) -> Option<&'static str> {
        let end = read.complete;
        let put = |v: u64| self.puts.get(&v).filter(|p| p.invoke < end);
        match (floor.map(|f| (f.op, f)), read.value) {
            (None, None) | (Some((Op::Delete, _)), None) => None,
            (None, Some(v)) => put(v)
                .is_none()
                .then_some("a value no write invoked before it wrote"),
            (Some((_, f)), None) => {
                let i = self.deletes.partition_point(|&d| d <= f.invoke);
                let attempted = self.deletes.get(i).is_some_and(|&d| d < end);
                (!attempted).then_some("absent after an acknowledged PUT")
            }
            (Some((Op::Delete, f)), Some(v)) => match put(v) {
                Some(p) if p.invoke > f.invoke => None,
                _ => Some("a value from before an acknowledged DELETE"),
            },
            (Some((_, f)), Some(v)) => match put(v) {
                None => Some("a value no write invoked before it wrote"),
                Some(_) if v < f.value.unwrap_or(0) => Some("older than an acknowledged PUT"),
                Some(_) => None,
            },
        }
    }
}

/// Check a history: figures, and every anomaly in key order.
pub fn check(h: &History) -> Report<'_> {
    let mut report = Report::default();
    let mut by_key: BTreeMap<u32, Vec<&Event>> = BTreeMap::new();
    for e in &h.events {
        by_key.entry(e.key).or_default().push(e);
        if e.final_read {
            continue;
        }
        report.ops += 1;
        match e.outcome {
            Outcome::Ok(_) => report.acked += 1,
            Outcome::Failed(ref why) => {
                report.failed += 1;
                report.refused += usize::from(why.starts_with("connect:"));
            }
            Outcome::Unknown(_) => report.unknown += 1,
        }
    }
    for events in by_key.values() {
        check_key(events, &mut report);
    }
    report.unavailable = longest_unavailable(&h.events);
    report
}

fn check_key<'a>(events: &[&'a Event], report: &mut Report<'a>) {
    let view = KeyView::build(events);
    // A key counts once as lost or undone, however many nodes' final reads show it.
    let mut final_flagged = false;
    for read in events.iter().copied().filter(|e| e.read_ok()) {
        let floor = view.floor(read.invoke);
        let Some(why) = view.contradiction(read, floor) else {
            continue;
        };
        if read.final_read && std::mem::replace(&mut final_flagged, true) {
            continue;
        }
        let kind = match (read.final_read, floor.map(|f| f.op)) {
            (false, _) => Kind::StaleRead,
            (true, Some(Op::Delete)) => Kind::UndoneDelete,
            (true, _) => Kind::LostWrite,
        };
        match kind {
            Kind::StaleRead => report.stale += 1,
            Kind::LostWrite => report.lost += 1,
            Kind::UndoneDelete | Kind::Divergent => report.undone += 1,
        }
        report.anomalies.push(Anomaly {
            kind,
            read,
            floor,
            why,
        });
    }
    let finals: Vec<&Event> = events.iter().copied().filter(|e| e.final_read).collect();
    let disagree = finals
        .iter()
        .any(|e| !e.read_ok() || e.value != finals[0].value);
    if disagree {
        report.divergent += 1;
        let read = finals
            .iter()
            .copied()
            .find(|e| !e.read_ok())
            .unwrap_or(finals[finals.len() - 1]);
        report.anomalies.push(Anomaly {
            kind: Kind::Divergent,
            read,
            floor: None,
            why: "final reads through the nodes disagree or fail",
        });
    }
}

/// The longest stretch of the load (first invoke to last completion) in which no operation
/// succeeded: the gaps between consecutive successful completions, and at both ends.
pub fn longest_unavailable(events: &[Event]) -> Duration {
    let load: Vec<&Event> = events.iter().filter(|e| !e.final_read).collect();
    let (Some(first), Some(last)) = (
        load.iter().map(|e| e.invoke).min(),
        load.iter().map(|e| e.complete).max(),
    ) else {
        return Duration::ZERO;
    };
    let mut ok: Vec<Instant> = load
        .iter()
        .filter(|e| e.succeeded())
        .map(|e| e.complete)
        .collect();
    ok.sort();
    let mut marks = vec![first];
    marks.extend(ok);
    marks.push(last);
    marks
        .windows(2)
        .map(|w| w[1].saturating_duration_since(w[0]))
        .max()
        .unwrap_or_default()
}

#[cfg(test)]
#[path = "checker_tests.rs"]
mod tests;
