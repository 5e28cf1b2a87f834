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
