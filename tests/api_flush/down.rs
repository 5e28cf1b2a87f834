//! A member that is away while a flush runs: the answer says so (502, `unreached`), and the
//! flush lands on it when it is back, before it serves again, whether it restarts from its
//! warm-restart snapshot (its old keys on disk) or was frozen (its old keys in memory); its old
//! keys do not come back through reads, its catch-up, or a repair between replicas.

use std::time::Duration;

use crate::cluster_common::{
    call, cluster_info, get, owner, put, replicas_of, wait_all_up, Probing, ProcCluster, FAST, IDS,
};
use crate::common::eventually;
use crate::helpers::{assert_all, counter, flush, keys, write_all};

/// Failover-speed probing, with a request timeout that a frozen member costs the flush once.
const PROBING: Probing = FAST;

/// The 502 of a flush that could not reach `victim`; returns its `deleted`.
fn incomplete(r: &crate::common::Resp, victim: usize) -> u64 {
    assert_eq!(r.status, 502, "{}", r.text());
    let v = r.json();
    assert_eq!(v["unreached"], serde_json::json!([IDS[victim]]), "{v}");
    assert_eq!(v["status"], 502, "{v}");
    let msg = v["error"].as_str().unwrap_or("");
    assert!(
        msg.contains(IDS[victim]) && msg.contains("flush incomplete"),
        "{msg}"
    );
    assert!(v["nodes"].get(IDS[victim]).is_none(), "{v}");
    v["deleted"].as_u64().expect("deleted")
}

/// Flushes node `addr` keeps for member `of` (`/admin/cluster`).
fn pending(addr: std::net::SocketAddr, of: usize) -> u64 {
    let info = cluster_info(addr);
    let row = info["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .find(|n| n["id"] == IDS[of])
        .cloned();
    row.and_then(|n| n["flushes_pending"].as_u64())
        .expect("flushes_pending")
}

/// One copy per key; the member is stopped (SIGTERM: it saves its snapshot), the flush runs,
/// a key of the prefix is written again meanwhile (a newer write: it must survive), and the
/// member restarts from its snapshot.
pub fn a_restarted_member_takes_the_flush_before_serving(test_no: u8) {
    let extra = |dir: &std::path::Path, i: usize| {
        format!(
            "replicas: 1\ndata_dir: \"{}\"\n",
            dir.join(format!("data-{i}")).display()
        )
    };
    let mut c = ProcCluster::start_each(test_no, "flush-restart", 1, PROBING, &extra);
    let addrs = c.addrs.clone();
    let victim = 2;
    let gone = keys("gone:", 90);
    let kept = keys("kept:", 30);
    write_all(&addrs, &gone);
    write_all(&addrs, &kept);
    let on_victim: Vec<&String> = gone
        .iter()
        .filter(|k| owner(&c.ring, k) == victim)
        .collect();
    assert!(on_victim.len() >= 10, "enough keys on {}", IDS[victim]);

    assert!(
        c.terminate(victim, Duration::from_secs(10)),
        "{} drains",
        IDS[victim]
    );
    let data = c.dir.join(format!("data-{victim}"));
    let saved = std::fs::read_dir(&data).map_or(0, |d| d.flatten().count());
    assert!(
        saved > 0,
        "{} saved its keys in {}",
        IDS[victim],
        data.display()
    );
    let r = flush(addrs[0], Some("gone:"), &[]);
    let deleted = incomplete(&r, victim);
    assert_eq!(
        deleted as usize,
        gone.len() - on_victim.len(),
        "{}",
        r.text()
    );
    let kept_for = |n: usize| pending(addrs[n], victim);
    assert_eq!(
        (kept_for(0), kept_for(1)),
        (1, 1),
        "both peers keep the flush"
    );
    // Written after the flush while its owner is away: kept by a stand-in, handed over later.
    let rewritten = on_victim[0];
    let w = put(addrs[0], rewritten, "{\"value\":\"after\"}");
    assert_eq!(w.status, 201, "{}", w.text());

    c.restart(victim);
    // The membership document (membership.json) stays: only the shard snapshots are consumed.
    let left = std::fs::read_dir(&data).map_or(0, |d| {
        d.flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("shard-"))
            .count()
    });
    assert_eq!(
        left, 0,
        "{} loaded (and consumed) its snapshot",
        IDS[victim]
    );
    wait_all_up(&addrs, &[0, 1, 2], Duration::from_secs(10));
    let others: Vec<String> = gone.iter().filter(|k| *k != rewritten).cloned().collect();
    assert_all(&addrs, &others, 404, "old keys after the member's return");
    assert_all(&addrs, &kept, 200, "keys outside the prefix");
    let back = eventually(Duration::from_secs(10), || {
        let r = get(addrs[1], rewritten);
        r.status == 200 && r.json()["value"] == "after"
    });
    assert!(
        back,
        "the write made after the flush reached its owner and survived"
    );
    // Both peers kept the flush for it; the second delivery found it done.
    assert_eq!(
        counter(addrs[victim], "cache_flushes_total"),
        1,
        "applied once"
    );
    assert_eq!((kept_for(0), kept_for(1)), (0, 0), "delivered");
}

/// Two copies per key; the member is frozen (SIGSTOP) during the flush, then thawed: it catches
/// up (the flush first), and a repair between the replicas afterwards brings nothing back.
pub fn a_frozen_member_takes_the_flush_and_repair_keeps_it(test_no: u8) {
    let mut c = ProcCluster::start_with(test_no, "flush-freeze", 1, PROBING, "replicas: 2\n");
    let addrs = c.addrs.clone();
    let victim = 2;
    let gone = keys("gone:", 90);
    let kept = keys("kept:", 30);
    write_all(&addrs, &gone);
    write_all(&addrs, &kept);
    assert!(gone.iter().any(|k| replicas_of(&c.ring, k, 2)[0] == victim));

    c.signal(victim, libc::SIGSTOP);
    let r = flush(addrs[0], Some("gone:"), &[]);
    // Every key has a replica that took part: each is counted once.
    assert_eq!(incomplete(&r, victim), gone.len() as u64, "{}", r.text());
    c.signal(victim, libc::SIGCONT);
    c.wait_healthy(victim, Duration::from_secs(20));
    wait_all_up(&addrs, &[0, 1, 2], Duration::from_secs(10));
    assert_all(&addrs, &gone, 404, "after the frozen member's return");
    assert_all(&addrs, &kept, 200, "keys outside the prefix");
    assert_eq!(
        counter(addrs[victim], "cache_flushes_total"),
        1,
        "applied once"
    );

    // Freeze another member long enough to stall: it catches up by comparing digests with
    // both peers and fetching what differs. Nothing flushed comes back.
    let syncs = |n: usize| counter(addrs[n], "cache_sync_total");
    let before = syncs(0);
    c.signal(0, libc::SIGSTOP);
    std::thread::sleep(Duration::from_millis(600)); // a pause, not a wait for a result
    c.signal(0, libc::SIGCONT);
    assert!(
        eventually(Duration::from_secs(20), || syncs(0) > before),
        "node1 caught up"
    );
    wait_all_up(&addrs, &[0, 1, 2], Duration::from_secs(10));
    assert_all(&addrs, &gone, 404, "after a repair");
    assert_all(&addrs, &kept, 200, "after a repair");
    let r = call(addrs[1], "GET", "/admin/cluster", &[], None);
    assert_eq!(r.status, 200, "{}", r.text());
}
