//! A tiny timing harness shared by the micro-benchmarks (`harness = false`; no criterion, so the
//! benches build in seconds on a shared 2-core machine).
//!
//! Each case is calibrated to about `BENCH_SAMPLE_MS` (default 100) per sample, run for
//! `BENCH_SAMPLES` (default 7) samples, and reported as the median ns per operation with the
//! min..max of the samples. A positional argument filters cases by substring, as with
//! `cargo bench --bench parse -- pipelined`. `cargo test --benches` runs every case once.

#![allow(dead_code)]

use std::hint::black_box;
use std::time::{Duration, Instant};

pub struct Harness {
    filter: Option<String>,
    sample: Duration,
    samples: usize,
    /// `cargo test --benches` passes no `--bench`: then each case runs once, untimed.
    smoke: bool,
}

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

impl Harness {
    pub fn from_args() -> Harness {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let smoke = !args.iter().any(|a| a == "--bench");
        let filter = args.into_iter().find(|a| !a.starts_with('-'));
        Harness {
            filter,
            sample: Duration::from_millis(env_num("BENCH_SAMPLE_MS", 100)),
            samples: env_num("BENCH_SAMPLES", 7).max(1) as usize,
            smoke,
        }
    }

    fn selected(&self, name: &str) -> bool {
        self.filter.as_deref().is_none_or(|f| name.contains(f))
    }

    /// Time `f`, which performs `ops` operations per call and returns something to keep alive.
    pub fn run<T>(&self, name: &str, ops: u64, mut f: impl FnMut() -> T) {
        if !self.selected(name) {
            return;
        }
        if self.smoke {
            black_box(f());
            println!("{name:<48} ok (smoke run)");
            return;
        }
        // Calibrate: calls per sample.
        let mut calls = 1u64;
        loop {
            let t = Instant::now();
            for _ in 0..calls {
                black_box(f());
            }
            let e = t.elapsed();
            if e >= self.sample / 4 || calls >= 1 << 30 {
                let per_call = e.as_secs_f64() / calls as f64;
                calls = ((self.sample.as_secs_f64() / per_call) as u64).max(1);
                break;
            }
            calls *= 4;
        }
        let mut ns: Vec<f64> = (0..self.samples)
            .map(|_| {
                let t = Instant::now();
                for _ in 0..calls {
                    black_box(f());
                }
                t.elapsed().as_nanos() as f64 / (calls * ops) as f64
            })
            .collect();
        ns.sort_by(f64::total_cmp);
        let median = ns[ns.len() / 2];
        println!(
            "{name:<48} {:>10} ns/op  ({} .. {})  {:>12.0} op/s",
            fmt(median),
            fmt(ns[0]),
            fmt(ns[ns.len() - 1]),
            1e9 / median
        );
    }

    /// Report a figure measured by the case itself (e.g. a round trip across threads).
    pub fn report(&self, name: &str, measure: impl FnOnce(bool) -> Option<f64>) {
        if !self.selected(name) {
            return;
        }
        match measure(self.smoke) {
            Some(ns) if !self.smoke => {
                println!("{name:<48} {:>10} ns/op  {:>12.0} op/s", fmt(ns), 1e9 / ns)
            }
            Some(_) => println!("{name:<48} ok (smoke run)"),
            None => println!("{name:<48} skipped (unavailable here)"),
        }
    }
}

fn fmt(ns: f64) -> String {
    if ns < 10.0 {
        format!("{ns:.2}")
    } else if ns < 100.0 {
        format!("{ns:.1}")
    } else {
        format!("{ns:.0}")
    }
}
