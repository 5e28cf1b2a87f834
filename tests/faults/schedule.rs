//! The scenario driver: a fresh three-node cluster of real processes, the recording load, a fault
//! cycle repeated while the run lasts, healing, settling, the final reads and the checker. It
//! prints one `faults|` line of figures per scenario (`scripts/chaos.sh` collects them into a
//! table) and fails on any stale read, lost write, undone delete or divergence.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use dcache::Config;

use super::checker::{check, Report};
use super::client::Client;
use super::history::History;
use super::load::{final_reads, Load};
use crate::cluster_common::{cluster_addrs, node_yaml, Probing, ProcCluster, IDS};

/// Probing as the failover tests use it, a little slower (a loaded 2-core host runs 3 nodes and
/// the load): down after 2 failed probes 200 ms apart; a forward gives up after 1 s.
pub const PROBING: Probing = Probing {
    interval_ms: 200,
    timeout_ms: 150,
    fail_after: 2,
    recover_after: 1,
    connect_ms: 100,
    request_ms: 1000,
};
pub const THREADS: usize = 2;
/// Load before the first fault, and after the last heal.
const WARMUP: Duration = Duration::from_secs(1);
const TAIL: Duration = Duration::from_secs(2);
/// Timeline entries printed per scenario (a long run repeats its cycle many times).
const TIMELINE_SHOWN: usize = 16;
/// Longest wait for every node to be healthy, caught up and to see every peer up.
pub const SETTLE_LIMIT: Duration = Duration::from_secs(30);
/// A generous bound that still catches a hang: no fault here should stop the whole cluster.
pub const UNAVAILABLE_BOUND: Duration = Duration::from_secs(10);

/// Run length and size, from `FAULTS_SECS` (10), `FAULTS_KEYS` (300), `FAULTS_WORKERS` (6).
pub struct Settings {
    pub secs: Duration,
    pub keys: u32,
    pub workers: usize,
}

impl Settings {
    pub fn from_env() -> Settings {
        let num = |name: &str, default: u64| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        Settings {
            secs: Duration::from_secs(num("FAULTS_SECS", 10).max(4)),
            keys: num("FAULTS_KEYS", 300).max(12) as u32,
            workers: num("FAULTS_WORKERS", 6).clamp(1, 64) as usize,
        }
    }
}

/// One cluster scenario at a time: in parallel they would share two cores and disturb each
/// other's timing (probes, timeouts), which is not the fault under test.
pub fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The extra YAML of a node: `replicas: 2` and, if asked, `data_dir`, each only when this build
/// knows the key (so the suite also runs against a binary without them, and shows what that
/// costs); and a note saying which were used.
pub fn node_options(addrs: &[SocketAddr], data_dir: Option<&Path>) -> (String, String) {
    let accepted = |extra: &str| {
        let yaml = node_yaml(0, addrs, THREADS, &PROBING, extra);
        Config::from_yaml_str(&yaml, "<faults probe>").is_ok()
    };
    // The `cluster:` section ends node_yaml, so an indented line lands in it.
    let (mut extra, mut notes) = match ["replicas: 2\n", "  replicas: 2\n"]
        .iter()
        .find(|c| accepted(c))
    {
        Some(line) => (line.to_string(), "replicas=2".to_string()),
        None => (String::new(), "replicas:unsupported".to_string()),
    };
    if let Some(dir) = data_dir {
        std::fs::create_dir_all(dir).expect("data dir");
        let line = format!("data_dir: \"{}\"\n", dir.display());
        if accepted(&format!("{extra}{line}")) {
            extra.push_str(&line);
            notes.push_str(" data_dir");
        } else {
            notes.push_str(" data_dir:unsupported");
        }
    }
    (extra, notes)
}

