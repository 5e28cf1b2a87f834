//! `cache-client bench`: a load generator for the cache API, built on the client's HTTP code.
//!
//! [`keys`] decides what to send (key space, uniform or Zipf keys, GET/PUT mix, request bytes),
//! [`worker`] sends it (monoio runtime per thread, a task per connection, pipelining, closed or
//! open loop), [`stats`] counts and times it, [`report`] prints it (progress line each second,
//! a human summary or `--json`). The run is: resolve and probe every target (a dead one is a
//! usage error naming the address), optionally preload the key space with pipelined PUTs, then
//! the measured phase.

pub mod keys;
pub mod pacer;
pub mod plot;
pub mod report;
pub mod stats;
pub mod worker;

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use self::keys::{Dist, KeySpace, Workload, Zipf};
use self::report::{BenchResult, Outcome, Summary};
use self::stats::{new_histogram, Counts};
use self::worker::{Driver, Plan, Run, Source};
use super::cli::parse_duration;
use super::nodes::NodeAddr;
use super::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};

/// Pipeline depth of the preload phase: PUTs are cheap, so batch them hard.
const PRELOAD_PIPELINE: usize = 64;

/// Key distributions offered on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum KeyDist {
    Uniform,
    Zipf,
}

/// Options of `cache-client bench`.
#[derive(clap::Args, Clone, Debug)]
pub struct BenchArgs {
    /// Open connections, spread over the threads and round-robin over the nodes.
    #[arg(short = 'c', long, default_value_t = 50)]
    pub connections: usize,
    /// Generator threads, each running its own monoio runtime.
    #[arg(short = 't', long, default_value_t = 1)]
    pub threads: usize,
    /// How long to measure (e.g. 10s, 500ms, 2m).
    #[arg(short = 'd', long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Stop after this many requests instead of after --duration.
    #[arg(short = 'n', long)]
    pub requests: Option<u64>,
    /// GET:PUT mix, e.g. 90:10 (weights).
    #[arg(long, default_value = "100:0", value_parser = parse_ratio)]
    pub ratio: (u64, u64),
    /// Number of distinct keys.
    #[arg(short = 'k', long, default_value_t = 10_000)]
    pub keys: u64,
    /// Key length in bytes: the prefix, then the key number zero-padded.
    #[arg(long, default_value_t = 16)]
    pub key_size: usize,
    /// Key prefix (percent-encoded on the wire).
    #[arg(long, default_value = "key:")]
    pub key_prefix: String,
    /// Use this one key for every request instead of a key space (a GET-hit run).
    #[arg(long, conflicts_with_all = ["keys", "key_prefix", "key_size", "dist"])]
    pub key: Option<String>,
    /// Size in bytes of each stored JSON value (a string, quotes included).
    #[arg(long, default_value_t = 32)]
    pub value_size: usize,
    /// How keys are drawn from the key space.
    #[arg(long, value_enum, default_value_t = KeyDist::Uniform)]
    pub dist: KeyDist,
    /// Zipf exponent (with --dist zipf).
    #[arg(long, default_value_t = 0.99)]
    pub zipf_s: f64,
    /// Requests written per batch on each connection (HTTP/1.1 pipelining).
    #[arg(short = 'P', long, default_value_t = 1)]
    pub pipeline: usize,
    /// Open loop: send this many requests per second in total, each timed from its scheduled
    /// send time (corrects coordinated omission, like wrk2). Default: closed loop, as fast as
    /// answers come back.
    #[arg(short = 'R', long)]
    pub rate: Option<f64>,
    /// PUT every key of the key space (pipelined) before measuring.
    #[arg(long)]
    pub preload: bool,
    /// Only preload the key space; measure nothing (implies --preload).
    #[arg(long)]
    pub preload_only: bool,
    /// TTL in seconds for the PUTs (default: none).
    #[arg(long)]
    pub ttl: Option<u64>,
    /// I/O driver of the generator threads.
    #[arg(long, value_enum, default_value_t = Driver::Auto)]
    pub driver: Driver,
    /// No header and no progress lines on stderr.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Seed of the key and operation choices (runs with the same seed send the same keys).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Write the latency by percentile of this run as an SVG plot (HdrHistogram style).
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// Plot these saved `bench --json` results instead of running (repeatable; each series is
    /// named after its file). Needs --plot.
    #[arg(long, value_name = "FILE.json", requires = "plot")]
    pub compare: Vec<PathBuf>,
}

