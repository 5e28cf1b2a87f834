//! Key movement of the real ring ([`Ring`]) when one node joins or leaves: the share of keys whose
//! owner, or whose replica set, changes, against the ideal of consistent hashing (a joiner takes
//! 1/(N+1) of the keys, a leaver's 1/N go elsewhere, and nothing else moves).

use crate::cluster::ring::{Prefs, Ring, RingError};

/// One ring change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// `nodes` members, then one more.
    AddOne,
    /// `nodes` members, then one fewer (the middle one by id, so neither end of the order).
    RemoveOne,
}

/// What one change moved, over a sample of keys `key-0`, `key-1`, ...
#[derive(Clone, Debug, PartialEq)]
pub struct Movement {
    pub change: Change,
    /// Members before the change.
    pub nodes: usize,
    pub keys: usize,
    pub replicas: usize,
    /// Share of keys whose owner changed.
    pub owner_moved: f64,
    /// Share of keys whose replica set (as a set) changed.
    pub replicas_moved: f64,
    /// The ideal owner share: 1/(N+1) for a join, 1/N for a leave.
    pub ideal_owner: f64,
    /// The ideal replica-set share: `replicas` times the owner share (capped at 1).
    pub ideal_replicas: f64,
    /// The hash-space share of the node that joined (in the new ring) or left (in the old
    /// one): what `owner_moved` measures with sampling noise. With 150 virtual nodes a node's
    /// share is off the ideal by ~8% (1/sqrt(150)) either way.
    pub node_share: f64,
    /// Keys whose owner changed for a reason other than the change itself: a join moved a key
    /// to a node other than the joiner, or a leave moved a key the leaver did not own. Consistent
    /// hashing promises 0.
    pub stray: usize,
}

/// Node ids of the simulated clusters: `node0`, `node1`, ...
fn ids(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("node{i}")).collect()
}

fn ring_of(ids: &[String], virtual_nodes: u32) -> Result<Ring, RingError> {
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    Ring::new(&refs, virtual_nodes)
}

/// A preference list as sorted node ids (indices differ between two rings).
fn id_set<'r>(ring: &'r Ring, prefs: &Prefs) -> Vec<&'r str> {
    let mut v: Vec<&str> = prefs.iter().map(|i| ring.node_id(i)).collect();
    v.sort_unstable();
    v
}

/// Build the ring of `nodes` members and the ring after `change`, and compare where `keys`
/// sample keys live. `nodes` must be at least 2 for a removal.
pub fn key_movement(
    change: Change,
    nodes: usize,
    virtual_nodes: u32,
    replicas: usize,
    keys: usize,
) -> Result<Movement, RingError> {
    let before_ids = ids(nodes);
    let (after_ids, moved_node, ideal_owner) = match change {
        Change::AddOne => {
            let after = ids(nodes + 1);
            let joiner = after[nodes].clone();
            (after, joiner, 1.0 / (nodes + 1) as f64)
        }
        Change::RemoveOne => {
            let mut after = before_ids.clone();
            let leaver = after.remove(nodes / 2);
            (after, leaver, 1.0 / nodes as f64)
        }
    };
    let before = ring_of(&before_ids, virtual_nodes)?;
    let after = ring_of(&after_ids, virtual_nodes)?;
    let (mut owner_moved, mut set_moved, mut stray) = (0usize, 0usize, 0usize);
    let mut key = String::new();
    for k in 0..keys {
        key.clear();
        key.push_str("key-");
        key.push_str(itoa::Buffer::new().format(k));
        let old = before.node_id(before.owner(key.as_bytes()));
        let new = after.node_id(after.owner(key.as_bytes()));
        if old != new {
            owner_moved += 1;
            // A join may only move keys to the joiner; a leave only the leaver's keys.
            let expected = match change {
                Change::AddOne => new == moved_node,
                Change::RemoveOne => old == moved_node,
            };
            if !expected {
                stray += 1;
            }
        }
        let old_set = id_set(&before, &before.preference(key.as_bytes(), replicas));
        let new_set = id_set(&after, &after.preference(key.as_bytes(), replicas));
        if old_set != new_set {
            set_moved += 1;
        }
    }
    let node_share = match change {
        Change::AddOne => after.index_of(&moved_node).map(|i| after.shares()[i]),
        Change::RemoveOne => before.index_of(&moved_node).map(|i| before.shares()[i]),
    }
    .unwrap_or(0.0);
    let share = |count: usize| count as f64 / keys.max(1) as f64;
    Ok(Movement {
        change,
        nodes,
        keys,
        replicas,
        owner_moved: share(owner_moved),
        replicas_moved: share(set_moved),
        ideal_owner,
        ideal_replicas: (ideal_owner * replicas as f64).min(1.0),
        node_share,
        stray,
    })
}
