//! Read copies of hot keys on non-owner nodes, under leases from the key's owner (issue 13,
//! `src/server/hot/lease.rs`): three real `cache-node` processes, bytes on sockets.
//!
//! * a key hammered through a non-owner node is served from copies there (counted, so the test
//!   cannot pass without any), while a writer PUTs and DELETEs it through the third node: no
//!   read started after an acknowledged write returns an older value or 404;
//! * the holder frozen with SIGSTOP while the key is written: the write still completes (once
//!   the lease ran out), the owner counts the wait, and after SIGCONT the holder reads fresh;
//! * the faults harness (`tests/faults/`) with skewed reads over a few hot keys and a kill -9
//!   and a SIGSTOP of non-owners: the checker finds no stale read and no lost write.

#[path = "common/cluster.rs"]
mod cluster_common;
mod common;
#[allow(dead_code)]
mod faults;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::Arc;
use std::thread::sleep;
use std::time::{Duration, Instant};

use cluster_common::{
    key_path, metric_sum, metrics, owner, put, Conn, Probing, ProcCluster, IDS, STEADY,
};

/// Keys are hot at a rate any test load reaches; copies live long enough to serve many reads
/// and to be invalidated by the writes in between.
fn hot_yaml(copy_ttl_ms: u64) -> String {
    format!("hot_keys:\n  min_reads_per_sec: 5\n  copy_ttl: \"{copy_ttl_ms}ms\"\n")
}

/// A key owned by `owner_idx`, plus two other nodes: (key, owner, holder, writer).
fn placed_key(c: &ProcCluster, owner_idx: usize) -> (String, usize, usize, usize) {
    let key = (0..)
        .map(|i| format!("hot{i}"))
        .find(|k| owner(&c.ring, k) == owner_idx)
        .expect("a key of the owner");
    let holder = (owner_idx + 1) % 3;
    let writer = (owner_idx + 2) % 3;
    (key, owner_idx, holder, writer)
}

/// The `n` of a value `{"n": n}` in a GET answer; `None` for a 404.
fn read_n(r: &common::Resp) -> Option<u64> {
    match r.status {
        404 => None,
        200 => Some(r.json()["value"]["n"].as_u64().expect("n")),
        s => panic!("GET answered {s}: {}", r.text()),
    }
}

fn sum(c: &ProcCluster, i: usize, name: &str) -> f64 {
    metric_sum(&metrics(c.addrs[i]), name)
}

/// Writes are numbered 1, 2, ...: write `s` DELETEs the key when `s % 5 == 0`, else PUTs
/// `{"n": s}`. A read that started after write `acked` was acknowledged and ended before write
/// `started + 1` began must show the state after one of the writes `acked..=started`.
fn valid(read: Option<u64>, acked: u64, started: u64) -> bool {
    match read {
        Some(n) => n >= acked && n <= started && n % 5 != 0,
        None => (acked..=started).any(|s| s % 5 == 0) || acked == 0,
    }
}