/// `GET:PUT` weights such as `90:10`, `1:0`.
pub fn parse_ratio(s: &str) -> Result<(u64, u64), String> {
    let (g, p) = s
        .split_once(':')
        .ok_or_else(|| format!("expected GET:PUT such as 90:10, got {s:?}"))?;
    let num = |x: &str| {
        x.trim()
            .parse::<u64>()
            .map_err(|_| format!("not a whole number: {x:?}"))
    };
    let (g, p) = (num(g)?, num(p)?);
    if g + p == 0 {
        return Err("GET:PUT weights must not both be 0".to_string());
    }
    Ok((g, p))
}

impl BenchArgs {
    /// Distinct keys: 1 with `--key`.
    pub fn key_count(&self) -> u64 {
        if self.key.is_some() {
            1
        } else {
            self.keys
        }
    }

    fn validate(&self) -> Result<(), String> {
        if self.connections == 0 || self.threads == 0 || self.pipeline == 0 || self.keys == 0 {
            return Err(
                "--connections, --threads, --pipeline and --keys must be at least 1".into(),
            );
        }
        if self.threads > self.connections {
            return Err(format!(
                "--threads {} is more than --connections {}",
                self.threads, self.connections
            ));
        }
        if self.rate.is_some_and(|r| !(r.is_finite() && r > 0.0)) {
            return Err("--rate must be a positive number of requests per second".into());
        }
        if self.dist == KeyDist::Zipf && !(self.zipf_s.is_finite() && self.zipf_s > 0.0) {
            return Err("--zipf-s must be positive".into());
        }
        if self.duration.is_zero() && self.requests.is_none() && !self.preload_only {
            return Err("--duration must be above zero (or give --requests)".into());
        }
        Ok(())
    }

    fn workloads(&self, hosts: &[String]) -> Vec<Workload> {
        let dist = match self.dist {
            KeyDist::Uniform => Dist::Uniform,
            KeyDist::Zipf => Dist::Zipf(Zipf::new(self.keys, self.zipf_s)),
        };
        let keys = match &self.key {
            Some(k) => KeySpace::fixed(k),
            None => KeySpace::new(&self.key_prefix, self.key_size, self.keys),
        };
        hosts
            .iter()
            .map(|h| {
                Workload::new(
                    keys.clone(),
                    dist.clone(),
                    self.ratio,
                    h,
                    self.value_size,
                    self.ttl,
                )
            })
            .collect()
    }
}

/// The first address of `addr` that accepts a TCP connection.
fn probe(addr: &str, timeout: Duration) -> Result<SocketAddr, String> {
    let addrs = addr
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {addr}: {e}"))?;
    let mut last = format!("cannot resolve {addr}: no address");
    for a in addrs {
        match TcpStream::connect_timeout(&a, timeout) {
            Ok(_) => return Ok(a),
            Err(e) => last = format!("cannot connect to {addr}: {e}"),
        }
    }
    Err(last)
}

/// Run `cache-client bench`; returns the exit code.
pub fn run(args: &BenchArgs, nodes: &[NodeAddr], timeout: Duration, json: bool) -> u8 {
    if let Err(e) = args.validate() {
        eprintln!("error: {e}");
        return EXIT_USAGE;
    }
    if let (Some(svg), false) = (&args.plot, args.compare.is_empty()) {
        return plot::plot_saved(svg, &args.compare, json);
    }
    if let Some(n) = nodes
        .iter()
        .find(|n| crate::conn::Target::parse(&n.addr).tls)
    {
        // The load generator speaks plain HTTP only: its hot loop stays free of TLS code.
        let e = format!(
            "bench speaks plain HTTP only, and {} is an https:// node: measure TLS with wrk (SCENARIOS=tls bench/run.sh), or bench a plain listener",
            n.addr
        );
        report::print_error(json, &e);
        return EXIT_USAGE;
    }
    let targets = match probe_all(nodes, timeout, json) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let hosts: Vec<String> = nodes.iter().map(|n| n.addr.clone()).collect();
    let workloads = args.workloads(&hosts);
    let plan = |source, pipeline, duration, requests, rate, connections| Plan {
        targets: targets.clone(),
        workloads: workloads.clone(),
        connections,
        threads: args.threads.min(connections),
        pipeline,
        rate,
        duration,
        requests,
        timeout,
        driver: args.driver,
        source,
        seed: args.seed,
    };
    let summary = Summary::new(args, &hosts);
    if !args.quiet {
        summary.print_header();
    }
    let mut preload = None;
    if args.preload || args.preload_only {
        let p = plan(
            Source::Sequential,
            PRELOAD_PIPELINE,
            None,
            None,
            None,
            args.connections.min(args.key_count() as usize).max(1),
        );
        let out = execute(p, args.quiet, "preload");
        if !args.quiet {
            report::print_preload(&out, args.key_count());
        }
        preload = Some(out);
    }
    let outcome = if args.preload_only {
        None
    } else {
        let p = plan(
            Source::Random,
            args.pipeline,
            args.requests.is_none().then_some(args.duration),
            args.requests,
            args.rate,
            args.connections,
        );
        Some(execute(p, args.quiet, ""))
    };
    let result = summary.result(preload.as_ref(), outcome.as_ref());
    if let Err(code) = publish(args, json, &result, preload.is_some()) {
        return code;
    }
    let failed = preload
        .iter()
        .chain(outcome.iter())
        .any(|o| o.counts.errors_total() > 0 || !o.thread_errors.is_empty());
    if failed {
        EXIT_FAILED
    } else {
        EXIT_OK
    }
}

