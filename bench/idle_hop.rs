//! What a cross-core hop adds to a GET on a quiet node, end to end over HTTP: two nodes in this
//! process (`threads: 2`, one with `idle_poll: brief`, the default, one with `idle_poll: always`),
//! each read by one keep-alive connection doing one GET at a time over 16 keys, with a pause of
//! 1 ms before each GET (both cores idle) or none (back to back). Half the keys live on the
//! connection's core, half on the other: the difference of their median latencies is the hop.
//!
//!     cargo bench --bench idle_hop
//!
//! Rows: per mode and pause, the median GET of a key on the connection's core ("local") and on
//! the other core ("other core"), and their difference ("the hop adds"). The client shares the
//! two CPUs with the node here, which `idle_poll: always` is not meant for; the figure is still
//! the one the issue asks for (docs/benchmarks.md, "Idle cross-core hops").

#[path = "harness.rs"]
mod harness;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use dcache::config::Config;
use dcache::node::Node;

/// Keys read per round: enough that both cores own several.
const KEYS: usize = 16;

/// Send one request and read its whole answer (Content-Length framed).
fn exchange(s: &mut TcpStream, raw: &[u8], buf: &mut Vec<u8>) -> Option<()> {
    s.write_all(raw).ok()?;
    buf.clear();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        if buf.len() >= end + 4 + len {
            return head.starts_with("http/1.1 2").then_some(());
        }
    }
}

/// Per key, the median GET latency in ns over `rounds` rounds, each GET after `pause`.
fn medians(addr: SocketAddr, pause: Duration, rounds: usize) -> Option<Vec<f64>> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_nodelay(true).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut buf = Vec::new();
    let gets: Vec<Vec<u8>> = (0..KEYS)
        .map(|i| format!("GET /api/v1/cache/idle:{i} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes())
        .collect();
    for i in 0..KEYS {
        let put = format!(
            "PUT /api/v1/cache/idle:{i} HTTP/1.1\r\nHost: x\r\nContent-Length: 13\r\n\r\n{{\"value\":\"v\"}}"
        );
        exchange(&mut s, put.as_bytes(), &mut buf)?;
    }
    let mut lat: Vec<Vec<f64>> = (0..KEYS).map(|_| Vec::with_capacity(rounds)).collect();
    for _ in 0..rounds {
        for (i, get) in gets.iter().enumerate() {
            if !pause.is_zero() {
                std::thread::sleep(pause);
            }
            let t = Instant::now();
            exchange(&mut s, get, &mut buf)?;
            lat[i].push(t.elapsed().as_nanos() as f64);
        }
    }
    Some(
        lat.iter_mut()
            .map(|v| {
                v.sort_by(f64::total_cmp);
                v[v.len() / 2]
            })
            .collect(),
    )
}

/// (local, other core): the means of the fastest and slowest quarter of the per-key medians.
/// Keys split about evenly between the two cores, and a hop costs far more than the spread
/// within one core, so the quarters fall on either side of the split.
fn split(mut med: Vec<f64>) -> (f64, f64) {
    med.sort_by(f64::total_cmp);
    let q = med.len() / 4;
    let mean = |s: &[f64]| s.iter().sum::<f64>() / s.len() as f64;
    (mean(&med[..q]), mean(&med[med.len() - q..]))
}

fn start(mode: &str) -> Option<Node> {
    let yaml = format!(
        "node_id: \"{mode}\"\naddress: \"127.0.0.1:0\"\ncache_size: 1000\nthreads: 2\n\
         idle_poll: {mode}\nlog_level: warn\n"
    );
    let cfg = Config::from_yaml_str(&yaml, "<idle_hop>").ok()?;
    Node::start(cfg).ok()
}

fn main() {
    let h = harness::Harness::from_args();
    for mode in ["brief", "always"] {
        let Some(node) = start(mode) else {
            h.report(&format!("idle_poll: {mode}"), |_| None);
            continue;
        };
        let addr = node.local_addr();
        for (pause, label) in [
            (Duration::from_millis(1), "after 1 ms idle"),
            (Duration::ZERO, "back to back"),
        ] {
            let mut result = None;
            h.report(
                &format!("GET, idle_poll: {mode}, {label}, local key"),
                |smoke| {
                    let rounds = match (smoke, pause.is_zero()) {
                        (true, _) => 2,
                        (false, false) => 100,
                        (false, true) => 2_000,
                    };
                    result = medians(addr, pause, rounds).map(split);
                    result.map(|(local, _)| local)
                },
            );
            h.report(
                &format!("GET, idle_poll: {mode}, {label}, other core's key"),
                |_| result.map(|(_, other)| other),
            );
            h.report(
                &format!("GET, idle_poll: {mode}, {label}, the hop adds"),
                |_| result.map(|(local, other)| other - local),
            );
        }
        node.shutdown();
        node.wait(Duration::from_secs(5));
    }
}
