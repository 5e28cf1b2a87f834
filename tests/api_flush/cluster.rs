//! Three in-process nodes sharing a cluster secret (the flush's node-to-node calls must carry
//! it): every copy of every matching key goes, on every node, and each key is counted once.

use crate::cluster_common::{local_entries, replicas_yaml, InProc, STEADY};
use crate::helpers::{assert_all, copies, counter, flush, flushed, keys, write_all, Secrets};

const SECRET: &str = "cluster-secret-flush-7e5d3c1b9a";

pub fn every_copy_goes_and_each_key_counts_once(test_no: u8, replicas: usize) {
    let s = Secrets::new("cluster");
    let extra = format!(
        "{}{}",
        replicas_yaml(replicas),
        s.yaml(&[("cluster_secret_file", SECRET)])
    );
    let c = InProc::start(test_no, 2, STEADY, &extra);
    let addrs = c.addrs.clone();
    let p = keys("p:", 120);
    let q = keys("q:", 60);
    write_all(&addrs, &p);
    write_all(&addrs, &q);
    let held = || addrs.iter().map(|&a| local_entries(a)).sum::<u64>();
    assert_eq!(held(), 180 * replicas as u64);

    let r = flush(addrs[1], Some("p:"), &[]);
    assert_eq!(flushed(&r), 120, "{}", r.text());
    assert_eq!(copies(&r), 120 * replicas as u64, "{}", r.text());
    assert_eq!(r.json()["nodes"].as_object().map(|n| n.len()), Some(3));
    assert_all(&addrs, &p, 404, "flushed prefix");
    assert_all(&addrs, &q, 200, "other keys");
    assert_eq!(held(), 60 * replicas as u64);

    let r = flush(addrs[2], None, &[]);
    assert_eq!(flushed(&r), 60, "{}", r.text());
    assert_eq!(copies(&r), 60 * replicas as u64);
    assert_all(&addrs, &q, 404, "after the flush of everything");
    assert_eq!(held(), 0);

    let applied: Vec<u64> = addrs
        .iter()
        .map(|&a| counter(a, "cache_flushes_total"))
        .collect();
    assert_eq!(applied, vec![2, 2, 2], "every node applied both flushes");
    let keys_flushed: u64 = addrs
        .iter()
        .map(|&a| counter(a, "cache_flushed_keys_total"))
        .sum();
    assert_eq!(keys_flushed, 180 * replicas as u64);
}
