//! The consistent-hash ring: owns the mapping from a key to the cluster node that stores it.
//!
//! Every node of the cluster, in every version, must compute the same owner for the same key, so
//! the hash scheme below is a **wire-compatibility contract**; changing any part of it moves keys
//! between nodes. That is why the ring uses XXH64 with a fixed seed and never `ahash`, whose output
//! differs across machines and versions (see the aHash README's non-goals).
//!
//! # Scheme (do not change)
//! - Hash: `XXH64(bytes, seed = 0)`. A key's hash is `XXH64(key)`.
//! - Node indices: node ids are sorted by their bytes (lexicographically); a node's index is its
//!   position in that order, so every node agrees on indices regardless of config order.
//! - Points: node `id` contributes `virtual_nodes` points; point `i` (`0 <= i < virtual_nodes`) has
//!   hash `XXH64(format!("{id}#{i}"))`, `i` in decimal without padding, e.g. `node1#0`, `node1#149`.
//!   Since `i` has no `#`, the last `#` splits the string, so distinct `(id, i)` give distinct bytes.
//! - Order and collisions: points are sorted by `(hash, node id bytes)`; of several points with the
//!   same hash only the first is kept, i.e. the lexicographically smaller node id wins.
//! - Lookup: the owner of a key is the node of the first point with `hash >= key hash`, wrapping
//!   to the first point when there is none. So a point owns the arc `(previous point, its hash]`.
//! - Version: `XXH64` of, for each sorted node id, its byte length as `u64` little-endian followed
//!   by its bytes, then `virtual_nodes` as `u32` little-endian.
//!
//! A ring is immutable; a membership change builds a new one (`Cluster` swaps them). Lookups are a
//! binary search over a flat sorted array and allocate nothing.
//!
//! Slots: what a lookup returns is a node's *slot*, the process-wide index `Cluster` gave the node
//! (stable while nodes come and go, so per-peer tables stay valid across ring changes). The
//! order above (node ids by bytes) still decides collisions; `Ring::new` uses it as the slot.

use std::fmt;
use std::fmt::Write as _;

use xxhash_rust::xxh64::{xxh64, Xxh64};

/// Upper bound on virtual nodes per node. Build time and memory grow linearly with it (16 bytes
/// and one hash per point). A node's share deviates from fair by roughly `1/sqrt(virtual_nodes)`
/// (about 1% at 10 000), so more only slows startup and lookups (deeper search, more cache misses).
pub const MAX_VIRTUAL_NODES: u32 = 10_000;

/// Upper bound on node count: a point stores its node index as `u16` to keep `Point` small, so
/// indices must fit in it.
pub const MAX_NODES: usize = u16::MAX as usize;

/// Upper bound on total points (`nodes * virtual_nodes`): 2^24 points is 256 MiB of ring. The two
/// per-factor limits alone would allow ~655M points (10 GiB), which must fail with a message at
/// config load rather than with an out-of-memory abort while building.
pub const MAX_POINTS: usize = 1 << 24;

/// The seed of every ring hash; part of the wire contract.
const SEED: u64 = 0;

/// One virtual node: a position on the 64-bit circle and the index of the node that owns it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Point {
    hash: u64,
    node: u16,
}

/// Why a ring cannot be built from the given node ids and `virtual_nodes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RingError {
    /// No node id at all.
    NoNodes,
    /// More nodes than a point can index ([`MAX_NODES`]).
    TooManyNodes { count: usize },
    /// `virtual_nodes` outside `1..=MAX_VIRTUAL_NODES`.
    VirtualNodes { got: u32 },
    /// `nodes * virtual_nodes` above [`MAX_POINTS`].
    TooManyPoints { nodes: usize, virtual_nodes: u32 },
    /// A node id is the empty string.
    EmptyId,
    /// The same node id twice.
    DuplicateId(String),
}

impl fmt::Display for RingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RingError::NoNodes => f.write_str("ring needs at least one node id"),
            RingError::TooManyNodes { count } => {
                write!(f, "too many nodes: {count} (max {MAX_NODES})")
            }
            RingError::VirtualNodes { got } => write!(
                f,
                "virtual_nodes must be in 1..={MAX_VIRTUAL_NODES}, got {got}"
            ),
            RingError::TooManyPoints {
                nodes,
                virtual_nodes,
            } => write!(
                f,
                "{nodes} nodes x {virtual_nodes} virtual nodes = {} ring points (max {MAX_POINTS})",
                nodes.saturating_mul(*virtual_nodes as usize)
            ),
            RingError::EmptyId => f.write_str("node id must not be empty"),
            RingError::DuplicateId(id) => write!(f, "duplicate node id {id:?}"),
        }
    }
}

