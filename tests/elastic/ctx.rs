//! What a scenario's phase does to a running cluster under load: join a node (by its own config
//! or by `POST /admin/cluster/nodes`), make one leave (`DELETE`, wait until safe to stop, SIGTERM),
//! kill -9 and restart one; each membership change is timed and its figures kept in a [`Move`].

use std::time::{Duration, Instant};

use super::admin::{
    add, epoch_of, is_active, is_safe_to_stop, knows_membership, migration_counters,
    migration_keys_reported, remove, settle, wait_member,
};
use super::nodes::{id, Nodes};
use super::run::{CHANGE_LIMIT, SETTLE_LIMIT};
use crate::faults::load::Load;

/// How long a SIGTERMed node may drain before it is killed.
const DRAIN_LIMIT: Duration = Duration::from_secs(15);

/// How a node joins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Join {
    /// Started with every member and itself in `cluster_nodes`: it asks to join by itself.
    Config,
    /// Started alone (only itself in `cluster_nodes`), then added with `POST /admin/cluster/nodes`.
    Post,
}

/// The figures of one membership change.
#[derive(Debug)]
pub struct Move {
    pub what: String,
    /// When the change was asked for (the joiner started, or the POST or DELETE sent).
    pub began: Instant,
    /// When the member was seen active (join) or safe to stop (leave) in a settled membership.
    pub settled: Instant,
    /// Sums over the nodes of `cache_migration_{keys,bytes}_moved_total` during the change.
    pub keys_moved: Option<f64>,
    pub bytes_moved: Option<f64>,
    /// Sum over the nodes of `migration.keys_moved` in `/admin/cluster` after the change.
    pub reported: Option<u64>,
    /// Members before and after the change, to compute what the ring moves (a join of the
    /// N+1-th member should move about 1/(N+1) of the copies, a leave of one of N about 1/N).
    pub before: Vec<usize>,
    pub after: Vec<usize>,
}

/// A running scenario: the processes, the load, who is a member and who serves.
pub struct Ctx<'a> {
    pub nodes: &'a mut Nodes,
    pub load: &'a Load,
    /// The config of node `i` whose `cluster_nodes` are the given members.
    pub yaml: &'a dyn Fn(usize, &[usize]) -> String,
    /// The membership as it should be once every change so far settled.
    pub members: Vec<usize>,
    /// Members whose process runs and takes load.
    pub live: Vec<usize>,
    /// Nodes the load sends nothing to (bit i = node i).
    pub idle: u64,
    pub start: Instant,
    pub timeline: Vec<String>,
    pub moves: Vec<Move>,
    /// The load's doomed keys were deleted (see [`Ctx::retire`]).
    pub retired: bool,
}

