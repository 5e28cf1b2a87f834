//! Node configuration: the YAML schema (the seed's keys at the top level, further settings in one
//! section each), defaults, validation, and the effective config printed at start-up.
//!
//! Loading never panics: every problem becomes a [`ConfigError`] naming the file, the key and the
//! line, which `main` prints before exiting non-zero. Parsing and validation are separate steps:
//! serde handles shapes, types, unknown and duplicate keys (with positions); `validate` checks
//! ranges and cross-key rules afterwards and finds the offending line by scanning the text.
//! Before either, `${NAME}` references are replaced by environment variables (`env.rs`).

mod address;
mod caching;
mod discovery;
mod env;
mod error;
mod hot;
mod pinning;
mod sections;
mod security;
mod units;
mod validate;

pub use address::{validate_node_id, MAX_NODE_ID_BYTES, RESOLVE_TIMEOUT};
pub use caching::{CACHE_CONTROL_NONE, DEFAULT_CACHE_CONTROL_NO_TTL, MAX_CACHE_CONTROL_BYTES};
pub use discovery::{Discovery, DISCOVERY_SCHEME, MAX_DNS_LABEL_BYTES, MAX_DNS_NAME_BYTES};
pub use error::ConfigError;
pub use hot::*;
pub use sections::*;
pub use security::{AuthConfig, TlsConfig};
pub use security::{
    ENV_ADMIN_TOKEN, ENV_CLIENT_READ_TOKEN, ENV_CLIENT_TOKEN, ENV_CLUSTER_SECRET, ENV_METRICS_TOKEN,
};
pub use units::{format_duration, format_size, parse_duration, parse_size};

use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::net::SocketAddr;
use std::path::Path;
use validate::validate;

/// Ring points per node. 150 keeps every node's share of keys within a few percent of fair while
/// the ring stays small (seed default; the ring's own ceiling is 10000).
pub const DEFAULT_VIRTUAL_NODES: u32 = 150;
/// More points than this only slow the ring build and lookups for no measurable balance gain.
pub const VIRTUAL_NODES_RANGE: (u32, u32) = (1, 10_000);
/// 0 = one worker per available CPU, the natural size for a thread-per-core server.
pub const DEFAULT_THREADS: usize = 0;
/// Each worker is a pinned runtime with a queue to every other worker (N² queues): past 1024 that
/// mesh itself becomes the problem. Automatic detection is clamped to this too.
pub const MAX_THREADS: usize = 1024;
pub const DEFAULT_IO_DRIVER: IoDriver = IoDriver::Auto;
/// 0 = no byte limit: the seed only bounds the entry count (`cache_size`).
pub const DEFAULT_MAX_MEMORY: u64 = 0;
/// memcached's key limit: long enough for any structured key, short enough to keep the index small.
pub const DEFAULT_MAX_KEY_BYTES: usize = 250;
/// Key lengths must fit 16 bits on the wire and in per-entry metadata.
pub const MAX_KEY_BYTES_CEILING: usize = 65_535;
/// memcached's default item limit: values are buffered whole, so they must stay modest.
pub const DEFAULT_MAX_VALUE_BYTES: usize = 1024 * 1024;
/// A value is held whole in memory while it is received and forwarded; beyond 512 MiB a handful of
/// concurrent uploads could exhaust the node.
pub const MAX_VALUE_BYTES_CEILING: usize = 512 * 1024 * 1024;
pub const DEFAULT_LOG_LEVEL: LogLevel = LogLevel::Info;
/// Plain lines by default: what the seed's scripts redirect into files and operators `grep`.
pub const DEFAULT_LOG_FORMAT: LogFormat = LogFormat::Text;
/// The access log is off by default: a line per request would cost more than serving it.
pub const DEFAULT_ACCESS_LOG_EVERY: u64 = 0;
/// Sampling coarser than one request in a million tells nothing an operator can use.
pub const MAX_ACCESS_LOG_EVERY: u64 = 1_000_000;
/// Storage slab indices are u32 with `u32::MAX` reserved as NIL, so no shard can hold more entries.
pub const MAX_CACHE_SIZE: usize = u32::MAX as usize - 1;
/// The ring indexes nodes with u16 and holds nodes × virtual_nodes points; 1024 nodes × 10000 points
/// is already ~160 MiB of ring, far past any cluster this design targets.
pub const MAX_CLUSTER_NODES: usize = 1024;
/// 0 = automatic: 2 copies of every key on a cluster of two or more nodes (one node may fail or
/// restart without losing data), 1 on a standalone node. Capped at the number of nodes.
pub const DEFAULT_REPLICAS: usize = 0;
/// Every copy is written synchronously: past 7 a write waits on more peers than any failure
/// model needs, and the preference list walk grows with it.
pub const MAX_REPLICAS: usize = 7;
/// Tombstones must outlive any hint or catch-up that could still carry an older write of the key;
/// 10 minutes covers a restart or an upgrade step with room to spare (Cassandra's gc_grace idea).
pub const DEFAULT_TOMBSTONE_TTL: std::time::Duration = std::time::Duration::from_secs(600);
pub const TOMBSTONE_TTL_RANGE: (std::time::Duration, std::time::Duration) = (
    std::time::Duration::from_secs(1),
    std::time::Duration::from_secs(7 * 24 * 3600),
);
/// A config file is a few KiB; the cap keeps a mistaken path (a log, /dev/zero) from eating memory.
pub const MAX_CONFIG_FILE_BYTES: u64 = 1024 * 1024;

