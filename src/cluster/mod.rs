//! The cluster: where a key's copies live, which peers can take requests, and how requests reach
//! them.
//!
//! [`Cluster`] is built from the config and shared by every core. Who is in the cluster is the
//! versioned [`Membership`] document; the [`Topology`] built from it (rings, replicas) is swapped
//! whole when a newer document is adopted, and members keep their slot (index) for the life of
//! the process, so per-peer tables stay valid across changes. Placement is the
//! consistent-hash [`ring::Ring`]: a key's `replicas` copies live on its preference list (the
//! first distinct nodes clockwise, owner first). Each member has a [`MemberState`], written by
//! the prober thread ([`probe`]) and by peers' notices (syncing, leaving), read (relaxed) by the
//! cores on each routed request. The first *routable* node of a key's list coordinates its
//! requests: it versions writes, copies them to the other replicas and answers reads. A node
//! that is syncing (catching up after a start or a pause) still takes replica writes but never
//! coordinates; one that is down or draining gets hints instead.

mod agree;
mod batch;
pub mod dns;
mod error;
mod exchange;
mod leave;
mod link;
pub mod local;
pub mod membership;
mod migration;
mod peer;
mod persist;
mod pool;
pub mod probe;
mod report;
pub mod ring;
pub mod sim;
mod wire;

pub use error::{Broken, ConnectError, FwdError};
pub(crate) use link::{connect as connect_peer, PeerStream};
pub use membership::{ChangeError, DocError, MemberDoc, Membership, Status};
pub use migration::MigrationStats;
pub use peer::{Answered, InFlight, Outcome, PeerClient, PeerSettings};
pub use report::{Claim, StateVersion};
pub use wire::{Outgoing, Relayed, CLIENT_REQUEST_ID, RELAYED, RELAYED_LEASE, RELAYED_TO_CLIENT};

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use arc_swap::{ArcSwap, Guard};

use crate::config::{ClusterConfig, Config};
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
            // A node refusing to serve (membership disagreement) coordinates nothing either.
            "syncing" | "refusing" => MemberState::Syncing,
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
    /// More members than [`MAX_MEMBERS`] over the life of the process.
    Full,
}

/// The file in `data_dir` that keeps the membership across restarts.
pub const MEMBERSHIP_FILE: &str = "membership.json";

impl std::fmt::Display for ClusterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClusterError::Ring(e) => write!(f, "cluster ring: {e}"),
            ClusterError::NotAMember { node_id } => {
                write!(f, "node_id {node_id:?} is not in cluster_nodes")
            }
            ClusterError::Full => write!(
                f,
                "this node has known {MAX_MEMBERS} members since it started: restart it"
            ),
        }
    }
}

impl std::error::Error for ClusterError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClusterError::Ring(e) => Some(e),
            ClusterError::NotAMember { .. } | ClusterError::Full => None,
        }
    }
}

/// Most members this process can know over its lifetime (every node ever added, removed ones
/// included): each gets a slot in fixed per-core tables (peer pools, hint queues), so a slot never
/// changes meaning while the process runs. Twice the document limit leaves room for churn.
pub const MAX_MEMBERS: usize = 2 * membership::MAX_DOC_MEMBERS;

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
    /// Its membership epoch and document hash, and the last epoch whose keys it finished moving.
    pub epoch: AtomicU64,
    pub doc_hash: AtomicU64,
    pub migrated: AtomicU64,
    /// The last probe error, for `/admin/cluster`.
    pub last_error: Mutex<String>,
    /// The newest version of the member's reports about itself applied so far; its lock makes
    /// checking a report and applying it one step (see [`Cluster::with_report`]).
    reported: Mutex<StateVersion>,
}

impl Member {
    fn new(id: &str, addr: &str) -> Member {
        Member {
            id: id.to_string(),
            addr: addr.to_string(),
            resolved: Mutex::new(Vec::new()),
            alive: AtomicBool::new(true),
            // Peers start up (routable until probes say otherwise); this node starts syncing
            // and says so once it caught up.
            state: AtomicU8::new(MemberState::Up as u8),
            incarnation: AtomicU64::new(0),
            last_probe_ms: AtomicU64::new(0),
            fails: AtomicU32::new(0),
            oks: AtomicU32::new(0),
            entries: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            ring_version: AtomicU64::new(0),
            epoch: AtomicU64::new(0),
            doc_hash: AtomicU64::new(0),
            migrated: AtomicU64::new(0),
            last_error: Mutex::new(String::new()),
            reported: Mutex::new(StateVersion::default()),
        }
    }
}

