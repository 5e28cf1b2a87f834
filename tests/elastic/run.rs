//! The scenario driver: a fresh cluster of real processes (`replicas: 2`), the fault suite's
//! recording load (one writer per key, skewed readers), a phase of membership changes, a tail of
//! load, then settling, final reads through every live member, the checker, the final
//! distribution against the ring shares, and one table of figures per scenario.

use std::time::{Duration, Instant};

use dcache::Config;

use super::admin::{entries_and_shares, require_api, settle};
use super::ctx::{Ctx, Move};
use super::figures::{copies_to_move, ms, p99, placement, ring_of, spread, Share, Spread};
use super::nodes::{id, yaml, Nodes, MAX_NODES};
use crate::faults::checker::{check, Report};
use crate::faults::history::History;
use crate::faults::load::{final_reads_on, key_name, Load};
use crate::faults::schedule::{serial, PROBING, THREADS, UNAVAILABLE_BOUND};

/// Copies per key: the setting, and the smallest where a killed node leaves every key a
/// live copy.
pub const REPLICAS: usize = 2;
/// Keys of the load: enough that the entries of each member follow its ring share within a
/// point or so (see `figures_tests.rs`), few enough to read back through every node in a second.
pub const KEYS: u32 = 600;
/// Writers (each the only writer of its keys) and readers (skewed to the first keys, hot).
const WORKERS: usize = 6;
const READERS: usize = 2;
/// Load before the first change (the "before" latencies), and after the last one.
const WARMUP: Duration = Duration::from_secs(2);
const TAIL: Duration = Duration::from_secs(3);
/// Longest a join or leave may take to settle: generous (a loaded 2-core host), still bounded.
pub const CHANGE_LIMIT: Duration = Duration::from_secs(60);
/// Longest wait for every live node to be healthy and agree on the membership.
pub const SETTLE_LIMIT: Duration = Duration::from_secs(30);
/// "Within a few points": a member's fraction of all entries may differ from its ring share by
/// this many percentage points. Its share is of the hash space it owns first; the copies it
/// holds as second replica differ a little, and so does a sample of a few hundred keys (up to
/// 2 points for the scenarios' rings, see `figures_tests.rs`).
pub const DISTRIBUTION_POINTS: f64 = 5.0;
/// The sharper check: a member's fraction of all entries against its fraction of the copies the
/// ring places for the keys the final reads found (no sampling noise: the same keys). A node
/// keeping the copies it no longer owns is 5 points or more off (a 4th member at 20%, not 25%).
pub const PLACEMENT_POINTS: f64 = 2.0;
/// Old holders may drop the copies they no longer own a little after the change settled.
const DISTRIBUTION_LIMIT: Duration = Duration::from_secs(15);
/// `cluster.migration_rate` (bytes/s) when the build knows it, so a move of the load's few
/// tens of kilobytes lasts long enough to overlap the load (`ELASTIC_MIGRATION_RATE` overrides).
const MIGRATION_RATE: &str = "32KiB";

/// Top-level and `cluster:` YAML of every node, each only when this build accepts it, and a
/// note saying which were used.
fn options(nodes: &Nodes) -> (String, String, String) {
    let rate = std::env::var("ELASTIC_MIGRATION_RATE").unwrap_or_else(|_| MIGRATION_RATE.into());
    let extra = format!("replicas: {REPLICAS}\n");
    let cluster_extra = format!("  migration_rate: \"{rate}\"\n");
    let accepted = |cluster_extra: &str| {
        let text = yaml(
            0,
            &[0, 1, 2],
            &nodes.addrs,
            &PROBING,
            THREADS,
            &extra,
            cluster_extra,
        );
        Config::from_yaml_str(&text, "<elastic probe>").is_ok()
    };
    assert!(
        accepted(""),
        "the base config of the elastic suite is refused"
    );
    if accepted(&cluster_extra) {
        (
            extra,
            cluster_extra,
            format!("replicas={REPLICAS} rate={rate}"),
        )
    } else {
        let note = format!("replicas={REPLICAS} migration_rate:unsupported");
        (extra, String::new(), note)
    }
}

