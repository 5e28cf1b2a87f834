//! The nested config sections (`limits`, `timeouts`, `cluster`, `storage`): one struct each, their
//! defaults as named constants, and the range checks for their values. Each component receives only
//! its own section. Missing keys take the defaults; unknown keys are rejected.

use super::error::Invalid;
use super::units::{self, format_duration, format_size};
use serde::{Deserialize, Serialize};
use std::time::Duration;

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

/// Request heads larger than this get 431. 16 KiB holds any realistic client's headers (nginx's
/// default large buffer is 8 KiB) while bounding the per-connection read buffer.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 16 * KIB;
/// Below 1 KiB ordinary browser/curl heads would be refused; above 1 MiB a few thousand slow
/// connections could pin gigabytes of head buffers.
pub const HEADER_BYTES_RANGE: (usize, usize) = (KIB, MIB);
// The parser holds a head's offsets in `u32` spans and refuses longer heads whatever the limit:
// the configured limit must stay below its ceiling to mean what it says.
const _: () = assert!(HEADER_BYTES_RANGE.1 <= dcache_http::MAX_HEAD_BYTES_CEILING);
/// Targets longer than this get 414. 8 KiB fits a percent-encoded maximum-length key with room to spare.
pub const DEFAULT_MAX_TARGET_BYTES: usize = 8 * KIB;
/// Smallest target limit: `/api/v1/cache/` plus a short key.
pub const MIN_TARGET_BYTES: usize = 64;
/// Open client connections per node; beyond it new connections are refused. Matches common
/// `nofile` limits of 65535 with headroom for peers and files.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// Upper bound on `max_connections`: each connection owns read/write buffers, so a million is
/// already gigabytes.
pub const MAX_CONNECTIONS_CEILING: usize = 1_000_000;
/// Pipelined requests answered per read batch before the responses are written: bounds the write
/// buffer a single connection can grow while keeping one write per batch.
pub const DEFAULT_MAX_PIPELINE: usize = 128;
pub const MAX_PIPELINE_CEILING: usize = 4096;
/// Largest `/admin/import` body. A backup is held in memory while it is validated (so a corrupt
/// file changes nothing); 256 MiB covers ~2M small entries.
pub const DEFAULT_MAX_IMPORT_BYTES: usize = 256 * MIB;
pub const IMPORT_BYTES_RANGE: (usize, usize) = (MIB, 4096 * MIB);
/// Open connections per client IP address; 0 = no per-address limit (the default: a load
/// balancer or NAT puts many clients behind one address).
pub const DEFAULT_MAX_CONNECTIONS_PER_IP: usize = 0;
/// Connections accepted beyond `max_connections` for peers only (probes, forwards, catch-up): a
/// flood of clients must not make the other nodes think this one is dead. A connection in this
/// reserve that does not identify as a peer in its first request gets the 503.
pub const DEFAULT_RESERVED_PEER_CONNECTIONS: usize = 128;
pub const RESERVED_PEER_CONNECTIONS_CEILING: usize = 100_000;
/// Key requests waiting in one core's mailbox from the other cores (each sender gets an even
/// share). At 0.5-1 µs per key operation that is 8-16 ms of queued work, beyond any burst a
/// healthy core sees; past it the core is stalled or overloaded, and a 503 at once beats a queue
/// that only grows.
pub const DEFAULT_MAX_QUEUED_PER_CORE: usize = 16_384;
/// Above this a mailbox is unbounded in practice (seconds of work for any core).
pub const MAX_QUEUED_CEILING: usize = 1 << 22;

