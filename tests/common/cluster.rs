//! Helpers for the cluster suites (`tests/cluster_*.rs`): a three-node cluster started in-process
//! on loopback addresses of its own, or as child processes of the real binary; HTTP calls to any
//! node; the ring every node uses (to know each key's owner); metrics and `/admin/cluster`.
//!
//! Declared from a test file after `mod common;` as
//! `#[path = "common/cluster.rs"] mod cluster_common;` (it uses `crate::common`).
#![allow(dead_code)]

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use dcache::clock::Clock;
use dcache::cluster::ring::Ring;
use dcache::{Config, Node};

use crate::common::{encode_key, Reader, Resp};

/// The members of every test cluster, in ring (byte) order.
pub const IDS: [&str; 3] = ["node1", "node2", "node3"];
pub const VNODES: u32 = 150;
/// `max_value_bytes` of test nodes: small, so "too large" bodies are cheap to send.
pub const MAX_VALUE: usize = 8 * 1024;

/// The `cluster:` section of a test node.
#[derive(Clone, Copy, Debug)]
pub struct Probing {
    pub interval_ms: u64,
    pub timeout_ms: u64,
    pub fail_after: u32,
    pub recover_after: u32,
    pub connect_ms: u64,
    pub request_ms: u64,
}

/// Fast detection, for the failover suite: down after 2 failed probes 100 ms apart.
pub const FAST: Probing = Probing {
    interval_ms: 100,
    timeout_ms: 80,
    fail_after: 2,
    recover_after: 1,
    connect_ms: 50,
    request_ms: 1000,
};

/// Probing that a busy 2-core machine cannot trip by accident (a peer is marked down only after
/// 10 probes of up to 300 ms each failed in a row): for suites where a membership change would be
/// a spurious failure. They assert `ring_changes == 0` at the end to prove none happened.
pub const STEADY: Probing = Probing {
    interval_ms: 300,
    timeout_ms: 300,
    fail_after: 10,
    recover_after: 1,
    connect_ms: 500,
    request_ms: 5000,
};

/// The ring the nodes build from `IDS` and `VNODES`.
pub fn ring() -> Ring {
    Ring::new(&IDS, VNODES).expect("valid ring")
}

/// Index (into `IDS`) of the node that owns `key` with every node up.
pub fn owner(ring: &Ring, key: &str) -> usize {
    let idx = ring.owner(key.as_bytes());
    IDS.iter()
        .position(|id| *id == ring.node_id(idx))
        .expect("ring id in IDS")
}

/// Owner of `key` when node `down` is down.
pub fn owner_without(ring: &Ring, key: &str, down: usize) -> usize {
    let dead = ring.index_of(IDS[down]).expect("id in ring");
    let idx = ring
        .owner_alive(key.as_bytes(), |i| i != dead)
        .expect("a live node");
    IDS.iter()
        .position(|id| *id == ring.node_id(idx))
        .expect("ring id in IDS")
}

/// `/api/v1/cache/<percent-encoded key>`
pub fn key_path(key: &str) -> String {
    format!("/api/v1/cache/{}", encode_key(key.as_bytes()))
}

/// The YAML of one member of a three-node cluster.
pub fn node_yaml(
    me: usize,
    addrs: &[SocketAddr],
    threads: usize,
    p: &Probing,
    extra: &str,
) -> String {
    let mut members = String::new();
    for (id, a) in IDS.iter().zip(addrs) {
        members.push_str(&format!("  {id}: \"{a}\"\n"));
    }
    format!(
        "node_id: \"{id}\"\naddress: \"{addr}\"\ncluster_nodes:\n{members}cache_size: 100000\n\
         virtual_nodes: {VNODES}\nthreads: {threads}\npin_threads: false\nmax_value_bytes: {MAX_VALUE}\n\
         log_level: warn\ncluster:\n  probe_interval: \"{}ms\"\n  probe_timeout: \"{}ms\"\n  \
         fail_after: {}\n  recover_after: {}\n  connect_timeout: \"{}ms\"\n  request_timeout: \"{}ms\"\n{extra}",
        p.interval_ms,
        p.timeout_ms,
        p.fail_after,
        p.recover_after,
        p.connect_ms,
        p.request_ms,
        id = IDS[me],
        addr = addrs[me],
    )
}

