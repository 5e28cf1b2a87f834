//! Membership at scale: prints the figures of `docs/architecture.md` (membership at scale) as markdown tables.
//!
//!     cargo run --release --example membership_sim
//!
//! A deterministic simulation (`dcache::cluster::sim`): N virtual nodes in one process, rounds of
//! one `probe_interval` (1 s), seeded loss. Models: the all-to-all prober we ship ("probe-pull",
//! with and without the leader's push) and SWIM as foca configures it for a LAN. Also the key
//! movement of the real ring when one node joins or leaves. Runs in well under a minute.

use dcache::cluster::sim::{
    key_movement, median_max, per_node_round, Change, Detection, ProbePull, Scenario, Spread, Swim,
    SwimConfig,
};

/// Seeds per figure: the median and maximum are over these runs.
const SEEDS: u64 = 20;
/// Seeds for the all-to-all failure run at 1000 nodes: 1M probes per round make it the slow one.
const SEEDS_BIG_PROBES: u64 = 5;
/// Rounds of a failure-detection run: long enough for SWIM's 12-round suspicion at 1000 nodes
/// plus its dissemination, and for the false-down rate under loss.
const DETECT_ROUNDS: u32 = 40;
const SIZES: [usize; 3] = [10, 100, 1000];
const LOSSES: [f64; 2] = [0.0, 0.05];
const KEYS: usize = 100_000;
const VIRTUAL_NODES: u32 = 150;
const REPLICAS: usize = 2;

fn main() {
    let start = std::time::Instant::now();
    spread_table();
    detection_table();
    movement_table();
    eprintln!("(simulated in {:.1} s)", start.elapsed().as_secs_f64());
}

fn scenarios(nodes: usize, loss: f64, push: bool, seeds: u64) -> impl Iterator<Item = Scenario> {
    (1..=seeds).map(move |seed| Scenario {
        nodes,
        loss,
        push,
        seed,
    })
}

/// "median / max" of the converged runs, and how many runs did not converge.
fn rounds_cell(rounds: &[Option<u32>]) -> String {
    let done: Vec<u32> = rounds.iter().flatten().copied().collect();
    let failed = rounds.len() - done.len();
    let cell = match median_max(&done) {
        Some((med, max)) => format!("{med} / {max}"),
        None => "-".to_string(),
    };
    if failed == 0 {
        cell
    } else {
        format!("{cell} ({failed} of {} never)", rounds.len())
    }
}

fn spread_row(name: &str, nodes: usize, loss: f64, push: bool, runs: &[Spread]) {
    let rounds: Vec<Option<u32>> = runs.iter().map(|r| r.rounds).collect();
    let msgs: u64 = runs.iter().map(|r| r.messages).sum();
    let node_rounds: u32 = runs.iter().map(|r| r.rounds_run).sum();
    println!(
        "| {name} | {nodes} | {:.0}% | {} | {} | {:.1} |",
        loss * 100.0,
        if push { "yes" } else { "no" },
        rounds_cell(&rounds),
        per_node_round(msgs, nodes, node_rounds)
    );
}

fn spread_table() {
    println!(
        "### Spread of a new epoch (rounds of 1 s until every node holds it; {SEEDS} seeds)\n"
    );
    println!("| model | nodes | loss | push | rounds median / max | msgs per node per round |");
    println!("|---|---:|---:|---|---|---:|");
    let probes = ProbePull::default();
    for nodes in SIZES {
        for loss in LOSSES {
            for push in [true, false] {
                let runs: Vec<Spread> = scenarios(nodes, loss, push, SEEDS)
                    .map(|sc| probes.spread(&sc))
                    .collect();
                spread_row("probe-pull", nodes, loss, push, &runs);
            }
            let pure = SwimConfig::pure(nodes);
            let header = |cfg: SwimConfig| SwimConfig {
                epoch_in_header: true,
                ..cfg
            };
            let lan = header(SwimConfig::lan(nodes));
            for (name, cfg, push) in [
                ("SWIM pure, piggyback only", pure, false),
                ("SWIM pure, epoch in header", header(pure), false),
                ("SWIM foca LAN, epoch in header", lan, false),
                ("SWIM foca LAN, epoch in header", lan, true),
            ] {
                let runs: Vec<Spread> = scenarios(nodes, loss, push, SEEDS)
                    .map(|sc| Swim::new(cfg).spread(&sc))
                    .collect();
                spread_row(name, nodes, loss, push, &runs);
            }
        }
    }
    println!();
}

