//! What `cache-client bench` prints: the header and a progress line each second on stderr, then
//! the result on stdout, as text or as one JSON object (`--json`).

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::plot::{curve, CurvePoint};
use super::stats::{Counts, ErrorKind, Latency, ERROR_KINDS};
use super::{BenchArgs, KeyDist};

/// The end state of one phase (preload or measured run).
pub struct Outcome {
    pub counts: Counts,
    pub latency: Histogram<u64>,
    pub elapsed: Duration,
    pub uring: bool,
    pub thread_errors: Vec<String>,
}

/// Requests that got an HTTP answer (any status).
fn answered(c: &Counts) -> u64 {
    c.ok + c.errors[ErrorKind::Status4xx as usize] + c.errors[ErrorKind::Status5xx as usize]
}

/// One phase in the result.
#[derive(Clone, Debug, Serialize)]
pub struct Phase {
    pub duration_s: f64,
    /// Requests answered (any status).
    pub requests: u64,
    pub throughput_rps: f64,
    pub gets: u64,
    pub puts: u64,
    pub hits: u64,
    pub misses: u64,
    pub latency_us: Latency,
    /// The percentile distribution (`bench --plot`, `--compare` of saved results).
    pub latency_percentiles: Vec<CurvePoint>,
    pub errors: BTreeMap<&'static str, u64>,
    pub errors_total: u64,
}

impl Phase {
    fn of(o: &Outcome) -> Phase {
        let secs = o.elapsed.as_secs_f64().max(1e-9);
        let c = &o.counts;
        Phase {
            duration_s: (secs * 1000.0).round() / 1000.0,
            requests: answered(c),
            throughput_rps: (answered(c) as f64 / secs * 10.0).round() / 10.0,
            gets: c.gets,
            puts: c.puts,
            hits: c.hits,
            misses: c.misses,
            latency_us: Latency::of(&o.latency),
            latency_percentiles: curve(&o.latency),
            errors: ERROR_KINDS
                .iter()
                .map(|k| (k.name(), c.errors[*k as usize]))
                .collect(),
            errors_total: c.errors_total() + o.thread_errors.len() as u64,
        }
    }
}

/// The whole result: the run's settings, the preload phase and the measured phase (flattened,
/// so `throughput_rps`, `latency_us` and `errors_total` are top-level members).
#[derive(Clone, Debug, Serialize)]
pub struct BenchResult {
    pub targets: Vec<String>,
    pub driver: &'static str,
    pub connections: usize,
    pub threads: usize,
    pub pipeline: usize,
    pub mode: &'static str,
    pub rate: Option<f64>,
    pub ratio: String,
    pub keys: u64,
    pub key_size: usize,
    pub value_size: usize,
    pub dist: &'static str,
    pub zipf_s: Option<f64>,
    /// The one key of a `--key` run.
    pub key: Option<String>,
    pub preload: Option<Phase>,
    #[serde(flatten)]
    pub measured: Option<Phase>,
}

/// The run's settings, known before it starts.
pub struct Summary {
    base: BenchResult,
}

impl Summary {
    pub fn new(a: &BenchArgs, hosts: &[String]) -> Summary {
        Summary {
            base: BenchResult {
                targets: hosts.to_vec(),
                driver: "auto",
                connections: a.connections,
                threads: a.threads.min(a.connections),
                pipeline: a.pipeline,
                mode: if a.rate.is_some() { "open" } else { "closed" },
                rate: a.rate,
                ratio: format!("{}:{}", a.ratio.0, a.ratio.1),
                keys: a.key_count(),
                key_size: a
                    .key
                    .as_ref()
                    .map_or(a.key_size.max(a.key_prefix.len()), String::len),
                value_size: a.value_size.max(2),
                dist: match a.dist {
                    KeyDist::Uniform => "uniform",
                    KeyDist::Zipf => "zipf",
                },
                zipf_s: (a.dist == KeyDist::Zipf && a.key.is_none()).then_some(a.zipf_s),
                key: a.key.clone(),
                preload: None,
                measured: None,
            },
        }
    }

    pub fn print_header(&self) {
        let b = &self.base;
        let loop_kind = match b.rate {
            Some(r) => format!("open loop at {} req/s", group(r as u64)),
            None => "closed loop".to_string(),
        };
        eprintln!(
            "cache-client bench -> {} | {} connections, {} thread(s), pipeline {}, {}",
            b.targets.join(","),
            b.connections,
            b.threads,
            b.pipeline,
            loop_kind
        );
        let keys = match &b.key {
            Some(k) => format!("the one key {k:?}"),
            None => format!(
                "{} keys ({}{}), {}-byte keys",
                group(b.keys),
                b.dist,
                b.zipf_s.map(|s| format!(" s={s}")).unwrap_or_default(),
                b.key_size
            ),
        };
        eprintln!(
            "  GET:PUT {} over {keys}, {}-byte values",
            b.ratio, b.value_size
        );
    }

