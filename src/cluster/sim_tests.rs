//! Unit tests for `sim.rs` and its models (small clusters: the whole module runs in seconds in a
//! debug build). Every run is seeded, so each assertion holds for exactly the seeds listed.

use super::*;

const SEEDS: std::ops::RangeInclusive<u64> = 1..=20;

fn scenario(nodes: usize, loss: f64, push: bool, seed: u64) -> Scenario {
    Scenario {
        nodes,
        loss,
        push,
        seed,
    }
}

#[test]
fn rng_is_deterministic_and_spreads_its_draws() {
    let a: Vec<u64> = (0..4).map(|_| Rng::new(7).next_u64()).collect();
    assert!(a.windows(2).all(|w| w[0] == w[1]), "same seed, same draw");
    let mut r = Rng::new(7);
    let first = r.next_u64();
    assert_ne!(first, r.next_u64());
    let mut counts = [0u32; 10];
    for _ in 0..10_000 {
        counts[r.below(10)] += 1;
    }
    // Each bucket expects 1000; 800..1200 is over 6 standard deviations either way.
    assert!(
        counts.iter().all(|&c| (800..1200).contains(&c)),
        "{counts:?}"
    );
    let hits = (0..10_000).filter(|_| r.chance(0.05)).count();
    assert!((350..650).contains(&hits), "5% of 10000 draws: {hits}");
    assert!((0..1000).all(|_| r.delivered(0.0)));
}

#[test]
fn median_max_takes_the_lower_middle() {
    assert_eq!(median_max(&[]), None);
    assert_eq!(median_max(&[3]), Some((3, 3)));
    assert_eq!(median_max(&[4, 1, 3, 2]), Some((2, 4)));
    assert_eq!(median_max(&[5, 1, 9]), Some((5, 9)));
}

#[test]
fn probe_pull_converges_within_two_rounds_without_loss() {
    let model = ProbePull::default();
    for nodes in [2, 3, 10, 40] {
        for seed in SEEDS {
            let pulled = model.spread(&scenario(nodes, 0.0, false, seed));
            assert!(
                pulled.rounds.is_some_and(|r| r <= 2),
                "{nodes} nodes, seed {seed}: {pulled:?}"
            );
            let pushed = model.spread(&scenario(nodes, 0.0, true, seed));
            assert_eq!(pushed.rounds, Some(1), "{nodes} nodes, seed {seed}");
        }
    }
}

#[test]
fn probe_pull_costs_two_messages_per_peer_per_round() {
    let model = ProbePull::default();
    let run = model.spread(&scenario(40, 0.0, false, 1));
    assert_eq!(run.rounds, Some(1));
    // 40 x 39 probes of a request and an answer, plus 39 fetches (request and answer).
    assert_eq!(run.messages, 40 * 39 * 2 + 39 * 2);
}

#[test]
fn probe_pull_still_converges_under_loss() {
    let model = ProbePull::default();
    for seed in SEEDS {
        let run = model.spread(&scenario(30, 0.05, false, seed));
        // Round 1 reaches ~81% (probe and fetch both through); the rest hear from ~24 holders.
        assert!(run.rounds.is_some_and(|r| r <= 3), "seed {seed}: {run:?}");
    }
}

#[test]
fn swim_converges_in_logarithmic_rounds() {
    let nodes = 100usize;
    let bound = 3 * (nodes as f64).log2().ceil() as u32 + 5;
    let pure = SwimConfig::pure(nodes);
    for cfg in [
        pure,
        SwimConfig {
            epoch_in_header: true,
            ..pure
        },
    ] {
        for seed in SEEDS {
            let run = Swim::new(cfg).spread(&scenario(nodes, 0.0, false, seed));
            let rounds = run.rounds.unwrap_or(u32::MAX);
            assert!(rounds <= bound, "{cfg:?}, seed {seed}: {run:?}");
            // Gossip needs more than one round without a push (the leader tells ~2 nodes).
            assert!(rounds >= 3, "seed {seed}: {run:?}");
            // O(1) per node: a ping and an ack, plus the one fetch of the document.
            let rate = per_node_round(run.messages, nodes, run.rounds_run);
            assert!(
                rate < 3.0,
                "seed {seed}: {rate} messages per node per round"
            );
        }
    }
}

#[test]
fn periodic_gossip_spreads_within_a_few_rounds() {
    let nodes = 100;
    let cfg = SwimConfig {
        epoch_in_header: true,
        ..SwimConfig::lan(nodes)
    };
    for seed in SEEDS {
        let run = Swim::new(cfg).spread(&scenario(nodes, 0.0, false, seed));
        // 5 ticks of fanout 3 a round: the epoch crosses 100 nodes within the second round.
        assert!(run.rounds.is_some_and(|r| r <= 2), "seed {seed}: {run:?}");
    }
}