/// The members' addresses of cluster `test_no`: `127.<pid>.<test_no>.<n>:1800<n>`, fixed before
/// any node starts (every config names every peer). Each cluster has loopback IPs of its own, so
/// tests running in parallel (and two runs of the same suite) never share an address, nothing is
/// probed for a free port, and a restarted node binds its old address again. The ports are below
/// the kernel's ephemeral range (32768+), so no outgoing connection can take one meanwhile.
///
/// `test_no` must be unique across every cluster suite: consistency 1-9, backup 20-22,
/// failover 30-34.
pub fn cluster_addrs(test_no: u8) -> Vec<SocketAddr> {
    let second = 20 + (std::process::id() % 200) as u8;
    (0..IDS.len())
        .map(|i| {
            format!("127.{second}.{test_no}.{}:{}", i + 1, 18001 + i)
                .parse()
                .expect("socket address")
        })
        .collect()
}

// ---- in-process clusters ----------------------------------------------------------------------

/// Three nodes in this process, each on its own loopback IP (see [`cluster_addrs`]). Nodes are
/// shut down when the cluster is dropped, even when an assertion failed.
pub struct InProc {
    nodes: Vec<Option<Node>>,
    pub addrs: Vec<SocketAddr>,
    pub ring: Ring,
    pub probing: Probing,
    /// The manual clock every node measures TTLs on ([`InProc::start_with_clock`]).
    clock: Option<Clock>,
}

impl InProc {
    /// `test_no` must be unique across every cluster suite (1..=250, see [`cluster_addrs`]).
    pub fn start(test_no: u8, threads: usize, p: Probing, extra: &str) -> InProc {
        Self::start_inner(test_no, threads, p, extra, None)
    }

    /// Like `start`, with every node measuring TTLs on `clock` (a [`Clock::manual`] shared by the
    /// whole cluster): the test moves time with [`InProc::advance`] instead of sleeping.
    pub fn start_with_clock(
        test_no: u8,
        threads: usize,
        p: Probing,
        extra: &str,
        clock: Clock,
    ) -> InProc {
        Self::start_inner(test_no, threads, p, extra, Some(clock))
    }

    fn start_inner(
        test_no: u8,
        threads: usize,
        p: Probing,
        extra: &str,
        clock: Option<Clock>,
    ) -> InProc {
        let mut c = InProc {
            nodes: Vec::new(),
            addrs: cluster_addrs(test_no),
            ring: ring(),
            probing: p,
            clock,
        };
        for (i, id) in IDS.iter().enumerate() {
            let yaml = node_yaml(i, &c.addrs, threads, &p, extra);
            let cfg = Config::from_yaml_str(&yaml, "<cluster test>").expect("valid test config");
            let clock = c.clock.clone();
            // Started from a throwaway thread: the first `Node::start` of a process probes
            // io_uring with a ring it closes at once, and the kernel's teardown of that ring
            // later interrupts a blocking call of the thread that created it (EINTR, which the
            // shared `Reader` takes for EOF). See the report on `node::resolve_driver`.
            let node = std::thread::spawn(move || match clock {
                Some(clock) => Node::start_with_clock(cfg, clock),
                None => Node::start(cfg),
            })
            .join()
            .expect("start thread")
            .unwrap_or_else(|e| panic!("{id} starts: {e}"));
            assert_eq!(node.local_addr(), c.addrs[i]);
            c.nodes.push(Some(node));
        }
        wait_all_up(&c.addrs, &[0, 1, 2], Duration::from_secs(10));
        c
    }

    pub fn addr(&self, i: usize) -> SocketAddr {
        self.addrs[i]
    }

    /// Move the cluster's manual clock forward (every node sees it on its next TTL decision).
    pub fn advance(&self, by: Duration) {
        self.clock
            .as_ref()
            .expect("cluster started with InProc::start_with_clock")
            .advance(by);
    }

    /// Index of the node that owns `key` (all nodes up).
    pub fn owner(&self, key: &str) -> usize {
        owner(&self.ring, key)
    }

    /// Shut node `i` down (graceful drain) and wait for its threads.
    pub fn stop(&mut self, i: usize) {
        if let Some(node) = self.nodes[i].take() {
            node.shutdown();
            assert!(node.wait(Duration::from_secs(10)), "{} stops", IDS[i]);
        }
    }
}

