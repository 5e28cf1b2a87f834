//! Model A, "probe-pull": the prober we ship (`src/cluster/probe.rs`), extended with the epoch of
//! the membership document in every health answer.
//!
//! Each round every live node probes every other member once (a request and an answer). An answer
//! showing a higher epoch makes the prober fetch the document from that peer (another request and
//! answer) and adopt it. A peer is marked down after `fail_after` consecutive failed probes and up
//! again after `recover_after` answers, per observer, as the prober does.

use super::{Detection, Rng, Scenario, Spread, LEADER};

/// Parameters of the all-to-all prober (the config's `cluster.*` keys).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbePull {
    /// `cluster.fail_after`.
    pub fail_after: u32,
    /// `cluster.recover_after`.
    pub recover_after: u32,
    /// Give up on a spread after this many rounds.
    pub max_rounds: u32,
}

impl Default for ProbePull {
    /// The shipped defaults (`fail_after` 3, `recover_after` 1).
    fn default() -> Self {
        ProbePull {
            fail_after: crate::config::DEFAULT_FAIL_AFTER,
            recover_after: crate::config::DEFAULT_RECOVER_AFTER,
            // Loss-free spread takes 1 round, 5% loss 2 or 3: 50 is far beyond any plausible run.
            max_rounds: 50,
        }
    }
}

/// A request and its answer, each lost with `loss`: how many messages went out, and whether the
/// answer came back.
fn exchange(rng: &mut Rng, loss: f64) -> (u64, bool) {
    if !rng.delivered(loss) {
        return (1, false);
    }
    (2, rng.delivered(loss))
}

impl ProbePull {
    /// The leader commits a new epoch at the start of round 1; rounds until every node holds it.
    pub fn spread(&self, sc: &Scenario) -> Spread {
        let n = sc.nodes;
        let mut rng = Rng::new(sc.seed);
        let mut holds = vec![false; n];
        holds[LEADER] = true;
        let mut messages = 0u64;
        for round in 1..=self.max_rounds {
            // What each node held at the start of the round: the answers of this round show it.
            let start = holds.clone();
            if sc.push && round == 1 {
                for (i, h) in holds.iter_mut().enumerate() {
                    if i == LEADER {
                        continue;
                    }
                    // The push carries the document (it arrived when an answer went out); the
                    // answer only tells the leader.
                    let (sent, _) = exchange(&mut rng, sc.loss);
                    messages += sent;
                    if sent == 2 {
                        *h = true;
                    }
                }
            }
            for (i, held) in holds.iter_mut().enumerate() {
                for (j, &peer_holds) in start.iter().enumerate() {
                    if j == i {
                        continue;
                    }
                    let (sent, answered) = exchange(&mut rng, sc.loss);
                    messages += sent;
                    if answered && peer_holds && !*held {
                        let (sent, fetched) = exchange(&mut rng, sc.loss);
                        messages += sent;
                        *held = fetched;
                    }
                }
            }
            if holds.iter().all(|&h| h) {
                return Spread {
                    rounds: Some(round),
                    rounds_run: round,
                    messages,
                };
            }
        }
        Spread {
            rounds: None,
            rounds_run: self.max_rounds,
            messages,
        }
    }

    /// The last node crashes at the start of round 1; `rounds` rounds of probing follow. Every
    /// observer keeps its own consecutive-failure count per peer, as the prober does.
    pub fn detect(&self, sc: &Scenario, rounds: u32) -> Detection {
        let n = sc.nodes;
        let crashed = n - 1;
        let mut rng = Rng::new(sc.seed);
        // Row `i`: what observer `i` knows of each peer (n^2 entries, 4 MB a table at n = 1000).
        let mut fails = vec![0u32; n * n];
        let mut oks = vec![0u32; n * n];
        let mut down = vec![false; n * n];
        let mut det = Detection::new(rounds);
        for round in 1..=rounds {
            for i in (0..n).filter(|&i| i != crashed) {
                for j in (0..n).filter(|&j| j != i) {
                    let at = i * n + j;
                    let (sent, answered) = exchange(&mut rng, sc.loss);
                    // A crashed peer takes the request but never answers.
                    let answered = answered && j != crashed;
                    det.messages += if j == crashed { 1 } else { sent };
                    if answered {
                        fails[at] = 0;
                        oks[at] += 1;
                        if down[at] && oks[at] >= self.recover_after {
                            down[at] = false;
                        }
                    } else {
                        oks[at] = 0;
                        fails[at] += 1;
                        if !down[at] && fails[at] >= self.fail_after {
                            down[at] = true;
                            if j != crashed {
                                det.false_downs += 1;
                            }
                        }
                    }
                }
            }
            let observers = (0..n).filter(|&i| i != crashed);
            let seen = observers.filter(|&i| down[i * n + crashed]).count();
            if seen > 0 && det.first.is_none() {
                det.first = Some(round);
            }
            if seen == n - 1 && det.all.is_none() {
                det.all = Some(round);
            }
        }
        det.false_declarations = det.false_downs;
        det
    }
}