/// Probe every node; the exit code (after printing why) when one does not accept connections.
fn probe_all(nodes: &[NodeAddr], timeout: Duration, json: bool) -> Result<Vec<SocketAddr>, u8> {
    let mut targets = Vec::with_capacity(nodes.len());
    for n in nodes {
        match probe(&n.addr, timeout) {
            Ok(a) => targets.push(a),
            Err(e) => {
                report::print_error(json, &e);
                return Err(EXIT_USAGE);
            }
        }
    }
    Ok(targets)
}

/// Print the result (human or `--json`), a cache-miss warning, and the `--plot` SVG; the exit
/// code when the plot cannot be written.
fn publish(args: &BenchArgs, json: bool, result: &BenchResult, preloaded: bool) -> Result<(), u8> {
    if json {
        report::print_json(result);
    } else {
        report::print_human(result);
    }
    // On stderr, so the --json document on stdout stays one parseable document.
    let warning =
        (result.measured.as_ref()).and_then(|m| report::miss_warning(m.hits, m.misses, preloaded));
    if let Some(w) = warning {
        eprintln!("{w}");
    }
    if let (Some(svg), Some(m)) = (&args.plot, &result.measured) {
        let series = plot::Series {
            name: plot::run_name(result),
            points: m.latency_percentiles.clone(),
        };
        if let Err(e) = plot::write_plot(svg, &[series], args.quiet || json) {
            report::print_error(json, &e);
            return Err(EXIT_USAGE);
        }
    }
    Ok(())
}

/// Run one phase to its end, printing a progress line each second unless `quiet`.
fn execute(plan: Plan, quiet: bool, label: &str) -> Outcome {
    let run = Run::new(plan);
    let handles = worker::spawn_threads(&run);
    let mut total: Histogram<u64> = new_histogram();
    let mut interval: Histogram<u64> = new_histogram();
    let mut last = Counts::default();
    let mut tick = 1u64;
    let finished = |hs: &[std::thread::JoinHandle<_>]| hs.iter().all(|h| h.is_finished());
    loop {
        let next = run.start + Duration::from_secs(tick);
        while Instant::now() < next && !finished(&handles) {
            let left = next.saturating_duration_since(Instant::now());
            std::thread::sleep(left.min(Duration::from_millis(20)));
        }
        if finished(&handles) {
            break;
        }
        for s in &run.stats {
            s.drain_into(&mut interval);
        }
        let now = Counts::sum(&run.stats);
        if !quiet {
            report::print_progress(label, tick, &last, &now, &interval);
        }
        let _ = total.add(&interval);
        interval.reset();
        last = now;
        tick += 1;
    }
    let mut thread_errors = Vec::new();
    for h in handles {
        match h.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => thread_errors.push(e),
            Err(_) => thread_errors.push("a generator thread panicked".to_string()),
        }
    }
    let elapsed = run.start.elapsed();
    for s in &run.stats {
        s.drain_into(&mut total);
    }
    for e in &thread_errors {
        eprintln!("error: {e}");
    }
    Outcome {
        counts: Counts::sum(&run.stats),
        latency: total,
        elapsed,
        uring: run.uring.load(std::sync::atomic::Ordering::Relaxed),
        thread_errors,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios() {
        assert_eq!(parse_ratio("90:10"), Ok((90, 10)));
        assert_eq!(parse_ratio(" 1 : 0 "), Ok((1, 0)));
        assert!(parse_ratio("0:0").is_err());
        assert!(parse_ratio("90").is_err());
        assert!(parse_ratio("a:1").is_err());
    }
}