/// The io backend monoio should use. `Auto` tries io_uring and falls back to epoll.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IoDriver {
    Auto,
    Uring,
    Epoll,
}

/// What a worker's CPU does when the worker has nothing to do: halt, once the worker has polled
/// a few µs after its last message (`brief`), or keep spinning in a lowest-priority thread
/// (`always`, see `node::idle`). Waking a halted CPU is what an idle node's first request and
/// cross-core call cost (50-100 µs on a VM, tens of µs from a deep C-state on bare metal);
/// `always` spends power and shows each worker CPU 100 % busy to avoid it. Explicit only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IdlePoll {
    Brief,
    Always,
}

/// How the kernel schedules the worker threads. `batch` runs them `SCHED_BATCH`: a worker woken
/// (a request arrived, a neighbour sent it work) does not preempt the thread running on its CPU
/// but waits until that one sleeps or the scheduler tick ends its slice. Where co-located nodes
/// share a CPU and a closed-loop load keeps them busy, that stops them preempting each other at
/// every forward (the local 3-node cluster: +10-30 % req/s under wrk); next to any thread that
/// keeps a CPU busy (a spinning load generator, a build) it delays every wake-up by up to a
/// tick (p50 of 10-14 ms instead of 0.5 ms at 40k req/s open loop), so it is opt-in, never
/// picked by itself (`docs/benchmarks.md`, "Co-located nodes").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkerScheduling {
    Normal,
    Batch,
}

/// Log verbosity, ordered from least to most verbose: `level <= config.log_level` means "print".
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
}

/// Shape of a log line: `text` for people and `grep`, `json` (one object per line) for log
/// shippers (Loki, Elasticsearch, journald exporters) that index fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl LogFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }
}

impl IoDriver {
    pub fn as_str(self) -> &'static str {
        match self {
            IoDriver::Auto => "auto",
            IoDriver::Uring => "uring",
            IoDriver::Epoll => "epoll",
        }
    }
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
        }
    }
}

impl fmt::Display for IoDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The validated configuration of one node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub node_id: String,
    /// As written in the file, e.g. `":8001"`.
    pub address: String,
    /// `address` resolved at load time.
    pub listen: SocketAddr,
    /// Node id -> `host:port`; empty for a standalone node, otherwise contains `node_id`.
    pub cluster_nodes: BTreeMap<String, String>,
    /// Maximum entries for the whole node (split across worker threads).
    pub cache_size: usize,
    pub virtual_nodes: u32,
    /// Worker threads, resolved (>= 1).
    pub threads: usize,
    /// Pin worker thread i to the i-th CPU of this node's share, resolved: as written, else
    /// [`crate::cpus::pins_by_default`].
    pub pin_threads: bool,
    pub io_driver: IoDriver,
    pub idle_poll: IdlePoll,
    pub worker_scheduling: WorkerScheduling,
    /// Byte budget for keys + values + overhead for the whole node; 0 = no byte limit.
    pub max_memory: u64,
    pub max_key_bytes: usize,
    pub max_value_bytes: usize,
    /// `Cache-Control` of GET answers for values without TTL ([`CACHE_CONTROL_NONE`]: none).
    pub cache_control_no_ttl: String,
    pub log_level: LogLevel,
    pub log_format: LogFormat,
    /// Log one request in this many per core (0 = no access log).
    pub access_log_every: u64,
    /// Copies of each key, owner included, resolved (1 ..= nodes).
    pub replicas: usize,
    /// Copies wanted before capping at the configured node count (`replicas: 0` = 2): the cap
    /// moves with the membership (a node started alone keeps 2 copies once others join).
    pub replicas_wanted: usize,
    /// Directory for warm-restart snapshots; empty = off.
    pub data_dir: String,
    /// How long a delete's tombstone is kept at least.
    pub tombstone_ttl: std::time::Duration,
    pub limits: LimitsConfig,
    pub timeouts: TimeoutsConfig,
    pub cluster: ClusterConfig,
    pub storage: StorageConfig,
    pub hot_keys: HotKeysConfig,
    /// `admin_address` as written; empty = `/admin/*` is served on `address` too.
    pub admin_address: String,
    /// `admin_address` resolved at load time.
    pub admin_listen: Option<SocketAddr>,
    pub auth: AuthConfig,
    pub tls: TlsConfig,
    /// The file this was loaded from, or `"<string>"`.
    pub source: String,
}

