//! Which member exports which key, so a cluster export lists each key once whatever `replicas`.
//!
//! The coordinator of a cluster export ranks every member once, at the start, from its own view
//! of their states ([`rank_members`]): `0` up, `1` reachable but maybe behind (syncing, or the
//! coordinator itself when it is not up), `2` not a source (down, draining). It sends the ranks to
//! each source as `?scope=local&view=<one digit per member, in ring order>`, and each member
//! (the coordinator too) exports a key only when [`View::exports`] says it is the key's exporter:
//! the best-ranked source among the key's replicas, the earlier one in the preference list on a
//! tie. Every member applies the same rule to the same ranks, so each key has exactly one
//! exporter, even if members disagree about who is up right now. A key none of whose replicas is
//! a source is exported by the first source clockwise that holds it (a stand-in that took a
//! write while every replica was down), as a single-copy cluster always did.
//!
//! `missing` lists the members whose keys no source could provide: those in some arc of the ring
//! whose replicas are all rank 2 ([`missing_members`]). A down member whose keys all have a live
//! replica is not missing: that is what replicas are for.

use crate::cluster::ring::{Prefs, Ring, MAX_PREFS};
use crate::cluster::Cluster;

/// Rank of a member that is up: preferred exporter.
pub(crate) const RANK_UP: u8 = 0;
/// Rank of a member that answers but may lack recent writes (syncing): exports only keys no up
/// replica can.
pub(crate) const RANK_BEHIND: u8 = 1;
/// Rank of a member that is not asked (down, draining).
pub(crate) const RANK_NONE: u8 = 2;

/// The coordinator's ranking of every member (ring order), fixed for one export.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct View {
    ranks: Box<[u8]>,
}

impl View {
    /// `ranks[i]` is member `i`'s rank (each at most [`RANK_NONE`]).
    pub(crate) fn new(ranks: Vec<u8>) -> View {
        View {
            ranks: ranks.into_iter().map(|r| r.min(RANK_NONE)).collect(),
        }
    }

    /// Read a `view=` parameter: exactly one digit `0`..`2` per member, else `None` (a peer with
    /// another member list: the caller then exports everything rather than guess).
    pub(crate) fn parse(digits: &[u8], members: usize) -> Option<View> {
        if digits.len() != members {
            return None;
        }
        let ranks = digits
            .iter()
            .map(|&d| match d {
                b'0'..=b'2' => Some(d - b'0'),
                _ => None,
            })
            .collect::<Option<Box<[u8]>>>()?;
        Some(View { ranks })
    }

    /// The `view=` parameter as sent: one digit per member of the membership document in node id
    /// order (slots are this process's own numbering; the document order is what peers share).
    pub(crate) fn encode_for(&self, cl: &Cluster) -> String {
        cl.listed()
            .into_iter()
            .map(|s| char::from(b'0' + self.rank(s)))
            .collect()
    }

    /// Read a `view=` parameter sent in document order (see [`View::encode_for`]).
    pub(crate) fn parse_for(digits: &[u8], cl: &Cluster) -> Option<View> {
        let listed = cl.listed();
        let wire = View::parse(digits, listed.len())?;
        let mut ranks = vec![RANK_NONE; cl.slot_count()];
        for (pos, &slot) in listed.iter().enumerate() {
            ranks[slot] = wire.ranks[pos];
        }
        Some(View {
            ranks: ranks.into(),
        })
    }

    /// The ranks, one digit per slot (tests).
    #[cfg(test)]
    pub(crate) fn encode(&self) -> String {
        self.ranks.iter().map(|&r| char::from(b'0' + r)).collect()
    }

    pub(crate) fn rank(&self, member: usize) -> u8 {
        self.ranks.get(member).copied().unwrap_or(RANK_NONE)
    }

    /// Whether `member` is asked for its keys at all.
    pub(crate) fn is_source(&self, member: usize) -> bool {
        self.rank(member) < RANK_NONE
    }

    /// The member that exports keys whose replicas are `nodes` (preference order): the
    /// best-ranked source, the earliest on a tie; `None` when none is a source.
    pub(crate) fn exporter(&self, nodes: impl Iterator<Item = usize>) -> Option<usize> {
        let mut best: Option<(u8, usize)> = None;
        for n in nodes {
            let r = self.rank(n);
            if r < RANK_NONE && best.is_none_or(|(b, _)| r < b) {
                best = Some((r, n));
            }
        }
        best.map(|(_, n)| n)
    }

    /// Whether `me` exports a key with preference list `prefs`; `clockwise` (every node from the
    /// key's point) is only consulted when no replica is a source.
    pub(crate) fn exports(
        &self,
        me: usize,
        prefs: &Prefs,
        clockwise: impl FnOnce() -> Prefs,
    ) -> bool {
        match self.exporter(prefs.iter()) {
            Some(e) => e == me,
            None => self.exporter(clockwise().iter()) == Some(me),
        }
    }

    /// [`View::exports`] for `key` on this node's ring.
    pub(crate) fn exports_key(&self, cl: &Cluster, key: &[u8]) -> bool {
        let prefs = cl.topology().prefs(key);
        self.exports(cl.me, &prefs, || cl.topology().ring.clockwise(key))
    }
}

/// Rank every member from this node's view of their states (see the module doc).
pub(crate) fn rank_members(cl: &Cluster) -> View {
    let ranks = (0..cl.slot_count())
        .map(|i| {
            if cl.routable(i) {
                RANK_UP
            } else if i == cl.me || cl.takes_writes(i) {
                RANK_BEHIND
            } else {
                RANK_NONE
            }
        })
        .collect();
    View::new(ranks)
}