/// Run one scenario: `initial` members (node1..) start with a config listing them all; the load
/// runs; `phase` changes the membership; the load runs `TAIL` longer; then every check.
pub fn run(name: &str, test_no: u8, initial: usize, phase: impl FnOnce(&mut Ctx)) {
    let _serial = serial();
    let mut nodes = Nodes::new(test_no, name);
    let (extra, cluster_extra, mut notes) = options(&nodes);
    let addrs = nodes.addrs.clone();
    let yaml_of = move |i: usize, members: &[usize]| {
        yaml(
            i,
            members,
            &addrs,
            &PROBING,
            THREADS,
            &extra,
            &cluster_extra,
        )
    };
    let members: Vec<usize> = (0..initial).collect();
    for &i in &members {
        nodes.write_config(i, &yaml_of(i, &members));
        nodes.spawn(i);
    }
    for &i in &members {
        nodes.wait_healthy(i);
    }
    require_api(&nodes, 0);
    if let Err(e) = settle(&nodes, &members, &members, SETTLE_LIMIT) {
        panic!(
            "{name}: the initial cluster did not settle: {e}; logs:\n{}",
            nodes.logs()
        );
    }
    let idle = (initial..MAX_NODES).fold(0u64, |m, i| m | 1 << i);
    let load = Load::start_with(&nodes.addrs, KEYS, WORKERS, READERS, idle);
    let steady = Instant::now();
    std::thread::sleep(WARMUP);
    let mut ctx = Ctx {
        nodes: &mut nodes,
        load: &load,
        yaml: &yaml_of,
        members,
        live: (0..initial).collect(),
        idle,
        start: load.started(),
        timeline: Vec::new(),
        moves: Vec::new(),
        retired: false,
    };
    phase(&mut ctx);
    let Ctx {
        members,
        live,
        timeline,
        moves,
        ..
    } = ctx;
    std::thread::sleep(TAIL);
    let mut h = load.stop();
    let settled = settle(&nodes, &members, &live, SETTLE_LIMIT);
    let (took, epoch) = settled.unwrap_or_else(|e| {
        panic!(
            "{name}: not settled after the load: {e}; logs:\n{}",
            nodes.logs()
        )
    });
    final_reads_on(&nodes.addrs, &live, KEYS, &mut h);
    let r = check(&h);
    let d = distribution(&nodes, &members, &live, &live_keys(&h));
    notes.push_str(&format!(" epoch={epoch} settle={:.1}s", took.as_secs_f64()));
    print(name, &h, &r, &notes, &timeline);
    print_moves(name, &h, steady, &moves);
    print_distribution(name, &d);
    assert!(r.clean(), "{name}: {r}");
    assert!(
        r.unavailable < UNAVAILABLE_BOUND,
        "{name}: unavailable {:?}",
        r.unavailable
    );
    for m in &moves {
        // The metric, else the migration figure of `/admin/cluster`.
        let moved = m.keys_moved.or(m.reported.map(|n| n as f64));
        let moved = moved.unwrap_or_else(|| {
            panic!(
                "{name}: {}: neither cache_migration_keys_moved_total nor migration.keys_moved \
                 on the nodes",
                m.what
            )
        });
        assert!(moved > 0.0, "{name}: {} moved no key", m.what);
    }
    assert!(
        d.worst_share <= DISTRIBUTION_POINTS,
        "{name}: a member's fraction of the entries is {:.1} points off its ring share (at \
         most {DISTRIBUTION_POINTS}): {:?}",
        d.worst_share,
        d.by_share
    );
    assert!(
        d.worst_placement <= PLACEMENT_POINTS,
        "{name}: a member's fraction of the entries is {:.1} points off the ring's placement of \
         the live keys (at most {PLACEMENT_POINTS}): {:?}",
        d.worst_placement,
        d.by_placement
    );
}

/// A member's entries against its ring share and against the ring's placement of the live keys.
pub struct Distribution {
    pub by_share: Vec<Spread>,
    pub worst_share: f64,
    pub by_placement: Vec<Spread>,
    pub worst_placement: f64,
    /// Keys the final reads found, and the copies the ring places for them.
    pub live_keys: usize,
}

impl Distribution {
    fn within(&self) -> bool {
        self.worst_share <= DISTRIBUTION_POINTS && self.worst_placement <= PLACEMENT_POINTS
    }
}

/// The keys whose final reads found a value.
pub fn live_keys(h: &History) -> Vec<String> {
    let mut keys: Vec<u32> = h
        .events
        .iter()
        .filter(|e| e.final_read && e.value.is_some())
        .map(|e| e.key)
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys.into_iter().map(key_name).collect()
}

