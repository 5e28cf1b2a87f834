//! What the consistency tests share: starting a settled cluster, comparing the answers of every
//! node, checking that no membership change happened, and the values they write.

use std::time::Duration;

use crate::cluster_common::{comparable, etag, ring_changes, wait_serving, InProc, IDS, STEADY};
use crate::common::Resp;
use dcache::clock::Clock;
use serde_json::{json, Value};

/// The error body shape shared by every error: `{"error": text, "status": N[, "key": k]}`.
pub fn assert_error(r: &Resp, status: u16, ctx: &str) {
    assert_eq!(r.status, status, "{ctx}: {}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"), "{ctx}");
    let j = r.json();
    assert!(
        j["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{ctx}: {j}"
    );
    assert_eq!(j["status"], status, "{ctx}: {j}");
}

/// The same answer from every node. A `ttl` in the body and `Cache-Control: max-age` count down
/// in whole seconds between the requests, so two answers may differ by one second there and
/// nowhere else.
pub fn assert_same(answers: &[Resp], ctx: &str) {
    let first = &answers[0];
    for (i, other) in answers.iter().enumerate().skip(1) {
        let (mut a, mut b) = (comparable(first), comparable(other));
        let max_age = |h: &mut Vec<(String, String)>| {
            let v = h.iter_mut().find(|(n, _)| n == "cache-control")?;
            let secs = v.1.strip_prefix("max-age=")?.parse::<u64>().ok()?;
            v.1 = "max-age=N".to_string();
            Some(secs)
        };
        if let (Some(ma), Some(mb)) = (max_age(&mut a.1), max_age(&mut b.1)) {
            assert!(ma.abs_diff(mb) <= 1, "{ctx}: max-age {ma} vs {mb}");
        }
        if let (Ok(mut ja), Ok(mut jb)) = (
            serde_json::from_str::<Value>(&a.2),
            serde_json::from_str::<Value>(&b.2),
        ) {
            if let (Some(ta), Some(tb)) = (ja["ttl"].as_u64(), jb["ttl"].as_u64()) {
                assert!(ta.abs_diff(tb) <= 1, "{ctx}: ttl {ta} vs {tb}");
                ja["ttl"] = json!(0);
                jb["ttl"] = json!(0);
                a.2 = ja.to_string();
                b.2 = jb.to_string();
            }
        }
        assert_eq!(a, b, "{ctx}: node1 and {} answer differently", IDS[i]);
    }
}

/// Start cluster `test_no` (two cores per node, every key on 2 of the 3 nodes) and wait until it settled: every node
/// caught up from its peers and sees the others up. Returns it with each node's
/// `cache_ring_changes_total` at that point (a node counts its peers' start-up, syncing then up,
/// as membership changes), the baseline of [`assert_no_membership_change`].
pub fn start(test_no: u8, clock: Option<Clock>) -> (InProc, Vec<f64>) {
    let c = match clock {
        Some(clock) => InProc::start_with_clock(test_no, 2, STEADY, "", clock),
        None => InProc::start(test_no, 2, STEADY, ""),
    };
    wait_serving(&c.addrs, &[0, 1, 2], Duration::from_secs(10));
    let base = ring_changes(&c.addrs);
    (c, base)
}

/// [`assert_same`] for answers about different writes of a key (it was written again before
/// each request): every answer names a version in the same form (or none does), and apart from
/// the `ETag` they are the same.
pub fn assert_same_but_version(answers: &[Resp], ctx: &str) {
    let has_version = answers[0].header("etag").is_some();
    let stripped: Vec<Resp> = answers
        .iter()
        .enumerate()
        .map(|(i, r)| {
            assert_eq!(
                r.header("etag").is_some(),
                has_version,
                "{ctx}: node1 and {} differ in naming a version",
                IDS[i]
            );
            if has_version {
                etag(r);
            }
            let mut r = r.clone();
            r.headers.retain(|(n, _)| !n.eq_ignore_ascii_case("etag"));
            r
        })
        .collect();
    assert_same(&stripped, ctx);
}

/// Every node reports the membership it had once the cluster settled: no node was marked down
/// (or came back, or said it is draining) during the test.
pub fn assert_no_membership_change(c: &InProc, base: &[f64]) {
    for (i, now) in ring_changes(&c.addrs).iter().enumerate() {
        assert_eq!(
            *now, base[i],
            "{} saw a membership change (a peer marked down: machine overloaded?)",
            IDS[i]
        );
    }
}

pub fn json_str(s: &str) -> String {
    serde_json::to_string(s).expect("string to JSON")
}

/// The value written for key number `i`: several JSON shapes, escapes and non-ASCII text.
pub fn value_for(i: usize, key: &str, round: u32) -> Value {
    match i % 4 {
        0 => {
            json!({"i": i, "key": key, "round": round, "list": [1, 2.5, null, true], "s": "line1\nline2 \"q\" \u{e9}"})
        }
        1 => json!(format!("plain string {i} round {round} ключ")),
        2 => json!([i, round, {"nested": {"deep": [key]}}]),
        _ => json!(i as u64 * 1_000_003 + u64::from(round)),
    }
}