/// The file's schema. Also serialised by [`Config::to_yaml`], so field order is the file's order.
#[derive(Debug, Deserialize, Serialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping of config keys (node_id, address, ...)"
)]
struct FileConfig {
    node_id: String,
    address: String,
    #[serde(default, deserialize_with = "address::de_cluster_nodes")]
    cluster_nodes: BTreeMap<String, String>,
    cache_size: usize,
    #[serde(default = "default_virtual_nodes")]
    virtual_nodes: u32,
    #[serde(default = "default_threads")]
    threads: usize,
    #[serde(default)]
    pin_threads: pinning::PinThreads,
    #[serde(default = "default_io_driver")]
    io_driver: IoDriver,
    #[serde(default = "default_idle_poll")]
    idle_poll: IdlePoll,
    #[serde(default = "default_worker_scheduling")]
    worker_scheduling: WorkerScheduling,
    #[serde(default = "default_max_memory", with = "units::size")]
    max_memory: u64,
    #[serde(default = "default_max_key_bytes")]
    max_key_bytes: usize,
    #[serde(default = "default_max_value_bytes", with = "units::size_usize")]
    max_value_bytes: usize,
    #[serde(default = "caching::default_no_ttl")]
    cache_control_no_ttl: String,
    #[serde(default = "default_log_level")]
    log_level: LogLevel,
    #[serde(default = "default_log_format")]
    log_format: LogFormat,
    #[serde(default = "default_access_log_every")]
    access_log_every: u64,
    #[serde(default)]
    replicas: usize,
    #[serde(default)]
    data_dir: String,
    #[serde(default = "default_tombstone_ttl", with = "units::duration")]
    tombstone_ttl: std::time::Duration,
    #[serde(default, deserialize_with = "null_as_default")]
    limits: LimitsConfig,
    #[serde(default, deserialize_with = "null_as_default")]
    timeouts: TimeoutsConfig,
    #[serde(default, deserialize_with = "null_as_default")]
    cluster: ClusterConfig,
    #[serde(default, deserialize_with = "null_as_default")]
    storage: StorageConfig,
    #[serde(default, deserialize_with = "null_as_default")]
    hot_keys: HotKeysConfig,
    #[serde(default)]
    admin_address: String,
    #[serde(default, deserialize_with = "null_as_default")]
    auth: AuthConfig,
    #[serde(default, deserialize_with = "null_as_default")]
    tls: TlsConfig,
}

fn default_virtual_nodes() -> u32 {
    DEFAULT_VIRTUAL_NODES
}
fn default_threads() -> usize {
    DEFAULT_THREADS
}
fn default_io_driver() -> IoDriver {
    DEFAULT_IO_DRIVER
}
fn default_idle_poll() -> IdlePoll {
    IdlePoll::Brief
}
fn default_worker_scheduling() -> WorkerScheduling {
    WorkerScheduling::Normal
}
fn default_max_memory() -> u64 {
    DEFAULT_MAX_MEMORY
}
fn default_max_key_bytes() -> usize {
    DEFAULT_MAX_KEY_BYTES
}
fn default_max_value_bytes() -> usize {
    DEFAULT_MAX_VALUE_BYTES
}
fn default_log_level() -> LogLevel {
    DEFAULT_LOG_LEVEL
}
fn default_log_format() -> LogFormat {
    DEFAULT_LOG_FORMAT
}
fn default_access_log_every() -> u64 {
    DEFAULT_ACCESS_LOG_EVERY
}
fn default_tombstone_ttl() -> std::time::Duration {
    DEFAULT_TOMBSTONE_TTL
}

/// A section written with nothing under it (`limits:`, everything commented out) means defaults.
fn null_as_default<'de, D, T>(de: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(de)?.unwrap_or_default())
}

/// Whether the text holds no YAML content at all (serde would report a confusing missing field).
fn is_blank(text: &str) -> bool {
    text.lines()
        .map(str::trim)
        .all(|l| l.is_empty() || l.starts_with('#') || l == "---" || l == "...")
}