/// The entries of every live member against its ring share and the placement of `keys`, polled
/// until within the tolerances or [`DISTRIBUTION_LIMIT`] passed; the last figures.
pub fn distribution(
    nodes: &Nodes,
    members: &[usize],
    live: &[usize],
    keys: &[String],
) -> Distribution {
    let viewer = *live.iter().min().expect("a live member");
    let ids: Vec<String> = members.iter().map(|&m| id(m)).collect();
    let placed = placement(&ring_of(&ids), REPLICAS, keys);
    let t = Instant::now();
    loop {
        match entries_and_shares(nodes, viewer, live) {
            Ok(rows) => {
                let (by_share, worst_share) = spread(&rows);
                let as_placed: Vec<Share> = rows
                    .iter()
                    .map(|r| Share {
                        share: placed.iter().find(|p| p.0 == r.id).map_or(0, |p| p.1) as f64,
                        ..r.clone()
                    })
                    .collect();
                let (by_placement, worst_placement) = spread(&as_placed);
                let d = Distribution {
                    by_share,
                    worst_share,
                    by_placement,
                    worst_placement,
                    live_keys: keys.len(),
                };
                if d.within() || t.elapsed() > DISTRIBUTION_LIMIT {
                    return d;
                }
            }
            Err(e) if t.elapsed() > DISTRIBUTION_LIMIT => panic!("entries and shares: {e}"),
            Err(_) => {}
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The scenario's `elastic|` line (checker figures), its timeline and first anomalies.
fn print(name: &str, h: &History, r: &Report, notes: &str, timeline: &[String]) {
    eprintln!("elastic| {name:<16} | {r} | {notes}");
    eprintln!("  {name} timeline: {}", timeline.join(", "));
    if !r.anomalies.is_empty() {
        eprint!("  {name} first anomalies:\n{}", r.details(h, 5));
    }
}

/// One row per membership change: what moved against what the ring says for the keys the final
/// reads found, how long it took, and the load's p99 before the first change and during this one.
fn print_moves(name: &str, h: &History, steady: Instant, moves: &[Move]) {
    let keys = live_keys(h);
    let copies = keys.len() * REPLICAS;
    let first = moves.first().map_or(steady, |m| m.began);
    let (before, n_before) = p99(&h.events, steady, first);
    eprintln!(
        "  {name} | {:<19} | {:>6} | {:>6} | {:>8} | {:>9} | {:>14} | {:>12} | p99 before / during",
        "change", "took", "moved", "reported", "bytes", "ring: moves", "copies/N"
    );
    for m in moves {
        let (during, n_during) = p99(&h.events, m.began, m.settled);
        let ids = |members: &[usize]| members.iter().map(|&i| id(i)).collect::<Vec<_>>();
        let ring_moves = copies_to_move(
            &ring_of(&ids(&m.before)),
            &ring_of(&ids(&m.after)),
            REPLICAS,
            &keys,
        );
        // A join of the N+1-th member moves 1/(N+1) of the copies; a leave of one of N, 1/N.
        let n = m.before.len().max(m.after.len());
        let opt = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.0}"));
        eprintln!(
            "  {name} | {:<19} | {:>5.2}s | {:>6} | {:>8} | {:>9} | {:>5} of {:>5} | {:>6.0} (N={n}) | \
             {} (n {n_before}) / {} (n {n_during})",
            m.what,
            m.settled.saturating_duration_since(m.began).as_secs_f64(),
            opt(m.keys_moved),
            m.reported.map_or_else(|| "-".to_string(), |v| v.to_string()),
            opt(m.bytes_moved),
            ring_moves,
            copies,
            copies as f64 / n as f64,
            ms(before),
            ms(during),
        );
    }
}

/// Each member's entries against its ring share and the ring's placement of the live keys.
fn print_distribution(name: &str, d: &Distribution) {
    let total: u64 = d.by_share.iter().map(|r| r.entries).sum();
    eprintln!(
        "  {name} distribution: {total} entries for {} live keys ({} copies by the ring); \
         worst {:.1} points off the ring share, {:.1} off the placement",
        d.live_keys,
        d.live_keys * REPLICAS,
        d.worst_share,
        d.worst_placement
    );
    for (s, p) in d.by_share.iter().zip(&d.by_placement) {
        eprintln!(
            "  {name} | {:<6} | entries {:>5} | share x total {:>7.1} ({:+.1} points) | \
             ring placement {:>7.1} ({:+.1} points)",
            s.id, s.entries, s.expected, s.off_points, p.expected, p.off_points
        );
    }
}