impl std::error::Error for RingError {}

/// Most nodes a preference list holds: the replica ceiling plus one stand-in, rounded up.
pub const MAX_PREFS: usize = 8;

/// A key's nodes in preference order, fixed capacity (no allocation on the request path).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Prefs {
    nodes: [u16; MAX_PREFS],
    len: u8,
}

impl Prefs {
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Node indices, owner first.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.nodes[..self.len()].iter().map(|&n| usize::from(n))
    }

    pub fn contains(&self, idx: usize) -> bool {
        self.iter().any(|n| n == idx)
    }

    /// The `i`-th node of the list.
    pub fn get(&self, i: usize) -> Option<usize> {
        self.nodes[..self.len()].get(i).map(|&n| usize::from(n))
    }

    /// The same list without node `idx`.
    pub fn without(&self, idx: usize) -> Prefs {
        let mut p = Prefs::default();
        for n in self.iter().filter(|&n| n != idx) {
            // Indices come from a ring of at most MAX_NODES (u16) nodes.
            p.push_distinct(n as u16);
        }
        p
    }

    /// Add node `idx` (a failover records the nodes it tried).
    pub fn push(&mut self, idx: usize) {
        self.push_distinct(idx as u16);
    }

    fn push_distinct(&mut self, node: u16) {
        let len = self.len();
        if len < MAX_PREFS && !self.nodes[..len].contains(&node) {
            self.nodes[len] = node;
            self.len += 1;
        }
    }
}

/// An immutable consistent-hash ring over a fixed set of node ids.
#[derive(Clone, PartialEq, Eq)]
pub struct Ring {
    /// Node ids sorted by bytes.
    node_ids: Box<[Box<str>]>,
    /// The slot of each node of `node_ids` (same order).
    slots: Box<[u16]>,
    /// Position in `node_ids` of each slot (`u32::MAX`: not in this ring).
    by_slot: Box<[u32]>,
    /// Points sorted by `(hash, node id)`, at most one per hash value, `node` a slot; never empty.
    points: Box<[Point]>,
    virtual_nodes: u32,
}

impl Ring {
    /// `node_ids`: node ids (any order, must be unique, non-empty). Returns a [`RingError`] naming the
    /// problem. `virtual_nodes` must be in `1..=MAX_VIRTUAL_NODES`.
    pub fn new(node_ids: &[&str], virtual_nodes: u32) -> Result<Ring, RingError> {
        let ids = validate(node_ids, virtual_nodes)?;
        let slots: Vec<usize> = (0..ids.len()).collect();
        Self::build(ids, &slots, virtual_nodes)
    }

    /// A ring over `(node id, slot)` pairs: placement exactly as [`Ring::new`] over the ids, but
    /// lookups answer each node's slot. Slots must be distinct and below [`MAX_NODES`].
    pub fn with_slots(members: &[(&str, usize)], virtual_nodes: u32) -> Result<Ring, RingError> {
        let ids: Vec<&str> = members.iter().map(|(id, _)| *id).collect();
        let sorted = validate(&ids, virtual_nodes)?;
        let slots: Vec<usize> = sorted
            .iter()
            .map(|id| members.iter().find(|(m, _)| m == id).map_or(0, |(_, s)| *s))
            .collect();
        if slots.iter().any(|&s| s >= MAX_NODES) {
            return Err(RingError::TooManyNodes { count: ids.len() });
        }
        Self::build(sorted, &slots, virtual_nodes)
    }

    /// `ids` sorted and validated, `slots[i]` the slot of `ids[i]`.
    fn build(ids: Vec<&str>, slots: &[usize], virtual_nodes: u32) -> Result<Ring, RingError> {
        let mut points = Vec::with_capacity(ids.len() * virtual_nodes as usize);
        // One reused buffer for "{id}#{i}": startup code, but there is no reason to allocate per point.
        let mut label = String::new();
        for (idx, id) in ids.iter().enumerate() {
            // `validate` bounds the node count by MAX_NODES, so the index fits in u16.
            let node =
                u16::try_from(idx).map_err(|_| RingError::TooManyNodes { count: ids.len() })?;
            for i in 0..virtual_nodes {
                label.clear();
                // Writing into a String cannot fail.
                let _ = write!(label, "{id}#{i}");
                points.push(Point {
                    hash: xxh64(label.as_bytes(), SEED),
                    node,
                });
            }
        }
        sort_and_dedup(&mut points);
        // Collisions were settled in id order above; from here on a point names a slot.
        let slot16: Vec<u16> = slots.iter().map(|&s| s as u16).collect();
        for p in points.iter_mut() {
            p.node = slot16[usize::from(p.node)];
        }
        let bound = slots.iter().max().map_or(0, |m| m + 1);
        let mut by_slot = vec![u32::MAX; bound];
        for (pos, &s) in slots.iter().enumerate() {
            by_slot[s] = pos as u32;
        }
        Ok(Ring {
            node_ids: ids.into_iter().map(Box::from).collect(),
            slots: slot16.into_boxed_slice(),
            by_slot: by_slot.into_boxed_slice(),
            points: points.into_boxed_slice(),
            virtual_nodes,
        })
    }

