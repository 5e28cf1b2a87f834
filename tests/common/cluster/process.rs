//! Child-process clusters: three `cache-node` processes of the real binary, each on a loopback IP
//! of its own, which a test kills, freezes, terminates and restarts.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use dcache::cluster::ring::Ring;

use super::admin::wait_all_up;
use super::topology::{cluster_addrs, node_yaml, ring, Probing, IDS};

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
        Self::start_each(test_no, tag, threads, p, &|_, _| extra.to_string())
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
        let child = self.nodes[i].child.take().expect("running");
        terminate_child(child, IDS[i], limit)
    }
}

/// SIGTERM `child` (node `name`) and wait up to `limit` for it to exit; killed after that.
/// True when it exited by itself.
pub fn terminate_child(mut child: Child, name: &str, limit: Duration) -> bool {
    // SAFETY: signalling our own child process, which has not been reaped yet.
    let rc = unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert_eq!(rc, 0, "kill -TERM {name}");
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
