//! Real nodes for the client's end-to-end tests: a single node started in-process (the server
//! library, `distributed-cache`, is a dev-dependency only) on an ephemeral loopback port. A small
//! copy of what the server's own `tests/common/` offers; only what `client_cli.rs` uses.

use std::net::SocketAddr;
use std::time::Duration;

use dcache::{Config, Node};

/// A node that shuts down when dropped, so a failing assertion does not leave workers running.
pub struct Running {
    node: Option<Node>,
}

impl Running {
    pub fn addr(&self) -> SocketAddr {
        self.node.as_ref().expect("node running").local_addr()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(node) = self.node.take() {
            node.shutdown();
            node.wait(Duration::from_secs(5));
        }
    }
}

/// Start a single node (`threads` workers, unpinned) with `extra` YAML lines appended.
pub fn run_single(threads: usize, extra: &str) -> Running {
    let yaml = format!(
        "node_id: \"t1\"\naddress: \"127.0.0.1:0\"\ncache_size: 1000\nthreads: {threads}\n\
         io_driver: auto\npin_threads: false\n{extra}"
    );
    let cfg = Config::from_yaml_str(&yaml, "<test>").expect("valid test config");
    Running {
        node: Some(Node::start(cfg).expect("node starts")),
    }
}

/// The members of [`run_cluster`]'s clusters.
#[allow(dead_code)]
pub const IDS: [&str; 3] = ["node1", "node2", "node3"];

/// Three nodes in this process, each on a loopback IP of its own, shut down when dropped.
#[allow(dead_code)]
pub struct Cluster {
    nodes: Vec<Running>,
    pub addrs: Vec<SocketAddr>,
}

#[allow(dead_code)]
impl Cluster {
    /// `host:port` of every node, comma separated, as `--nodes` takes them.
    pub fn nodes_flag(&self) -> String {
        let list: Vec<String> = self.addrs.iter().map(|a| a.to_string()).collect();
        list.join(",")
    }

    /// Stop node `i` (graceful drain).
    pub fn stop(&mut self, i: usize) {
        if let Some(node) = self.nodes[i].node.take() {
            node.shutdown();
            node.wait(Duration::from_secs(10));
        }
    }
}

/// A three-node cluster (2 replicas per key, the default) on `127.<pid>.<test_no>.1..3`, ports
/// 19001..19003: addresses of its own per test and per run, fixed before any node starts (each
/// config names every peer). `test_no` must be unique within a test binary. Returns once every
/// node sees the others up.
#[allow(dead_code)]
pub fn run_cluster(test_no: u8, threads: usize, extra: &str) -> Cluster {
    let second = 20 + (std::process::id() % 200) as u8;
    let addrs: Vec<SocketAddr> = (0..IDS.len())
        .map(|i| {
            format!("127.{second}.{test_no}.{}:{}", i + 1, 19001 + i)
                .parse()
                .expect("socket address")
        })
        .collect();
    let mut members = String::new();
    for (id, a) in IDS.iter().zip(&addrs) {
        members.push_str(&format!("  {id}: \"{a}\"\n"));
    }
    let mut nodes = Vec::new();
    for (i, id) in IDS.iter().enumerate() {
        let yaml = format!(
            "node_id: \"{id}\"\naddress: \"{}\"\ncluster_nodes:\n{members}cache_size: 100000\n\
             threads: {threads}\npin_threads: false\nlog_level: warn\ncluster:\n  \
             probe_interval: 300ms\n  probe_timeout: 300ms\n  fail_after: 10\n  \
             request_timeout: 5s\n{extra}",
            addrs[i]
        );
        let cfg = Config::from_yaml_str(&yaml, "<cluster test>").expect("valid test config");
        // From a throwaway thread, as the server's own cluster tests do: the first start of a
        // process probes io_uring with a ring whose teardown can interrupt the starting thread.
        let node = std::thread::spawn(move || Node::start(cfg))
            .join()
            .expect("start thread")
            .unwrap_or_else(|e| panic!("{id} starts: {e}"));
        nodes.push(Running { node: Some(node) });
    }
    let cluster = Cluster { nodes, addrs };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !all_up(&cluster.addrs) {
        assert!(
            std::time::Instant::now() < deadline,
            "the three nodes did not all see each other up within 20 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    cluster
}

/// Every node healthy and seeing every peer `up`.
#[allow(dead_code)]
fn all_up(addrs: &[SocketAddr]) -> bool {
    addrs.iter().all(|a| {
        let mut c = cache_client::Conn::new(a.to_string(), Duration::from_secs(2));
        let Ok(r) = c.request("GET", "/admin/cluster", None) else {
            return false;
        };
        let Some(v) = r.json() else { return false };
        v["status"] == "healthy"
            && v["nodes"].as_array().is_some_and(|ns| {
                ns.iter()
                    .all(|n| n["state"] == "self" || n["state"] == "up")
            })
    })
}
