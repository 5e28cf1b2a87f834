//! Unit tests for `probe.rs` (a child module of it; see the `#[path]` there).

use super::*;
use crate::http::ProtoError;

#[test]
fn ring_mismatch_is_reported_once_per_change() {
    let ours = 0xaa;
    // (before, now) -> what to say; 0 = the peer never reported.
    let cases = [
        ((0, ours), RingChange::Unchanged),
        ((ours, ours), RingChange::Unchanged),
        ((0, 0xbb), RingChange::Differs { theirs: 0xbb }),
        ((ours, 0xbb), RingChange::Differs { theirs: 0xbb }),
        ((0xbb, 0xbb), RingChange::Unchanged),
        ((0xbb, 0xcc), RingChange::Differs { theirs: 0xcc }),
        ((0xcc, ours), RingChange::Agrees),
        ((ours, 0), RingChange::Unchanged),
    ];
    for ((before, now), want) in cases {
        assert_eq!(
            ring_change(ours, before, now),
            want,
            "{before:x} -> {now:x}"
        );
    }
}

#[test]
fn probe_errors_name_the_cause() {
    let addr: SocketAddr = "127.0.0.1:9".parse().expect("addr");
    let health = |cause| ProbeError::Health { addr, cause };
    let cases = [
        (
            ProbeError::Unresolved {
                addr: "node2:8080".to_string(),
            },
            "cannot resolve node2:8080".to_string(),
        ),
        (
            ProbeError::Connect(ConnectError::Io {
                addr,
                kind: ErrorKind::ConnectionRefused,
            }),
            "127.0.0.1:9: connection refused".to_string(),
        ),
        (
            health(HealthError::NoAnswer { ms: 500 }),
            "127.0.0.1:9: no answer within cluster.probe_timeout (500 ms)".to_string(),
        ),
        (
            health(HealthError::Answered(503)),
            "127.0.0.1:9: health answered 503".to_string(),
        ),
        (
            health(HealthError::Read(ErrorKind::ConnectionReset)),
            "127.0.0.1:9: read: connection reset".to_string(),
        ),
        (
            health(HealthError::Malformed(ProtoError::BadContentLength)),
            "127.0.0.1:9: health response: invalid Content-Length in response".to_string(),
        ),
    ];
    for (e, text) in cases {
        assert_eq!(e.to_string(), text, "{e:?}");
    }
    let json = serde_json::from_slice::<serde_json::Value>(b"{\"a\":").expect_err("eof");
    let body = health(HealthError::Body {
        category: json.classify(),
        line: json.line(),
        column: json.column(),
    });
    assert_eq!(
        body.to_string(),
        "127.0.0.1:9: health body: truncated JSON at line 1 column 5"
    );
}

fn two_nodes() -> (Cluster, ClusterConfig) {
    let yaml = "node_id: a\naddress: \"127.0.0.1:1\"\ncache_size: 10\ncluster_nodes:\n  a: \"127.0.0.1:1\"\n  b: \"127.0.0.1:2\"\n";
    let cfg = crate::config::Config::from_yaml_str(yaml, "<test>").expect("config");
    let cl = Cluster::new(&cfg).expect("cluster");
    (cl, cfg.cluster)
}

/// A health answer from node `b` (incarnation 7) saying `status` at version `seq`.
fn answer(status: MemberState, seq: u64) -> Result<Report, ProbeError> {
    Ok(Report {
        entries: 0,
        bytes: 0,
        ring_version: 0,
        status,
        incarnation: 7,
        state_seq: seq,
        epoch: 0,
        doc_hash: 0,
        migrated: 0,
    })
}

/// What `/internal/cluster/ready` does with a push at version `seq`.
fn push_ready(cl: &Cluster, b: usize, seq: u64) -> Option<bool> {
    let v = StateVersion {
        incarnation: 7,
        seq,
    };
    cl.with_report(b, v, Claim::Exactly, || {
        cl.transition(b, MemberState::Syncing, MemberState::Up)
    })
}

