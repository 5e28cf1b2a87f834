//! Unit tests for `report.rs` (a child module of it; see the `#[path]` there).

use super::*;
use crate::cluster::ring::Ring;
use std::io::ErrorKind;

fn loaded(stored: u64, rejected: u64, superseded: u64) -> Loaded {
    Loaded {
        stored,
        rejected,
        superseded,
    }
}

#[test]
fn import_answers_are_read_or_refused_with_the_peers_words() {
    let ok = read_import_answer(
        200,
        br#"{"imported":3,"rejected":1,"superseded":2,"total":6,"nodes":{},"unknown":[],"failed":{},"hinted":0,"hints_dropped":0}"#,
    )
    .expect("ok");
    assert_eq!(ok, loaded(3, 1, 2));
    let old = read_import_answer(200, br#"{"imported":3,"rejected":1}"#).expect("ok");
    assert_eq!(old, loaded(3, 1, 0), "a node without versions");
    let err = read_import_answer(400, br#"{"error":"bad doc","status":400}"#).expect_err("refused");
    assert_eq!(err.to_string(), "answered 400: bad doc");
    assert!(!err.outcome_unknown());
    let bad = read_import_answer(200, b"<html>").expect_err("bad answer");
    assert!(matches!(bad, ImportError::BadAnswer(_)));
    assert!(
        bad.outcome_unknown(),
        "it answered 200: it applied something"
    );
}

#[test]
fn timeouts_and_broken_answers_leave_the_outcome_unknown() {
    let peer = |e| ImportError::Peer(e).outcome_unknown();
    assert!(peer(FwdError::Timeout { ms: 5 }));
    assert!(peer(FwdError::Broken(Broken::Closed)));
    assert!(peer(FwdError::Broken(Broken::Read(
        ErrorKind::ConnectionReset
    ))));
    assert!(!peer(FwdError::Broken(Broken::Write(
        ErrorKind::BrokenPipe
    ))));
    assert!(!peer(FwdError::Exhausted));
    assert!(ImportError::Stopped(Canceled).outcome_unknown());
}

#[test]
fn each_round_splits_a_members_share_into_first_copies_and_later_ones() {
    let ring = Ring::new(&["a", "b", "c"], 20).expect("ring");
    let keys: Vec<String> = (0..200).map(|i| format!("k{i}")).collect();
    let prefs: Vec<Prefs> = keys
        .iter()
        .map(|k| ring.preference(k.as_bytes(), 2))
        .collect();
    let mut reached = vec![false; keys.len()];
    let r0 = round_shares(&prefs, &reached, 0, 3);
    assert!(r0.iter().all(|s| s.copies.is_empty()));
    let firsts: usize = r0.iter().map(|s| s.first.len()).sum();
    assert_eq!(firsts, keys.len(), "every entry once, at its owner");
    for (m, s) in r0.iter().enumerate() {
        assert!(s.first.iter().all(|&i| prefs[i].get(0) == Some(m)));
    }
    // Member 1 confirmed its share; 0 and 2 did not.
    r0[1].first.iter().for_each(|&i| reached[i] = true);
    let r1 = round_shares(&prefs, &reached, 1, 3);
    for (m, s) in r1.iter().enumerate() {
        assert!(s
            .first
            .iter()
            .all(|&i| !reached[i] && prefs[i].get(1) == Some(m)));
        assert!(s
            .copies
            .iter()
            .all(|&i| reached[i] && prefs[i].get(1) == Some(m)));
    }
    let n: usize = r1.iter().map(|s| s.first.len() + s.copies.len()).sum();
    assert_eq!(n, keys.len(), "two replicas each");
    assert!(round_shares(&prefs, &reached, 2, 3)
        .iter()
        .all(|s| s.first.is_empty() && s.copies.is_empty()));
}

fn member(
    loaded: Loaded,
    answered: bool,
    problem: Option<Problem>,
    unreached: u64,
) -> MemberOutcome {
    MemberOutcome {
        loaded,
        answered,
        problem,
        unreached,
    }
}

#[test]
fn a_full_import_reports_each_member_and_counts_entries_once() {
    let t = Tally {
        total: 5,
        first: loaded(4, 0, 1),
        unreached: 0,
        members: vec![
            member(loaded(3, 0, 1), true, None, 0),
            member(
                loaded(2, 0, 0),
                true,
                Some(Problem::NotTakingWrites("down")),
                0,
            ),
            member(
                loaded(0, 0, 0),
                false,
                Some(Problem::Unknown("no answer".into())),
                0,
            ),
        ],
        hinted: 4,
        hints_dropped: 0,
    };
    let (status, body) = report(&["node1", "node2", "node3"], &t);
    assert_eq!(status, 200);
    assert_eq!(
        body,
        concat!(
            r#"{"imported":4,"rejected":0,"superseded":1,"total":5,"#,
            r#""nodes":{"node1":{"applied":3,"superseded":1,"rejected":0},"node2":{"applied":2,"superseded":0,"rejected":0}},"#,
            r#""unknown":["node3"],"failed":{},"hinted":4,"hints_dropped":0}"#
        )
    );
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["nodes"]["node1"]["applied"], 3);
}

#[test]
fn an_entry_no_replica_confirmed_makes_a_502_naming_members_and_counts() {
    let t = Tally {
        total: 10,
        first: loaded(7, 0, 0),
        unreached: 3,
        members: vec![
            member(loaded(7, 0, 0), true, None, 0),
            member(
                Loaded::default(),
                false,
                Some(Problem::Failed("answered 400: no".into())),
                3,
            ),
            member(
                Loaded::default(),
                false,
                Some(Problem::NotTakingWrites("down")),
                2,
            ),
        ],
        hinted: 5,
        hints_dropped: 0,
    };
    let (status, body) = report(&["a", "b", "c"], &t);
    assert_eq!(status, 502);
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["status"], 502);
    assert_eq!(v["failed"]["b"], "answered 400: no");
    assert_eq!(v["imported"], 7);
    assert_eq!(
        v["error"],
        "import incomplete: 3 of 10 entries reached no replica: b (3 entries): answered 400: no; c (2 entries): down; their copies are kept as hints"
    );
    let unknown = Tally {
        members: vec![member(
            Loaded::default(),
            false,
            Some(Problem::Unknown(
                "no answer within cluster.request_timeout (5 ms)".into(),
            )),
            1,
        )],
        total: 1,
        unreached: 1,
        hints_dropped: 1,
        ..Tally::default()
    };
    let (status, body) = report(&["a"], &unknown);
    assert_eq!(status, 502);
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["unknown"][0], "a");
    assert_eq!(
        v["error"],
        "import incomplete: 1 of 1 entries reached no replica: a (1 entries): no answer within cluster.request_timeout (5 ms); it may have applied part; some copies could not be kept as hints (hint bound reached)"
    );
}