/// Slowloris guard: the whole head must arrive within this time of its first byte.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// A 1 MiB value at a slow 50 KiB/s link still arrives well within 30 s.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// Keep-alive connections idle longer than this are closed (above typical client pools' 30-55 s,
/// so clients close first and never race a server close).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// A response write that makes no progress for this long means a dead or stalled reader.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Graceful drain bound on SIGTERM; systemd's default stop timeout is 90 s, so this leaves margin.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// Forwarding connect timeout: peers are in the same data centre, where a connect takes < 1 ms.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_millis(200);
/// End-to-end bound on a forwarded request, so a slow peer cannot stall the client indefinitely.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// Idle keep-alive connections kept per peer per core: enough for bursts without hoarding sockets.
pub const DEFAULT_POOL_MAX_IDLE: usize = 16;
/// Open connections per peer per core; a cap so a slow peer cannot exhaust local ports and fds.
pub const DEFAULT_POOL_MAX_TOTAL: usize = 256;
/// Forwards per peer per core waiting for a connection (beyond the at most 4 batches of 64 in
/// flight). A healthy peer takes the queue every round trip, a few hundred at most; 4096 is tens
/// of round trips of headroom. Past it the peer is not keeping up, and a queued forward would only
/// wait out `request_timeout`: the client gets a 503 at once instead.
pub const DEFAULT_MAX_QUEUED_PER_PEER: usize = 4096;
/// Ceiling for `pool_max_total`: the ephemeral port range toward one peer address is ~28k-64k.
pub const POOL_MAX_TOTAL_CEILING: usize = 65_535;
/// Peers are probed once a second: detection within `fail_after` seconds at negligible cost.
/// Hints (writes kept for a replica that is down) per node: enough for minutes of a busy node's
/// writes to one peer; beyond it the peer catches up by repair instead, which costs a scan.
pub const DEFAULT_HINT_MAX_ENTRIES: usize = 100_000;
/// Bytes of hinted keys and values per node: bounds the memory an outage can pin.
pub const DEFAULT_HINT_MAX_BYTES: u64 = 64 * MIB as u64;
pub const HINT_ENTRIES_CEILING: usize = 100_000_000;
pub const DEFAULT_PROBE_INTERVAL: Duration = Duration::from_secs(1);
pub const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_millis(500);
/// Three consecutive failures mark a peer down, so one lost packet does not reshuffle keys.
pub const DEFAULT_FAIL_AFTER: u32 = 3;
/// One success brings a peer back: a false "up" costs one failed forward, a late one costs misses.
pub const DEFAULT_RECOVER_AFTER: u32 = 1;
/// Upper bound on the probe counters: beyond it detection would take minutes.
pub const PROBE_COUNT_CEILING: u32 = 100;
/// Bytes per second a node streams to its peers when membership changes: 64 MiB/s moves a
/// few GiB of cache in about a minute while leaving most of a 1 GbE link (125 MB/s) to clients.
pub const DEFAULT_MIGRATION_RATE: u64 = 64 * MIB as u64;

/// Active TTL sweep tick: frequent enough that expired entries do not linger and take memory.
pub const DEFAULT_SWEEP_INTERVAL: Duration = Duration::from_millis(100);
/// Slots examined per tick per shard: bounds the time a sweep steals from requests (~tens of µs).
pub const DEFAULT_SWEEP_BUDGET: usize = 2000;
pub const SWEEP_BUDGET_CEILING: usize = 1_000_000;

/// Every duration must be at least 1 ms (zero would mean "expire at once" or a busy loop) and at
/// most a day: longer is a typo, and `Instant + Duration` panics on overflow for absurd values.
pub const DURATION_RANGE: (Duration, Duration) =
    (Duration::from_millis(1), Duration::from_secs(24 * 60 * 60));

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields, expecting = "a mapping of `limits` keys")]
pub struct LimitsConfig {
    #[serde(with = "units::size_usize")]
    pub max_header_bytes: usize,
    #[serde(with = "units::size_usize")]
    pub max_target_bytes: usize,
    pub max_connections: usize,
    pub max_pipeline: usize,
    #[serde(with = "units::size_usize")]
    pub max_import_bytes: usize,
    pub max_connections_per_ip: usize,
    pub reserved_peer_connections: usize,
    pub max_queued_per_core: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            max_target_bytes: DEFAULT_MAX_TARGET_BYTES,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_pipeline: DEFAULT_MAX_PIPELINE,
            max_import_bytes: DEFAULT_MAX_IMPORT_BYTES,
            max_connections_per_ip: DEFAULT_MAX_CONNECTIONS_PER_IP,
            reserved_peer_connections: DEFAULT_RESERVED_PEER_CONNECTIONS,
            max_queued_per_core: DEFAULT_MAX_QUEUED_PER_CORE,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(
    default,
    deny_unknown_fields,
    expecting = "a mapping of `timeouts` keys"
)]
pub struct TimeoutsConfig {
    #[serde(with = "units::duration")]
    pub header: Duration,
    #[serde(with = "units::duration")]
    pub body: Duration,
    #[serde(with = "units::duration")]
    pub idle: Duration,
    #[serde(with = "units::duration")]
    pub write: Duration,
    #[serde(with = "units::duration")]
    pub shutdown: Duration,
}

