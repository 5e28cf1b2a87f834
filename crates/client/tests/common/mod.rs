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
