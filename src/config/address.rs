//! Node ids and network addresses: the listen `address` (resolved to a `SocketAddr` at load time) and
//! the `cluster_nodes` peer addresses (checked for shape only: peers may be DNS names that resolve
//! later, e.g. Kubernetes services that do not exist yet when this node starts).

use serde::de::{self, Deserializer, MapAccess, Visitor};
use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::sync::mpsc;
use std::time::Duration;

/// Longest node id. Ids appear in log lines, response headers and the ring's hash input, so they stay
/// short; 64 is far beyond any naming scheme (`node1`, `cache-node-eu-west-1a-07`).
pub const MAX_NODE_ID_BYTES: usize = 64;

/// Longest DNS name (RFC 1035 section 2.3.4).
const MAX_HOST_BYTES: usize = 253;

/// How long resolving the listen host may take. A bad config must stop the node within 1 s, and a
/// resolver that hangs (unreachable DNS server) must not hold start-up hostage.
pub const RESOLVE_TIMEOUT: Duration = Duration::from_millis(500);

/// Checks a node id against `[A-Za-z0-9._-]{1,64}`.
pub fn validate_node_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > MAX_NODE_ID_BYTES {
        return Err(format!(
            "node id {id:?} must be 1 to {MAX_NODE_ID_BYTES} characters long"
        ));
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "._-".contains(*c)))
    {
        return Err(format!(
            "node id {id:?} contains {c:?}; only letters, digits, '.', '_' and '-' are allowed"
        ));
    }
    Ok(())
}

/// Parses a port: ASCII digits only (Rust's parser would take `+80`), at most 65535.
fn parse_port(text: &str, whole: &str) -> Result<u16, String> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("invalid port {text:?} in {whole:?}"));
    }
    text.parse::<u16>()
        .map_err(|_| format!("port {text} in {whole:?} is out of range (1..=65535)"))
}

/// Splits `host:port`, where host is a DNS name, an IPv4 address or a bracketed IPv6 address.
fn split_host_port(text: &str) -> Result<(&str, u16), String> {
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err(format!(
            "expected \"host:port\" or \":port\" (e.g. \":8001\"), got {text:?}"
        ));
    };
    if host.contains(':') && !host.starts_with('[') {
        return Err(format!(
            "too many ':' in {text:?}; write an IPv6 host in brackets, e.g. \"[::1]:8001\""
        ));
    }
    let port = parse_port(port, text)?;
    if let Some(inner) = host.strip_prefix('[') {
        let ip = inner.strip_suffix(']').unwrap_or(inner);
        if !inner.ends_with(']') || ip.parse::<Ipv6Addr>().is_err() {
            return Err(format!("invalid bracketed IPv6 host in {text:?}"));
        }
        return Ok((host, port));
    }
    let valid_char = |c: char| c.is_ascii_alphanumeric() || ".-_".contains(c);
    if host.is_empty() || host.len() > MAX_HOST_BYTES || !host.chars().all(valid_char) {
        return Err(format!("invalid host {host:?} in {text:?}"));
    }
    Ok((host, port))
}

/// Checks a peer address `host:port` (port 1..=65535) without resolving it.
pub(super) fn validate_peer_address(text: &str) -> Result<(), String> {
    match split_host_port(text)? {
        (_, 0) => Err(format!("port 0 in {text:?} cannot be connected to")),
        _ => Ok(()),
    }
}

/// Resolves the listen address. `":8001"` means every IPv4 interface; IP literals are taken as they
/// are; a host name is resolved with the system resolver and its first address is used. Port 0 (an
/// ephemeral port) is accepted because in-process tests need it.
pub(super) fn resolve_listen(text: &str) -> Result<SocketAddr, String> {
    if let Some(port) = text.strip_prefix(':') {
        let port = parse_port(port, text)?;
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port));
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let (host, port) = split_host_port(text)?;
    resolve_first(host, port)
}