#[test]
fn a_probe_answered_before_the_ready_push_does_not_undo_it() {
    let (cl, cfg) = two_nodes();
    let b = cl.peers()[0];
    let ours = cl.topology().ring.version();
    // b starts syncing (version 1) and a's prober hears it.
    record(&cl, b, answer(MemberState::Syncing, 1), &cfg, ours, "");
    assert_eq!(cl.state(b), MemberState::Syncing);
    // b caught up (version 2): the push arrives, then a probe answered before it is processed.
    assert_eq!(push_ready(&cl, b, 2), Some(true));
    assert!(!record(
        &cl,
        b,
        answer(MemberState::Syncing, 1),
        &cfg,
        ours,
        ""
    ));
    assert_eq!(
        cl.state(b),
        MemberState::Up,
        "a late answer overwrote the push"
    );
    // The answer of the push's version agrees; a later one saying syncing is a new catch-up.
    record(&cl, b, answer(MemberState::Up, 2), &cfg, ours, "");
    assert_eq!(cl.state(b), MemberState::Up);
    record(&cl, b, answer(MemberState::Syncing, 3), &cfg, ours, "");
    assert_eq!(cl.state(b), MemberState::Syncing);
    // A push of a version already answered cannot move it back up.
    assert_eq!(push_ready(&cl, b, 2), None);
    assert_eq!(cl.state(b), MemberState::Syncing);
}

#[test]
fn the_ready_push_before_the_probe_records_its_version_even_when_it_moves_nothing() {
    let (cl, cfg) = two_nodes();
    let b = cl.peers()[0];
    let ours = cl.topology().ring.version();
    // The push is processed while this node still holds b up (the syncing answer is in flight).
    assert_eq!(push_ready(&cl, b, 2), Some(false));
    assert!(!record(
        &cl,
        b,
        answer(MemberState::Syncing, 1),
        &cfg,
        ours,
        ""
    ));
    assert_eq!(cl.state(b), MemberState::Up);
}

#[test]
fn a_node_that_predates_versions_is_taken_as_it_answers() {
    let (cl, cfg) = two_nodes();
    let b = cl.peers()[0];
    let ours = cl.topology().ring.version();
    assert_eq!(push_ready(&cl, b, 2), Some(false));
    let mut old = answer(MemberState::Syncing, 0);
    if let Ok(r) = old.as_mut() {
        r.incarnation = 0;
    }
    assert!(record(&cl, b, old, &cfg, ours, ""));
    assert_eq!(cl.state(b), MemberState::Syncing);
}

#[test]
fn own_state_changes_are_counted() {
    let (cl, _) = two_nodes();
    let v0 = cl.own_version();
    assert_eq!(v0.incarnation, cl.incarnation);
    cl.set_state(cl.me, MemberState::Syncing);
    assert!(cl.transition(cl.me, MemberState::Syncing, MemberState::Up));
    // A set to the same state and a refused transition are no change.
    cl.set_state(cl.me, MemberState::Up);
    assert!(!cl.transition(cl.me, MemberState::Syncing, MemberState::Up));
    assert_eq!(cl.own_version().seq, v0.seq + 2);
    // A peer's state is not this node's.
    cl.set_state(cl.peers()[0], MemberState::Down);
    assert_eq!(cl.own_version().seq, v0.seq + 2);
}

#[test]
fn a_probe_answered_before_the_drain_notice_does_not_bring_the_node_back() {
    let (cl, cfg) = two_nodes();
    let b = cl.peers()[0];
    let ours = cl.topology().ring.version();
    record(&cl, b, answer(MemberState::Up, 2), &cfg, ours, "");
    // b drains (version 3) and says so; a healthy answer sent before that arrives after it.
    let v = StateVersion {
        incarnation: 7,
        seq: 3,
    };
    let before = cl.with_report(b, v, Claim::Exactly, || {
        cl.set_state(b, MemberState::Draining)
    });
    assert_eq!(before, Some(MemberState::Up));
    assert!(!record(&cl, b, answer(MemberState::Up, 2), &cfg, ours, ""));
    assert_eq!(cl.state(b), MemberState::Draining);
    // Its restart (another incarnation) is news whatever its count.
    let mut restarted = answer(MemberState::Syncing, 1);
    if let Ok(r) = restarted.as_mut() {
        r.incarnation = 8;
    }
    assert!(record(&cl, b, restarted, &cfg, ours, ""));
    assert_eq!(cl.state(b), MemberState::Syncing);
}