    /// Number of nodes in the ring.
    pub fn node_count(&self) -> usize {
        self.node_ids.len()
    }

    /// One more than the largest slot in the ring (the length of [`Ring::shares`]).
    pub fn slot_bound(&self) -> usize {
        self.by_slot.len()
    }

    /// Whether the node in `slot` is part of this ring.
    pub fn contains(&self, slot: usize) -> bool {
        self.by_slot.get(slot).is_some_and(|&p| p != u32::MAX)
    }

    /// The ring's nodes as `(slot, id)`, ids in byte order.
    pub fn members(&self) -> impl Iterator<Item = (usize, &str)> + '_ {
        self.slots
            .iter()
            .zip(self.node_ids.iter())
            .map(|(&s, id)| (usize::from(s), id.as_ref()))
    }

    /// Id of the node in `slot`. Panics if the slot is not in this ring: slots come from this
    /// ring (`owner`, `index_of`, `members`), so a foreign one is a programming error.
    pub fn node_id(&self, slot: usize) -> &str {
        &self.node_ids[self.by_slot[slot] as usize]
    }

    /// Slot of `node_id`, or `None` if it is not in the ring.
    pub fn index_of(&self, node_id: &str) -> Option<usize> {
        self.node_ids
            .binary_search_by(|id| id.as_ref().cmp(node_id))
            .ok()
            .map(|pos| usize::from(self.slots[pos]))
    }

    /// `virtual_nodes` of this ring.
    pub fn virtual_nodes(&self) -> u32 {
        self.virtual_nodes
    }

    /// The ring hash of a key (XXH64, seed 0).
    pub fn key_hash(key: &[u8]) -> u64 {
        xxh64(key, SEED)
    }

    /// Owner of a key: index of the node.
    pub fn owner(&self, key: &[u8]) -> usize {
        let pos = self.position(Self::key_hash(key));
        usize::from(self.points[pos].node)
    }

    /// Owner among live nodes: walk clockwise from the key's point and return the first point whose
    /// node is `alive(idx)`; `None` if no node is alive. With all alive it equals `owner()`.
    /// Cost: O(log points + skipped points); with no node alive it visits every point once.
    pub fn owner_alive(&self, key: &[u8], alive: impl Fn(usize) -> bool) -> Option<usize> {
        let start = self.position(Self::key_hash(key));
        let (after, before) = self.points.split_at(start);
        before
            .iter()
            .chain(after)
            .map(|p| usize::from(p.node))
            .find(|&idx| alive(idx))
    }

    /// The key's preference list: the first `n` distinct nodes clockwise from its point (owner
    /// first), or every node when the ring has fewer. Liveness plays no part: the list says where
    /// a key's copies belong, whoever is up. O(log points + points walked), no allocation.
    pub fn preference(&self, key: &[u8], n: usize) -> Prefs {
        let mut prefs = Prefs::default();
        let want = n.min(self.node_count()).min(MAX_PREFS);
        let start = self.position(Self::key_hash(key));
        // `points[start..]` then wrap around to `points[..start]`: clockwise from the key.
        let (wrapped, from_key) = self.points.split_at(start);
        for p in from_key.iter().chain(wrapped) {
            if prefs.len() == want {
                break;
            }
            prefs.push_distinct(p.node);
        }
        prefs
    }

    /// Every node in clockwise order from the key's point, each once (stand-in search when no
    /// replica of the key is reachable).
    pub fn clockwise(&self, key: &[u8]) -> Prefs {
        self.preference(key, MAX_PREFS)
    }

    /// Fraction (0..=1) of the 64-bit hash space owned by each slot (sums to 1.0; slots not in the
    /// ring 0.0), indexed by slot up to [`Ring::slot_bound`].
    pub fn shares(&self) -> Vec<f64> {
        self.shares_alive(|_| true)
    }

    /// Shares when only `alive` nodes count (dead nodes 0.0): a dead node's arcs go to the next live
    /// point clockwise, as in `owner_alive`. All zeros when no node is alive.
    pub fn shares_alive(&self, alive: impl Fn(usize) -> bool) -> Vec<f64> {
        let live: Vec<bool> = (0..self.slot_bound())
            .map(|s| self.contains(s) && alive(s))
            .collect();
        let is_live = |p: &Point| live[usize::from(p.node)];
        let mut owned = vec![0u128; self.slot_bound()];
        if let Some(first) = self.points.iter().position(is_live) {
            // Walk once around the circle from just after a live point back to it, carrying the
            // arcs of dead points forward until the next live point takes them.
            let len = self.points.len();
            let mut pending: u128 = 0;
            for step in 1..=len {
                let j = (first + step) % len;
                pending += self.arc_width(j);
                if is_live(&self.points[j]) {
                    owned[usize::from(self.points[j].node)] += pending;
                    pending = 0;
                }
            }
        }
        // 2^64 as f64 is exact; the widths sum to it, so the fractions sum to 1.0 up to rounding.
        let circle = (u64::MAX as f64) + 1.0;
        owned.into_iter().map(|w| w as f64 / circle).collect()
    }

    /// A stable fingerprint (xxh64) of (sorted node ids, virtual_nodes) for operators to spot
    /// config skew. Encoding in the module doc.
    pub fn version(&self) -> u64 {
        let mut hasher = Xxh64::new(SEED);
        for id in self.node_ids.iter() {
            // Length prefix: ["ab","c"] and ["a","bc"] must differ.
            hasher.update(&(id.len() as u64).to_le_bytes());
            hasher.update(id.as_bytes());
        }
        hasher.update(&self.virtual_nodes.to_le_bytes());
        hasher.digest()
    }

    /// Index of the point owning `hash`: the first with `point.hash >= hash`, wrapping to 0.
    fn position(&self, hash: u64) -> usize {
        let pos = self.points.partition_point(|p| p.hash < hash);
        if pos == self.points.len() {
            0
        } else {
            pos
        }
    }

    /// Size of the arc owned by point `j`, i.e. `(points[j-1].hash, points[j].hash]` on the circle.
    /// u128 because a single point owns the whole circle, 2^64 values.
    fn arc_width(&self, j: usize) -> u128 {
        let here = u128::from(self.points[j].hash);
        let prev = if j == 0 {
            self.points[self.points.len() - 1].hash
        } else {
            self.points[j - 1].hash
        };
        let prev = u128::from(prev);
        if j == 0 {
            here + (1u128 << 64) - prev
        } else {
            here - prev
        }
    }
}

