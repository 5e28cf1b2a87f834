//! Unit tests for `pool.rs`: which idle connection a checkout takes, with and without an age
//! bound (requests that must not be sent twice take only a recently used connection).

use std::net::TcpListener;
use std::sync::Arc;

use super::*;

/// A peer that accepts connections and keeps them open (never reads or answers).
fn silent_peer() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        let mut open = Vec::new();
        for s in listener.incoming().flatten() {
            open.push(s);
        }
    });
    addr
}

fn cluster(peer: std::net::SocketAddr) -> Cluster {
    let yaml = format!(
        "node_id: a\naddress: \"127.0.0.1:1\"\ncache_size: 10\ncluster_nodes:\n  a: \"127.0.0.1:1\"\n  b: \"{peer}\"\n"
    );
    let cfg = crate::config::Config::from_yaml_str(&yaml, "<test>").expect("config");
    Cluster::new(&cfg).expect("cluster")
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .enable_timer()
        .build()
        .expect("runtime")
        .block_on(f)
}

#[test]
fn an_age_bound_skips_older_idle_connections_and_makes_room_for_a_new_one() {
    let cl = Arc::new(cluster(silent_peer()));
    // One connection at most toward the peer.
    let pool = PeerPool::new(2, 2, 1);
    let t = Duration::from_secs(2);
    block_on(async {
        let first = pool.checkout(1, &cl, t, None).await.expect("connect");
        assert!(!first.reused);
        first.release();
        // Recent enough: reused.
        let recent = pool.checkout(1, &cl, t, Some(Duration::from_secs(60)));
        let recent = recent.await.expect("reuse");
        assert!(recent.reused);
        recent.release();
        // Too old for the bound, and the pool is full: the old one is closed, a new one made.
        let fresh = pool.checkout(1, &cl, t, Some(Duration::ZERO)).await;
        let fresh = fresh.expect("not Exhausted: the old idle connection made room");
        assert!(!fresh.reused);
        // Without a bound, the only connection (in use) leaves no room.
        let none = pool.checkout(1, &cl, t, None).await;
        assert!(matches!(none, Err(CheckoutError::Exhausted)));
        fresh.release();
        let again = pool.checkout(1, &cl, t, None).await.expect("reuse");
        assert!(again.reused);
    });
}
