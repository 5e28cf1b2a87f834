//! A member whose clock runs ahead: writes it acknowledged before the flush carry versions
//! above the receiving node's clock. The flush version is drawn after asking every member's
//! clock, so those writes are still older than the flush and go.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::cluster_common::{
    call, etag, etag_version, get, key_path, put, replicas_of, InProc, STEADY,
};
use crate::helpers::{flush, flushed};

/// How far ahead the skewed members' clocks are pushed.
const AHEAD_MS: u64 = 10 * 60 * 1000;

pub fn a_member_clock_ahead_cannot_outrank_the_flush(test_no: u8) {
    let c = InProc::start(test_no, 2, STEADY, "");
    let addrs = c.addrs.clone();
    // Keys replicated on node2 and node3 only: node1, which will receive the flush, never sees
    // their versions.
    let mut away = (0..)
        .map(|i| format!("skew:{i}"))
        .filter(|k| !replicas_of(&c.ring, k, 2).contains(&0));
    let (planted, written) = (away.next().expect("key"), away.next().expect("key"));
    let owner = replicas_of(&c.ring, &written, 2)[0];
    // A replica copy from "a peer" (no secret configured: the marker counts) carrying a version
    // ten minutes ahead: its replicas' clocks move past it, as a peer with a fast clock would
    // make them.
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    let future = format!("{:016x}", (now_ms + AHEAD_MS) << 16);
    for &r in &replicas_of(&c.ring, &planted, 2) {
        let headers = [
            ("X-Cache-Forwarded", "node2"),
            ("X-Cache-Version", future.as_str()),
        ];
        let w = call(
            addrs[r],
            "PUT",
            &key_path(&planted),
            &headers,
            Some(b"{\"value\":0}"),
        );
        assert!(matches!(w.status, 200 | 201), "{}", w.text());
    }
    let w = put(addrs[owner], &written, "{\"value\":1}");
    assert_eq!(w.status, 201, "{}", w.text());
    let written_version = etag_version(&etag(&w));
    assert!(
        written_version >> 16 >= now_ms + AHEAD_MS,
        "the owner's clock is ahead"
    );

    let r = flush(addrs[0], Some("skew:"), &[]);
    assert_eq!(flushed(&r), 2, "{}", r.text());
    let version =
        u64::from_str_radix(r.json()["version"].as_str().expect("version"), 16).expect("hex");
    assert!(
        version > written_version,
        "the flush is newer than every write acknowledged before it"
    );
    for &a in &addrs {
        for k in [&planted, &written] {
            assert_eq!(get(a, k).status, 404, "{k}");
        }
    }
    // Every member's clock observed the flush: a write through node1 right after is newer.
    let after = put(addrs[0], &written, "{\"value\":2}");
    assert_eq!(after.status, 201, "{}", after.text());
    assert!(etag_version(&etag(&after)) > version);
    for &a in &addrs {
        assert_eq!(get(a, &written).json()["value"], 2);
    }
}