/// Members whose keys no source can provide: every member of an arc whose replicas (`arcs`
/// yields each arc's preference list) are all non-sources. Sorted member indices.
pub(crate) fn missing_members(view: &View, arcs: impl Iterator<Item = Prefs>) -> Vec<usize> {
    let mut missing = vec![false; view.ranks.len()];
    for prefs in arcs {
        if view.exporter(prefs.iter()).is_none() {
            for n in prefs.iter() {
                if let Some(m) = missing.get_mut(n) {
                    *m = true;
                }
            }
        }
    }
    (0..missing.len()).filter(|&i| missing[i]).collect()
}

/// [`missing_members`] over this cluster's ring. Arcs are visited through the ring's point
/// labels: point `i` of node `id` hashes `"{id}#{i}"` (part of the ring's wire contract), so that
/// label, as a key, falls exactly on the point and has the preference list of the arc it ends.
/// Cheap when fewer members are down than a key has replicas: no arc can then be all down.
pub(crate) fn cluster_missing(cl: &Cluster, view: &View, virtual_nodes: u32) -> Vec<usize> {
    let copies = cl.topology().replicas.min(MAX_PREFS);
    let down = cl
        .listed()
        .into_iter()
        .filter(|&i| !view.is_source(i))
        .count();
    if down < copies {
        return Vec::new();
    }
    let _ = virtual_nodes;
    let t = cl.topology();
    missing_members(view, arc_prefs(&t.ring, t.replicas, t.ring.virtual_nodes()))
}

/// Each point's preference list, via its label (see [`cluster_missing`]).
fn arc_prefs(ring: &Ring, replicas: usize, virtual_nodes: u32) -> impl Iterator<Item = Prefs> + '_ {
    ring.members().flat_map(move |(_, id)| {
        (0..virtual_nodes).map(move |i| {
            let label = format!("{id}#{i}");
            ring.preference(label.as_bytes(), replicas)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDS: [&str; 4] = ["a", "b", "c", "d"];
    const VNODES: u32 = 50;

    fn ring() -> Ring {
        Ring::new(&IDS, VNODES).expect("ring")
    }

    #[test]
    fn the_view_parameter_round_trips_and_is_checked() {
        let v = View::new(vec![0, 2, 1, 7]);
        assert_eq!(v.encode(), "0212");
        assert_eq!(View::parse(b"0212", 4), Some(v));
        assert_eq!(View::parse(b"021", 4), None, "another member count");
        assert_eq!(View::parse(b"0213", 4), None);
        assert_eq!(View::parse(b"02 1", 4), None);
    }

    #[test]
    fn the_exporter_is_the_best_ranked_replica_earliest_first() {
        let v = View::new(vec![2, 1, 0, 0]);
        assert_eq!(
            v.exporter([0, 1, 2].into_iter()),
            Some(2),
            "up beats behind"
        );
        assert_eq!(
            v.exporter([3, 2].into_iter()),
            Some(3),
            "earliest of equals"
        );
        assert_eq!(v.exporter([0, 1].into_iter()), Some(1), "behind beats none");
        assert_eq!(v.exporter([0].into_iter()), None);
    }

    /// Whatever the ranks, every key has exactly one exporter among the members, and it is a
    /// replica whenever some replica is a source.
    #[test]
    fn each_key_is_exported_by_exactly_one_member() {
        let r = ring();
        let views = [
            vec![0, 0, 0, 0],
            vec![2, 0, 0, 0],
            vec![2, 2, 0, 1],
            vec![1, 2, 2, 0],
            vec![0, 2, 2, 2],
        ];
        for ranks in views {
            let v = View::new(ranks.clone());
            for replicas in [1, 2, 3] {
                for i in 0..500u32 {
                    let key = format!("key:{i}");
                    let k = key.as_bytes();
                    let prefs = r.preference(k, replicas);
                    let who: Vec<usize> = (0..IDS.len())
                        .filter(|&me| v.exports(me, &prefs, || r.clockwise(k)))
                        .collect();
                    assert_eq!(who.len(), 1, "{ranks:?} r={replicas} {key}: {who:?}");
                    if prefs.iter().any(|n| v.is_source(n)) {
                        assert!(prefs.contains(who[0]), "{ranks:?} {key}: a replica exports");
                    }
                }
            }
        }
    }

    #[test]
    fn missing_lists_only_members_whose_keys_no_source_has() {
        let r = ring();
        let missing = |ranks: Vec<u8>, replicas| {
            missing_members(&View::new(ranks), arc_prefs(&r, replicas, VNODES))
        };
        assert!(missing(vec![0, 0, 0, 0], 1).is_empty());
        assert_eq!(
            missing(vec![0, 2, 0, 0], 1),
            vec![1],
            "one copy: its keys are gone"
        );
        assert!(
            missing(vec![0, 2, 0, 0], 2).is_empty(),
            "a replica has them"
        );
        // Two down of four with two copies: the arcs they both replicate are lost.
        assert_eq!(missing(vec![0, 2, 2, 0], 2), vec![1, 2]);
        assert!(missing(vec![0, 2, 2, 0], 3).is_empty());
        assert!(
            missing(vec![0, 1, 2, 0], 2).is_empty(),
            "members behind are sources"
        );
        assert_eq!(missing(vec![2, 2, 2, 2], 2), vec![0, 1, 2, 3]);
    }
}
