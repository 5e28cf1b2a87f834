//! Unit tests of the batcher's singleflight (`join`, a child module of `batch.rs`): identical
//! GETs share a forward only while it is queued, against the fake peer of `batch_tests.rs`,
//! which records every request it gets and answers (the path as the body) only when told to.

use std::sync::atomic::Ordering;

use super::tests::{block_on, body_of, client, get, until_seen, FakePeer};
use crate::cluster::Outgoing;
use crate::http::Method;

/// A GET of `path` with passed-on header `lines`.
fn get_with<'a>(path: &'a str, lines: &'a [u8]) -> Outgoing<'a> {
    Outgoing {
        headers: lines,
        ..get(path)
    }
}

#[test]
fn identical_gets_join_a_queued_forward_and_each_gets_the_answer() {
    let peer = FakePeer::start();
    let p = client(peer.addr, 64);
    block_on(async {
        // The only dispatcher waits for the silent peer: what follows stays queued.
        let first = p.forward_joining(1, &get("/k0"));
        until_seen(&peer, 1).await;
        let lead = p.forward_joining(1, &get("/k1"));
        let same = p.forward_joining(1, &get_with("/k1", b"X-Cache-Client-Request-Id: b\r\n"));
        let other = p.forward_joining(1, &get("/k2"));
        let again = p.forward_joining(1, &get_with("/k1", b"traceparent: x\r\n"));
        assert!(!lead.joined() && !other.joined());
        assert!(same.joined() && again.joined());
        peer.answering.store(true, Ordering::Relaxed);
        assert_eq!(body_of(first).await, "\"/k0\"");
        for f in [lead, same, again] {
            assert_eq!(body_of(f).await, "\"/k1\"");
        }
        assert_eq!(body_of(other).await, "\"/k2\"");
    });
    assert_eq!(peer.seen(), ["/k0", "/k1", "/k2"], "/k1 went once");
    assert_eq!(p.results.in_use(), 0);
}

#[test]
fn a_get_never_joins_a_forward_already_sent() {
    let peer = FakePeer::start();
    let p = client(peer.addr, 64);
    block_on(async {
        let sent = p.forward_joining(1, &get("/k0"));
        until_seen(&peer, 1).await;
        // Written to the peer (which may have read the key already): a later GET asks anew.
        let later = p.forward_joining(1, &get("/k0"));
        assert!(!later.joined());
        peer.answering.store(true, Ordering::Relaxed);
        assert_eq!(body_of(sent).await, "\"/k0\"");
        assert_eq!(body_of(later).await, "\"/k0\"");
    });
    assert_eq!(peer.seen(), ["/k0", "/k0"]);
}

#[test]
fn conditions_writes_and_plain_forwards_never_join() {
    let put = Outgoing {
        method: Method::Put,
        body: Some(b""),
        ..get("/k1")
    };
    let peer = FakePeer::start();
    let p = client(peer.addr, 64);
    block_on(async {
        let first = p.forward_joining(1, &get("/k0"));
        until_seen(&peer, 1).await;
        let queued = [
            p.forward_joining(1, &get("/k1")),
            p.forward_joining(1, &get_with("/k1", b"If-None-Match: \"5\"\r\n")),
            p.forward_joining(1, &get_with("/k1", b"If-Match: *\r\n")),
            p.forward_joining(1, &put),
            // Not asked to join (a replica copy, a failover): sent on its own.
            p.forward(1, &get("/k1")),
            p.forward_joining(1, &get_with("/k1", b"X-Cache-Lease: 1\r\n")),
        ];
        assert!(queued.iter().all(|f| !f.joined()));
        // A request carrying a condition is not joined either.
        let behind = p.forward_joining(1, &get_with("/k1", b"If-None-Match: \"5\"\r\n"));
        assert!(!behind.joined());
        peer.answering.store(true, Ordering::Relaxed);
        assert_eq!(body_of(first).await, "\"/k0\"");
        for f in queued.into_iter().chain([behind]) {
            assert_eq!(body_of(f).await, "\"/k1\"");
        }
    });
    assert_eq!(peer.seen().len(), 8);
}

#[test]
fn a_get_never_joins_one_queued_before_a_write() {
    let put = Outgoing {
        method: Method::Put,
        body: Some(b""),
        ..get("/k1")
    };
    let peer = FakePeer::start();
    let p = client(peer.addr, 64);
    block_on(async {
        let first = p.forward_joining(1, &get("/k0"));
        until_seen(&peer, 1).await;
        // A pipelined GET, PUT, GET of one key: the second GET must be answered after the PUT.
        let before = p.forward_joining(1, &get("/k1"));
        let write = p.forward_joining(1, &put);
        let after = p.forward_joining(1, &get("/k1"));
        assert!(!after.joined());
        // Behind the write, identical GETs join each other again.
        let joined = p.forward_joining(1, &get("/k1"));
        assert!(joined.joined());
        peer.answering.store(true, Ordering::Relaxed);
        assert_eq!(body_of(first).await, "\"/k0\"");
        for f in [before, write, after, joined] {
            assert_eq!(body_of(f).await, "\"/k1\"");
        }
    });
    assert_eq!(peer.seen(), ["/k0", "/k1", "/k1", "/k1"]);
}

#[test]
fn a_joined_get_keeps_the_forward_when_the_first_waiter_leaves() {
    let peer = FakePeer::start();
    let p = client(peer.addr, 64);
    block_on(async {
        let first = p.forward_joining(1, &get("/k0"));
        until_seen(&peer, 1).await;
        let lead = p.forward_joining(1, &get("/k1"));
        let joined = p.forward_joining(1, &get("/k1"));
        assert!(joined.joined());
        drop(lead);
        // Every waiter of /k2 leaves: that forward is dropped unsent.
        let gone = [
            p.forward_joining(1, &get("/k2")),
            p.forward_joining(1, &get("/k2")),
        ];
        drop(gone);
        peer.answering.store(true, Ordering::Relaxed);
        assert_eq!(body_of(first).await, "\"/k0\"");
        assert_eq!(body_of(joined).await, "\"/k1\"");
        assert_eq!(body_of(p.forward_joining(1, &get("/k3"))).await, "\"/k3\"");
    });
    assert_eq!(peer.seen(), ["/k0", "/k1", "/k3"]);
    assert_eq!(p.abandoned(), 1, "the /k2 forward, once");
    assert_eq!(p.results.in_use(), 0, "every slot was freed");
}

#[test]
fn a_failed_forward_fails_every_joined_get() {
    let peer = FakePeer::start();
    let p = client(peer.addr, 64);
    block_on(async {
        let first = p.forward_joining(1, &get("/k0"));
        until_seen(&peer, 1).await;
        let lead = p.forward_joining(1, &get("/k1"));
        let joined = p.forward_joining(1, &get("/k1"));
        // The peer goes away with everything unanswered: the connection breaks.
        drop(peer);
        assert!(first.wait().await.is_err());
        assert!(lead.wait().await.is_err());
        assert!(joined.wait().await.is_err());
    });
    assert_eq!(p.results.in_use(), 0);
}