impl Default for TimeoutsConfig {
    fn default() -> Self {
        TimeoutsConfig {
            header: DEFAULT_HEADER_TIMEOUT,
            body: DEFAULT_BODY_TIMEOUT,
            idle: DEFAULT_IDLE_TIMEOUT,
            write: DEFAULT_WRITE_TIMEOUT,
            shutdown: DEFAULT_SHUTDOWN_TIMEOUT,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(
    default,
    deny_unknown_fields,
    expecting = "a mapping of `cluster` keys"
)]
pub struct ClusterConfig {
    #[serde(with = "units::duration")]
    pub connect_timeout: Duration,
    #[serde(with = "units::duration")]
    pub request_timeout: Duration,
    pub pool_max_idle: usize,
    pub pool_max_total: usize,
    pub max_queued_per_peer: usize,
    #[serde(with = "units::duration")]
    pub probe_interval: Duration,
    #[serde(with = "units::duration")]
    pub probe_timeout: Duration,
    pub fail_after: u32,
    pub recover_after: u32,
    /// Most hints kept per node (0 = none: a returning replica always catches up by repair).
    pub hint_max_entries: usize,
    #[serde(with = "units::size")]
    pub hint_max_bytes: u64,
    /// Bytes per second streamed to new replicas while membership changes (0 = unthrottled).
    #[serde(with = "units::size")]
    pub migration_rate: u64,
    /// `""` (off) or `dns:<name>:<port>`; parsed form: [`ClusterConfig::discovery`].
    pub discovery: String,
    /// `""` (the first `nameserver` of /etc/resolv.conf) or `ip:port`; parsed form:
    /// [`ClusterConfig::discovery_resolver`].
    pub discovery_resolver: String,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            pool_max_idle: DEFAULT_POOL_MAX_IDLE,
            pool_max_total: DEFAULT_POOL_MAX_TOTAL,
            max_queued_per_peer: DEFAULT_MAX_QUEUED_PER_PEER,
            probe_interval: DEFAULT_PROBE_INTERVAL,
            probe_timeout: DEFAULT_PROBE_TIMEOUT,
            fail_after: DEFAULT_FAIL_AFTER,
            recover_after: DEFAULT_RECOVER_AFTER,
            hint_max_entries: DEFAULT_HINT_MAX_ENTRIES,
            hint_max_bytes: DEFAULT_HINT_MAX_BYTES,
            migration_rate: DEFAULT_MIGRATION_RATE,
            discovery: String::new(),
            discovery_resolver: String::new(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(
    default,
    deny_unknown_fields,
    expecting = "a mapping of `storage` keys"
)]
pub struct StorageConfig {
    #[serde(with = "units::duration")]
    pub sweep_interval: Duration,
    pub sweep_budget: usize,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            sweep_interval: DEFAULT_SWEEP_INTERVAL,
            sweep_budget: DEFAULT_SWEEP_BUDGET,
        }
    }
}

/// Checks `min <= value <= max` for a plain number, naming the key on failure.
pub(crate) fn check_range<T: PartialOrd + std::fmt::Display>(
    section: Option<&'static str>,
    key: &str,
    value: T,
    (min, max): (T, T),
) -> Result<(), Invalid> {
    if value < min || value > max {
        let message = format!("{value} is out of range ({min}..={max})");
        return Err(Invalid {
            section,
            key: key.to_owned(),
            message,
        });
    }
    Ok(())
}

/// Like [`check_range`] for byte sizes, printing values with units.
pub(crate) fn check_size(
    section: Option<&'static str>,
    key: &str,
    value: usize,
    (min, max): (usize, usize),
) -> Result<(), Invalid> {
    if value < min || value > max {
        let [v, lo, hi] = [value, min, max].map(|n| format_size(n as u64));
        let message = format!("{v} is out of range ({lo}..={hi})");
        return Err(Invalid {
            section,
            key: key.to_owned(),
            message,
        });
    }
    Ok(())
}

pub(super) fn check_durations(
    section: &'static str,
    fields: &[(&str, Duration)],
) -> Result<(), Invalid> {
    let (min, max) = DURATION_RANGE;
    for &(key, value) in fields {
        if value < min || value > max {
            let [v, lo, hi] = [value, min, max].map(format_duration);
            return Err(Invalid::at(
                section,
                key,
                format!("{v} is out of range ({lo}..={hi})"),
            ));
        }
    }
    Ok(())
}

impl LimitsConfig {
    pub(crate) fn validate(&self) -> Result<(), Invalid> {
        const S: Option<&str> = Some("limits");
        check_size(
            S,
            "max_header_bytes",
            self.max_header_bytes,
            HEADER_BYTES_RANGE,
        )?;
        // The target is part of the head, so a larger target limit could never be reached.
        let target_range = (MIN_TARGET_BYTES, self.max_header_bytes);
        check_size(S, "max_target_bytes", self.max_target_bytes, target_range)?;
        check_range(
            S,
            "max_connections",
            self.max_connections,
            (1, MAX_CONNECTIONS_CEILING),
        )?;
        check_range(
            S,
            "max_pipeline",
            self.max_pipeline,
            (1, MAX_PIPELINE_CEILING),
        )?;
        check_size(
            S,
            "max_import_bytes",
            self.max_import_bytes,
            IMPORT_BYTES_RANGE,
        )?;
        check_range(
            S,
            "max_connections_per_ip",
            self.max_connections_per_ip,
            (0, MAX_CONNECTIONS_CEILING),
        )?;
        check_range(
            S,
            "reserved_peer_connections",
            self.reserved_peer_connections,
            (0, RESERVED_PEER_CONNECTIONS_CEILING),
        )?;
        check_range(
            S,
            "max_queued_per_core",
            self.max_queued_per_core,
            (1, MAX_QUEUED_CEILING),
        )
    }
}

impl TimeoutsConfig {
    pub(crate) fn validate(&self) -> Result<(), Invalid> {
        check_durations(
            "timeouts",
            &[
                ("header", self.header),
                ("body", self.body),
                ("idle", self.idle),
                ("write", self.write),
                ("shutdown", self.shutdown),
            ],
        )
    }
}

impl ClusterConfig {
    pub(crate) fn validate(&self) -> Result<(), Invalid> {
        const S: Option<&str> = Some("cluster");
        check_durations(
            "cluster",
            &[
                ("connect_timeout", self.connect_timeout),
                ("request_timeout", self.request_timeout),
                ("probe_interval", self.probe_interval),
                ("probe_timeout", self.probe_timeout),
            ],
        )?;
        check_range(
            S,
            "pool_max_total",
            self.pool_max_total,
            (1, POOL_MAX_TOTAL_CEILING),
        )?;
        check_range(
            S,
            "pool_max_idle",
            self.pool_max_idle,
            (0, self.pool_max_total),
        )?;
        check_range(
            S,
            "max_queued_per_peer",
            self.max_queued_per_peer,
            (1, MAX_QUEUED_CEILING),
        )?;
        check_range(S, "fail_after", self.fail_after, (1, PROBE_COUNT_CEILING))?;
        check_range(
            S,
            "recover_after",
            self.recover_after,
            (1, PROBE_COUNT_CEILING),
        )?;
        check_range(
            S,
            "hint_max_entries",
            self.hint_max_entries,
            (0, HINT_ENTRIES_CEILING),
        )?;
        // A connect is part of the forwarded request; a probe outliving its interval would overlap
        // the next one and double the probe load.
        if self.connect_timeout > self.request_timeout {
            let message = "must not exceed cluster.request_timeout (the connect is part of it)";
            return Err(Invalid::at("cluster", "connect_timeout", message));
        }
        if self.probe_timeout > self.probe_interval {
            let message = "must not exceed cluster.probe_interval (probes would overlap)";
            return Err(Invalid::at("cluster", "probe_timeout", message));
        }
        super::discovery::validate(&self.discovery, &self.discovery_resolver)
    }
}

impl StorageConfig {
    pub(crate) fn validate(&self) -> Result<(), Invalid> {
        check_durations("storage", &[("sweep_interval", self.sweep_interval)])?;
        check_range(
            Some("storage"),
            "sweep_budget",
            self.sweep_budget,
            (1, SWEEP_BUDGET_CEILING),
        )
    }
}

#[cfg(test)]
#[path = "sections_tests.rs"]
mod tests;
