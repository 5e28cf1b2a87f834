//! Validation of a parsed file: range and cross-key checks that turn a `FileConfig` into a
//! [`Config`].

use std::collections::BTreeMap;

use super::error::Invalid;
use super::sections::{check_range, check_size};
use super::{address, Config, FileConfig};
use super::{MAX_ACCESS_LOG_EVERY, MAX_CACHE_SIZE, MAX_CLUSTER_NODES, MAX_KEY_BYTES_CEILING};
use super::{MAX_REPLICAS, MAX_THREADS, MAX_VALUE_BYTES_CEILING, VIRTUAL_NODES_RANGE};

/// Range and cross-key checks, in file order; resolves `address` and `threads`.
pub(super) fn validate(file: FileConfig, source: &str) -> Result<Config, Invalid> {
    address::validate_node_id(&file.node_id).map_err(|m| Invalid::top("node_id", m))?;
    let listen = address::resolve_listen(&file.address).map_err(|m| Invalid::top("address", m))?;
    validate_cluster_nodes(&file.node_id, &file.cluster_nodes)?;
    check_range(None, "cache_size", file.cache_size, (1, MAX_CACHE_SIZE))?;
    check_range(
        None,
        "virtual_nodes",
        file.virtual_nodes,
        VIRTUAL_NODES_RANGE,
    )?;
    check_range(None, "threads", file.threads, (0, MAX_THREADS))?;
    check_range(
        None,
        "access_log_every",
        file.access_log_every,
        (0, MAX_ACCESS_LOG_EVERY),
    )?;
    check_range(
        None,
        "max_key_bytes",
        file.max_key_bytes,
        (1, MAX_KEY_BYTES_CEILING),
    )?;
    let value_range = (1, MAX_VALUE_BYTES_CEILING);
    check_size(None, "max_value_bytes", file.max_value_bytes, value_range)?;
    super::caching::check_no_ttl(&file.cache_control_no_ttl)?;
    check_range(None, "replicas", file.replicas, (0, MAX_REPLICAS))?;
    check_tombstone_ttl(file.tombstone_ttl)?;
    file.limits.validate()?;
    file.timeouts.validate()?;
    file.cluster.validate()?;
    file.storage.validate()?;
    file.hot_keys.validate()?;
    file.tls.validate()?;
    file.auth.validate()?;
    let admin_listen = resolve_admin_address(&file.admin_address, listen)?;
    let threads = match file.threads {
        // One worker per CPU of this node's share of the host (see `cpus`).
        0 => crate::cpus::plan(&file.node_id, &file.address, &file.cluster_nodes)
            .len()
            .clamp(1, MAX_THREADS),
        n => n,
    };
    // Pinning keeps each shard's data in one core's caches, where the node has cores of its own
    // (see `cpus`).
    let pin_threads = file.pin_threads.resolve(|| {
        crate::cpus::pins_by_default(&file.node_id, &file.address, &file.cluster_nodes)
    });
    let replicas = resolve_replicas(file.replicas, file.cluster_nodes.len());
    Ok(Config {
        node_id: file.node_id,
        address: file.address,
        listen,
        cluster_nodes: file.cluster_nodes,
        cache_size: file.cache_size,
        virtual_nodes: file.virtual_nodes,
        threads,
        pin_threads,
        io_driver: file.io_driver,
        idle_poll: file.idle_poll,
        worker_scheduling: file.worker_scheduling,
        max_memory: file.max_memory,
        max_key_bytes: file.max_key_bytes,
        max_value_bytes: file.max_value_bytes,
        cache_control_no_ttl: file.cache_control_no_ttl,
        log_level: file.log_level,
        log_format: file.log_format,
        access_log_every: file.access_log_every,
        replicas,
        replicas_wanted: if file.replicas == 0 { 2 } else { file.replicas },
        data_dir: file.data_dir,
        tombstone_ttl: file.tombstone_ttl,
        limits: file.limits,
        timeouts: file.timeouts,
        cluster: file.cluster,
        storage: file.storage,
        hot_keys: file.hot_keys,
        admin_address: file.admin_address,
        admin_listen,
        auth: file.auth,
        tls: file.tls,
        source: source.to_owned(),
    })
}

/// `admin_address` must be a listen address of its own: the same socket as `address` would make
/// the split meaningless (and the second bind fail).
fn resolve_admin_address(
    text: &str,
    listen: std::net::SocketAddr,
) -> Result<Option<std::net::SocketAddr>, Invalid> {
    if text.is_empty() {
        return Ok(None);
    }
    let admin = address::resolve_listen(text).map_err(|m| Invalid::top("admin_address", m))?;
    if admin.port() == listen.port() && admin.port() != 0 {
        return Err(Invalid::top(
            "admin_address",
            format!(
                "{text:?} uses the same port as address ({listen}); give the admin listener a port of its own"
            ),
        ));
    }
    Ok(Some(admin))
}

/// A tombstone shorter than a restart would let a hint or catch-up undo a delete; longer than a
/// week only holds memory.
fn check_tombstone_ttl(ttl: std::time::Duration) -> Result<(), Invalid> {
    let (min, max) = super::TOMBSTONE_TTL_RANGE;
    if ttl < min || ttl > max {
        let [v, lo, hi] = [ttl, min, max].map(super::format_duration);
        return Err(Invalid::top(
            "tombstone_ttl",
            format!("{v} is out of range ({lo}..={hi})"),
        ));
    }
    Ok(())
}

/// `replicas: 0` means 2 on a cluster of two or more nodes; any value is capped at the node count
/// (a key cannot have more copies than there are nodes to hold them).
fn resolve_replicas(configured: usize, nodes: usize) -> usize {
    let nodes = nodes.max(1);
    let wanted = if configured == 0 { 2 } else { configured };
    wanted.min(nodes)
}

fn validate_cluster_nodes(node_id: &str, nodes: &BTreeMap<String, String>) -> Result<(), Invalid> {
    if nodes.len() > MAX_CLUSTER_NODES {
        let message = format!(
            "{} nodes is more than the maximum {MAX_CLUSTER_NODES}",
            nodes.len()
        );
        return Err(Invalid::top("cluster_nodes", message));
    }
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for (id, addr) in nodes {
        address::validate_node_id(id).map_err(|m| Invalid::at("cluster_nodes", id, m))?;
        address::validate_peer_address(addr).map_err(|m| Invalid::at("cluster_nodes", id, m))?;
        if let Some(other) = seen.insert(addr, id) {
            let message = format!("address {addr:?} is also used by node `{other}`");
            return Err(Invalid::at("cluster_nodes", id, message));
        }
    }
    if !nodes.is_empty() && !nodes.contains_key(node_id) {
        let ids: Vec<&str> = nodes.keys().map(String::as_str).collect();
        let message = format!(
            "node `{node_id}` is not listed in cluster_nodes ({}); every node must list itself",
            ids.join(", ")
        );
        return Err(Invalid::top("node_id", message));
    }
    Ok(())
}
