//! The cluster: where a key's copies live, which peers can take requests, and how requests reach
//! them.
//!
//! [`Cluster`] is built once from the config and shared by every core. Placement is the
//! consistent-hash [`ring::Ring`]: a key's `replicas` copies live on its preference list (the
//! first distinct nodes clockwise, owner first). Each member has a [`MemberState`], written by
//! the prober thread ([`probe`]) and by peers' notices (syncing, leaving), read (relaxed) by the
//! cores on each routed request. The first *routable* node of a key's list coordinates its
//! requests: it versions writes, copies them to the other replicas and answers reads. A node
//! that is syncing (catching up after a start or a pause) still takes replica writes but never
//! coordinates; one that is down or draining gets hints instead.

mod batch;
mod error;
mod leave;
mod link;
mod peer;
mod pool;
pub mod probe;
pub mod ring;
mod wire;

pub use error::{Broken, ConnectError, FwdError};
pub(crate) use link::{connect as connect_peer, PeerStream};
pub use peer::{Answered, InFlight, Outcome, PeerClient, PeerSettings};
pub use wire::{Outgoing, Relayed, CLIENT_REQUEST_ID, RELAYED, RELAYED_LEASE, RELAYED_TO_CLIENT};

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::Mutex;

use crate::config::Config;
use ring::{Prefs, Ring, RingError};

/// What this node believes about a member (itself included), as far as routing is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum MemberState {
    /// Serving: coordinates the keys it is first routable for, takes replica writes.
    Up = 0,
    /// Not answering probes: gets hints, never requests.
    Down = 1,
    /// Catching up from its peers: takes replica writes, coordinates nothing.
    Syncing = 2,
    /// Shutting down: gets hints, never requests.
    Draining = 3,
}

impl MemberState {
    fn from_u8(v: u8) -> MemberState {
        match v {
            0 => MemberState::Up,
            2 => MemberState::Syncing,
            3 => MemberState::Draining,
            _ => MemberState::Down,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MemberState::Up => "up",
            MemberState::Down => "down",
            MemberState::Syncing => "syncing",
            MemberState::Draining => "draining",
        }
    }

    /// Parse the `status` a node reports about itself in its health answer.
    pub fn from_status(s: &str) -> MemberState {
        match s {
            "syncing" => MemberState::Syncing,
            "draining" => MemberState::Draining,
            _ => MemberState::Up,
        }
    }

    /// Whether replica writes are sent to a member in this state (otherwise: hints).
    pub fn takes_writes(self) -> bool {
        matches!(self, MemberState::Up | MemberState::Syncing)
    }
}

/// Where a key request goes, as the coordinator rule decides it on this node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    /// The key's replicas, owner first.
    pub prefs: Prefs,
    /// The node that coordinates it now: the first routable replica, else the first routable
    /// node clockwise (a stand-in), else none (nothing routable: answer 503).
    pub coordinator: Option<usize>,
}

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
    /// [`MemberState`] as a u8 (this node's own entry is its own state).
    state: AtomicU8,
    /// The member's incarnation (a new id at every start; 0 = not known yet).
    pub incarnation: AtomicU64,
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
    /// Copies of each key, owner included (1 ..= nodes).
    pub replicas: usize,
    /// This start of this node: a fresh id, so peers notice a restart of any speed.
    pub incarnation: u64,
    /// The node's TLS (`tls:`): node-to-node links use its client side, the listener its server
    /// side. `None` = plain TCP. Set by the node after [`Cluster::new`].
    pub tls: Option<std::sync::Arc<crate::tls::Tls>>,
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
        let members: Vec<Member> = (0..ring.node_count())
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
                    // Peers start up (as before: routable until probes say otherwise); this node
                    // starts syncing and says so once it caught up.
                    state: AtomicU8::new(MemberState::Up as u8),
                    incarnation: AtomicU64::new(0),
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
        let incarnation = new_incarnation();
        members[me]
            .incarnation
            .store(incarnation, Ordering::Relaxed);
        Ok(Cluster {
            ring,
            me,
            members,
            ring_changes: AtomicU64::new(0),
            keys_moved: AtomicU64::new(0),
            replicas: cfg.replicas.max(1),
            incarnation,
            tls: None,
        })
    }

    pub fn state(&self, idx: usize) -> MemberState {
        MemberState::from_u8(self.members[idx].state.load(Ordering::Acquire))
    }

    /// Set a member's state (prober, peers' notices, this node's own phases); returns the old one.
    pub fn set_state(&self, idx: usize, s: MemberState) -> MemberState {
        let old = MemberState::from_u8(self.members[idx].state.swap(s as u8, Ordering::AcqRel));
        // `alive` (reachable) follows the state: everything but down answers.
        self.members[idx]
            .alive
            .store(s != MemberState::Down, Ordering::SeqCst);
        old
    }

    /// Move member `idx` from `from` to `to` only if it is still in `from`.
    pub fn transition(&self, idx: usize, from: MemberState, to: MemberState) -> bool {
        let m = &self.members[idx];
        let moved = m
            .state
            .compare_exchange(from as u8, to as u8, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if moved {
            m.alive.store(to != MemberState::Down, Ordering::SeqCst);
        }
        moved
    }

    /// This node's own state.
    pub fn own_state(&self) -> MemberState {
        self.state(self.me)
    }

    /// Whether `idx` may coordinate requests now (this node: unless syncing or draining).
    pub fn routable(&self, idx: usize) -> bool {
        self.state(idx) == MemberState::Up
    }

    /// Replica writes go to `idx` now (otherwise it gets a hint).
    pub fn takes_writes(&self, idx: usize) -> bool {
        self.state(idx).takes_writes()
    }

    /// The key's replicas and who coordinates it now.
    pub fn placement(&self, key: &[u8]) -> Placement {
        let prefs = self.ring.preference(key, self.replicas);
        if self.members.len() == 1 {
            return Placement {
                prefs,
                coordinator: Some(self.me),
            };
        }
        let coordinator = prefs
            .iter()
            .find(|&i| self.routable(i))
            .or_else(|| self.ring.clockwise(key).iter().find(|&i| self.routable(i)));
        Placement { prefs, coordinator }
    }

    /// The next routable node for `key` after the ones in `tried` (failover of a forward).
    pub fn next_coordinator(&self, key: &[u8], tried: &Prefs) -> Option<usize> {
        let prefs = self.ring.preference(key, self.replicas);
        let all = self.ring.clockwise(key);
        let found = prefs
            .iter()
            .chain(all.iter())
            .find(|&i| !tried.contains(i) && self.routable(i));
        found
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

/// A new incarnation id: wall-clock nanoseconds mixed with the process id (never 0), unique per
/// start of a node in practice (two starts within one nanosecond under the same pid cannot happen).
fn new_incarnation() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mixed = xxhash_rust::xxh64::xxh64(&nanos.to_le_bytes(), u64::from(std::process::id()));
    mixed.max(1)
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