/// The membership in force: the document and the rings built from it.
pub struct Topology {
    pub doc: Membership,
    /// `doc.hash()`, computed once.
    pub hash: u64,
    pub ring: Ring,
    /// The ring before the current change, while keys move (`doc.previous`).
    pub previous: Option<Ring>,
    /// After a change settled, the ring before it, until every member holds the settled
    /// document: a member still on the older one reads moving keys from their previous
    /// holders, so writes keep going to those too, and they keep their copies meanwhile.
    pub lingering: Option<Ring>,
    /// Copies of each key in `ring` (the configured replicas, capped at its node count).
    pub replicas: usize,
    /// The configured replicas, uncapped (the previous ring caps them at its own node count).
    pub replicas_wanted: usize,
}

impl Topology {
    pub fn epoch(&self) -> u64 {
        self.doc.epoch
    }

    /// The key's replicas in the current ring.
    pub fn prefs(&self, key: &[u8]) -> Prefs {
        self.ring.preference(key, self.replicas)
    }

    /// The key's replicas in the previous ring, when a change is moving it (else `None`).
    pub fn previous_prefs(&self, key: &[u8]) -> Option<Prefs> {
        let prev = self.previous.as_ref()?;
        let p = prev.preference(key, self.replicas_wanted.min(prev.node_count()));
        (p != self.prefs(key)).then_some(p)
    }

    /// The key's previous replicas while they must still get its writes and keep their copies:
    /// during a change, and after it settled until every member knows ([`Topology::lingering`]).
    pub fn holder_prefs(&self, key: &[u8]) -> Option<Prefs> {
        let prev = self.previous.as_ref().or(self.lingering.as_ref())?;
        let p = prev.preference(key, self.replicas_wanted.min(prev.node_count()));
        (p != self.prefs(key)).then_some(p)
    }
}

pub struct Cluster {
    /// Member slots, assigned once each for the life of the process (see [`MAX_MEMBERS`]).
    slots: Box<[OnceLock<Member>]>,
    /// Slots assigned so far (the next free one); assignment is serialized by `assigning`.
    used: AtomicUsize,
    assigning: Mutex<()>,
    topo: ArcSwap<Topology>,
    /// Bumped after every store of `topo`: a core's [`local::LocalTopology`] refreshes its copy
    /// when it moved.
    topo_generation: AtomicU64,
    /// Serializes adoptions (the check "is it newer" and the swap are one step).
    adopting: Mutex<()>,
    /// Slot of this node.
    pub me: usize,
    /// Membership changes seen (a node went down or came back, or a new epoch).
    pub ring_changes: AtomicU64,
    /// Local keys handed to their new owner after membership changes.
    pub keys_moved: AtomicU64,
    /// Copies of each key wanted (before capping at the ring's node count).
    pub replicas_wanted: usize,
    /// This start of this node: a fresh id, so peers notice a restart of any speed.
    pub incarnation: u64,
    /// How many times this node's own state changed in this incarnation: the version peers
    /// order its reports by (bumped after the state is stored, so a reader that loads this
    /// first sees that state or a later one).
    own_seq: AtomicU64,
    /// The node's TLS (`tls:`): node-to-node links use its client side, the listener its server
    /// side. `None` = plain TCP. Set by the node after [`Cluster::new`].
    pub tls: Option<std::sync::Arc<crate::tls::Tls>>,
    /// Where the membership document is saved (`<data_dir>/membership.json`), if anywhere.
    pub doc_path: Option<std::path::PathBuf>,
    /// The last epoch whose keys this node finished moving (reported to peers, see
    /// [`Cluster::migrated_epoch`]).
    pub migrated: AtomicU64,
    /// This process joined the cluster while running (adopted a document that newly lists it as
    /// joining) and that join has not settled: its keys arrive by the move, so its catch-up
    /// skips the digest repair (`server::sync`). A node restarted mid-join repairs as usual.
    pub fresh_join: AtomicBool,
    /// Passes over a change running again because a member went down (`server::migrate`).
    pub repasses: AtomicU64,
    /// Unix ms when the prober last marked a member down (0 = never): a change settles only once
    /// every member had time to notice too (see `agree::lead`).
    pub last_down_ms: AtomicU64,
    /// Progress of key moves, for `/admin/cluster` and metrics.
    pub migration: MigrationStats,
    /// Set while this node may still ask to join a cluster that does not list it (from start
    /// until it first adopted a document from a peer): a node removed later does not rejoin by
    /// itself while it runs.
    pub may_join: AtomicBool,
    /// Set after the first probe round: until then this node does not know whether its
    /// membership is the cluster's (cache requests get 503 meanwhile).
    pub resolved: AtomicBool,
    /// Why this node refuses to serve (a membership disagreement), or empty.
    pub refusal: Mutex<String>,
    /// `refusal` is not empty (read on every cache request, without the lock).
    pub refusing: AtomicBool,
}