    pub fn result(&self, preload: Option<&Outcome>, measured: Option<&Outcome>) -> BenchResult {
        let mut r = self.base.clone();
        r.driver = match measured.or(preload) {
            Some(o) if o.uring => "io_uring",
            Some(_) => "epoll",
            None => "auto",
        };
        r.preload = preload.map(Phase::of);
        r.measured = measured.map(Phase::of);
        r
    }
}

/// `1234567` -> `1,234,567`.
pub fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn print_progress(
    label: &str,
    tick: u64,
    last: &Counts,
    now: &Counts,
    interval: &Histogram<u64>,
) {
    let done = answered(now) - answered(last);
    let lat = Latency::of(interval);
    if label.is_empty() {
        eprintln!(
            "[{tick:>3}s] {:>10} req/s   p50 {:>8.1} us   p99 {:>8.1} us   errors {}",
            group(done),
            lat.p50,
            lat.p99,
            now.errors_total()
        );
    } else {
        eprintln!(
            "[{label} {tick:>3}s] {} keys stored ({}/s), errors {}",
            group(answered(now)),
            group(done),
            now.errors_total()
        );
    }
}

pub fn print_preload(o: &Outcome, keys: u64) {
    let p = Phase::of(o);
    eprintln!(
        "preloaded {} of {} keys in {:.2} s ({} PUT/s), errors {}",
        group(p.requests),
        group(keys),
        p.duration_s,
        group(p.throughput_rps as u64),
        p.errors_total
    );
}

/// Above this share of GET misses a run measures mostly 404s, not the cache.
const MISS_WARN_RATIO: f64 = 0.5;

/// The warning for a run that measured mostly misses without `--preload` (a fresh cluster holds
/// none of the bench's keys, so every GET is a 404 and the figures say little about the cache).
pub fn miss_warning(hits: u64, misses: u64, preloaded: bool) -> Option<String> {
    let looked_up = hits + misses;
    if preloaded || looked_up == 0 {
        return None;
    }
    let ratio = misses as f64 / looked_up as f64;
    (ratio > MISS_WARN_RATIO).then(|| {
        format!(
            "warning: {:.0} % of the GETs were misses (the keys were never written); \
             run with --preload to measure hits, and keep --keys within the cluster's cache_size",
            ratio * 100.0
        )
    })
}

pub fn print_error(json: bool, msg: &str) {
    if json {
        println!("{}", serde_json::json!({ "ok": false, "error": msg }));
    } else {
        eprintln!("error: {msg}");
    }
}

pub fn print_json(r: &BenchResult) {
    match serde_json::to_string_pretty(r) {
        Ok(s) => println!("{s}"),
        Err(e) => eprintln!("error: cannot encode the result: {e}"),
    }
}

pub fn print_human(r: &BenchResult) {
    let Some(m) = &r.measured else {
        return;
    };
    let l = &m.latency_us;
    println!(
        "requests    {} in {:.2} s = {} req/s ({}, {} connections, pipeline {})",
        group(m.requests),
        m.duration_s,
        group(m.throughput_rps.round() as u64),
        r.driver,
        r.connections,
        r.pipeline
    );
    println!(
        "latency us  p50 {:.1}  p90 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1}  mean {:.1}{}",
        l.p50,
        l.p90,
        l.p99,
        l.p999,
        l.max,
        l.mean,
        if r.mode == "open" {
            "  (from scheduled send times)"
        } else {
            ""
        }
    );
    println!(
        "operations  GET {} (hits {}, misses {}), PUT {}",
        group(m.gets),
        group(m.hits),
        group(m.misses),
        group(m.puts)
    );
    let errs: Vec<String> = m
        .errors
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| format!("{k} {}", group(*n)))
        .collect();
    println!(
        "errors      {}",
        if errs.is_empty() {
            "none".to_string()
        } else {
            errs.join(", ")
        }
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grouping() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(1234567), "1,234,567");
    }

    #[test]
    fn mostly_misses_without_preload_is_warned() {
        let w = miss_warning(0, 10_000, false).expect("all misses");
        assert!(w.contains("100 %") && w.contains("--preload"), "{w}");
        assert!(miss_warning(10, 11, false).is_some());
        assert_eq!(miss_warning(10, 10, false), None, "half is not above half");
        assert_eq!(
            miss_warning(0, 10_000, true),
            None,
            "preloaded: the user chose it"
        );
        assert_eq!(miss_warning(0, 0, false), None, "PUT-only run");
    }
}