#[test]
fn a_bounded_piggyback_can_miss_nodes_that_a_header_reaches() {
    // Seed by seed, at 10 nodes: an update sent 4 times by each holder sometimes dies out before
    // it reached everyone; the same runs with the epoch in every message's header all converge.
    let pure = SwimConfig::pure(10);
    let header = SwimConfig {
        epoch_in_header: true,
        ..pure
    };
    let stuck = SEEDS
        .filter(|&seed| {
            Swim::new(pure)
                .spread(&scenario(10, 0.0, false, seed))
                .rounds
                .is_none()
        })
        .count();
    assert!(stuck > 0, "no seed lost the update");
    for seed in SEEDS {
        let run = Swim::new(header).spread(&scenario(10, 0.0, false, seed));
        assert!(run.rounds.is_some(), "seed {seed}: {run:?}");
    }
}

#[test]
fn swim_with_push_converges_in_one_round_without_loss() {
    let run = Swim::new(SwimConfig::pure(50)).spread(&scenario(50, 0.0, true, 3));
    assert_eq!(run.rounds, Some(1));
}

#[test]
fn crash_is_detected_after_fail_after_rounds_by_every_prober() {
    let model = ProbePull::default();
    for seed in 1..=3 {
        let det = model.detect(&scenario(12, 0.0, false, seed), 6);
        let after = model.fail_after;
        assert_eq!((det.first, det.all), (Some(after), Some(after)));
        assert_eq!(det.false_downs, 0);
    }
}

#[test]
fn swim_detects_a_crash_after_the_suspicion_timeout() {
    let nodes = 30u32;
    for (cfg, gossip) in [
        (SwimConfig::pure(nodes as usize), false),
        (SwimConfig::lan(nodes as usize), true),
    ] {
        let mut told_quickly = 0;
        for seed in SEEDS {
            let det = Swim::new(cfg).detect(&scenario(nodes as usize, 0.0, false, seed), 80);
            let first = det.first.expect("someone declares the crashed node dead");
            let all = det.all.expect("everyone learns it");
            // The first ping to it comes within a few rounds: 29 round-robin lists hold it at
            // random places, so no ping in the first r rounds has odds ((29 - r) / 29)^29, 0.1%
            // for r = 6. Then the prober's timer runs.
            let timer = cfg.suspect_rounds;
            assert!(first > timer && first <= timer + 6, "seed {seed}: {det:?}");
            // The "dead" update can run out of sends before it reached everyone; a node it
            // missed still pings the crashed node itself within two passes of its list
            // (2 * 29 rounds) and runs its own timer.
            let bound = 2 * (nodes - 1) + timer + 1;
            assert!(all >= first && all <= bound, "{cfg:?} seed {seed}: {det:?}");
            assert_eq!(det.false_downs, 0, "no loss, no false suspicion");
            if all <= first + 3 {
                told_quickly += 1;
            }
        }
        // Periodic gossip (15 sends a round) usually tells everyone within 3 rounds.
        if gossip {
            assert!(told_quickly >= 15, "{told_quickly} of 20 seeds");
        }
    }
}

#[test]
fn refutation_keeps_live_members_up_under_loss() {
    // 10% loss: direct pings fail often and indirect ones now and then, so live members get
    // suspected. With periodic gossip they refute before the prober's timer runs out; with
    // updates riding on pings only, some refutations come too late; all-to-all probes mark
    // live peers down whenever three probes in a row fail.
    let nodes = 30;
    let sc = scenario(nodes, 0.1, false, 5);
    let lan = Swim::new(SwimConfig::lan(nodes)).detect(&sc, 60);
    assert_eq!(lan.false_declarations, 0, "{lan:?}");
    assert!(lan.all.is_some(), "the real crash is still found: {lan:?}");
    let pure = Swim::new(SwimConfig::pure(nodes)).detect(&sc, 60);
    assert!(pure.false_declarations > 0, "{pure:?}");
    let probes = ProbePull::default().detect(&sc, 60);
    assert!(probes.false_downs > pure.false_declarations, "{probes:?}");
}

#[test]
fn removing_a_node_moves_only_its_keys() {
    for nodes in [3, 10] {
        let m = key_movement(Change::RemoveOne, nodes, 150, 2, 20_000).expect("valid ring");
        assert_eq!(m.stray, 0, "{m:?}");
        assert!(m.owner_moved > 0.0, "the leaver owned keys: {m:?}");
        // What moved is the leaver's share of the hash space, up to sampling noise.
        assert!((m.owner_moved - m.node_share).abs() < 0.01, "{m:?}");
        let ratio = m.owner_moved / m.ideal_owner;
        assert!((0.5..=1.5).contains(&ratio), "{m:?}");
        assert!(m.replicas_moved >= m.owner_moved, "{m:?}");
    }
}

#[test]
fn adding_a_node_moves_about_one_in_n_plus_one_keys_to_it() {
    let m = key_movement(Change::AddOne, 10, 150, 2, 20_000).expect("valid ring");
    assert_eq!(m.stray, 0, "keys move only to the joiner: {m:?}");
    let ratio = m.owner_moved / m.ideal_owner;
    assert!((0.5..=1.5).contains(&ratio), "{m:?}");
    let ratio = m.replicas_moved / m.ideal_replicas;
    assert!((0.5..=1.5).contains(&ratio), "{m:?}");
}
