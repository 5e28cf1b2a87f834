//! Worker threads and CPU pinning when several nodes of one cluster share a host.
//!
//! The deployment guide's local cluster runs three nodes on one machine. With `threads: 0`
//! (one worker per CPU) and pinning, every node used to take every CPU and pin its worker N to
//! CPU N, so three nodes stacked six pinned workers on two cores and fought over them. Instead,
//! a node counts the members of `cluster_nodes` that live on its host and takes its share:
//! member i of n (in node-id order) gets CPUs `[i*k, (i+1)*k)` of the CPUs it may run on, with
//! `k = cpus / n` (or CPU `i mod cpus` when there are fewer CPUs than nodes). `threads: 0`
//! becomes `k` (at least 1), and pinning uses only the node's own CPUs, also when `threads` is
//! set explicitly (which still wins for the count). A member is on this host when its address is
//! a loopback address or `localhost`, or has the same host part as this node's own `address`.
//! Names that are neither (DNS names of other machines or containers) count as elsewhere.
//!
//! Pinning is the default only where it gives each node CPUs of its own ([`pins_by_default`]):
//! where co-located members outnumber the CPUs (the guide's three nodes on a 2-CPU machine),
//! two of them would be pinned to one CPU and wait for each other at every forward while the
//! other CPU may idle; unpinned, the scheduler runs a woken node wherever a CPU is free. Measured
//! on the shipped local cluster (2 vCPUs, wrk on CPU 1, 6 interleaved rounds): 101-116k req/s
//! unpinned against 85-98k pinned, with less CPU per request and lower latency at every fixed
//! rate (docs/benchmarks.md, "Co-located nodes unpinned"). `pin_threads: true` written in the config
//! still pins them (to CPU `i mod cpus`).

use std::collections::BTreeMap;
use std::net::IpAddr;

/// Where this node ranks among the cluster's members on the same host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CoLocation {
    /// This node's position among the co-located members, in node-id order.
    pub index: usize,
    /// Co-located members, this node included (1 = alone on the host).
    pub count: usize,
}

/// The host part of `host:port` (`[v6]:port` too), lower-cased.
fn host_of(addr: &str) -> String {
    let host = match addr.rsplit_once(':') {
        Some((h, _)) => h,
        None => addr,
    };
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase()
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Which members share this host with node `me` whose own address is `my_address`.
pub(crate) fn co_location(
    me: &str,
    my_address: &str,
    nodes: &BTreeMap<String, String>,
) -> CoLocation {
    let mine = host_of(my_address);
    let here = |addr: &str| {
        let h = host_of(addr);
        is_loopback(&h) || (!mine.is_empty() && h == mine && !is_unspecified(&h))
    };
    if !nodes.contains_key(me) {
        return CoLocation { index: 0, count: 1 };
    }
    // BTreeMap iterates in key order: every co-located node computes the same ranking.
    let local: Vec<&str> = nodes
        .iter()
        .filter(|(id, addr)| id.as_str() == me || here(addr))
        .map(|(id, _)| id.as_str())
        .collect();
    CoLocation {
        index: local.iter().position(|id| *id == me).unwrap_or(0),
        count: local.len().max(1),
    }
}

fn is_unspecified(host: &str) -> bool {
    host.parse::<IpAddr>().is_ok_and(|ip| ip.is_unspecified())
}

/// The CPUs this node's workers pin to: its share of the CPUs it may run on.
pub(crate) fn share(cpus: &[usize], co: CoLocation) -> Vec<usize> {
    if cpus.is_empty() {
        return Vec::new();
    }
    let n = co.count.max(1);
    if cpus.len() < n {
        return vec![cpus[co.index % cpus.len()]];
    }
    let k = cpus.len() / n;
    cpus[co.index * k..(co.index + 1) * k].to_vec()
}

/// The CPUs this process may run on (its affinity mask), ascending.
pub(crate) fn allowed() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity only writes into it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}

/// Whether node `me` pins its workers when `pin_threads` is not set: unless its co-located
/// members outnumber the CPUs it may run on (then none has a CPU of its own; see the module).
pub(crate) fn pins_by_default(
    me: &str,
    my_address: &str,
    nodes: &BTreeMap<String, String>,
) -> bool {
    owns_cpus(allowed().len(), co_location(me, my_address, nodes))
}

