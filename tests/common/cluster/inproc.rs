//! In-process clusters: three `Node`s in the test process, each on a loopback IP of its own.

use std::net::SocketAddr;
use std::time::Duration;

use dcache::clock::Clock;
use dcache::cluster::ring::Ring;
use dcache::{Config, Node};

use super::admin::wait_all_up;
use super::topology::{cluster_addrs, node_yaml, owner, ring, Probing, IDS};

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
