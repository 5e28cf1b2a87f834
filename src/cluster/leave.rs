//! Notices one node sends its peers outside the request path (blocking, from the thread that
//! decides them): the drain notice (a node that starts draining tells its peers at once, so they
//! need not wait for their probes) and the catch-up request (a member this node had marked down
//! answers again without having noticed anything: it may have missed writes).

use std::io::{Read, Write};
use std::net::TcpStream;

use super::{Cluster, MemberState};
use crate::config::ClusterConfig;
use crate::info;

/// The `Authorization` header line (with its CRLF) of a cluster secret's header value, or
/// empty: for the requests written by hand on the blocking threads (probes, notices).
pub(super) fn authorization_line(value: Option<&[u8]>) -> String {
    // The value is `Bearer ` and visible ASCII (checked when the secret was loaded).
    match value.and_then(|v| std::str::from_utf8(v).ok()) {
        Some(v) => format!("Authorization: {v}\r\n"),
        None => String::new(),
    }
}

/// POST `path?node=<this node>` to member `idx`, bounded by the connect and probe timeouts;
/// true when it answered anything. `authorization`: see [`authorization_line`].
/// `query_extra`: more of the query after `node=ID` (`&name=value...`), or empty.
fn tell(
    cl: &Cluster,
    idx: usize,
    path: &str,
    query_extra: &str,
    cfg: &ClusterConfig,
    authorization: &str,
) -> bool {
    let m = &cl.member(idx);
    let req = format!(
        "POST {path}?node={}{query_extra} HTTP/1.1\r\nHost: {}\r\nX-Cache-Forwarded: {}\r\n{authorization}Content-Length: 0\r\nConnection: close\r\n\r\n",
        cl.self_id(),
        m.addr,
        cl.self_id()
    );
    cl.addrs(idx).into_iter().any(|addr| {
        let Ok(s) = TcpStream::connect_timeout(&addr, cfg.connect_timeout) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(cfg.probe_timeout));
        let _ = s.set_write_timeout(Some(cfg.probe_timeout));
        // TLS when the node has it (the handshake is bounded by the timeouts just set).
        let Ok(mut s) = super::link::secure_blocking(cl.tls.as_deref(), &m.addr, addr, s) else {
            return false;
        };
        let mut answer = [0u8; 256];
        s.write_all(req.as_bytes()).is_ok() && matches!(s.read(&mut answer), Ok(n) if n > 0)
    })
}

/// Tell every peer that this node is draining (a few hundred ms at most per peer), so they
/// route its keys to their other replicas now instead of after `fail_after` probes, and keep
/// hints for it. Best effort: a peer that does not hear it notices through its probes.
/// `authorization`: the cluster secret's header value (`Secrets::cluster_authorization`).
/// The notice carries the version of the draining state (the caller set it; it is final), so a
/// peer that processes an older probe answer after it keeps the node draining (`report`).
pub fn notify_leaving(cl: &Cluster, cfg: &ClusterConfig, authorization: Option<&[u8]>) {
    let authorization = authorization_line(authorization);
    let v = cl.own_version();
    let version = format!("&incarnation={:016x}&seq={}", v.incarnation, v.seq);
    for idx in cl.peers() {
        let m = cl.member(idx);
        if cl.state(idx) == MemberState::Down {
            continue;
        }
        if !tell(
            cl,
            idx,
            "/internal/cluster/leave",
            &version,
            cfg,
            &authorization,
        ) {
            info!(peer = m.id; "drain: could not tell node {} ({}) that this node is leaving; it will notice by its probes", m.id, m.addr);
        }
    }
}

/// Member `idx` was down in this node's view and answers as healthy, so it did not notice
/// (overloaded, cut off rather than stopped): this node kept hints for it and others may have
/// too. Ask it to catch up from every peer before it coordinates its keys again. Best effort:
/// its own anti-entropy repairs the rest within a minute.
pub(super) fn ask_to_catch_up(cl: &Cluster, idx: usize, cfg: &ClusterConfig, authorization: &str) {
    let m = &cl.member(idx);
    if !tell(cl, idx, "/internal/sync/request", "", cfg, authorization) {
        info!(peer = m.id; "cluster: could not ask node {} ({}) to catch up after its outage; anti-entropy will repair it", m.id, m.addr);
    }
}