impl Ctx<'_> {
    pub fn note(&mut self, what: &str) {
        let at = self.start.elapsed().as_secs_f64();
        self.timeline.push(format!("{at:.2}s {what}"));
    }

    /// The member admin changes are sent to: the lowest live member other than `not` (the
    /// leader by the contract; any member would forward).
    fn leader(&self, not: usize) -> usize {
        let mut live: Vec<usize> = self.live.iter().copied().filter(|&i| i != not).collect();
        live.sort();
        *live.first().expect("a live member")
    }

    fn set_idle(&mut self, mask: u64) {
        self.idle = mask;
        self.load.set_idle(mask);
    }

    /// Wait until every live node agrees on the expected membership (panics with the logs).
    pub fn settle(&mut self) {
        match settle(self.nodes, &self.members, &self.live, SETTLE_LIMIT) {
            Ok((took, epoch)) => self.note(&format!(
                "all agree on epoch {epoch} after {:.2}s",
                took.as_secs_f64()
            )),
            Err(e) => panic!(
                "not settled within {SETTLE_LIMIT:?}: {e}; logs:\n{}",
                self.nodes.logs()
            ),
        }
    }

    /// Node `i` joins under load; returns once it is active in a settled membership and every
    /// live node agrees. The load sends to it from when it knows itself a member.
    pub fn join(&mut self, i: usize, how: Join) {
        let mut after = self.members.clone();
        after.push(i);
        let (k0, b0) = migration_counters(self.nodes, &self.live);
        let at = self.leader(i);
        // The change is committed one epoch above the current one.
        let epoch = epoch_of(self.nodes, at) + 1;
        let began = match how {
            Join::Config => {
                self.nodes.write_config(i, &(self.yaml)(i, &after));
                let began = Instant::now();
                self.nodes.spawn(i);
                self.note(&format!(
                    "{} started listing all {} nodes",
                    id(i),
                    after.len()
                ));
                began
            }
            Join::Post => {
                self.nodes.write_config(i, &(self.yaml)(i, &[i]));
                self.nodes.start(i);
                self.note(&format!("{} started alone", id(i)));
                let began = Instant::now();
                let doc = add(self.nodes, at, i);
                self.note(&format!(
                    "POST {} on {}: epoch {}",
                    id(i),
                    id(at),
                    doc["epoch"]
                ));
                began
            }
        };
        self.retire();
        let (load, idle, members) = (self.load, self.idle, self.members.clone());
        let mut member_since = None;
        wait_member(self.nodes, at, i, &[i], CHANGE_LIMIT, is_active, |nodes| {
            if member_since.is_none() && knows_membership(nodes, i, &members) {
                load.set_idle(idle & !(1 << i));
                member_since = Some(Instant::now());
            }
        });
        let settled = Instant::now();
        if let Some(t) = member_since {
            let secs = t.saturating_duration_since(began).as_secs_f64();
            self.note(&format!("{} takes load from +{secs:.2}s", id(i)));
        }
        self.note(&format!("{} active", id(i)));
        let before = std::mem::replace(&mut self.members, after);
        self.live.push(i);
        self.settle();
        self.set_idle(self.idle & !(1 << i));
        let (k1, b1) = migration_counters(self.nodes, &self.live);
        let reported = migration_keys_reported(self.nodes, &self.live, epoch);
        self.moves.push(Move {
            what: format!("join {} ({how:?})", id(i)),
            began,
            settled,
            keys_moved: k1.zip(k0).map(|(a, b)| a - b),
            bytes_moved: b1.zip(b0).map(|(a, b)| a - b),
            reported,
            before,
            after: self.members.clone(),
        });
    }

    /// Node `i` leaves under load: DELETE, wait until safe to stop, stop sending to it, SIGTERM.
    pub fn leave(&mut self, i: usize) {
        let after: Vec<usize> = self.members.iter().copied().filter(|&m| m != i).collect();
        let (k0, b0) = migration_counters(self.nodes, &self.live);
        let at = self.leader(i);
        let epoch = epoch_of(self.nodes, at) + 1;
        let began = Instant::now();
        let doc = remove(self.nodes, at, i);
        self.note(&format!(
            "DELETE {} on {}: epoch {}",
            id(i),
            id(at),
            doc["epoch"]
        ));
        self.retire();
        wait_member(
            self.nodes,
            at,
            i,
            &[i],
            CHANGE_LIMIT,
            is_safe_to_stop,
            |_| {},
        );
        let settled = Instant::now();
        self.note(&format!("{} safe to stop", id(i)));
        self.set_idle(self.idle | 1 << i);
        // Read before it stops: the leaver streamed most of what moved.
        let (k1, b1) = migration_counters(self.nodes, &self.live);
        let reported = migration_keys_reported(self.nodes, &self.live, epoch);
        let clean = self.nodes.terminate(i, DRAIN_LIMIT);
        self.note(&format!("SIGTERM {} (exited by itself: {clean})", id(i)));
        let before = std::mem::replace(&mut self.members, after);
        self.live.retain(|&m| m != i);
        self.settle();
        self.moves.push(Move {
            what: format!("leave {}", id(i)),
            began,
            settled,
            keys_moved: k1.zip(k0).map(|(a, b)| a - b),
            bytes_moved: b1.zip(b0).map(|(a, b)| a - b),
            reported,
            before,
            after: self.members.clone(),
        });
    }

    /// The first change deletes the load's doomed keys for good while keys move: their
    /// tombstones must move too (the final reads find an undone delete otherwise).
    fn retire(&mut self) {
        if !self.retired {
            self.retired = true;
            self.load.retire();
            self.note("doomed keys to be deleted");
        }
    }

    /// kill -9 member `i` (it stays a member; the load stops sending to it).
    pub fn kill9(&mut self, i: usize) {
        self.set_idle(self.idle | 1 << i);
        self.nodes.kill9(i);
        self.live.retain(|&m| m != i);
        self.note(&format!("kill -9 {}", id(i)));
    }

    /// Restart member `i` with its old config (its `cluster_nodes` may be out of date); the load
    /// sends to it again once it knows the current membership.
    pub fn restart(&mut self, i: usize) {
        let failed = self.nodes.restart_until_up(i);
        self.note(&format!("{} restarted ({failed} failed starts)", id(i)));
        let members = self.members.clone();
        let nodes = &*self.nodes;
        let adopted =
            crate::common::eventually(SETTLE_LIMIT, || knows_membership(nodes, i, &members));
        assert!(
            adopted,
            "{} did not adopt the membership {:?} within {SETTLE_LIMIT:?}; logs:\n{}",
            id(i),
            members.iter().map(|&m| id(m)).collect::<Vec<_>>(),
            self.nodes.logs()
        );
        self.note(&format!("{} knows the membership", id(i)));
        self.live.push(i);
        self.set_idle(self.idle & !(1 << i));
        self.settle();
    }
}