impl Drop for InProc {
    fn drop(&mut self) {
        for n in self.nodes.iter().flatten() {
            n.shutdown();
        }
        for n in self.nodes.iter_mut() {
            if let Some(node) = n.take() {
                node.wait(Duration::from_secs(5));
            }
        }
    }
}

// ---- child-process clusters (the real binary) ------------------------------------------------

const BIN: &str = env!("CARGO_BIN_EXE_cache-node");

/// One `cache-node` child: its config and log files, and the process while it runs.
pub struct ProcNode {
    pub config: PathBuf,
    pub log: PathBuf,
    child: Option<Child>,
    starts: usize,
}

/// Three `cache-node` processes, each on its own loopback IP (see [`cluster_addrs`]); every
/// child is killed when this is dropped.
pub struct ProcCluster {
    pub dir: PathBuf,
    pub addrs: Vec<SocketAddr>,
    pub nodes: Vec<ProcNode>,
    pub ring: Ring,
    pub probing: Probing,
}

impl ProcCluster {
    /// `test_no` must be unique across every cluster suite (see [`cluster_addrs`]); `tag` names
    /// the directory of configs and logs.
    pub fn start(test_no: u8, tag: &str, threads: usize, p: Probing) -> ProcCluster {
        Self::start_with(test_no, tag, threads, p, "")
    }

    /// Like `start`, with `extra` YAML appended to every node's config.
    pub fn start_with(
        test_no: u8,
        tag: &str,
        threads: usize,
        p: Probing,
        extra: &str,
    ) -> ProcCluster {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "dcache-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let addrs = cluster_addrs(test_no);
        let nodes = (0..IDS.len())
            .map(|i| {
                let config = dir.join(format!("{}.yaml", IDS[i]));
                std::fs::write(&config, node_yaml(i, &addrs, threads, &p, extra))
                    .expect("write config");
                ProcNode {
                    config,
                    log: dir.join(format!("{}.log", IDS[i])),
                    child: None,
                    starts: 0,
                }
            })
            .collect();
        let mut c = ProcCluster {
            dir,
            addrs,
            nodes,
            ring: ring(),
            probing: p,
        };
        for i in 0..IDS.len() {
            c.spawn(i);
        }
        for i in 0..IDS.len() {
            c.wait_healthy(i, Duration::from_secs(20));
        }
        wait_all_up(&c.addrs, &[0, 1, 2], Duration::from_secs(10));
        c
    }

    fn spawn(&mut self, i: usize) {
        let n = &mut self.nodes[i];
        assert!(n.child.is_none(), "{} already running", IDS[i]);
        n.starts += 1;
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&n.log)
            .expect("log file");
        let _ = writeln!(log, "---- start #{} ----", n.starts);
        let child = Command::new(BIN)
            .arg("--config")
            .arg(&n.config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn cache-node");
        n.child = Some(child);
    }

    pub fn pid(&self, i: usize) -> i32 {
        self.nodes[i].child.as_ref().expect("running").id() as i32
    }