/// Runs the blocking resolver on a helper thread so that a hung lookup is cut off after
/// [`RESOLVE_TIMEOUT`]; the thread is left to finish on its own (start-up is about to fail anyway).
fn resolve_first(host: &str, port: u16) -> Result<SocketAddr, String> {
    let (tx, rx) = mpsc::channel();
    let target = (host.to_owned(), port);
    std::thread::Builder::new()
        .name("config-resolve".into())
        .spawn(move || {
            let result = target.to_socket_addrs().map(|mut addrs| addrs.next());
            let _ = tx.send(result); // the receiver may have timed out; nothing to do then
        })
        .map_err(|e| format!("cannot start the resolver thread: {e}"))?;
    match rx.recv_timeout(RESOLVE_TIMEOUT) {
        Ok(Ok(Some(addr))) => Ok(addr),
        Ok(Ok(None)) => Err(format!("host {host:?} resolved to no addresses")),
        Ok(Err(e)) => Err(format!("cannot resolve host {host:?}: {e}")),
        Err(_) => Err(format!(
            "resolving host {host:?} took longer than {} ms",
            RESOLVE_TIMEOUT.as_millis()
        )),
    }
}

/// Deserialises `cluster_nodes`, rejecting a repeated id (a plain `BTreeMap` would silently keep
/// the last one, hiding a copy-paste mistake). A null value (`cluster_nodes:` with nothing under it)
/// is an empty map, i.e. a standalone node.
pub(super) fn de_cluster_nodes<'de, D: Deserializer<'de>>(
    de: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    struct NodesVisitor;

    impl<'de> Visitor<'de> for NodesVisitor {
        type Value = BTreeMap<String, String>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a mapping of node id to \"host:port\"")
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(BTreeMap::new())
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut nodes = BTreeMap::new();
            while let Some((id, address)) = map.next_entry::<String, String>()? {
                if nodes.contains_key(&id) {
                    // error.rs recognises this prefix to point at the repeated line.
                    return Err(de::Error::custom(format_args!("duplicate node id `{id}`")));
                }
                nodes.insert(id, address);
            }
            Ok(nodes)
        }
    }

    de.deserialize_any(NodesVisitor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ids() {
        for ok in ["node1", "a", "cache-node.eu_1", &"x".repeat(64)] {
            assert_eq!(validate_node_id(ok), Ok(()), "{ok}");
        }
        for bad in ["", "node 1", "nöde", "a/b", "a:b", &"x".repeat(65)] {
            assert!(validate_node_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn listen_address_forms() {
        let any = |port| SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port);
        assert_eq!(resolve_listen(":8001"), Ok(any(8001)));
        assert_eq!(resolve_listen(":0"), Ok(any(0)));
        assert_eq!(
            resolve_listen("127.0.0.1:8001"),
            Ok("127.0.0.1:8001".parse().unwrap())
        );
        assert_eq!(
            resolve_listen("[::1]:8001"),
            Ok("[::1]:8001".parse().unwrap())
        );
        let local = resolve_listen("localhost:8001").expect("localhost resolves");
        assert!(local.ip().is_loopback() && local.port() == 8001, "{local}");
    }

    #[test]
    fn listen_address_rejects() {
        let cases = [
            ("8001", "expected \"host:port\""),
            (":70000", "out of range"),
            (":+80", "invalid port"),
            (":", "invalid port"),
            ("a:b:c", "too many ':'"),
            ("[::1:80", "IPv6"),
            ("[zz]:80", "IPv6"),
            ("bad host:80", "invalid host"),
            ("no-such-host.invalid:8001", "no-such-host.invalid"),
        ];
        for (text, want) in cases {
            let err = resolve_listen(text).expect_err(text);
            assert!(err.contains(want), "{text}: {err}");
        }
    }

    #[test]
    fn peer_addresses() {
        for ok in [
            "localhost:8001",
            "cache-node1:8001",
            "10.0.0.1:1",
            "[::1]:65535",
        ] {
            assert_eq!(validate_peer_address(ok), Ok(()), "{ok}");
        }
        for bad in [
            "localhost",
            ":8001",
            "localhost:0",
            "host:65536",
            "a:b:c",
            "http://x:80",
        ] {
            assert!(validate_peer_address(bad).is_err(), "{bad:?}");
        }
    }
}
