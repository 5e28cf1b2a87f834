//! Up to [`MAX_NODES`] `cache-node` child processes whose membership changes while they run:
//! each node gets its config (and so its `cluster_nodes`) when it is first started, so a joiner
//! can list the whole cluster, only itself, or anything else a scenario needs. Every child is
//! killed when the [`Nodes`] is dropped, also when a test panics.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::cluster_common::{Probing, MAX_VALUE, VNODES};

const BIN: &str = env!("CARGO_BIN_EXE_cache-node");

/// The most members a scenario uses: a four-node cluster and one joiner.
pub const MAX_NODES: usize = 5;
/// Longest wait for a started node to answer its health check (a loaded 2-core host).
pub const START_LIMIT: Duration = Duration::from_secs(20);

/// `node<i+1>`: the member ids, in ring (byte) order for up to nine nodes.
pub fn id(i: usize) -> String {
    format!("node{}", i + 1)
}

/// The addresses of cluster `test_no`, the scheme of `cluster_common::cluster_addrs` extended
/// to [`MAX_NODES`]: `127.<pid>.<test_no>.<n>:1800<n>`. Each cluster has loopback IPs of its own,
/// so nothing is probed for a free port and a restarted node binds its old address again.
pub fn addrs(test_no: u8) -> Vec<SocketAddr> {
    let second = 20 + (std::process::id() % 200) as u8;
    (0..MAX_NODES)
        .map(|i| {
            format!("127.{second}.{test_no}.{}:{}", i + 1, 18001 + i)
                .parse()
                .expect("socket address")
        })
        .collect()
}

/// The YAML of node `me` whose `cluster_nodes` are `members` (indices), with `extra` lines
/// appended at the top level (`replicas:`, `data_dir:`) and `cluster_extra` in `cluster:`.
pub fn yaml(
    me: usize,
    members: &[usize],
    addrs: &[SocketAddr],
    p: &Probing,
    threads: usize,
    extra: &str,
    cluster_extra: &str,
) -> String {
    let list: String = members
        .iter()
        .map(|&m| format!("  {}: \"{}\"\n", id(m), addrs[m]))
        .collect();
    format!(
        "node_id: \"{id}\"\naddress: \"{addr}\"\ncluster_nodes:\n{list}cache_size: 100000\n\
         virtual_nodes: {VNODES}\nthreads: {threads}\npin_threads: false\n\
         max_value_bytes: {MAX_VALUE}\nlog_level: info\n{extra}cluster:\n  \
         probe_interval: \"{}ms\"\n  probe_timeout: \"{}ms\"\n  fail_after: {}\n  \
         recover_after: {}\n  connect_timeout: \"{}ms\"\n  request_timeout: \"{}ms\"\n{cluster_extra}",
        p.interval_ms,
        p.timeout_ms,
        p.fail_after,
        p.recover_after,
        p.connect_ms,
        p.request_ms,
        id = id(me),
        addr = addrs[me],
    )
}

/// The processes of one scenario, their configs and logs (in a directory removed with it).
pub struct Nodes {
    pub dir: PathBuf,
    /// Every possible member's address, started or not (index = node).
    pub addrs: Vec<SocketAddr>,
    children: Vec<Option<Child>>,
    starts: Vec<u32>,
}