/// Whether each of `co.count` co-located members gets at least one of `cpus` CPUs to itself
/// (an unknown CPU count, 0, counts as enough: nothing is pinned then anyway).
fn owns_cpus(cpus: usize, co: CoLocation) -> bool {
    cpus == 0 || co.count <= cpus
}

/// The CPUs node `me` (own address `my_address`) pins its workers to.
pub(crate) fn plan(me: &str, my_address: &str, nodes: &BTreeMap<String, String>) -> Vec<usize> {
    share(&allowed(), co_location(me, my_address, nodes))
}

/// Run the calling thread `SCHED_BATCH` (see `config::WorkerScheduling`): woken, it no longer
/// preempts the thread on its CPU. Needs no privilege (a normal thread may always lower itself).
pub(crate) fn schedule_batch() -> std::io::Result<()> {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: pid 0 is the calling thread; `param` is a valid sched_param for SCHED_BATCH.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Pin the calling thread to `cpu`.
pub(crate) fn pin(cpu: usize) {
    // SAFETY: cpu_set_t is plain data; sched_setaffinity only reads it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(list: &[(&str, &str)]) -> BTreeMap<String, String> {
        list.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn the_guides_local_cluster_splits_two_cpus_over_three_nodes() {
        let n = nodes(&[
            ("node1", "localhost:8001"),
            ("node2", "localhost:8002"),
            ("node3", "localhost:8003"),
        ]);
        let co: Vec<CoLocation> = ["node1", "node2", "node3"]
            .iter()
            .map(|id| co_location(id, "localhost:800x", &n))
            .collect();
        assert_eq!(co[0], CoLocation { index: 0, count: 3 });
        assert_eq!(co[2], CoLocation { index: 2, count: 3 });
        let cpus = [0, 1];
        assert_eq!(share(&cpus, co[0]), vec![0]);
        assert_eq!(share(&cpus, co[1]), vec![1]);
        assert_eq!(share(&cpus, co[2]), vec![0]);
        // Eight CPUs: two each, disjoint.
        let eight: Vec<usize> = (0..8).collect();
        assert_eq!(share(&eight, co[1]), vec![2, 3]);
        // Pinned by default only where each gets a CPU of its own.
        assert!(!owns_cpus(2, co[0]));
        assert!(owns_cpus(3, co[0]));
        assert!(owns_cpus(8, co[2]));
        assert!(owns_cpus(1, CoLocation { index: 0, count: 1 }));
        assert!(owns_cpus(0, co[1]));
    }

    #[test]
    fn a_thread_may_lower_itself_to_batch() {
        std::thread::spawn(|| {
            schedule_batch().expect("SCHED_BATCH needs no privilege");
            // SAFETY: pid 0 is this thread.
            assert_eq!(unsafe { libc::sched_getscheduler(0) }, libc::SCHED_BATCH);
        })
        .join()
        .expect("thread");
    }

    #[test]
    fn nodes_on_other_hosts_do_not_count() {
        let n = nodes(&[
            ("a", "10.0.0.1:8001"),
            ("b", "10.0.0.2:8001"),
            ("c", "10.0.0.1:8002"),
            ("d", "cache-d.svc:8001"),
        ]);
        assert_eq!(
            co_location("a", "10.0.0.1:8001", &n),
            CoLocation { index: 0, count: 2 }
        );
        assert_eq!(
            co_location("c", "10.0.0.1:8002", &n),
            CoLocation { index: 1, count: 2 }
        );
        assert_eq!(
            co_location("d", "cache-d.svc:8001", &n),
            CoLocation { index: 0, count: 1 }
        );
        // A standalone node, or one missing from the list, is alone.
        assert_eq!(
            co_location("x", "127.0.0.1:1", &BTreeMap::new()),
            CoLocation { index: 0, count: 1 }
        );
    }

    #[test]
    fn hosts_are_compared_without_ports_and_brackets() {
        assert_eq!(host_of("[::1]:8001"), "::1");
        assert_eq!(host_of("LocalHost:1"), "localhost");
        assert!(is_loopback("127.0.0.2"));
        assert!(!is_loopback("10.0.0.1"));
    }
}