fn detection_row(name: &str, nodes: usize, loss: f64, runs: &[Detection]) {
    let first: Vec<Option<u32>> = runs.iter().map(|d| d.first).collect();
    let all: Vec<Option<u32>> = runs.iter().map(|d| d.all).collect();
    let msgs: u64 = runs.iter().map(|d| d.messages).sum();
    let rounds: u32 = runs.iter().map(|d| d.rounds_run).sum();
    // One round is one second: per hour, over the whole cluster.
    let hours = f64::from(rounds) / 3600.0;
    let marks: u64 = runs.iter().map(|d| d.false_downs).sum();
    let decided: u64 = runs.iter().map(|d| d.false_declarations).sum();
    println!(
        "| {name} | {nodes} | {:.0}% | {} | {} | {:.0} | {:.0} | {:.1} |",
        loss * 100.0,
        rounds_cell(&first),
        rounds_cell(&all),
        decided as f64 / hours,
        marks as f64 / hours,
        per_node_round(msgs, nodes, rounds)
    );
}

fn detection_table() {
    println!(
        "### Detection of one crashed node ({DETECT_ROUNDS}-round runs; {SEEDS} seeds, \
         {SEEDS_BIG_PROBES} for probe-pull at 1000 nodes)\n"
    );
    println!(
        "| model | nodes | loss | first marks it down (rounds) | all mark it down | \
         false down decisions per hour | false down marks per hour | msgs per node per round |"
    );
    println!("|---|---:|---:|---|---|---:|---:|---:|");
    let probes = ProbePull::default();
    for nodes in SIZES {
        for loss in LOSSES {
            let seeds = if nodes >= 1000 {
                SEEDS_BIG_PROBES
            } else {
                SEEDS
            };
            let runs: Vec<Detection> = scenarios(nodes, loss, false, seeds)
                .map(|sc| probes.detect(&sc, DETECT_ROUNDS))
                .collect();
            detection_row("probe-pull, fail_after 3", nodes, loss, &runs);
            for (name, cfg) in [
                ("SWIM pure", SwimConfig::pure(nodes)),
                ("SWIM foca LAN", SwimConfig::lan(nodes)),
            ] {
                let runs: Vec<Detection> = scenarios(nodes, loss, false, SEEDS)
                    .map(|sc| Swim::new(cfg).detect(&sc, DETECT_ROUNDS))
                    .collect();
                let name = format!("{name}, suspicion {} rounds", cfg.suspect_rounds);
                detection_row(&name, nodes, loss, &runs);
            }
        }
    }
    println!();
}

fn movement_table() {
    println!(
        "### Key movement of the real ring ({VIRTUAL_NODES} virtual nodes, replicas {REPLICAS}, \
         {KEYS} keys)\n"
    );
    println!(
        "| change | nodes before | owner moved | ideal | moved / ideal | node's ring share | \
         replica set moved | ideal | stray moves |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for change in [Change::AddOne, Change::RemoveOne] {
        for nodes in [3, 10, 100, 1000] {
            let m = match key_movement(change, nodes, VIRTUAL_NODES, REPLICAS, KEYS) {
                Ok(m) => m,
                Err(e) => {
                    eprintln!("ring of {nodes} nodes: {e}");
                    std::process::exit(1);
                }
            };
            let name = match change {
                Change::AddOne => "add one",
                Change::RemoveOne => "remove one",
            };
            println!(
                "| {name} | {nodes} | {:.4} | {:.4} | {:.2} | {:.4} | {:.4} | {:.4} | {} |",
                m.owner_moved,
                m.ideal_owner,
                m.owner_moved / m.ideal_owner,
                m.node_share,
                m.replicas_moved,
                m.ideal_replicas,
                m.stray
            );
        }
    }
    println!();
}