/// Node `i`'s health: 200 and neither syncing nor draining, and it sees every peer up.
fn ready(addr: SocketAddr) -> Result<(), String> {
    let mut client = Client::with_timeout(addr, Duration::from_secs(2));
    let mut get = |path: &str| match client.call("GET", path, None) {
        Ok((status, body)) => Ok((
            status,
            serde_json::from_slice::<serde_json::Value>(&body).unwrap_or_default(),
        )),
        Err(e) => Err(format!("{path}: {e:?}")),
    };
    let (status, health) = get("/api/v1/health")?;
    let state = health["status"].as_str().unwrap_or("");
    if status != 200 || state == "syncing" || state == "draining" {
        return Err(format!("health {status} {state}"));
    }
    let (_, info) = get("/admin/cluster")?;
    let not_up: Vec<String> = info["nodes"]
        .as_array()
        .map(|nodes| {
            let bad = nodes
                .iter()
                .filter(|n| !matches!(n["state"].as_str(), Some("up" | "self")));
            bad.map(|n| format!("{}={}", n["id"], n["state"])).collect()
        })
        .unwrap_or_else(|| vec!["no member list".to_string()]);
    if not_up.is_empty() {
        Ok(())
    } else {
        Err(format!("sees {}", not_up.join(",")))
    }
}

