//! The state of one SWIM run: every node's view, buffer and epoch, and the message exchange of
//! a round. Messages sent in a tick are applied at its end, so an update travels one hop per
//! tick at most.

use super::{Belief, SwimConfig, Update};
use crate::cluster::sim::{Rng, Scenario};

struct Node {
    up: bool,
    epoch: u64,
    /// A newer epoch heard of, and the node to fetch its document from.
    want: Option<(u64, u32)>,
    incarnation: u64,
    /// Ping order: the other members shuffled, walked round-robin, reshuffled at the end.
    order: Vec<u32>,
    next: usize,
    /// Members believed other than "alive at incarnation 0": (member, belief, incarnation).
    view: Vec<(u32, Belief, u64)>,
    /// Piggyback buffer: (update, transmissions left).
    buffer: Vec<(Update, u8)>,
}

/// One message that arrived: applied at the end of the tick.
struct Arrived {
    to: u32,
    from: u32,
    epoch: u64,
    updates: Vec<Update>,
}

pub(super) struct World<'a> {
    cfg: &'a SwimConfig,
    loss: f64,
    rng: Rng,
    nodes: Vec<Node>,
    round: u32,
    pub(super) messages: u64,
    /// (observer, live member) marks of "dead".
    pub(super) false_downs: u64,
    /// Suspicion timers that declared a live member dead.
    pub(super) false_declarations: u64,
    inbox: Vec<Arrived>,
    /// (observer, member) pairs whose probe went unanswered this round.
    unanswered: Vec<(u32, u32)>,
    /// Documents that arrived by push or fetch this tick: (node, epoch).
    adopt: Vec<(u32, u64)>,
}

