//! Who is in a test cluster and where each key lives: member ids, addresses and configs, the
//! ring every node builds, owners and preference lists; and seeded random numbers.

use std::net::SocketAddr;

use dcache::cluster::ring::Ring;

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
/// `test_no` must be unique within a test binary (cargo runs the binaries one after the other,
/// and the pid in the address keeps two runs apart): consistency 1-9, backup 20-22 and 26-27,
/// failover 30-34, queue_bounds 50, node_auth 60-61, node_tls 60-61, node_connections 60-61,
/// elastic 160-163 (five addresses each, `tests/elastic/nodes.rs`).
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