impl Nodes {
    /// No node runs yet; `tag` names the directory of configs and logs.
    pub fn new(test_no: u8, tag: &str) -> Nodes {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "dcache-elastic-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        Nodes {
            dir,
            addrs: addrs(test_no),
            children: (0..MAX_NODES).map(|_| None).collect(),
            starts: vec![0; MAX_NODES],
        }
    }

    fn config(&self, i: usize) -> PathBuf {
        self.dir.join(format!("{}.yaml", id(i)))
    }

    fn log_path(&self, i: usize) -> PathBuf {
        self.dir.join(format!("{}.log", id(i)))
    }

    /// Node `i`'s config, used by every later start of it.
    pub fn write_config(&self, i: usize, yaml: &str) {
        std::fs::write(self.config(i), yaml).expect("write config");
    }

    /// Start node `i` (its config written before) without waiting for it.
    pub fn spawn(&mut self, i: usize) {
        assert!(self.children[i].is_none(), "{} already running", id(i));
        self.starts[i] += 1;
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path(i))
            .expect("log file");
        let _ = writeln!(log, "---- start #{} ----", self.starts[i]);
        let child = Command::new(BIN)
            .arg("--config")
            .arg(self.config(i))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn cache-node");
        self.children[i] = Some(child);
    }

    /// Whether node `i`'s process is running (started and not exited).
    pub fn running(&mut self, i: usize) -> bool {
        self.children[i].is_some() && self.exited(i).is_none()
    }

    /// How node `i`'s process ended, if it did; None while it runs (or was never started).
    pub fn exited(&mut self, i: usize) -> Option<ExitStatus> {
        self.children[i].as_mut()?.try_wait().ok().flatten()
    }

    /// Panic with node `i`'s log when its process has ended.
    pub fn assert_alive(&mut self, i: usize) {
        if let Some(st) = self.exited(i) {
            panic!("{} exited with {st}; log:\n{}", id(i), self.log(i));
        }
    }

    /// Start node `i` and wait until it answers its health check with 200.
    pub fn start(&mut self, i: usize) {
        self.spawn(i);
        self.wait_healthy(i);
    }

    /// Wait until node `i` answers its health check with 200 (panics with its log if it exits
    /// or takes longer than [`START_LIMIT`]).
    pub fn wait_healthy(&mut self, i: usize) {
        let addr = self.addrs[i];
        let deadline = Instant::now() + START_LIMIT;
        while !crate::common::healthy(addr) {
            self.assert_alive(i);
            assert!(
                Instant::now() < deadline,
                "{} not healthy within {START_LIMIT:?}; log:\n{}",
                id(i),
                self.log(i)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL node `i` and reap it: when this returns its sockets are closed.
    pub fn kill9(&mut self, i: usize) {
        let mut child = self.children[i].take().expect("running");
        // SAFETY: sending a signal to our own child process, which has not been reaped yet.
        let rc = unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
        assert_eq!(rc, 0, "kill -9 {}", id(i));
        child.wait().expect("reap child");
    }

    /// SIGTERM node `i` (a graceful drain) and reap it; SIGKILL if it still runs after `limit`.
    /// True when it exited by itself within `limit`.
    pub fn terminate(&mut self, i: usize, limit: Duration) -> bool {
        let child = self.children[i].take().expect("running");
        crate::cluster_common::terminate_child(child, &id(i), limit)
    }

    /// Start node `i` again as a supervisor would: a start that exits at once (its address still
    /// held by the killed process's sockets) is retried every 100 ms until the node is healthy or
    /// [`START_LIMIT`] passes. Returns the failed starts.
    pub fn restart_until_up(&mut self, i: usize) -> u32 {
        let deadline = Instant::now() + START_LIMIT;
        let mut failed = 0;
        self.spawn(i);
        loop {
            assert!(
                Instant::now() < deadline,
                "{} not healthy within {START_LIMIT:?} of its restart; log:\n{}",
                id(i),
                self.log(i)
            );
            if self.exited(i).is_some() {
                failed += 1;
                self.children[i] = None;
                std::thread::sleep(Duration::from_millis(100));
                self.spawn(i);
            } else if crate::common::healthy(self.addrs[i]) {
                return failed;
            } else {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.log_path(i)).unwrap_or_default()
    }

    /// The log of every node that was ever started, for failure messages.
    pub fn logs(&self) -> String {
        (0..MAX_NODES)
            .filter(|&i| self.starts[i] > 0)
            .map(|i| format!("==== {} ====\n{}", id(i), self.log(i)))
            .collect()
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        for child in self.children.iter_mut() {
            if let Some(mut child) = child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        // `ELASTIC_KEEP_LOGS=1` keeps them after a pass too (to compare with a failing run).
        let keep = std::env::var_os("ELASTIC_KEEP_LOGS").is_some();
        if !std::thread::panicking() && !keep {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("elastic cluster logs kept in {}", self.dir.display());
        }
    }
}