impl fmt::Debug for Ring {
    /// Summary only: the point array has up to `MAX_POINTS` entries.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ring")
            .field("node_ids", &self.node_ids)
            .field("virtual_nodes", &self.virtual_nodes)
            .field("points", &self.points.len())
            .finish()
    }
}

/// Checks the inputs of `Ring::new` and returns the node ids sorted by bytes.
fn validate<'a>(node_ids: &[&'a str], virtual_nodes: u32) -> Result<Vec<&'a str>, RingError> {
    if node_ids.is_empty() {
        return Err(RingError::NoNodes);
    }
    if node_ids.len() > MAX_NODES {
        return Err(RingError::TooManyNodes {
            count: node_ids.len(),
        });
    }
    if virtual_nodes == 0 || virtual_nodes > MAX_VIRTUAL_NODES {
        return Err(RingError::VirtualNodes { got: virtual_nodes });
    }
    if node_ids.len() * virtual_nodes as usize > MAX_POINTS {
        return Err(RingError::TooManyPoints {
            nodes: node_ids.len(),
            virtual_nodes,
        });
    }
    let mut ids = node_ids.to_vec();
    ids.sort_unstable();
    if ids.first().is_some_and(|id| id.is_empty()) {
        return Err(RingError::EmptyId);
    }
    if let Some(pair) = ids.windows(2).find(|pair| pair[0] == pair[1]) {
        return Err(RingError::DuplicateId(pair[0].to_string()));
    }
    Ok(ids)
}

/// Sorts by `(hash, node)` and keeps only the first point of each hash. Node indices follow the
/// byte order of node ids, so on a collision the lexicographically smaller id wins.
fn sort_and_dedup(points: &mut Vec<Point>) {
    points.sort_unstable_by_key(|p| (p.hash, p.node));
    points.dedup_by_key(|p| p.hash);
}

#[cfg(test)]
#[path = "ring_tests.rs"]
mod tests;
