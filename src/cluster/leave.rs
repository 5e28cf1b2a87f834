//! The drain notice: a node that starts draining tells its peers at once, so they need not
//! wait for their probes to notice.

use std::io::{Read, Write};
use std::net::TcpStream;

use super::{Cluster, MemberState};
use crate::config::ClusterConfig;
use crate::info;

/// Tell every peer that this node is draining (blocking, a few hundred ms at most per peer), so
/// they route its keys to their other replicas now instead of after `fail_after` probes, and
/// keep hints for it. Best effort: a peer that does not hear it notices through its probes.
pub fn notify_leaving(cl: &Cluster, cfg: &ClusterConfig) {
    for (idx, m) in cl.members.iter().enumerate() {
        if idx == cl.me || cl.state(idx) == MemberState::Down {
            continue;
        }
        let req = format!(
            "POST /internal/cluster/leave?node={} HTTP/1.1\r\nHost: {}\r\nX-Cache-Forwarded: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            cl.self_id(),
            m.addr,
            cl.self_id()
        );
        let told = cl.addrs(idx).into_iter().any(|addr| {
            let Ok(mut s) = TcpStream::connect_timeout(&addr, cfg.connect_timeout) else {
                return false;
            };
            let _ = s.set_read_timeout(Some(cfg.probe_timeout));
            let _ = s.set_write_timeout(Some(cfg.probe_timeout));
            let mut answer = [0u8; 256];
            s.write_all(req.as_bytes()).is_ok() && matches!(s.read(&mut answer), Ok(n) if n > 0)
        });
        if !told {
            info!(peer = m.id; "drain: could not tell node {} ({}) that this node is leaving; it will notice by its probes", m.id, m.addr);
        }
    }
}
