//! The cluster: which node owns a key, which peers are alive, and how requests reach them.
//!
//! [`Cluster`] is built once from the config and shared by every core. Placement is the
//! consistent-hash [`ring::Ring`]; liveness is one atomic flag per node, written only by the
//! prober thread ([`probe`]) and read (relaxed) by the cores on each routed request. Keys owned
//! by a node that is down go to the next live node clockwise; when a node comes back its keys
//! return to it: every core hands the copies it no longer owns to their owner, overwriting the
//! owner's copy (which predates its outage, while ours was written during it), and forgets them
//! once the owner has confirmed them, so a later failure can never resurrect stale values.

mod batch;
mod error;
mod peer;
mod pool;
pub mod probe;
pub mod ring;
mod wire;

pub use error::{Broken, ConnectError, FwdError};
pub use peer::{Answered, InFlight, Outcome, PeerClient, PeerSettings};
pub use wire::Outgoing;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;

use crate::config::Config;
use ring::{Ring, RingError};

/// Why the cluster cannot be built from the config (start-up only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterError {
    /// `cluster_nodes` / `virtual_nodes` do not make a ring.
    Ring(RingError),
    /// This node's `node_id` is not one of the `cluster_nodes`.
    NotAMember { node_id: String },
}

impl std::fmt::Display for ClusterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClusterError::Ring(e) => write!(f, "cluster ring: {e}"),
            ClusterError::NotAMember { node_id } => {
                write!(f, "node_id {node_id:?} is not in cluster_nodes")
            }
        }
    }
}

impl std::error::Error for ClusterError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClusterError::Ring(e) => Some(e),
            ClusterError::NotAMember { .. } => None,
        }
    }
}

/// What this node knows about one cluster member (itself included).
pub struct Member {
    pub id: String,
    /// `host:port` exactly as configured (a DNS name under Docker/Kubernetes).
    pub addr: String,
    /// Latest resolution of `addr`, refreshed by the prober so cores never block on DNS.
    pub resolved: Mutex<Vec<SocketAddr>>,
    pub alive: AtomicBool,
    /// Unix time in ms of the last completed probe (0 = never).
    pub last_probe_ms: AtomicU64,
    /// Consecutive probe failures / successes (prober thread only).
    pub fails: AtomicU32,
    pub oks: AtomicU32,
    /// What the member reported in its last successful probe.
    pub entries: AtomicU64,
    pub bytes: AtomicU64,
    pub ring_version: AtomicU64,
    /// The last probe error, for `/admin/cluster`.
    pub last_error: Mutex<String>,
}

pub struct Cluster {
    pub ring: Ring,
    /// Ring index of this node.
    pub me: usize,
    /// Indexed like the ring (node ids in byte order).
    pub members: Vec<Member>,
    /// Membership changes seen (a node went down or came back).
    pub ring_changes: AtomicU64,
    /// Local keys handed to their new owner after membership changes.
    pub keys_moved: AtomicU64,
}

impl Cluster {
    /// Build from the config. A node without `cluster_nodes` is a cluster of one.
    pub fn new(cfg: &Config) -> Result<Cluster, ClusterError> {
        let mut nodes: Vec<(String, String)> = cfg
            .cluster_nodes
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if nodes.is_empty() {
            nodes.push((cfg.node_id.clone(), cfg.address.clone()));
        }
        let ids: Vec<&str> = nodes.iter().map(|(id, _)| id.as_str()).collect();
        let ring = Ring::new(&ids, cfg.virtual_nodes).map_err(ClusterError::Ring)?;
        let me = ring
            .index_of(&cfg.node_id)
            .ok_or_else(|| ClusterError::NotAMember {
                node_id: cfg.node_id.clone(),
            })?;
        let members = (0..ring.node_count())
            .map(|i| {
                let id = ring.node_id(i).to_string();
                let addr = nodes
                    .iter()
                    .find(|(n, _)| *n == id)
                    .map(|(_, a)| a.clone())
                    .unwrap_or_default();
                Member {
                    id,
                    addr,
                    resolved: Mutex::new(Vec::new()),
                    alive: AtomicBool::new(true),
                    last_probe_ms: AtomicU64::new(0),
                    fails: AtomicU32::new(0),
                    oks: AtomicU32::new(0),
                    entries: AtomicU64::new(0),
                    bytes: AtomicU64::new(0),
                    ring_version: AtomicU64::new(0),
                    last_error: Mutex::new(String::new()),
                }
            })
            .collect();
        Ok(Cluster {
            ring,
            me,
            members,
            ring_changes: AtomicU64::new(0),
            keys_moved: AtomicU64::new(0),
        })
    }

    pub fn is_alive(&self, idx: usize) -> bool {
        idx == self.me || self.members[idx].alive.load(Ordering::Relaxed)
    }

    /// The live node that owns `key` now (this node if every other is down).
    pub fn owner(&self, key: &[u8]) -> usize {
        if self.members.len() == 1 {
            return self.me;
        }
        self.ring
            .owner_alive(key, |i| self.is_alive(i))
            .unwrap_or(self.me)
    }

    pub fn is_standalone(&self) -> bool {
        self.members.len() == 1
    }

    pub fn self_id(&self) -> &str {
        &self.members[self.me].id
    }

    /// Ring shares with down nodes removed (what each live node serves now).
    pub fn live_shares(&self) -> Vec<f64> {
        self.ring.shares_alive(|i| self.is_alive(i))
    }

    /// Addresses to try for member `idx` (resolved by the prober; resolve now if it never has).
    pub fn addrs(&self, idx: usize) -> Vec<SocketAddr> {
        let m = &self.members[idx];
        let cached = match m.resolved.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        };
        if !cached.is_empty() {
            return cached;
        }
        probe::resolve(&m.addr)
    }
}

/// Milliseconds since the Unix epoch (wall clock, for display only).
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_errors_name_the_cause() {
        let ring = ClusterError::Ring(RingError::DuplicateId("n1".to_string()));
        assert_eq!(ring.to_string(), "cluster ring: duplicate node id \"n1\"");
        assert!(std::error::Error::source(&ring).is_some());
        let absent = ClusterError::NotAMember {
            node_id: "n9".to_string(),
        };
        assert_eq!(absent.to_string(), "node_id \"n9\" is not in cluster_nodes");
    }
}