#[test]
fn copies_on_a_non_owner_never_serve_an_older_value() {
    let c = ProcCluster::start_with(140, "hot-leases", 1, STEADY, &hot_yaml(200));
    let (key, _, holder, writer) = placed_key(&c, 0);
    assert_eq!(
        put(c.addrs[writer], &key, r#"{"value":{"n":1}}"#).status,
        201
    );
    let acked = Arc::new(AtomicU64::new(1));
    let started = Arc::new(AtomicU64::new(1));
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (acked, started, stop) = (acked.clone(), started.clone(), stop.clone());
        let (addr, path) = (c.addrs[holder], key_path(&key));
        std::thread::spawn(move || {
            let mut conn = Conn::open(addr);
            let (mut reads, mut stale) = (0u64, Vec::new());
            while !stop.load(SeqCst) {
                let a = acked.load(SeqCst);
                let r = conn.call("GET", &path, &[], None);
                let s = started.load(SeqCst);
                let n = read_n(&r);
                reads += 1;
                if !valid(n, a, s) {
                    stale.push(format!("read {n:?} after write {a} was acknowledged"));
                }
            }
            (reads, stale)
        })
    };
    sleep(Duration::from_millis(500));
    let mut w = Conn::open(c.addrs[writer]);
    for s in 2..=200u64 {
        started.store(s, SeqCst);
        let r = if s % 5 == 0 {
            w.call("DELETE", &key_path(&key), &[], None)
        } else {
            let body = format!(r#"{{"value":{{"n":{s}}}}}"#);
            w.call("PUT", &key_path(&key), &[], Some(body.as_bytes()))
        };
        assert!(r.status < 300, "write {s}: {} {}", r.status, r.text());
        acked.store(s, SeqCst);
        sleep(Duration::from_millis(10));
    }
    stop.store(true, SeqCst);
    let (reads, stale) = reader.join().expect("reader");
    let served = sum(&c, holder, "cache_hot_copy_reads_total");
    let invalidations = sum(&c, holder, "cache_hot_invalidations_total");
    eprintln!(
        "hot-leases| reads={reads} from copies={served} invalidations received={invalidations} stale={}",
        stale.len()
    );
    assert!(
        stale.is_empty(),
        "{} stale reads: {:?}",
        stale.len(),
        &stale[..stale.len().min(5)]
    );
    assert!(
        served > 0.0,
        "no read was answered from a copy on {}",
        IDS[holder]
    );
}

/// Slow detection: the frozen holder stays `up` for the others the whole time.
const FROZEN_STAYS_UP: Probing = Probing {
    interval_ms: 500,
    timeout_ms: 500,
    fail_after: 20,
    recover_after: 1,
    connect_ms: 500,
    request_ms: 3000,
};

#[test]
fn a_frozen_holder_delays_a_write_by_at_most_its_lease() {
    const COPY_TTL_MS: u64 = 1000;
    let c = ProcCluster::start_with(
        141,
        "hot-frozen",
        1,
        FROZEN_STAYS_UP,
        &hot_yaml(COPY_TTL_MS),
    );
    let (key, owner_idx, holder, writer) = placed_key(&c, 1);
    assert_eq!(
        put(c.addrs[writer], &key, r#"{"value":{"n":1}}"#).status,
        201
    );
    // Hot on the holder, with a copy there.
    let mut h = Conn::open(c.addrs[holder]);
    let t = Instant::now();
    while sum(&c, holder, "cache_hot_copy_fills_total") < 1.0 {
        for _ in 0..50 {
            assert_eq!(read_n(&h.call("GET", &key_path(&key), &[], None)), Some(1));
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "no copy was filled on the holder"
        );
    }
    // Renew the lease, then freeze the holder.
    for _ in 0..20 {
        h.call("GET", &key_path(&key), &[], None);
    }
    c.signal(holder, libc::SIGSTOP);
    let waits_before = sum(&c, owner_idx, "cache_hot_lease_waits_total");
    let t = Instant::now();
    let r = put(c.addrs[writer], &key, r#"{"value":{"n":2}}"#);
    let took = t.elapsed();
    assert!(r.status < 300, "{} {}", r.status, r.text());
    // The lease (copy_ttl + slack) bounds the wait; the rest is a generous margin for a busy host.
    assert!(
        took < Duration::from_millis(COPY_TTL_MS + 2000),
        "the write waited {took:?} for a frozen holder"
    );
    let waits = sum(&c, owner_idx, "cache_hot_lease_waits_total") - waits_before;
    c.signal(holder, libc::SIGCONT);
    eprintln!("hot-frozen| write took {took:?} with the holder frozen; lease waits {waits}");
    assert!(waits >= 1.0, "the owner did not count a lease wait");
    let mut h = Conn::open(c.addrs[holder]);
    for _ in 0..50 {
        let r = h.call("GET", &key_path(&key), &[], None);
        if r.status == 503 {
            // The holder noticed its stall and is catching up; it forwards once it serves again.
            sleep(Duration::from_millis(50));
            continue;
        }
        assert_eq!(
            read_n(&r),
            Some(2),
            "the holder served an old copy after SIGCONT"
        );
    }
}

/// The faults harness over a few keys (so every one is hot), with copies on: a non-owner of
/// some keys killed and restarted, another frozen and thawed, while every key is read through
/// every node and written by its one writer.
#[test]
fn history_with_copies_kill9_and_sigstop_has_no_stale_read() {
    std::env::set_var(
        "FAULTS_KEYS",
        std::env::var("HOT_FAULTS_KEYS").unwrap_or("12".into()),
    );
    std::env::set_var(
        "FAULTS_SECS",
        std::env::var("HOT_FAULTS_SECS").unwrap_or("12".into()),
    );
    std::env::set_var("FAULTS_READERS", "2");
    std::env::set_var("FAULTS_EXTRA_YAML", hot_yaml(300));
    let served = std::cell::Cell::new(0.0);
    faults::schedule::run("hot-copies", 142, false, |x, n| {
        let read = |x: &faults::schedule::Ctx, i: usize| {
            metric_sum(&metrics(x.c.addrs[i]), "cache_hot_copy_reads_total")
        };
        let (a, b) = (n % 3, (n + 1) % 3);
        sleep(Duration::from_millis(1500));
        served.set(served.get() + read(x, a));
        x.kill9(a);
        sleep(Duration::from_millis(500));
        x.freeze(b);
        sleep(Duration::from_millis(700));
        x.thaw(b);
        x.restart(a);
        x.settle();
    });
    eprintln!(
        "hot-copies| reads answered from copies before each kill: {}",
        served.get()
    );
    assert!(served.get() > 0.0, "no read was answered from a copy");
}

/// A copy answers exactly as the owner does: status, body, `ETag`, `Cache-Control`,
/// `Last-Modified`, a raw value's `Content-Type`; HEAD too; the lease header stays inside.
#[test]
fn a_copy_answers_like_the_owner() {
    let c = ProcCluster::start_with(143, "hot-answers", 1, STEADY, &hot_yaml(500));
    let (key, owner_idx, holder, _) = placed_key(&c, 2);
    let path = format!("{}?ttl=600", key_path(&key));
    let mut o = Conn::open(c.addrs[owner_idx]);
    let body = b"hello, copies";
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    o.reader.send(&[head.as_bytes(), body].concat());
    let raw_put = o.reader.response(false).expect("PUT answer");
    assert!(
        raw_put.status < 300,
        "{} {}",
        raw_put.status,
        raw_put.text()
    );
    let mut h = Conn::open(c.addrs[holder]);
    let t = Instant::now();
    while sum(&c, holder, "cache_hot_copy_reads_total") < 10.0 {
        h.call("GET", &key_path(&key), &[], None);
        assert!(t.elapsed() < Duration::from_secs(20), "no copy served");
    }
    for method in ["GET", "HEAD"] {
        let before = sum(&c, holder, "cache_hot_copy_reads_total");
        let from_copy = h.call(method, &key_path(&key), &[], None);
        let from_owner =
            cluster_common::call(c.addrs[owner_idx], method, &key_path(&key), &[], None);
        assert_eq!(
            sum(&c, holder, "cache_hot_copy_reads_total"),
            before + 1.0,
            "{method} from a copy"
        );
        assert_eq!(
            cluster_common::comparable(&from_copy),
            cluster_common::comparable(&from_owner),
            "{method}"
        );
        assert_eq!(
            from_copy.header("content-type"),
            Some("text/plain; charset=utf-8")
        );
        assert!(
            from_copy.header("x-cache-lease").is_none(),
            "the lease header leaked"
        );
        assert_eq!(from_copy.header("x-cache-node"), Some(IDS[holder]));
    }
    // The JSON envelope, with its ttl counting down.
    let put = cluster_common::call(
        c.addrs[owner_idx],
        "PUT",
        &key_path(&key),
        &[],
        Some(br#"{"value":{"a":[1,2,"x"]},"ttl":600}"#),
    );
    assert!(put.status < 300);
    let t = Instant::now();
    loop {
        let before = sum(&c, holder, "cache_hot_copy_reads_total");
        let from_copy = h.call("GET", &key_path(&key), &[], None);
        if sum(&c, holder, "cache_hot_copy_reads_total") == before + 1.0 {
            let from_owner =
                cluster_common::call(c.addrs[owner_idx], "GET", &key_path(&key), &[], None);
            assert_eq!(
                cluster_common::comparable(&from_copy),
                cluster_common::comparable(&from_owner)
            );
            assert_eq!(
                from_copy.json()["value"],
                serde_json::json!({"a":[1,2,"x"]})
            );
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "no copy of the JSON value served"
        );
    }
}
