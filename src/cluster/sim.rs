//! Membership at scale, simulated: how fast a new membership epoch reaches every node, how fast a
//! crashed node is noticed, what that costs in messages, and how many keys a ring change moves.
//!
//! Issue 10 asks whether the all-to-all HTTP prober we ship still works past a few nodes or
//! whether SWIM gossip (the `foca` crate) should replace it. Real clusters of 1000 nodes are not
//! at hand, so this module answers with a model: a round-based simulation of N virtual nodes in
//! one process, with no sockets, threads or clocks, and a seeded PRNG ([`Rng`], splitmix64), so
//! every figure reproduces exactly. One round is one `probe_interval` (1 s by default).
//!
//! - [`ProbePull`]: what we ship. Every node probes every other member each round; the answer
//!   carries `(epoch, doc_hash)`; a node that sees a higher epoch fetches the document from that
//!   peer. The leader may also push a new document to every member at once.
//! - [`Swim`]: SWIM with infection-style dissemination: each round each node pings one member
//!   (indirect pings through `indirect` others when that fails) and piggybacks a bounded buffer
//!   of updates on every message; suspicion with a timeout in rounds; refutation by incarnation.
//! - [`key_movement`]: key movement of the real [`Ring`](super::ring::Ring) when one node joins
//!   or leaves.
//!
//! Semantics shared by both models: a message is lost with probability `loss`, independently; a
//! round's messages carry what their sender held at the start of the round (an update learnt in
//! round r travels on from round r+1), so neither model gets multi-hop spread within one round.
//! The exception is SWIM's periodic gossip (foca's LAN settings), which sends every 200 ms: there
//! the same holds per tick of a fifth of a round.
//! `examples/membership_sim.rs` prints the figures; `docs/architecture.md` (membership at scale) discusses them.

mod movement;
mod probe_pull;
mod swim;

pub use movement::{key_movement, Change, Movement};
pub use probe_pull::ProbePull;
pub use swim::{Swim, SwimConfig};

/// The PRNG of the simulation: splitmix64 (Steele, Lea and Flood), small, fast and good enough
/// for loss draws and peer choice. Written here so the figures do not depend on a crate version.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`), by the multiply-shift reduction (bias below 2^-32 for the
    /// sizes simulated here).
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        // 53 random bits as a fraction in [0, 1).
        let unit = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        unit < p
    }

    /// Whether one message arrives under `loss` (no draw when nothing is lost, which keeps the
    /// loss-free runs fast and their sequences independent of the message count).
    pub fn delivered(&mut self, loss: f64) -> bool {
        loss <= 0.0 || !self.chance(loss)
    }

    /// Fisher-Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

/// One simulated situation: cluster size, message loss, whether the leader pushes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scenario {
    /// Cluster size (at least 2).
    pub nodes: usize,
    /// Probability that any one message is lost (0.0..1.0).
    pub loss: f64,
    /// The leader pushes a new document to every member as it commits it.
    pub push: bool,
    pub seed: u64,
}

/// The node that commits a new epoch in every run (the leader: lowest id).
pub const LEADER: usize = 0;

/// How one new epoch spread from the leader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spread {
    /// The round at the end of which every node held the new document; `None`: not within the
    /// run's round limit. The commit happens at the start of round 1.
    pub rounds: Option<u32>,
    /// Rounds simulated (`rounds` when it converged, else the limit).
    pub rounds_run: u32,
    /// Messages sent in those rounds, all nodes together, lost ones included (a request and its
    /// answer are two).
    pub messages: u64,
}

/// How the crash of one node (not the leader) was noticed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Detection {
    /// The round in which the first live node marked it down (the crash happens at the start of
    /// round 1); `None`: not within the run.
    pub first: Option<u32>,
    /// The round by which every live node had marked it down.
    pub all: Option<u32>,
    /// (observer, live member) marks of "down" during the run: the price of loss. A probe-pull
    /// mark is one observer's and lasts until the next answer; a SWIM one spreads to every node
    /// and is final (the member must rejoin).
    pub false_downs: u64,
    /// Decisions that declared a live member down: for probe-pull every mark, for SWIM the
    /// suspicion timers that ran out (each then spreads to every node).
    pub false_declarations: u64,
    pub rounds_run: u32,
    pub messages: u64,
}

impl Detection {
    /// Nothing detected yet, over a run of `rounds` rounds.
    pub fn new(rounds: u32) -> Detection {
        Detection {
            first: None,
            all: None,
            false_downs: 0,
            false_declarations: 0,
            rounds_run: rounds,
            messages: 0,
        }
    }
}

/// Messages per node per round of a run.
pub fn per_node_round(messages: u64, nodes: usize, rounds: u32) -> f64 {
    if nodes == 0 || rounds == 0 {
        return 0.0;
    }
    messages as f64 / (nodes as f64 * f64::from(rounds))
}

/// Median (lower middle of an even count) and maximum of `values`; `None` when empty.
pub fn median_max(values: &[u32]) -> Option<(u32, u32)> {
    let mut v = values.to_vec();
    v.sort_unstable();
    let max = *v.last()?;
    Some((v[(v.len() - 1) / 2], max))
}

#[cfg(test)]
#[path = "sim_tests.rs"]
mod tests;