impl<'a> World<'a> {
    pub(super) fn new(cfg: &'a SwimConfig, sc: &Scenario) -> World<'a> {
        let mut rng = Rng::new(sc.seed);
        let n = sc.nodes as u32;
        let nodes = (0..n)
            .map(|i| {
                let mut order: Vec<u32> = (0..n).filter(|&j| j != i).collect();
                rng.shuffle(&mut order);
                Node {
                    up: true,
                    epoch: 0,
                    want: None,
                    incarnation: 0,
                    order,
                    next: 0,
                    view: Vec::new(),
                    buffer: Vec::new(),
                }
            })
            .collect();
        World {
            cfg,
            loss: sc.loss,
            rng,
            nodes,
            round: 0,
            messages: 0,
            false_downs: 0,
            false_declarations: 0,
            inbox: Vec::new(),
            unanswered: Vec::new(),
            adopt: Vec::new(),
        }
    }

    /// Node `i` commits `epoch` (it holds the document and starts gossiping it).
    pub(super) fn commit(&mut self, i: usize, epoch: u64) {
        self.nodes[i].epoch = epoch;
        self.enqueue(i as u32, Update::Epoch(epoch));
    }

    /// Node `i` pushes its document to every member (one request and answer each).
    pub(super) fn push_from(&mut self, i: usize, epoch: u64) {
        for j in (0..self.nodes.len()).filter(|&j| j != i) {
            if self.exchange(j as u32) {
                self.adopt.push((j as u32, epoch));
            }
        }
    }

    pub(super) fn crash(&mut self, i: usize) {
        self.nodes[i].up = false;
    }

    pub(super) fn all_hold(&self, epoch: u64) -> bool {
        self.nodes.iter().all(|x| x.epoch >= epoch)
    }

    /// Live nodes that believe `m` dead.
    pub(super) fn believed_dead_by(&self, m: usize) -> usize {
        (0..self.nodes.len())
            .filter(|&i| i != m && self.nodes[i].up && self.belief(i, m as u32).0 == Belief::Dead)
            .count()
    }

    /// Nobody will ever tell the missing nodes: no epoch left in any buffer, no fetch pending,
    /// and no header to carry it.
    pub(super) fn stuck(&self) -> bool {
        !self.cfg.epoch_in_header
            && self.nodes.iter().all(|x| {
                x.want.is_none() && !x.buffer.iter().any(|(u, _)| matches!(u, Update::Epoch(_)))
            })
    }

    pub(super) fn play_round(&mut self, round: u32) {
        self.round = round;
        for tick in 0..self.cfg.gossip_ticks.max(1) {
            for i in 0..self.nodes.len() {
                if !self.nodes[i].up {
                    continue;
                }
                if tick == 0 {
                    self.probe(i);
                }
                self.gossip(i);
            }
            for msg in std::mem::take(&mut self.inbox) {
                self.receive(msg);
            }
            for (i, t) in std::mem::take(&mut self.unanswered) {
                self.suspect(i, t);
            }
            self.fetch();
        }
        self.expire_suspicions();
    }

    /// Node `i`'s belief about `m` and the incarnation it goes with.
    fn belief(&self, i: usize, m: u32) -> (Belief, u64) {
        self.nodes[i]
            .view
            .iter()
            .find(|e| e.0 == m)
            .map_or((Belief::Alive, 0), |e| (e.1, e.2))
    }

    fn set_belief(&mut self, i: usize, m: u32, b: Belief, inc: u64) {
        let view = &mut self.nodes[i].view;
        match view.iter_mut().find(|e| e.0 == m) {
            Some(e) => *e = (m, b, inc),
            None => view.push((m, b, inc)),
        }
        if b == Belief::Dead && self.nodes[m as usize].up {
            self.false_downs += 1;
        }
    }

    fn enqueue(&mut self, i: u32, u: Update) {
        let (cap, left) = (self.cfg.buffer, self.cfg.max_transmissions);
        let buf = &mut self.nodes[i as usize].buffer;
        if let Some(slot) = buf.iter_mut().find(|(q, _)| q.key() == u.key()) {
            *slot = (u, left);
            return;
        }
        if buf.len() >= cap {
            // Drop the update sent most often (fewest sends left).
            if let Some(at) = (0..buf.len()).min_by_key(|&k| buf[k].1) {
                buf.swap_remove(at);
            }
        }
        buf.push((u, left));
    }

    /// The updates a message from `i` carries: the least-sent first, each send counted.
    fn piggyback(&mut self, i: u32) -> Vec<Update> {
        let k = self.cfg.piggyback;
        let buf = &mut self.nodes[i as usize].buffer;
        buf.sort_by_key(|&(_, left)| std::cmp::Reverse(left));
        let taken: Vec<Update> = buf.iter().take(k).map(|&(u, _)| u).collect();
        for slot in buf.iter_mut().take(k) {
            slot.1 -= 1;
        }
        buf.retain(|&(_, left)| left > 0);
        taken
    }

    /// One gossip message from `from` to `to`; true when it arrived at a live node.
    fn send(&mut self, from: u32, to: u32) -> bool {
        self.messages += 1;
        let updates = self.piggyback(from);
        if !self.rng.delivered(self.loss) || !self.nodes[to as usize].up {
            return false;
        }
        let epoch = self.nodes[from as usize].epoch;
        self.inbox.push(Arrived {
            to,
            from,
            epoch,
            updates,
        });
        true
    }

    /// A plain request to `to` and its answer, outside the gossip (a document fetch or push).
    fn exchange(&mut self, to: u32) -> bool {
        self.messages += 1;
        if !self.rng.delivered(self.loss) || !self.nodes[to as usize].up {
            return false;
        }
        self.messages += 1;
        self.rng.delivered(self.loss)
    }

    /// A random member other than `i` and `not`, that `i` does not believe dead.
    fn random_member(&mut self, i: usize, not: u32) -> Option<u32> {
        // Rejection sampling, bounded so a tiny or mostly dead cluster cannot spin.
        for _ in 0..16 {
            let m = self.rng.below(self.nodes.len()) as u32;
            if m as usize != i && m != not && self.belief(i, m).0 != Belief::Dead {
                return Some(m);
            }
        }
        None
    }

    /// The next member `i` pings: round-robin over its shuffled list, skipping the dead.
    fn target(&mut self, i: usize) -> Option<u32> {
        for _ in 0..self.nodes[i].order.len() {
            if self.nodes[i].next == self.nodes[i].order.len() {
                let mut order = std::mem::take(&mut self.nodes[i].order);
                self.rng.shuffle(&mut order);
                self.nodes[i].order = order;
                self.nodes[i].next = 0;
            }
            let t = self.nodes[i].order[self.nodes[i].next];
            self.nodes[i].next += 1;
            if self.belief(i, t).0 != Belief::Dead {
                return Some(t);
            }
        }
        None
    }

    /// Node `i`'s probe of this round: direct, then indirect through helpers.
    fn probe(&mut self, i: usize) {
        let Some(t) = self.target(i) else { return };
        let me = i as u32;
        if self.send(me, t) && self.send(t, me) {
            return;
        }
        let mut helpers: Vec<u32> = Vec::with_capacity(self.cfg.indirect);
        // A helper drawn twice is asked once (foca picks distinct ones; the difference is a
        // rare missing helper in tiny clusters).
        for _ in 0..self.cfg.indirect {
            match self.random_member(i, t) {
                Some(m) if !helpers.contains(&m) => helpers.push(m),
                _ => {}
            }
        }
        let mut ok = false;
        for m in helpers {
            // ping-req, the helper's ping, the ack, the relayed ack: all helpers at once.
            ok |= self.send(me, m) && self.send(m, t) && self.send(t, m) && self.send(m, me);
        }
        if !ok {
            self.unanswered.push((me, t));
        }
    }

    /// Periodic gossip: the buffer to `gossip_fanout` random members, if there is anything.
    fn gossip(&mut self, i: usize) {
        for _ in 0..self.cfg.gossip_fanout {
            if self.nodes[i].buffer.is_empty() {
                return;
            }
            if let Some(m) = self.random_member(i, i as u32) {
                self.send(i as u32, m);
            }
        }
    }

    fn receive(&mut self, msg: Arrived) {
        let to = msg.to as usize;
        if self.cfg.epoch_in_header {
            self.heard_epoch(to, msg.epoch, msg.from);
        }
        for u in msg.updates {
            match u {
                Update::Epoch(e) => self.heard_epoch(to, e, msg.from),
                _ => self.merge(to, u),
            }
        }
    }

    fn heard_epoch(&mut self, i: usize, epoch: u64, from: u32) {
        let x = &mut self.nodes[i];
        if epoch > x.epoch && x.want.is_none_or(|(w, _)| epoch > w) {
            x.want = Some((epoch, from));
        }
    }

    /// `i`'s probe of `t` failed: suspect it and start the timer (also when it only heard of
    /// the suspicion so far).
    fn suspect(&mut self, i: u32, t: u32) {
        let (now, inc) = self.belief(i as usize, t);
        if matches!(now, Belief::Alive | Belief::Suspect { timer: None }) {
            let timer = Some(self.round);
            self.set_belief(i as usize, t, Belief::Suspect { timer }, inc);
            self.enqueue(i, Update::Suspect { node: t, inc });
        }
    }

    /// SWIM's precedence: alive(j) beats suspect(i) and alive(i) when j > i; suspect(j) beats
    /// suspect(i) when j > i and alive(i) when j >= i; dead beats everything. About itself a node
    /// refutes with a higher incarnation.
    fn merge(&mut self, i: usize, u: Update) {
        let me = i as u32;
        if u.key() == Some(me) {
            let inc = match u {
                Update::Suspect { inc, .. } => inc,
                Update::Dead { .. } => self.nodes[i].incarnation,
                _ => return,
            };
            // Refute even a stale suspicion: whoever spreads it may not know the newer
            // incarnation yet, so the alive update must go round again.
            if inc >= self.nodes[i].incarnation {
                self.nodes[i].incarnation = inc + 1;
            }
            let inc = self.nodes[i].incarnation;
            self.enqueue(me, Update::Alive { node: me, inc });
            return;
        }
        let (node, belief, inc) = match u {
            Update::Alive { node, inc } => (node, Belief::Alive, inc),
            Update::Suspect { node, inc } => (node, Belief::Suspect { timer: None }, inc),
            Update::Dead { node } => (node, Belief::Dead, 0),
            Update::Epoch(_) => return,
        };
        let (now, known) = self.belief(i, node);
        let wins = match (belief, now) {
            (_, Belief::Dead) => false,
            (Belief::Dead, _) => true,
            (Belief::Alive, _) => inc > known,
            (Belief::Suspect { .. }, Belief::Suspect { .. }) => inc > known,
            (Belief::Suspect { .. }, Belief::Alive) => inc >= known,
        };
        if wins {
            self.set_belief(i, node, belief, inc.max(known));
            self.enqueue(me, u);
        }
    }

    /// Nodes that heard of a newer epoch fetch its document; fetched and pushed ones adopt it.
    fn fetch(&mut self) {
        for i in 0..self.nodes.len() {
            let x = &self.nodes[i];
            let Some((e, src)) = x.want.filter(|_| x.up) else {
                continue;
            };
            if e <= x.epoch {
                self.nodes[i].want = None;
            } else if self.exchange(src) {
                self.adopt.push((i as u32, e));
            }
        }
        for (i, e) in std::mem::take(&mut self.adopt) {
            let x = &mut self.nodes[i as usize];
            if e > x.epoch {
                x.epoch = e;
                x.want = None;
                self.enqueue(i, Update::Epoch(e));
            }
        }
    }

    /// Suspicions whose timer ran out become "dead", and the prober says so.
    fn expire_suspicions(&mut self) {
        let (round, limit) = (self.round, self.cfg.suspect_rounds);
        for i in 0..self.nodes.len() {
            if !self.nodes[i].up {
                continue;
            }
            let expired: Vec<u32> = self.nodes[i]
                .view
                .iter()
                .filter(|e| {
                    matches!(e.1, Belief::Suspect { timer: Some(since) } if round - since >= limit)
                })
                .map(|e| e.0)
                .collect();
            for m in expired {
                if self.nodes[m as usize].up {
                    self.false_declarations += 1;
                }
                let inc = self.belief(i, m).1;
                self.set_belief(i, m, Belief::Dead, inc);
                self.enqueue(i as u32, Update::Dead { node: m });
            }
        }
    }
}