    /// Wait until node `i` answers its health check (panics with its log otherwise).
    pub fn wait_healthy(&mut self, i: usize, limit: Duration) {
        let addr = self.addrs[i];
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(Ok(Some(st))) = self.nodes[i].child.as_mut().map(|c| c.try_wait()) {
                panic!(
                    "{} exited during start-up with {st}; log:\n{}",
                    IDS[i],
                    self.log(i)
                );
            }
            if crate::common::healthy(addr) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "{} not healthy within {limit:?}; log:\n{}",
            IDS[i],
            self.log(i)
        );
    }

    /// SIGKILL node `i` and reap it: when this returns its sockets are closed.
    pub fn kill9(&mut self, i: usize) {
        let mut child = self.nodes[i].child.take().expect("running");
        // SAFETY: sending a signal to our own child process, which has not been reaped yet.
        let rc = unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
        assert_eq!(rc, 0, "kill -9 {}", IDS[i]);
        child.wait().expect("reap child");
    }

    /// Send `sig` (SIGSTOP, SIGCONT) to node `i`. For SIGSTOP, return only once every thread of
    /// the node is stopped (delivery is asynchronous: on a busy machine the node could otherwise
    /// still answer the next request).
    pub fn signal(&self, i: usize, sig: i32) {
        // SAFETY: signalling our own, still unreaped child.
        let rc = unsafe { libc::kill(self.pid(i), sig) };
        assert_eq!(rc, 0, "signal {sig} to {}", IDS[i]);
        if sig == libc::SIGSTOP {
            let tasks = PathBuf::from(format!("/proc/{}/task", self.pid(i)));
            let stopped = crate::common::eventually(Duration::from_secs(5), || {
                std::fs::read_dir(&tasks).is_ok_and(|dir| {
                    dir.flatten().all(|t| {
                        std::fs::read_to_string(t.path().join("stat")).is_ok_and(|st| {
                            // "pid (comm) STATE ...": the state follows the last ')'.
                            st.rsplit_once(')')
                                .is_some_and(|(_, rest)| rest.trim_start().starts_with('T'))
                        })
                    })
                })
            });
            assert!(stopped, "{} did not stop", IDS[i]);
        }
    }

    /// Start node `i` again with the same config (same address) and wait until it is healthy.
    pub fn restart(&mut self, i: usize) {
        self.spawn(i);
        self.wait_healthy(i, Duration::from_secs(20));
    }

    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(&self.nodes[i].log).unwrap_or_default()
    }

    /// Every node's log, for failure messages.
    pub fn logs(&self) -> String {
        (0..IDS.len())
            .map(|i| format!("==== {} ====\n{}", IDS[i], self.log(i)))
            .collect()
    }
}

