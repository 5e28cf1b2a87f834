//! Unit tests for `export.rs` (a child module of it; see the `#[path]` there).

use super::*;

#[test]
fn export_errors_name_the_peer_and_cause() {
    let addr: std::net::SocketAddr = "127.0.0.1:9".parse().expect("addr");
    let peer = |cause| ExportError::Peer {
        id: "n2".to_string(),
        addr: "node2:7000".to_string(),
        cause,
    };
    let cases = [
        (
            peer(PeerExportError::Connect(ConnectError::Io {
                addr,
                kind: ErrorKind::ConnectionRefused,
            })),
            "export from n2 (node2:7000): 127.0.0.1:9: connection refused",
        ),
        (
            peer(PeerExportError::Answered(503)),
            "export from n2: answered 503",
        ),
        (
            peer(PeerExportError::TimedOut { ms: 30 }),
            "export from n2: timed out: no data within timeouts.write (30 ms)",
        ),
        (
            peer(PeerExportError::Read(ErrorKind::ConnectionReset)),
            "export from n2: read: connection reset",
        ),
        (
            peer(PeerExportError::Chunked(ParseError::BadRequest(
                "bad chunk size",
            ))),
            "export from n2: chunked body: bad chunk size",
        ),
        (
            peer(PeerExportError::ClosedEarly),
            "export from n2: connection closed before the end of its document",
        ),
        (
            ExportError::Stopped(Canceled),
            "export of this node's shards: the core that was asked stopped before answering",
        ),
    ];
    for (e, text) in cases {
        assert_eq!(e.to_string(), text, "{e:?}");
    }
}

#[test]
fn peers_are_asked_for_the_keys_the_view_gives_them() {
    let yaml = "node_id: b\naddress: \"127.0.0.1:2\"\ncache_size: 10\ncluster_nodes:\n  c: \"127.0.0.1:3\"\n  a: \"127.0.0.1:1\"\n  b: \"127.0.0.1:2\"\n";
    let cfg = crate::config::Config::from_yaml_str(yaml, "<test>").expect("config");
    let cl = crate::cluster::Cluster::new(&cfg).expect("cluster");
    let mut x = Exporter::new(Scope::Cluster);
    assert_eq!(x.peer_query(&cl), "scope=local");
    x.view = Some(Arc::new(View::new(vec![0, 2, 1])));
    // One digit per member in node id order (a, b, c), whatever slots this process gave them.
    assert_eq!(x.peer_query(&cl), "scope=local&view=021");
    let sent = Scope::from_query(Some(x.peer_query(&cl).as_bytes()));
    let Scope::Local { view: Some(digits) } = sent else {
        panic!("{sent:?}");
    };
    assert_eq!(
        View::parse_for(&digits, &cl),
        Some(View::new(vec![0, 2, 1]))
    );
    assert_eq!(
        View::parse_for(b"02", &cl),
        None,
        "a view of another membership"
    );
}
