//! Load-generator bookkeeping: per-thread counters and latency histograms, folded by the main
//! thread once a second (progress line) and at the end (result).
//!
//! Each generator thread writes only its own [`ThreadStats`] (relaxed atomics, its own cache
//! lines; the histogram mutex is uncontended except for the main thread's once-a-second drain),
//! so bookkeeping costs tens of nanoseconds per request and never couples the threads.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Latencies are recorded in nanoseconds up to a minute (longer ones saturate), 3 significant digits.
const MAX_LATENCY_NS: u64 = 60_000_000_000;

pub fn new_histogram() -> Histogram<u64> {
    // Valid constant bounds: cannot fail.
    Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3).unwrap_or_else(|_| unreachable!())
}

/// Why a request did not succeed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The connection could not be opened (counted once per attempt, not per request).
    Connect,
    /// No answer within the timeout.
    Timeout,
    /// Read or write failed (reset, broken pipe).
    Io,
    /// The server closed the connection with requests unanswered.
    Closed,
    /// An answer that is not HTTP we can frame.
    Protocol,
    /// 4xx other than a GET's 404 (a miss is not an error).
    Status4xx,
    /// 5xx.
    Status5xx,
}

pub const ERROR_KINDS: [ErrorKind; 7] = [
    ErrorKind::Connect,
    ErrorKind::Timeout,
    ErrorKind::Io,
    ErrorKind::Closed,
    ErrorKind::Protocol,
    ErrorKind::Status4xx,
    ErrorKind::Status5xx,
];

impl ErrorKind {
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Io => "io",
            ErrorKind::Closed => "closed",
            ErrorKind::Protocol => "protocol",
            ErrorKind::Status4xx => "status_4xx",
            ErrorKind::Status5xx => "status_5xx",
        }
    }
}

/// One generator thread's counters, padded so two threads never share a cache line.
#[repr(align(128))]
#[derive(Default)]
pub struct ThreadStats {
    /// Requests answered with a non-error status (2xx, and 404 for GET).
    pub ok: AtomicU64,
    pub gets: AtomicU64,
    pub puts: AtomicU64,
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    errors: [AtomicU64; ERROR_KINDS.len()],
    /// Latencies of successful requests since the last drain.
    hist: Mutex<Option<Histogram<u64>>>,
}

impl ThreadStats {
    pub fn error(&self, kind: ErrorKind, n: u64) {
        self.errors[kind as usize].fetch_add(n, Relaxed);
    }

    /// Record a batch of latencies (ns) under one lock.
    pub fn record(&self, latencies_ns: &[u64]) {
        let mut guard = match self.hist.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let h = guard.get_or_insert_with(new_histogram);
        for &l in latencies_ns {
            h.saturating_record(l.max(1));
        }
    }

    /// Move the recorded latencies into `into` and start afresh.
    pub fn drain_into(&self, into: &mut Histogram<u64>) {
        let mut guard = match self.hist.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(h) = guard.as_mut() {
            // Same bounds on both sides: `add` cannot fail.
            let _ = into.add(&*h);
            h.reset();
        }
    }

    fn snapshot(&self) -> Counts {
        Counts {
            ok: self.ok.load(Relaxed),
            gets: self.gets.load(Relaxed),
            puts: self.puts.load(Relaxed),
            hits: self.hits.load(Relaxed),
            misses: self.misses.load(Relaxed),
            errors: std::array::from_fn(|i| self.errors[i].load(Relaxed)),
        }
    }
}

/// A point-in-time sum of counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub ok: u64,
    pub gets: u64,
    pub puts: u64,
    pub hits: u64,
    pub misses: u64,
    pub errors: [u64; ERROR_KINDS.len()],
}

impl Counts {
    pub fn sum(threads: &[ThreadStats]) -> Counts {
        threads
            .iter()
            .map(ThreadStats::snapshot)
            .fold(Counts::default(), |a, b| Counts {
                ok: a.ok + b.ok,
                gets: a.gets + b.gets,
                puts: a.puts + b.puts,
                hits: a.hits + b.hits,
                misses: a.misses + b.misses,
                errors: std::array::from_fn(|i| a.errors[i] + b.errors[i]),
            })
    }

    /// Failed requests (connection attempts that failed are not requests).
    pub fn failed_requests(&self) -> u64 {
        ERROR_KINDS
            .iter()
            .filter(|k| **k != ErrorKind::Connect)
            .map(|k| self.errors[*k as usize])
            .sum()
    }

    pub fn errors_total(&self) -> u64 {
        self.errors.iter().sum()
    }
}

/// Latency summary in microseconds.
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

impl Latency {
    pub fn of(h: &Histogram<u64>) -> Latency {
        let us = |ns: u64| (ns as f64 / 100.0).round() / 10.0;
        if h.is_empty() {
            return Latency::default();
        }
        Latency {
            p50: us(h.value_at_quantile(0.50)),
            p90: us(h.value_at_quantile(0.90)),
            p99: us(h.value_at_quantile(0.99)),
            p999: us(h.value_at_quantile(0.999)),
            max: us(h.max()),
            mean: (h.mean() / 100.0).round() / 10.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_fold_and_histograms_drain() {
        let t: Vec<ThreadStats> = (0..2).map(|_| ThreadStats::default()).collect();
        t[0].ok.fetch_add(3, Relaxed);
        t[1].ok.fetch_add(4, Relaxed);
        t[1].error(ErrorKind::Timeout, 2);
        t[0].error(ErrorKind::Connect, 1);
        let c = Counts::sum(&t);
        assert_eq!((c.ok, c.failed_requests(), c.errors_total()), (7, 2, 3));
        t[0].record(&[1_000, 2_000, 3_000]);
        t[1].record(&[1_000_000]);
        let mut h = new_histogram();
        for s in &t {
            s.drain_into(&mut h);
        }
        assert_eq!(h.len(), 4);
        let l = Latency::of(&h);
        assert_eq!(l.p50, 2.0);
        assert!((999.0..1001.0).contains(&l.max), "{l:?}");
        let mut again = new_histogram();
        t[0].drain_into(&mut again);
        assert!(again.is_empty(), "drained histograms start afresh");
    }
}