/// Wait until every node is [`ready`]; the time it took, or what was still wrong.
pub fn settle(addrs: &[SocketAddr], limit: Duration) -> Result<Duration, String> {
    let t = Instant::now();
    loop {
        let problems: Vec<String> = addrs
            .iter()
            .enumerate()
            .filter_map(|(i, a)| ready(*a).err().map(|e| format!("{}: {e}", IDS[i])))
            .collect();
        if problems.is_empty() {
            return Ok(t.elapsed());
        }
        if t.elapsed() > limit {
            return Err(problems.join("; "));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The state (`up`, `down`, `self`) node `at` reports for member `of`, if it answers.
pub fn state_seen(at: SocketAddr, of: usize) -> Option<String> {
    let mut client = Client::with_timeout(at, Duration::from_secs(2));
    let (_, body) = client.call("GET", "/admin/cluster", None).ok()?;
    let info: serde_json::Value = serde_json::from_slice(&body).ok()?;
    let nodes = info["nodes"].as_array()?;
    let row = nodes.iter().find(|n| n["id"] == IDS[of])?;
    row["state"].as_str().map(str::to_string)
}

/// What a fault cycle acts on: the cluster, the running load, and a timeline for the report.
pub struct Ctx<'a> {
    pub c: &'a mut ProcCluster,
    pub load: &'a Load,
    start: Instant,
    pub timeline: Vec<String>,
    /// Restarts that exited at once (address still held) and were retried.
    pub failed_starts: u32,
}

impl Ctx<'_> {
    pub fn kill9(&mut self, i: usize) {
        self.c.kill9(i);
        self.note(&format!("kill -9 {}", IDS[i]));
    }

    /// Start node `i` again, retried as a supervisor would, until it is healthy.
    pub fn restart(&mut self, i: usize) {
        let failed = self.c.restart_until_up(i, SETTLE_LIMIT);
        self.failed_starts += failed;
        self.note(&format!("{} restarted ({failed} failed starts)", IDS[i]));
    }

    pub fn terminate(&mut self, i: usize) {
        let clean = self.c.terminate(i, Duration::from_secs(15));
        self.note(&format!("SIGTERM {} (exited by itself: {clean})", IDS[i]));
    }

    pub fn freeze(&mut self, i: usize) {
        self.c.signal(i, libc::SIGSTOP);
        self.note(&format!("SIGSTOP {}", IDS[i]));
    }

    pub fn thaw(&mut self, i: usize) {
        self.c.signal(i, libc::SIGCONT);
        self.note(&format!("SIGCONT {}", IDS[i]));
    }

    pub fn note(&mut self, what: &str) {
        let at = self.start.elapsed().as_secs_f64();
        self.timeline.push(format!("{at:.2}s {what}"));
    }

    /// Wait until every node is ready again; panics (with the logs) after [`SETTLE_LIMIT`].
    pub fn settle(&mut self) {
        match settle(&self.c.addrs, SETTLE_LIMIT) {
            Ok(took) => self.note(&format!("settled after {:.2}s", took.as_secs_f64())),
            Err(e) => panic!(
                "not settled within {SETTLE_LIMIT:?}: {e}; logs:\n{}",
                self.c.logs()
            ),
        }
    }

    /// Wait until every node but `of` reports `of` in `state`.
    pub fn wait_seen(&mut self, of: usize, state: &str, limit: Duration) {
        let addrs = self.c.addrs.clone();
        let others: Vec<usize> = (0..IDS.len()).filter(|&i| i != of).collect();
        let seen = crate::common::eventually(limit, || {
            others
                .iter()
                .all(|&at| state_seen(addrs[at], of).as_deref() == Some(state))
        });
        self.note(&format!("{} seen {state}: {seen}", IDS[of]));
    }
}

/// Run one scenario: `cycle(ctx, n)` injects and heals one round of faults (n counts from 0) and
/// is repeated while `FAULTS_SECS` lasts; then the load stops, the cluster settles, every key is
/// read through every node and the history is checked.
pub fn run(name: &str, test_no: u8, data_dir: bool, mut cycle: impl FnMut(&mut Ctx, usize)) {
    let _serial = serial();
    let s = Settings::from_env();
    let probe_dir = std::env::temp_dir();
    let (_, mut notes) = node_options(
        &cluster_addrs(test_no),
        data_dir.then_some(probe_dir.as_path()),
    );
    let node_extra = |dir: &Path, i: usize| {
        let own = dir.join(format!("{}-data", IDS[i]));
        let (mut extra, _) =
            node_options(&cluster_addrs(test_no), data_dir.then_some(own.as_path()));
        // A suite's own settings (e.g. `hot_keys:`), appended as they are.
        extra.push_str(&std::env::var("FAULTS_EXTRA_YAML").unwrap_or_default());
        extra
    };
    let mut c = ProcCluster::start_each(
        test_no,
        &format!("faults-{name}"),
        THREADS,
        PROBING,
        &node_extra,
    );
    let load = Load::start(&c.addrs, s.keys, s.workers);
    let deadline = Instant::now() + s.secs;
    std::thread::sleep(WARMUP);
    let mut ctx = Ctx {
        c: &mut c,
        load: &load,
        start: load.started(),
        timeline: Vec::new(),
        failed_starts: 0,
    };
    let mut cycles = 0;
    loop {
        let t = Instant::now();
        cycle(&mut ctx, cycles);
        cycles += 1;
        if Instant::now() + t.elapsed() + TAIL > deadline {
            break;
        }
    }
    let timeline = std::mem::take(&mut ctx.timeline);
    let failed_starts = ctx.failed_starts;
    std::thread::sleep(deadline.saturating_duration_since(Instant::now()).max(TAIL));
    let mut h = load.stop();
    let settled = settle(&c.addrs, SETTLE_LIMIT).unwrap_or_else(|e| {
        panic!(
            "{name}: not settled within {SETTLE_LIMIT:?}: {e}; {}; logs:\n{}",
            deaths(&mut c),
            c.logs()
        )
    });
    final_reads(&c.addrs, s.keys, &mut h);
    let r = check(&h);
    notes.push_str(&format!(
        " cycles={cycles} settle={:.1}s",
        settled.as_secs_f64()
    ));
    if failed_starts > 0 {
        notes.push_str(&format!(" failed-starts={failed_starts}"));
    }
    print(name, &h, &r, &notes, &timeline);
    assert!(r.clean(), "{name}: {r}");
    assert!(
        r.unavailable < UNAVAILABLE_BOUND,
        "{name}: unavailable {:?}",
        r.unavailable
    );
}

/// The scenario's `faults|` line of figures, its timeline and its first anomalies.
fn print(name: &str, h: &History, r: &Report, notes: &str, timeline: &[String]) {
    eprintln!("faults| {name:<20} | {r} | {notes}");
    let more = timeline.len().saturating_sub(TIMELINE_SHOWN);
    let mut shown = timeline[..timeline.len() - more].join(", ");
    if timeline.is_empty() {
        shown.push_str("no faults");
    } else if more > 0 {
        shown.push_str(&format!(", ... {more} more"));
    }
    eprintln!("  {name} timeline: {shown}");
    if !r.anomalies.is_empty() {
        eprint!("  {name} first anomalies:\n{}", r.details(h, 5));
    }
}

/// Which nodes' processes ended on their own, and how.
pub fn deaths(c: &mut ProcCluster) -> String {
    let ended: Vec<String> = (0..IDS.len())
        .filter_map(|i| c.exited(i).map(|st| format!("{} exited: {st}", IDS[i])))
        .collect();
    if ended.is_empty() {
        "every node process still runs".to_string()
    } else {
        ended.join(", ")
    }
}
