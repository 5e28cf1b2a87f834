//! A flush racing writes: writers keep writing through every node while a prefix flush runs.
//! Every write acknowledged before the flush was sent is gone; every write sent after the flush
//! was answered survives (with its value); writes in between may go either way (they are
//! concurrent with the flush). Each writer also keeps rewriting one hot key: its last write,
//! made after the flush, is what every node returns.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::cluster_common::{get, key_path, Conn, InProc, STEADY};
use crate::common::eventually;
use crate::helpers::{flush, flushed};

const WRITERS: usize = 4;
/// Writes acknowledged before the flush starts, and sent after it answered, at least.
const BEFORE: usize = 300;
const AFTER: usize = 300;

/// One write as its client saw it.
struct Seen {
    key: String,
    value: usize,
    sent: Instant,
    acked: Instant,
}

fn writer(addr: SocketAddr, t: usize, stop: &AtomicBool, done: &AtomicUsize) -> Vec<Seen> {
    let mut conn = Conn::open(addr);
    let mut seen = Vec::new();
    let mut n = 0;
    while !stop.load(Ordering::Acquire) {
        // Every fifth write rewrites the writer's hot key.
        let key = if n % 5 == 4 {
            format!("race:hot:{t}")
        } else {
            format!("race:{t}:{n}")
        };
        let sent = Instant::now();
        let body = format!("{{\"value\":{n}}}");
        let r = conn.call("PUT", &key_path(&key), &[], Some(body.as_bytes()));
        let acked = Instant::now();
        assert!(matches!(r.status, 200 | 201), "PUT {key}: {}", r.text());
        seen.push(Seen {
            key,
            value: n,
            sent,
            acked,
        });
        done.fetch_add(1, Ordering::Relaxed);
        n += 1;
    }
    seen
}

pub fn writes_after_the_answer_survive_and_those_before_it_do_not(test_no: u8) {
    let c = InProc::start(test_no, 2, STEADY, "");
    let addrs = c.addrs.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let all = Arc::new(Mutex::new(Vec::new()));
    let threads: Vec<_> = (0..WRITERS)
        .map(|t| {
            let (stop, done, all) = (Arc::clone(&stop), Arc::clone(&done), Arc::clone(&all));
            let addr = addrs[t % addrs.len()];
            std::thread::spawn(move || {
                let seen = writer(addr, t, &stop, &done);
                all.lock().expect("lock").extend(seen);
            })
        })
        .collect();
    assert!(eventually(Duration::from_secs(30), || done
        .load(Ordering::Relaxed)
        >= BEFORE));
    let flush_sent = Instant::now();
    let r = flush(addrs[0], Some("race:"), &[]);
    let flush_answered = Instant::now();
    let deleted = flushed(&r);
    let at_answer = done.load(Ordering::Relaxed);
    assert!(eventually(Duration::from_secs(30), || {
        done.load(Ordering::Relaxed) >= at_answer + AFTER
    }));
    stop.store(true, Ordering::Release);
    for t in threads {
        t.join().expect("writer");
    }
    let seen = std::mem::take(&mut *all.lock().expect("lock"));

    let (mut before, mut after, mut during) = (0, 0, (0, 0));
    let last_hot: std::collections::HashMap<&str, &Seen> = seen
        .iter()
        .filter(|s| s.key.starts_with("race:hot:"))
        .fold(Default::default(), |mut m, s| {
            if m.get(s.key.as_str())
                .is_none_or(|o: &&Seen| o.value < s.value)
            {
                m.insert(s.key.as_str(), s);
            }
            m
        });
    for s in seen.iter().filter(|s| !s.key.starts_with("race:hot:")) {
        let via = addrs[s.value % addrs.len()];
        let r = get(via, &s.key);
        if s.acked < flush_sent {
            before += 1;
            assert_eq!(
                r.status,
                404,
                "{} acknowledged before the flush: {}",
                s.key,
                r.text()
            );
        } else if s.sent > flush_answered {
            after += 1;
            assert_eq!(
                r.status,
                200,
                "{} sent after the flush answered: {}",
                s.key,
                r.text()
            );
            assert_eq!(r.json()["value"], s.value, "{}", s.key);
        } else if r.status == 200 {
            during.0 += 1;
        } else {
            assert_eq!(r.status, 404, "{}: {}", s.key, r.text());
            during.1 += 1;
        }
    }
    for (key, s) in &last_hot {
        assert!(
            s.sent > flush_answered,
            "{key}: the writers went on after the flush"
        );
        for &a in &addrs {
            let r = get(a, key);
            assert_eq!(r.status, 200, "{key}: {}", r.text());
            assert_eq!(r.json()["value"], s.value, "{key}: its last write");
        }
    }
    assert!(before >= BEFORE * 4 / 5 - WRITERS && after >= AFTER * 4 / 5 - WRITERS);
    // The flush counted the keys live when it reached them: every unique key acknowledged
    // before it, and some of those in flight; plus the hot keys.
    let bound = (before + during.0 + during.1 + WRITERS) as u64;
    assert!(
        deleted as usize >= before && deleted <= bound,
        "deleted {deleted}, before {before}, during {during:?}"
    );
    eprintln!(
        "flush racing {WRITERS} writers: {before} writes acknowledged before it (all gone), {after} sent after its answer (all kept), {} concurrent ({} kept, {} gone); deleted {deleted}; flush took {:?}",
        during.0 + during.1,
        during.0,
        during.1,
        flush_answered - flush_sent
    );
}
