//! Model B, SWIM (Das, Gupta and Motivala, 2002) as `foca` implements it: each round each live
//! node pings one member (shuffled round-robin over its members, like foca's `Members::next`);
//! when the ping or its ack is lost it asks `indirect` other members to ping the target for it.
//! Every message piggybacks the newest updates of a bounded buffer, each sent at most
//! `max_transmissions` times (infection-style dissemination). A member whose probe failed becomes
//! *suspect*; the prober that suspected it declares it *down* when it has not refuted (with a
//! higher incarnation) within `suspect_rounds`, and gossips that.
//!
//! foca's LAN configuration adds periodic gossip: while a node has updates to send it sends them
//! to `gossip_fanout` random members every `1 / gossip_ticks` of a round (200 ms, 3 members).
//! The membership document itself does not fit a gossip packet (about 80 bytes a member): an
//! update only announces an epoch, and a node that hears of a newer one fetches the document from
//! the node that told it (a request and an answer, retried next tick when lost), then gossips the
//! epoch in turn. With `epoch_in_header` every message also carries its sender's epoch as a fixed
//! field (16 bytes), like our health answer, so it never stops spreading.

mod world;

use super::{Detection, Scenario, Spread, LEADER};
use world::World;

/// Updates piggybacked on one message: foca's 1400-byte packets hold about 25 updates of ~50
/// bytes (id, address, incarnation, state); 16 leaves room for the message itself.
const PIGGYBACK: usize = 16;
/// Updates a node keeps queued; beyond it the most-sent one is dropped (memberlist does the same).
const BUFFER: usize = 64;

/// SWIM's knobs, in rounds of one `probe_period`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SwimConfig {
    /// Helpers asked to ping a member that did not answer (foca `num_indirect_probes`).
    pub indirect: usize,
    /// Sends of one update before it leaves the buffer (foca `max_transmissions`).
    pub max_transmissions: u8,
    /// Rounds a member stays suspect before its prober declares it down (foca
    /// `suspect_to_down_after`).
    pub suspect_rounds: u32,
    /// Updates per message.
    pub piggyback: usize,
    /// Updates queued per node.
    pub buffer: usize,
    /// Periodic gossip: ticks per round (1 = gossip only with the round's probe).
    pub gossip_ticks: u32,
    /// Periodic gossip: members sent the buffer each tick while it is not empty (0 = off, pure
    /// SWIM: updates ride on probes only).
    pub gossip_fanout: usize,
    /// Every message carries its sender's epoch (not only the bounded piggyback buffer).
    pub epoch_in_header: bool,
    /// Give up on a spread after this many rounds.
    pub max_rounds: u32,
}

impl SwimConfig {
    /// foca's `Config::new_lan(nodes)` (itself memberlist's `DefaultLANConfig`) with its 1 s
    /// `probe_period` as the round: 3 indirect probes, `4 * log10(n + 1)` transmissions,
    /// `4 * max(1, log10 n)` rounds of suspicion, gossip to 3 members every 200 ms.
    pub fn lan(nodes: usize) -> SwimConfig {
        let n = nodes.max(1) as f64;
        SwimConfig {
            indirect: 3,
            max_transmissions: ((n + 1.0).log10() * 4.0).clamp(1.0, 255.0) as u8,
            suspect_rounds: (n.log10().max(1.0) * 4.0).ceil() as u32,
            piggyback: PIGGYBACK,
            buffer: BUFFER,
            gossip_ticks: 5,
            gossip_fanout: 3,
            epoch_in_header: false,
            // O(log n) is ~10-20 rounds at 1000 nodes: 200 only bounds a run that is stuck.
            max_rounds: 200,
        }
    }

    /// [`SwimConfig::lan`] without periodic gossip: SWIM as the paper has it (and foca's
    /// `Config::simple`), updates travel only on pings, ping-reqs and acks.
    pub fn pure(nodes: usize) -> SwimConfig {
        SwimConfig {
            gossip_ticks: 1,
            gossip_fanout: 0,
            ..SwimConfig::lan(nodes)
        }
    }
}

/// What travels in the piggyback buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Update {
    /// "I hold the membership document of this epoch."
    Epoch(u64),
    Alive {
        node: u32,
        inc: u64,
    },
    Suspect {
        node: u32,
        inc: u64,
    },
    Dead {
        node: u32,
    },
}

impl Update {
    /// Updates with the same key supersede each other in a buffer.
    fn key(self) -> Option<u32> {
        match self {
            Update::Epoch(_) => None,
            Update::Alive { node, .. } | Update::Suspect { node, .. } | Update::Dead { node } => {
                Some(node)
            }
        }
    }
}

/// What a node believes of another member (members absent from a view: alive, incarnation 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Belief {
    Alive,
    /// `timer`: the round this node's own probe failed (only the prober runs the timer, as in
    /// foca); `None` when it only heard of the suspicion.
    Suspect {
        timer: Option<u32>,
    },
    Dead,
}

/// Runs SWIM under one [`SwimConfig`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Swim {
    pub cfg: SwimConfig,
}

impl Swim {
    pub fn new(cfg: SwimConfig) -> Swim {
        Swim { cfg }
    }

    /// The leader commits a new epoch at the start of round 1; rounds until every node holds it.
    pub fn spread(&self, sc: &Scenario) -> Spread {
        let mut w = World::new(&self.cfg, sc);
        w.commit(LEADER, 1);
        for round in 1..=self.cfg.max_rounds {
            if sc.push && round == 1 {
                w.push_from(LEADER, 1);
            }
            w.play_round(round);
            let done = w.all_hold(1);
            if done || w.stuck() {
                return Spread {
                    rounds: done.then_some(round),
                    rounds_run: round,
                    messages: w.messages,
                };
            }
        }
        Spread {
            rounds: None,
            rounds_run: self.cfg.max_rounds,
            messages: w.messages,
        }
    }

    /// The last node crashes at the start of round 1; `rounds` rounds follow.
    pub fn detect(&self, sc: &Scenario, rounds: u32) -> Detection {
        let mut w = World::new(&self.cfg, sc);
        let crashed = sc.nodes - 1;
        w.crash(crashed);
        let mut det = Detection::new(rounds);
        for round in 1..=rounds {
            w.play_round(round);
            let seen = w.believed_dead_by(crashed);
            if seen > 0 && det.first.is_none() {
                det.first = Some(round);
            }
            if seen == sc.nodes - 1 && det.all.is_none() {
                det.all = Some(round);
            }
        }
        det.false_downs = w.false_downs;
        det.false_declarations = w.false_declarations;
        det.messages = w.messages;
        det
    }
}