impl Config {
    /// Reads, parses and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let source = path.display().to_string();
        let mut text = String::new();
        let read = std::fs::File::open(path).and_then(|file| {
            file.take(MAX_CONFIG_FILE_BYTES + 1)
                .read_to_string(&mut text)
        });
        if let Err(e) = read {
            return Err(ConfigError::whole_file(
                &source,
                format!("cannot read file: {e}"),
            ));
        }
        Config::from_yaml_str(&text, &source)
    }

    /// Parses and validates config text; `source` names it in errors (tests pass `"<string>"`).
    /// `${NAME}` references are replaced by the process environment's values first.
    pub fn from_yaml_str(text: &str, source: &str) -> Result<Config, ConfigError> {
        let lookup = |name: &str| {
            // A value that is not UTF-8 is shown lossily and then refused by the value check.
            std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
        };
        Config::from_yaml_str_with_env(text, source, &lookup)
    }

    /// [`Config::from_yaml_str`] with the environment given as a function (for tests).
    pub fn from_yaml_str_with_env(
        text: &str,
        source: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let too_large = || {
            let message = format!("file is larger than {}", format_size(MAX_CONFIG_FILE_BYTES));
            Err(ConfigError::whole_file(source, message))
        };
        if text.len() as u64 > MAX_CONFIG_FILE_BYTES {
            return too_large();
        }
        let text = env::expand(text, env).map_err(|e| ConfigError {
            file: source.to_owned(),
            line: Some(e.line),
            key: e.key,
            message: e.message,
        })?;
        let text = text.as_ref();
        if text.len() as u64 > MAX_CONFIG_FILE_BYTES {
            return too_large();
        }
        if is_blank(text) {
            let message =
                "file is empty: expected a mapping of config keys (node_id, address, ...)";
            return Err(ConfigError::whole_file(source, message));
        }
        let file: FileConfig =
            serde_yaml::from_str(text).map_err(|e| ConfigError::from_yaml(&e, text, source))?;
        validate(file, source).map_err(|invalid| ConfigError::from_invalid(invalid, text, source))
    }

    /// The effective configuration (every default filled in, `threads` resolved) as YAML that loads
    /// back to the same `Config`; for `--print-config` and the start-up log.
    pub fn to_yaml(&self) -> String {
        let file = FileConfig {
            node_id: self.node_id.clone(),
            address: self.address.clone(),
            cluster_nodes: self.cluster_nodes.clone(),
            cache_size: self.cache_size,
            virtual_nodes: self.virtual_nodes,
            threads: self.threads,
            pin_threads: pinning::PinThreads::Written(self.pin_threads),
            io_driver: self.io_driver,
            idle_poll: self.idle_poll,
            worker_scheduling: self.worker_scheduling,
            max_memory: self.max_memory,
            max_key_bytes: self.max_key_bytes,
            max_value_bytes: self.max_value_bytes,
            cache_control_no_ttl: self.cache_control_no_ttl.clone(),
            log_level: self.log_level,
            log_format: self.log_format,
            access_log_every: self.access_log_every,
            replicas: self.replicas,
            data_dir: self.data_dir.clone(),
            tombstone_ttl: self.tombstone_ttl,
            limits: self.limits.clone(),
            timeouts: self.timeouts.clone(),
            cluster: self.cluster.clone(),
            storage: self.storage.clone(),
            hot_keys: self.hot_keys.clone(),
            admin_address: self.admin_address.clone(),
            auth: self.auth.clone(),
            tls: self.tls.clone(),
        };
        let header = format!(
            "# effective configuration of {:?} (defaults filled in)\n# address {:?} listens on {}\n",
            self.source, self.address, self.listen
        );
        match serde_yaml::to_string(&file) {
            Ok(body) => header + &body,
            Err(e) => format!("{header}# cannot render the configuration: {e}\n"),
        }
    }

    /// One line for the start-up log.
    pub fn summary(&self) -> String {
        let cluster = match self.cluster_nodes.len() {
            0 => "standalone".to_owned(),
            n => format!(
                "{n} cluster nodes, {} virtual nodes each",
                self.virtual_nodes
            ),
        };
        let memory = match self.max_memory {
            0 => "unlimited".to_owned(),
            bytes => format_size(bytes),
        };
        // Named only when it is not the default: `always` keeps every worker's CPU busy.
        let poll = match self.idle_poll {
            IdlePoll::Brief => "",
            IdlePoll::Always => " (idle_poll always: their CPUs kept awake)",
        };
        format!(
            "node {} listening on {} ({cluster}), {} threads{poll}, io_driver {}, cache_size {} entries, \
             max_memory {memory}, log_level {}, config {}",
            self.node_id,
            self.listen,
            self.threads,
            self.io_driver,
            self.cache_size,
            self.log_level,
            self.source
        )
    }
}

#[cfg(test)]
mod error_tests;
#[cfg(test)]
mod tests;
