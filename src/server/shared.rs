//! What every core of one node shares: the config, the mesh, the cluster view, start-up facts.
//!
//! Read-mostly: cores read it on every request without locks; the atomics change on rare paths
//! (draining, connection counting).

use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use super::core::Msg;
use crate::clock::Clock;
use crate::cluster::Cluster;
use crate::config::Config;
use crate::mesh::Mesh;
use crate::watchdog::Heartbeats;

/// Fixed seeds for the key -> core hash: every core of a process must agree (not across
/// machines: the ring, not this, places keys on nodes). Independent of the shard index seeds
/// (`storage::shard::DEFAULT_HASH_SEEDS`), see the test below.
const CORE_HASH_SEEDS: [u64; 4] = [
    0x243f_6a88_85a3_08d3,
    0x1319_8a2e_0370_7344,
    0xa409_3822_299f_31d0,
    0x082e_fa98_ec4e_6c89,
];

/// Maps a key to the core whose shard holds it.
pub(crate) struct CoreHash {
    hasher: ahash::RandomState,
    cores: usize,
}

impl CoreHash {
    pub(crate) fn new(cores: usize) -> CoreHash {
        let [a, b, c, d] = CORE_HASH_SEEDS;
        CoreHash {
            hasher: ahash::RandomState::with_seeds(a, b, c, d),
            cores,
        }
    }

    pub(crate) fn cores(&self) -> usize {
        self.cores
    }

    /// The core whose shard holds `key`.
    pub(crate) fn core_of(&self, key: &[u8]) -> usize {
        if self.cores == 1 {
            return 0;
        }
        let h = self.hasher.hash_one(key);
        // Lemire's fast range: uniform over 0..n without a division.
        ((u128::from(h) * self.cores as u128) >> 64) as usize
    }
}

/// State shared by all cores of one node.
pub(crate) struct NodeShared {
    pub cfg: Config,
    pub mesh: Mesh<Msg>,
    pub placement: CoreHash,
    pub cluster: Arc<Cluster>,
    pub clock: Clock,
    pub started: Instant,
    pub started_wall: SystemTime,
    /// Set once at shutdown; the prober thread watches it too.
    pub draining: Arc<AtomicBool>,
    /// Open connections per listener and per client address (see `admission`).
    pub conns: super::admission::Counts,
    pub local_addr: SocketAddr,
    /// Where `/admin/*` is served when `admin_address` is set (the bound port, for port 0).
    pub admin_addr: Option<SocketAddr>,
    /// The I/O driver the cores run (`auto` resolved).
    pub io_driver: crate::config::IoDriver,
    /// One counter per core, bumped by its heartbeat task; the systemd watchdog thread pings
    /// only while all of them move.
    pub heartbeats: Arc<Heartbeats>,
    /// Versions for the writes this node coordinates (every core draws from it).
    pub hlc: crate::storage::version::Hlc,
    /// Catch-up progress and the stall detector's verdicts.
    pub sync: super::sync::SyncState,
    /// Bumped when keys this node does not replicate may have been stored here (a stand-in
    /// write, a membership change): every core's sweep then hands such keys to their replicas.
    pub foreign_epoch: std::sync::atomic::AtomicU64,
    /// The bearer tokens and the cluster secret (swapped whole on SIGHUP).
    pub auth: Arc<crate::auth::Keyring>,
    /// One import at a time per node (`POST /admin/import`, see `handlers::import::gate`).
    pub imports: Arc<super::handlers::import::ImportGate>,
    /// Flushes members missed, kept until they take them (`handlers::flush::pending`).
    pub flushes: super::handlers::flush::PendingFlushes,
    /// Leases on hot keys: granted here as owner, floors of invalidations received as holder.
    pub leases: super::hot::lease::Leases,
    /// Write epochs every shard bumps and every core's copies of hot keys check.
    pub stripes: Arc<crate::storage::stripes::Stripes>,
}

impl NodeShared {
    /// A fresh version for a write entering the cluster here.
    pub(crate) fn next_version(&self) -> u64 {
        self.hlc.next(crate::cluster::unix_ms())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::shard::DEFAULT_HASH_SEEDS;

    /// hashbrown's control tag is the top 7 bits of the index hash; the core choice also uses
    /// the top bits of the core hash. With independent seeds, the keys of one core of eight
    /// still spread over all 128 tag values.
    #[test]
    fn one_cores_keys_use_every_shard_tag() {
        let cores = CoreHash::new(8);
        let [a, b, c, d] = DEFAULT_HASH_SEEDS;
        let shard_hash = ahash::RandomState::with_seeds(a, b, c, d);
        let mut tags = [false; 128];
        let mut n = 0;
        for i in 0..200_000u32 {
            let key = format!("key:{i}");
            if cores.core_of(key.as_bytes()) != 0 {
                continue;
            }
            n += 1;
            tags[(shard_hash.hash_one(key.as_bytes()) >> 57) as usize] = true;
        }
        assert!(n > 20_000, "core 0 got {n} keys");
        let used = tags.iter().filter(|&&t| t).count();
        assert_eq!(used, 128, "one core's keys use only {used} of 128 tags");
        assert_ne!(CORE_HASH_SEEDS, DEFAULT_HASH_SEEDS);
    }
}
