//! The time a flush of a million keys takes on one node, and how long the node's other requests
//! wait meanwhile (the walk pauses for them every page). A measurement, not run by default:
//!
//!     cargo test --release --test api_flush -- --ignored --nocapture a_million_keys
//!
//! The keys are loaded by one import; a reader thread sends GETs on its own connection during
//! the flush and records the slowest.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cluster_common::{call, Conn};
use crate::common::start;
use crate::helpers::{flush, flushed};

const KEYS: usize = 1_000_000;

pub fn a_million_keys() {
    let yaml = "node_id: \"big\"\naddress: \"127.0.0.1:0\"\ncache_size: 2000000\nthreads: 2\npin_threads: false\nlog_level: warn\n";
    let node = start(yaml);
    let a = node.local_addr();
    let mut doc = String::with_capacity(KEYS * 48);
    doc.push_str("{\"format\":\"distributed-cache-export\",\"version\":1,\"entries\":[");
    for i in 0..KEYS {
        if i > 0 {
            doc.push(',');
        }
        doc.push_str(&format!("{{\"key\":\"k:{i:08}\",\"value\":{i}}}"));
    }
    doc.push_str(&format!("],\"count\":{KEYS}}}"));
    let t = Instant::now();
    let r = call(a, "POST", "/admin/import", &[], Some(doc.as_bytes()));
    assert_eq!(r.status, 200, "{}", r.text());
    eprintln!("loaded {KEYS} keys in {:?}", t.elapsed());

    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut conn = Conn::open(a);
            let (mut worst, mut n) = (Duration::ZERO, 0u64);
            while !stop.load(Ordering::Acquire) {
                let t = Instant::now();
                let r = conn.call("GET", "/api/v1/cache/other", &[], None);
                assert_eq!(r.status, 404);
                worst = worst.max(t.elapsed());
                n += 1;
            }
            (worst, n)
        })
    };
    std::thread::sleep(Duration::from_millis(200)); // let the reader run before the flush
    let t = Instant::now();
    let r = flush(a, None, &[]);
    let took = t.elapsed();
    stop.store(true, Ordering::Release);
    let (worst, reads) = reader.join().expect("reader");
    assert_eq!(flushed(&r), KEYS as u64);
    eprintln!(
        "flush of {KEYS} keys (2 cores): {took:?}; {reads} GETs on another connection meanwhile, slowest {worst:?}"
    );
    node.shutdown();
    node.wait(Duration::from_secs(10));
}
