//! `worker_scheduling` on a real node: `batch` runs every worker thread `SCHED_BATCH`, `normal`
//! (the default) leaves them `SCHED_OTHER`, and the node serves either way.

#[path = "common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::request;

/// Scheduling policy of each worker thread of node `t1` in this process.
fn worker_policies() -> Vec<i32> {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .flatten()
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm"))
                .is_ok_and(|c| c.trim().starts_with("t1-w"))
        })
        .filter_map(|t| t.file_name().to_str()?.parse::<libc::pid_t>().ok())
        // SAFETY: sched_getscheduler only reads the policy of thread `tid` (-1 if it is gone).
        .map(|tid| unsafe { libc::sched_getscheduler(tid) })
        .filter(|&p| p >= 0)
        .collect()
}

#[test]
fn batch_and_normal_workers_are_scheduled_so_and_serve() {
    for (word, want) in [("batch", libc::SCHED_BATCH), ("normal", libc::SCHED_OTHER)] {
        let node = common::run_single(2, &format!("worker_scheduling: {word}\n"));
        // A thread names itself once it runs: wait for both names, with a generous bound.
        let deadline = Instant::now() + Duration::from_secs(10);
        while worker_policies().len() < 2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let policies = worker_policies();
        assert_eq!(policies, vec![want; 2], "worker_scheduling: {word}");
        for i in 0..20 {
            let path = format!("/api/v1/cache/{word}:{i}");
            let put = request(node.addr(), "PUT", &path, Some("{\"value\":\"v\"}"));
            assert!(put.status == 200 || put.status == 201, "{}", put.text());
            let got = request(node.addr(), "GET", &path, None);
            assert_eq!(got.json()["value"], "v", "{word}: {path}");
        }
        drop(node);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !worker_policies().is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(worker_policies().is_empty(), "{word}: workers left running");
    }
}