impl Cluster {
    /// Build from the config: the saved membership (`data_dir`) when there is one that lists this
    /// node, else `cluster_nodes` at epoch 0. A node without `cluster_nodes` is a cluster of one.
    pub fn new(cfg: &Config) -> Result<Cluster, ClusterError> {
        let mut nodes: Vec<(String, String)> = cfg
            .cluster_nodes
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if nodes.is_empty() {
            nodes.push((cfg.node_id.clone(), cfg.address.clone()));
        }
        let initial = Membership::initial(&nodes, cfg.virtual_nodes);
        let doc_path = (!cfg.data_dir.is_empty())
            .then(|| std::path::Path::new(&cfg.data_dir).join(MEMBERSHIP_FILE));
        let saved = doc_path.as_deref().and_then(persist::load);
        let doc = match saved {
            Some(d) if d.member(&cfg.node_id).is_some() && d.epoch > 0 => d,
            _ => initial,
        };
        if doc.member(&cfg.node_id).is_none() {
            return Err(ClusterError::NotAMember {
                node_id: cfg.node_id.clone(),
            });
        }
        let slots: Box<[OnceLock<Member>]> = (0..MAX_MEMBERS).map(|_| OnceLock::new()).collect();
        // Slots in id order: with a fixed membership a slot is the node's ring index of old.
        let mut used = 0;
        for m in &doc.members {
            let _ = slots[used].set(Member::new(&m.node_id, &m.address));
            used += 1;
        }
        let me = slots::find(&slots, used, &cfg.node_id).unwrap_or(0);
        let replicas_wanted = cfg.replicas_wanted.max(1);
        let topo = build_topology(doc, replicas_wanted, |id| {
            slots::find(&slots, used, id).unwrap_or(me)
        })
        .map_err(ClusterError::Ring)?;
        // Alone and not looking for peers: nobody to agree with (members may still be added).
        let standalone = topo.doc.members.len() == 1 && cfg.cluster.discovery.is_empty();
        let incarnation = new_incarnation();
        if let Some(m) = slots[me].get() {
            m.incarnation.store(incarnation, Ordering::Relaxed);
        }
        Ok(Cluster {
            slots,
            used: AtomicUsize::new(used),
            assigning: Mutex::new(()),
            topo: ArcSwap::from_pointee(topo),
            topo_generation: AtomicU64::new(0),
            adopting: Mutex::new(()),
            me,
            ring_changes: AtomicU64::new(0),
            keys_moved: AtomicU64::new(0),
            replicas_wanted,
            incarnation,
            own_seq: AtomicU64::new(0),
            tls: None,
            doc_path,
            migrated: AtomicU64::new(0),
            fresh_join: AtomicBool::new(false),
            repasses: AtomicU64::new(0),
            last_down_ms: AtomicU64::new(0),
            migration: MigrationStats::default(),
            may_join: AtomicBool::new(true),
            // A node alone in its membership has nobody to ask (it may still be joined later).
            resolved: AtomicBool::new(standalone),
            refusal: Mutex::new(String::new()),
            refusing: AtomicBool::new(false),
        })
    }

    /// The membership in force. Cheap (no shared counter is touched); hold it for one decision,
    /// not across an await.
    pub fn topology(&self) -> Guard<Arc<Topology>> {
        self.topo.load()
    }