impl Drop for ProcCluster {
    fn drop(&mut self) {
        for n in self.nodes.iter_mut() {
            if let Some(mut child) = n.child.take() {
                // SIGKILL also ends a SIGSTOPped child.
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("cluster logs kept in {}", self.dir.display());
        }
    }
}

// ---- HTTP -------------------------------------------------------------------------------------

/// A request with extra header lines; `Content-Length` is added when there is a body.
pub fn raw(method: &str, path: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Vec<u8> {
    let mut out = format!("{method} {path} HTTP/1.1\r\nHost: t\r\n");
    for (n, v) in headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    if let Some(b) = body {
        out.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    if let Some(b) = body {
        bytes.extend_from_slice(b);
    }
    bytes
}

/// One request on a fresh connection.
pub fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Resp {
    let mut c = Conn::open(addr);
    c.call(method, path, headers, body)
}

pub fn get(addr: SocketAddr, key: &str) -> Resp {
    call(addr, "GET", &key_path(key), &[], None)
}

pub fn put(addr: SocketAddr, key: &str, body: &str) -> Resp {
    call(addr, "PUT", &key_path(key), &[], Some(body.as_bytes()))
}

pub fn delete(addr: SocketAddr, key: &str) -> Resp {
    call(addr, "DELETE", &key_path(key), &[], None)
}

/// A keep-alive connection to one node.
pub struct Conn {
    pub reader: Reader,
}

impl Conn {
    pub fn open(addr: SocketAddr) -> Conn {
        let s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        s.set_read_timeout(Some(Duration::from_secs(15)))
            .expect("timeout");
        s.set_nodelay(true).expect("nodelay");
        Conn {
            reader: Reader::new(s),
        }
    }

    pub fn call(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Resp {
        self.reader.send(&raw(method, path, headers, body));
        self.reader
            .response(method == "HEAD")
            .unwrap_or_else(|| panic!("no response to {method} {path}"))
    }
}

/// What must be equal whichever node answered: status, body and every header but `Date` and
/// the `X-Cache-*` ones (names lower-cased, sorted).
pub fn comparable(r: &Resp) -> (u16, Vec<(String, String)>, String) {
    let mut headers: Vec<(String, String)> = r
        .headers
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
        .filter(|(n, _)| n != "date" && !n.starts_with("x-cache-"))
        .collect();
    headers.sort();
    (r.status, headers, r.text())
}

/// `X-Cache-Node` of a response.
pub fn node_of(r: &Resp) -> &str {
    r.header("x-cache-node").unwrap_or("<none>")
}

// ---- admin ------------------------------------------------------------------------------------

pub fn cluster_info(addr: SocketAddr) -> serde_json::Value {
    let r = call(addr, "GET", "/admin/cluster", &[], None);
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

/// The state (`self`, `up`, `down`) node `at` reports for member `of`.
pub fn state_seen(addr: SocketAddr, of: usize) -> String {
    let info = cluster_info(addr);
    info["nodes"]
        .as_array()
        .expect("nodes array")
        .iter()
        .find(|n| n["id"] == IDS[of])
        .and_then(|n| n["state"].as_str())
        .unwrap_or("<absent>")
        .to_string()
}

/// Entries node `addr` holds locally (its own member row in `/admin/cluster`).
pub fn local_entries(addr: SocketAddr) -> u64 {
    let info = cluster_info(addr);
    let me = info["node_id"].clone();
    info["nodes"]
        .as_array()
        .expect("nodes array")
        .iter()
        .find(|n| n["id"] == me)
        .and_then(|n| n["entries"].as_u64())
        .expect("entries of self")
}

/// Wait until every node in `live` reports every other node in `live` as up.
pub fn wait_all_up(addrs: &[SocketAddr], live: &[usize], limit: Duration) {
    let ok = crate::common::eventually(limit, || {
        live.iter().all(|&at| {
            live.iter()
                .filter(|&&of| of != at)
                .all(|&of| state_seen(addrs[at], of) == "up")
        })
    });
    assert!(
        ok,
        "cluster members did not all see each other up within {limit:?}"
    );
}

pub fn metrics(addr: SocketAddr) -> String {
    let r = call(addr, "GET", "/admin/metrics", &[], None);
    assert_eq!(r.status, 200, "{}", r.text());
    r.text()
}

/// The value of one exact series (`name{labels}` as printed), if present.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// Sum of every series of metric `name` (all label sets).
pub fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let rest = l.strip_prefix(name)?;
            if !(rest.starts_with('{') || rest.starts_with(' ')) {
                return None;
            }
            rest.rsplit(' ').next()?.parse::<f64>().ok()
        })
        .sum()
}

// ---- data -------------------------------------------------------------------------------------

/// Deterministic pseudo-random numbers (splitmix64) so failures reproduce.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

// ---- fault suite (tests/cluster_faults.rs, cluster numbers 40-48) -----------------------------

impl ProcCluster {
    /// Like `start_with`, with node `i`'s extra YAML given by `extra(dir, i)`, where `dir` is the
    /// cluster's directory (removed with it), e.g. for a `data_dir` of each node's own.
    pub fn start_each(
        test_no: u8,
        tag: &str,
        threads: usize,
        p: Probing,
        extra: &dyn Fn(&std::path::Path, usize) -> String,
    ) -> ProcCluster {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "dcache-{tag}-{}-each{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let addrs = cluster_addrs(test_no);
        let nodes = (0..IDS.len())
            .map(|i| {
                let config = dir.join(format!("{}.yaml", IDS[i]));
                std::fs::write(&config, node_yaml(i, &addrs, threads, &p, &extra(&dir, i)))
                    .expect("write config");
                ProcNode {
                    config,
                    log: dir.join(format!("{}.log", IDS[i])),
                    child: None,
                    starts: 0,
                }
            })
            .collect();
        let mut c = ProcCluster {
            dir,
            addrs,
            nodes,
            ring: ring(),
            probing: p,
        };
        for i in 0..IDS.len() {
            c.spawn(i);
        }
        for i in 0..IDS.len() {
            c.wait_healthy(i, Duration::from_secs(20));
        }
        wait_all_up(&c.addrs, &[0, 1, 2], Duration::from_secs(10));
        c
    }

    /// Start node `i` again as a supervisor (systemd `Restart=`) would: when the start fails
    /// (e.g. its address is still held by sockets of the killed process), start it again every
    /// 100 ms until it is healthy or `limit` passes. Returns the failed starts.
    pub fn restart_until_up(&mut self, i: usize, limit: Duration) -> u32 {
        let deadline = Instant::now() + limit;
        let mut failed = 0;
        self.spawn(i);
        loop {
            let exited = self.nodes[i].child.as_mut().map(|c| c.try_wait());
            if let Some(Ok(Some(_))) = exited {
                assert!(
                    Instant::now() < deadline,
                    "{} did not start within {limit:?}; log:\n{}",
                    IDS[i],
                    self.log(i)
                );
                failed += 1;
                self.nodes[i].child = None;
                std::thread::sleep(Duration::from_millis(100));
                self.spawn(i);
            } else if crate::common::healthy(self.addrs[i]) {
                return failed;
            } else {
                assert!(
                    Instant::now() < deadline,
                    "{} not healthy within {limit:?}; log:\n{}",
                    IDS[i],
                    self.log(i)
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// How node `i`'s process ended, if it did (e.g. `signal: 11 (SIGSEGV)`); None while it runs.
    pub fn exited(&mut self, i: usize) -> Option<std::process::ExitStatus> {
        self.nodes[i].child.as_mut()?.try_wait().ok().flatten()
    }

    /// SIGTERM node `i` (a graceful drain) and reap it; SIGKILL if it still runs after `limit`.
    /// True when it exited by itself within `limit`.
    pub fn terminate(&mut self, i: usize, limit: Duration) -> bool {
        let mut child = self.nodes[i].child.take().expect("running");
        // SAFETY: signalling our own child process, which has not been reaped yet.
        let rc = unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        assert_eq!(rc, 0, "kill -TERM {}", IDS[i]);
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        child.wait().expect("reap child");
        false
    }
}

// ---- replicated placement (cluster_consistency, cluster_backup, cluster_failover) -------------
//
// Cluster numbers used besides those listed at `cluster_addrs`: backup 23-24, failover 35-38.

/// `replicas` of a test node when it must be given explicitly (the default on three nodes is 2).
pub fn replicas_yaml(n: usize) -> String {
    format!("replicas: {n}\n")
}

/// Indices (into `IDS`) of the `n` replicas of `key`, owner first: its preference list.
pub fn replicas_of(ring: &Ring, key: &str, n: usize) -> Vec<usize> {
    ring.preference(key.as_bytes(), n)
        .iter()
        .map(|idx| {
            IDS.iter()
                .position(|id| *id == ring.node_id(idx))
                .expect("ring id in IDS")
        })
        .collect()
}

/// Whether node `n` holds a copy of `key` with `replicas` copies per key.
pub fn is_replica(ring: &Ring, key: &str, replicas: usize, n: usize) -> bool {
    replicas_of(ring, key, replicas).contains(&n)
}

/// The node that coordinates `key` (its first routable replica) when the nodes in `down` are not
/// routable: the first replica not in `down`, else (single copy) the first node clockwise.
pub fn coordinator_without(ring: &Ring, key: &str, replicas: usize, down: &[usize]) -> usize {
    replicas_of(ring, key, replicas)
        .into_iter()
        .chain(replicas_of(ring, key, IDS.len()))
        .find(|n| !down.contains(n))
        .expect("a routable node")
}

/// `cache_ring_changes_total` of each node in `addrs`.
pub fn ring_changes(addrs: &[SocketAddr]) -> Vec<f64> {
    addrs
        .iter()
        .map(|a| metric(&metrics(*a), "cache_ring_changes_total").unwrap_or(f64::NAN))
        .collect()
}

/// Wait until every node in `live` has caught up from its peers (`/api/v1/health` 200, not
/// `syncing`) and sees every other one in `live` up. A node that starts counts its peers'
/// start-up (syncing, then up) as membership changes; once this returns the cluster is settled,
/// so `ring_changes` taken then is the baseline a test that expects no change compares with.
pub fn wait_serving(addrs: &[SocketAddr], live: &[usize], limit: Duration) {
    let ok = crate::common::eventually(limit, || {
        live.iter().all(|&n| crate::common::healthy(addrs[n]))
    });
    assert!(ok, "cluster members did not all catch up within {limit:?}");
    wait_all_up(addrs, live, limit);
}

/// The `ETag` of a versioned answer, checked to be `"` + 16 lower-case hex digits + `"`.
pub fn etag(r: &Resp) -> String {
    let tag = r
        .header("etag")
        .unwrap_or_else(|| panic!("no ETag on {} {}", r.status, r.text()));
    let hex = tag
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or("");
    assert!(
        hex.len() == 16
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "ETag {tag:?} is not a quoted 16-digit hex version"
    );
    tag.to_string()
}

/// The version an `ETag` names.
pub fn etag_version(tag: &str) -> u64 {
    u64::from_str_radix(tag.trim_matches('"'), 16).expect("hex ETag")
}
