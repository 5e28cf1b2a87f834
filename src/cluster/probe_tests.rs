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

/// Node `a` of a two-node cluster, and what it hears from peer `b` (incarnation 7 unless a test
/// says otherwise) through its prober and through `b`'s notices.
struct Peer {
    cl: Cluster,
    cfg: ClusterConfig,
    b: usize,
    ours: u64,
}

impl Peer {
    fn new() -> Peer {
        let yaml = "node_id: a\naddress: \"127.0.0.1:1\"\ncache_size: 10\ncluster_nodes:\n  a: \"127.0.0.1:1\"\n  b: \"127.0.0.1:2\"\n";
        let cfg = crate::config::Config::from_yaml_str(yaml, "<test>").expect("config");
        let cl = Cluster::new(&cfg).expect("cluster");
        let (b, ours) = (cl.peers()[0], cl.topology().ring.version());
        Peer {
            cl,
            cfg: cfg.cluster,
            b,
            ours,
        }
    }

    /// `probe::record` of a health answer from `b` saying `status` at `incarnation`/`seq`.
    fn answered(&self, status: MemberState, incarnation: u64, seq: u64) -> bool {
        let r = Report {
            entries: 0,
            bytes: 0,
            ring_version: 0,
            status,
            incarnation,
            state_seq: seq,
            epoch: 0,
            doc_hash: 0,
            migrated: 0,
        };
        record(&self.cl, self.b, Ok(r), &self.cfg, self.ours, "")
    }

    /// What `/internal/cluster/ready` does with a push at version `seq`.
    fn push_ready(&self, seq: u64) -> Option<bool> {
        self.cl
            .with_report(self.b, version(seq), Claim::Exactly, || {
                self.cl
                    .transition(self.b, MemberState::Syncing, MemberState::Up)
            })
    }

    /// What `/internal/cluster/leave` does with a notice at version `seq`.
    fn notice_drain(&self, seq: u64) -> Option<MemberState> {
        self.cl
            .with_report(self.b, version(seq), Claim::Exactly, || {
                self.cl.set_state(self.b, MemberState::Draining)
            })
    }

    fn state(&self) -> MemberState {
        self.cl.state(self.b)
    }
}

fn version(seq: u64) -> StateVersion {
    StateVersion {
        incarnation: 7,
        seq,
    }
}

#[test]
fn a_probe_answered_before_the_ready_push_does_not_undo_it() {
    let p = Peer::new();
    // b starts syncing (version 1) and a's prober hears it.
    p.answered(MemberState::Syncing, 7, 1);
    assert_eq!(p.state(), MemberState::Syncing);
    // b caught up (version 2): the push arrives, then a probe answered before it is processed.
    assert_eq!(p.push_ready(2), Some(true));
    assert!(!p.answered(MemberState::Syncing, 7, 1));
    assert_eq!(
        p.state(),
        MemberState::Up,
        "a late answer overwrote the push"
    );
    // The answer of the push's version agrees; a later one saying syncing is a new catch-up.
    p.answered(MemberState::Up, 7, 2);
    assert_eq!(p.state(), MemberState::Up);
    p.answered(MemberState::Syncing, 7, 3);
    assert_eq!(p.state(), MemberState::Syncing);
    // A push of a version already answered cannot move it back up.
    assert_eq!(p.push_ready(2), None);
    assert_eq!(p.state(), MemberState::Syncing);
}

#[test]
fn the_ready_push_before_the_probe_records_its_version_even_when_it_moves_nothing() {
    let p = Peer::new();
    // The push is processed while this node still holds b up (the syncing answer is in flight).
    assert_eq!(p.push_ready(2), Some(false));
    assert!(!p.answered(MemberState::Syncing, 7, 1));
    assert_eq!(p.state(), MemberState::Up);
}

#[test]
fn a_node_that_predates_versions_is_taken_as_it_answers() {
    let p = Peer::new();
    assert_eq!(p.push_ready(2), Some(false));
    assert!(p.answered(MemberState::Syncing, 0, 0));
    assert_eq!(p.state(), MemberState::Syncing);
}

#[test]
fn own_state_changes_are_counted() {
    let cl = Peer::new().cl;
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
    let p = Peer::new();
    p.answered(MemberState::Up, 7, 2);
    // b drains (version 3) and says so; a healthy answer sent before that arrives after it.
    assert_eq!(p.notice_drain(3), Some(MemberState::Up));
    assert!(!p.answered(MemberState::Up, 7, 2));
    assert_eq!(p.state(), MemberState::Draining);
    // Its restart (another incarnation) is news whatever its count.
    assert!(p.answered(MemberState::Syncing, 8, 1));
    assert_eq!(p.state(), MemberState::Syncing);
}