    /// Put `topo` in force. The generation moves after the store, so a core that sees the new
    /// generation loads this topology (or a later one).
    fn publish(&self, topo: Topology) {
        self.topo.store(Arc::new(topo));
        self.topo_generation.fetch_add(1, Ordering::Release);
    }

    /// How many topologies were put in force since start (see [`local::LocalTopology`]).
    #[inline]
    pub fn topology_generation(&self) -> u64 {
        self.topo_generation.load(Ordering::Acquire)
    }

    /// The membership in force, owned (for long-running work such as a key move).
    pub fn topology_arc(&self) -> Arc<Topology> {
        self.topo.load_full()
    }

    pub fn epoch(&self) -> u64 {
        self.topo.load().doc.epoch
    }

    /// The member in `slot`. Panics if the slot was never assigned: slots come from rings and
    /// documents of this cluster, so an unassigned one is a programming error.
    pub fn member(&self, slot: usize) -> &Member {
        match self.slots[slot].get() {
            Some(m) => m,
            None => panic!("cluster: member slot {slot} was never assigned"),
        }
    }

    /// Slots assigned so far (every member ever known by this process, this node included).
    pub fn slot_count(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    /// The slot of member `node_id` of the document in force, if it is one.
    pub fn slot_of(&self, node_id: &str) -> Option<usize> {
        let t = self.topology();
        let m = t.doc.member(node_id)?;
        slots::find_addr(&self.slots, self.slot_count(), node_id, &m.address)
    }

    /// The slot of `node_id` as last known by this process (members removed since included).
    pub fn known_slot(&self, node_id: &str) -> Option<usize> {
        slots::find(&self.slots, self.slot_count(), node_id)
    }

    /// Slots of every member of the document in force except this node (ring members, joiners
    /// and leavers): whom to probe, copy to, ask during catch-up.
    pub fn peers(&self) -> Vec<usize> {
        let mut all = self.listed();
        all.retain(|&s| s != self.me);
        all
    }

    /// Slots of every member of the document in force, this node included when it is one, in
    /// node id order.
    pub fn listed(&self) -> Vec<usize> {
        let t = self.topology();
        t.doc
            .members
            .iter()
            .filter_map(|m| {
                slots::find_addr(&self.slots, self.slot_count(), &m.node_id, &m.address)
            })
            .collect()
    }

    /// The last epoch whose keys this node finished moving, as reported to peers: one less than
    /// the current one while a pass runs again after a member went down.
    pub fn migrated_epoch(&self) -> u64 {
        let done = self.migrated.load(Ordering::Acquire);
        if self.repasses.load(Ordering::Acquire) > 0 {
            return done.min(self.epoch().saturating_sub(1));
        }
        done
    }

    /// Whether cache requests are served now (two relaxed loads: checked on every request).
    pub fn serves(&self) -> bool {
        self.resolved.load(Ordering::Relaxed) && !self.refusing.load(Ordering::Relaxed)
    }

    /// Why cache requests cannot be served now, if they cannot: the membership is not known yet
    /// (first probe round), or it disagrees with a peer's.
    pub fn not_serving(&self) -> Option<String> {
        if !self.resolved.load(Ordering::Acquire) {
            return Some("this node is still finding out the cluster's membership".to_string());
        }
        let r = lock(&self.refusal);
        (!r.is_empty()).then(|| r.clone())
    }

    /// Commit a membership change made on this node (it is the leader) and push it to the other
    /// members, from the calling thread (blocking: not for a core). True when adopted.
    pub fn commit_and_push(
        &self,
        doc: Membership,
        cfg: &ClusterConfig,
        authorization: Option<&[u8]>,
    ) -> bool {
        let auth = leave::authorization_line(authorization);
        let caller = agree::Caller {
            cl: self,
            cfg,
            auth: &auth,
        };
        agree::commit(&caller, doc)
    }

    /// Push the document in force to every member and to `also` (blocking: not for a core).
    pub fn push_doc(&self, also: &[usize], cfg: &ClusterConfig, authorization: Option<&[u8]>) {
        let auth = leave::authorization_line(authorization);
        let caller = agree::Caller {
            cl: self,
            cfg,
            auth: &auth,
        };
        agree::push_all(&caller, also);
    }

    /// Whether this node is in the document in force.
    pub fn is_member(&self) -> bool {
        self.topology().doc.member(self.self_id()).is_some()
    }

    /// Adopt `doc` if it supersedes the one in force (and lists this node, or this node is being
    /// removed by it). Returns whether it was adopted. Saving it is the caller's (`persist`).
    pub fn adopt(&self, doc: Membership) -> Result<bool, ClusterError> {
        let _one = lock(&self.adopting);
        let cur = self.topology();
        if !doc.supersedes(&cur.doc) {
            return Ok(false);
        }
        drop(cur);
        for m in &doc.members {
            self.assign(&m.node_id, &m.address, m.status)?;
        }
        let used = self.slot_count();
        let mut topo = build_topology(doc, self.replicas_wanted, |id| {
            slots::find(&self.slots, used, id).unwrap_or(self.me)
        })
        .map_err(ClusterError::Ring)?;
        let cur = self.topology();
        if topo.previous.is_none() && topo.ring.version() == cur.ring.version() {
            // The settle of the change in force: its previous holders linger (see the field).
            topo.lingering = cur.previous.clone().or_else(|| cur.lingering.clone());
        }
        drop(cur);
        let moved = topo.ring.version() != self.topology().ring.version();
        // Joining by this change (not in its previous ring): see `fresh_join`.
        let me = self.self_id();
        let joining = topo
            .doc
            .member(me)
            .is_some_and(|m| m.status == Status::Joining)
            && !topo.doc.previous.iter().flatten().any(|id| id == me);
        self.fresh_join.store(joining, Ordering::Release);
        self.publish(topo);
        if moved {
            // A new ring (a join or a leave), not a stamp or a settle of the same one.
            self.ring_changes.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(path) = &self.doc_path {
            if let Err(e) = persist::save(path, &self.topology().doc) {
                crate::warn!(
                    "cluster: could not save the membership to {}: {e}",
                    path.display()
                );
            }
        }
        Ok(true)
    }

    /// Every member holds the settled document: the previous holders of the last change stop
    /// getting its writes and may forget their copies. True when something lingered.
    pub fn end_lingering(&self) -> bool {
        let _one = lock(&self.adopting);
        let cur = self.topology();
        if cur.lingering.is_none() {
            return false;
        }
        let topo = Topology {
            doc: cur.doc.clone(),
            hash: cur.hash,
            ring: cur.ring.clone(),
            previous: cur.previous.clone(),
            lingering: None,
            replicas: cur.replicas,
            replicas_wanted: cur.replicas_wanted,
        };
        drop(cur);
        self.publish(topo);
        true
    }

    /// Give `node_id` at `addr` a slot (its old one when the id and address are known);
    /// `status`: what the adopted document says of it.
    fn assign(&self, node_id: &str, addr: &str, status: Status) -> Result<usize, ClusterError> {
        let _one = lock(&self.assigning);
        let used = self.slot_count();
        if let Some(s) = slots::find_addr(&self.slots, used, node_id, addr) {
            return Ok(s);
        }
        if used >= MAX_MEMBERS {
            return Err(ClusterError::Full);
        }
        let m = Member::new(node_id, addr);
        if status == Status::Joining {
            // A member joining by this change coordinates nothing until its probe shows it holds
            // the membership that added it (`probe::record`): until then it may still answer
            // with a ring of its own. One the document lists as active finished its join, so it
            // holds that membership: it starts up, as the peers of the config do (a restarted
            // node learning of it would otherwise take none of its keys to it, and read them
            // where they are not).
            m.state.store(MemberState::Syncing as u8, Ordering::Relaxed);
        }
        let _ = self.slots[used].set(m);
        self.used.store(used + 1, Ordering::Release);
        Ok(used)
    }

    /// The leader: the smallest node id among active ring members that are up (this node counts
    /// as up). Only the leader commits membership changes.
    pub fn leader(&self) -> Option<usize> {
        let t = self.topology();
        t.doc
            .members
            .iter()
            .filter(|m| m.status == Status::Active)
            .filter_map(|m| {
                slots::find_addr(&self.slots, self.slot_count(), &m.node_id, &m.address)
            })
            .find(|&s| s == self.me || self.state(s) == MemberState::Up)
    }

    pub fn state(&self, idx: usize) -> MemberState {
        MemberState::from_u8(self.member(idx).state.load(Ordering::Acquire))
    }

    /// Set a member's state (prober, peers' notices, this node's own phases); returns the old one.
    pub fn set_state(&self, idx: usize, s: MemberState) -> MemberState {
        let m = self.member(idx);
        let old = MemberState::from_u8(m.state.swap(s as u8, Ordering::AcqRel));
        // `alive` (reachable) follows the state: everything but down answers.
        m.alive.store(s != MemberState::Down, Ordering::SeqCst);
        if idx == self.me && old != s {
            self.own_seq.fetch_add(1, Ordering::AcqRel);
        }
        old
    }

    /// Move member `idx` from `from` to `to` only if it is still in `from`.
    pub fn transition(&self, idx: usize, from: MemberState, to: MemberState) -> bool {
        let m = self.member(idx);
        let moved = m
            .state
            .compare_exchange(from as u8, to as u8, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if moved {
            m.alive.store(to != MemberState::Down, Ordering::SeqCst);
            if idx == self.me && from != to {
                self.own_seq.fetch_add(1, Ordering::AcqRel);
            }
        }
        moved
    }

    /// The version of this node's own state, for the reports it sends about itself. Read it
    /// before the state: the state read after is that version's or a later one's.
    pub fn own_version(&self) -> StateVersion {
        StateVersion {
            incarnation: self.incarnation,
            seq: self.own_seq.load(Ordering::Acquire),
        }
    }

    /// Apply member `idx`'s report about itself at version `v`: run `apply` (which reads and
    /// sets the member's state) unless a newer report was applied already (then `None`). The
    /// check, the record of `v` and `apply` hold the member's report lock, so a report processed
    /// late cannot overwrite a newer one whichever order they arrive in.
    pub fn with_report<R>(
        &self,
        idx: usize,
        v: StateVersion,
        claim: Claim,
        apply: impl FnOnce() -> R,
    ) -> Option<R> {
        let m = self.member(idx);
        let mut known = m.reported.lock().unwrap_or_else(|p| p.into_inner());
        if !known.admits(v, claim) {
            return None;
        }
        *known = known.after(v);
        Some(apply())
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
        self.placement_in(&self.topology(), key)
    }

    /// [`Cluster::placement`] in a topology already loaded (one load per request, not one per
    /// question: a load is ~100 instructions of a GET).
    pub fn placement_in(&self, t: &Topology, key: &[u8]) -> Placement {
        let prefs = t.prefs(key);
        if t.ring.node_count() == 1 && prefs.get(0) == Some(self.me) {
            return Placement {
                prefs,
                coordinator: Some(self.me),
            };
        }
        let coordinator = prefs
            .iter()
            .find(|&i| self.routable(i))
            .or_else(|| t.ring.clockwise(key).iter().find(|&i| self.routable(i)));
        Placement { prefs, coordinator }
    }

    /// Where copies of a write of `key` go besides this node: its replicas, and while a change
    /// moves the key also its previous replicas (a node still on the older membership reads
    /// there, and the key's move may not have reached it yet).
    pub fn write_targets(&self, key: &[u8]) -> Prefs {
        let t = self.topology();
        let mut all = t.prefs(key);
        if let Some(prev) = t.previous_prefs(key) {
            for i in prev.iter() {
                all.push(i);
            }
        }
        all
    }

    /// While a change moves `key`: the node to ask for its newer copy when this node reads it as
    /// a new replica (the first routable previous replica, never this node). `None` otherwise.
    pub fn previous_holder(&self, key: &[u8]) -> Option<usize> {
        self.previous_holder_in(&self.topology(), key)
    }

    /// [`Cluster::previous_holder`] in a topology already loaded.
    pub fn previous_holder_in(&self, t: &Topology, key: &[u8]) -> Option<usize> {
        let prev = t.previous_prefs(key)?;
        if prev.contains(self.me) {
            // This node held the key before the change: it has every acknowledged write.
            return None;
        }
        let found = prev.iter().find(|&i| self.routable(i));
        found
    }

    /// The next routable node for `key` after the ones in `tried` (failover of a forward).
    ///
    /// While a change moves the key to this node, its other previous replicas come first: this
    /// node may not hold it yet (the one tried first may have died unnoticed).
    pub fn next_coordinator(&self, key: &[u8], tried: &Prefs) -> Option<usize> {
        let t = self.topology();
        let prefs = t.prefs(key);
        let all = t.ring.clockwise(key);
        let moving = t
            .previous_prefs(key)
            .filter(|p| !p.contains(self.me))
            .unwrap_or_default();
        let found = moving
            .iter()
            .chain(prefs.iter())
            .chain(all.iter())
            .find(|&i| !tried.contains(i) && self.routable(i));
        found
    }

    pub fn is_alive(&self, idx: usize) -> bool {
        idx == self.me || self.member(idx).alive.load(Ordering::Relaxed)
    }

    /// The live node that owns `key` now (this node if every other is down).
    pub fn owner(&self, key: &[u8]) -> usize {
        let t = self.topology();
        t.ring
            .owner_alive(key, |i| self.is_alive(i))
            .unwrap_or(self.me)
    }

    /// A cluster of one: this node alone in the ring, nothing moving.
    pub fn is_standalone(&self) -> bool {
        self.standalone_in(&self.topology())
    }

    /// [`Cluster::is_standalone`] in a topology already loaded.
    pub fn standalone_in(&self, t: &Topology) -> bool {
        t.doc.members.len() == 1 && t.ring.contains(self.me)
    }

    pub fn self_id(&self) -> &str {
        &self.member(self.me).id
    }

    /// Ring shares with down nodes removed (what each live node serves now), by slot.
    pub fn live_shares(&self) -> Vec<f64> {
        self.topology().ring.shares_alive(|i| self.is_alive(i))
    }

    /// Addresses to try for member `idx` (resolved by the prober; resolve now if it never has).
    pub fn addrs(&self, idx: usize) -> Vec<SocketAddr> {
        let m = self.member(idx);
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

/// Build the topology of `doc`, `slot` naming each member's slot.
fn build_topology(
    doc: Membership,
    replicas_wanted: usize,
    slot: impl FnMut(&str) -> usize,
) -> Result<Topology, RingError> {
    let (ring, previous) = doc.rings(slot)?;
    let replicas = replicas_wanted.min(ring.node_count()).max(1);
    let hash = doc.hash();
    Ok(Topology {
        doc,
        hash,
        ring,
        previous,
        lingering: None,
        replicas,
        replicas_wanted: replicas_wanted.max(1),
    })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Lookups in the slot table (`used`: how many slots are assigned).
mod slots {
    use super::Member;
    use std::sync::OnceLock;

    /// The newest slot of `id` (a member re-added at another address has a newer one).
    pub(super) fn find(slots: &[OnceLock<Member>], used: usize, id: &str) -> Option<usize> {
        (0..used.min(slots.len()))
            .rev()
            .find(|&s| slots[s].get().is_some_and(|m| m.id == id))
    }

    pub(super) fn find_addr(
        slots: &[OnceLock<Member>],
        used: usize,
        id: &str,
        addr: &str,
    ) -> Option<usize> {
        (0..used.min(slots.len()))
            .rev()
            .find(|&s| slots[s].get().is_some_and(|m| m.id == id && m.addr == addr))
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

    fn two_nodes() -> Cluster {
        let yaml = "node_id: a\naddress: \"127.0.0.1:1\"\ncache_size: 10\ncluster_nodes:\n  a: \"127.0.0.1:1\"\n  b: \"127.0.0.1:2\"\n";
        let cfg = Config::from_yaml_str(yaml, "<test>").expect("config");
        Cluster::new(&cfg).expect("cluster")
    }

    #[test]
    fn a_member_learnt_as_joining_starts_syncing_one_learnt_as_active_starts_up() {
        // A joiner coordinates nothing until a probe shows it holds the membership.
        let cl = two_nodes();
        let joined = cl.topology().doc.with_join("c", "127.0.0.1:3").unwrap();
        assert!(cl.adopt(joined.clone().unwrap()).expect("adopt"));
        let c = cl.slot_of("c").expect("c has a slot");
        assert_eq!(cl.state(c), MemberState::Syncing);
        // A node that was away learns of c only from the settled document: c finished its
        // join (it holds the membership), so its keys go to it at once, as to any config peer.
        let away = two_nodes();
        assert!(away.adopt(joined.unwrap().settled()).expect("adopt"));
        let c = away.slot_of("c").expect("c has a slot");
        assert_eq!(away.state(c), MemberState::Up);
        assert!(away.routable(c));
    }
}
