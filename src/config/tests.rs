//! Whole-file tests: defaults, every key set, the shipped files, `to_yaml` and `summary`.
//! Error classes are in `error_tests.rs`.

use super::*;
use std::time::Duration;

pub(super) const FILE: &str = "config/test.yaml";

/// The seed's node1.yaml (lines: 1 node_id, 2 address, 3 cluster_nodes, 4-6 nodes, 7 cache_size,
/// 8 virtual_nodes).
pub(super) const SEED: &str = "node_id: \"node1\"\naddress: \":8001\"\ncluster_nodes:\n  node1: \"localhost:8001\"\n  \
                    node2: \"localhost:8002\"\n  node3: \"localhost:8003\"\ncache_size: 1000\nvirtual_nodes: 150\n";

pub(super) fn shipped(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("config")
        .join(name)
}

#[test]
fn minimal_file_takes_every_default() {
    let c = Config::from_yaml_str("node_id: a\naddress: \":0\"\ncache_size: 1\n", "<string>")
        .expect("minimal config");
    assert!(c.cluster_nodes.is_empty());
    assert_eq!(c.virtual_nodes, DEFAULT_VIRTUAL_NODES);
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(c.threads, cpus.min(MAX_THREADS));
    assert_eq!(c.io_driver, IoDriver::Auto);
    assert_eq!(c.idle_poll, IdlePoll::Brief);
    assert_eq!(c.max_memory, 0);
    assert_eq!((c.max_key_bytes, c.max_value_bytes), (250, 1 << 20));
    assert_eq!(c.log_level, LogLevel::Info);
    assert_eq!(c.log_format, LogFormat::Text);
    assert_eq!(c.limits, LimitsConfig::default());
    assert_eq!(c.limits.max_header_bytes, 16 * 1024);
    assert_eq!(c.timeouts, TimeoutsConfig::default());
    assert_eq!(c.timeouts.idle, Duration::from_secs(60));
    assert_eq!(c.cluster, ClusterConfig::default());
    assert_eq!(c.cluster.connect_timeout, Duration::from_millis(200));
    assert_eq!(c.storage, StorageConfig::default());
    assert_eq!(c.source, "<string>");
}

#[test]
fn pin_threads_as_written_else_pinned_where_each_node_has_a_cpu_of_its_own() {
    // A node alone on its host pins by default.
    let alone = Config::from_yaml_str("node_id: a\naddress: \":0\"\ncache_size: 1\n", FILE);
    assert!(alone.expect("valid").pin_threads);
    // The guide's three local nodes: pinned only on a host with a CPU for each of them.
    let seed = Config::from_yaml_str(SEED, FILE).expect("valid");
    let cpus = crate::cpus::allowed().len();
    assert_eq!(seed.pin_threads, cpus == 0 || cpus >= 3, "{cpus} CPUs");
    // Written, it wins either way, and `to_yaml` keeps the resolved value.
    for written in [true, false] {
        let text = format!("{SEED}pin_threads: {written}\n");
        let c = Config::from_yaml_str(&text, FILE).expect("valid");
        assert_eq!(c.pin_threads, written);
        let again = Config::from_yaml_str(&c.to_yaml(), FILE).expect("to_yaml loads back");
        assert_eq!(again.pin_threads, written);
    }
}

#[test]
fn every_value_can_be_set() {
    let text = format!(
        "{SEED}threads: 3\nio_driver: epoll\nidle_poll: always\nmax_memory: 512MiB\nmax_key_bytes: 100\n\
         max_value_bytes: 2KB\nlog_level: debug\nlimits:\n  max_header_bytes: 2KiB\n  \
         max_target_bytes: 1000\n  max_connections: 5\n  max_pipeline: 1\ntimeouts:\n  header: 1ms\n  \
         body: 2s\n  idle: 2m\n  write: 7s\n  shutdown: 9s\ncluster:\n  connect_timeout: 1s\n  \
         request_timeout: 1s\n  pool_max_idle: 0\n  pool_max_total: 1\n  probe_interval: 3s\n  \
         probe_timeout: 3s\n  fail_after: 5\n  recover_after: 2\nstorage:\n  sweep_interval: 1s\n  \
         sweep_budget: 7\n"
    );
    let c = Config::from_yaml_str(&text, FILE).expect("valid");
    assert_eq!(
        (c.threads, c.io_driver, c.idle_poll, c.log_level),
        (3, IoDriver::Epoll, IdlePoll::Always, LogLevel::Debug)
    );
    assert_eq!(
        (c.max_memory, c.max_key_bytes, c.max_value_bytes),
        (512 << 20, 100, 2000)
    );
    assert_eq!(c.limits.max_target_bytes, 1000);
    assert_eq!(c.timeouts.header, Duration::from_millis(1));
    assert_eq!(c.timeouts.idle, Duration::from_secs(120));
    assert_eq!(
        (
            c.cluster.pool_max_idle,
            c.cluster.fail_after,
            c.cluster.recover_after
        ),
        (0, 5, 2)
    );
    assert_eq!(
        (c.storage.sweep_interval, c.storage.sweep_budget),
        (Duration::from_secs(1), 7)
    );
    // Sections written with nothing under them mean defaults.
    let c = Config::from_yaml_str(&format!("{SEED}limits:\nstorage:\n"), FILE).expect("valid");
    assert_eq!(
        (c.limits, c.storage),
        (LimitsConfig::default(), StorageConfig::default())
    );
}

#[test]
fn shipped_node_files_match_the_seed() {
    for n in 1..=3u16 {
        let path = shipped(&format!("node{n}.yaml"));
        let c = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.node_id, format!("node{n}"));
        assert_eq!(c.address, format!(":800{n}"));
        assert_eq!(c.listen, SocketAddr::from(([0, 0, 0, 0], 8000 + n)));
        let peers: Vec<(&str, &str)> = c
            .cluster_nodes
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let want = [
            ("node1", "localhost:8001"),
            ("node2", "localhost:8002"),
            ("node3", "localhost:8003"),
        ];
        assert_eq!(peers, want);
        assert_eq!((c.cache_size, c.virtual_nodes), (1000, 150));
        assert_eq!(c.source, path.display().to_string());
    }
}

#[test]
fn example_file_documents_every_key_with_default_values() {
    let path = shipped("example.yaml");
    let c = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    // The file claims every optional key is at its default.
    let minimal = format!(
        "node_id: {}\naddress: \"{}\"\ncache_size: {}\n",
        c.node_id, c.address, c.cache_size
    );
    let defaults = Config::from_yaml_str(&minimal, &c.source).expect("minimal");
    assert_eq!(
        Config {
            cluster_nodes: defaults.cluster_nodes.clone(),
            // `threads: 0` depends on how many cluster_nodes share this host (see `cpus`), and
            // so does `pin_threads: auto`.
            threads: defaults.threads,
            pin_threads: defaults.pin_threads,
            // 0 (automatic) means 2 on the example's three nodes, 1 on the standalone default.
            replicas: defaults.replicas,
            ..c.clone()
        },
        defaults
    );
    assert_eq!(c.cluster_nodes.len(), 3);
    // Every key of the effective config appears in the example, each preceded by a comment line.
    let text = std::fs::read_to_string(&path).expect("readable");
    let lines: Vec<&str> = text.lines().collect();
    let mut section = None;
    for line in c.to_yaml().lines().filter(|l| !l.starts_with('#')) {
        let Some((key, _)) = line.trim().split_once(':') else {
            continue;
        };
        let indented = line.starts_with(' ');
        if !indented {
            section = Some(key);
        }
        let path: Vec<&str> = match (indented, section) {
            (true, Some("cluster_nodes")) => continue,
            (true, Some(s)) => vec![s, key],
            _ => vec![key],
        };
        let at = error::find_key_line(&text, &path, 0).unwrap_or(0);
        assert!(
            lines[at - 1].trim_start().starts_with(&format!("{key}:")),
            "{path:?} missing"
        );
        assert!(
            lines[at - 2].trim_start().starts_with('#'),
            "{path:?} has no comment"
        );
    }
}

#[test]
fn to_yaml_round_trips_and_summary_is_one_line() {
    let text = format!("{SEED}max_memory: 3000\ntimeouts:\n  idle: 1500ms\n");
    let c = Config::from_yaml_str(&text, FILE).expect("valid");
    let yaml = c.to_yaml();
    assert!(
        yaml.contains("max_value_bytes: 1MiB") && yaml.contains("idle: 1500ms"),
        "{yaml}"
    );
    assert_eq!(Config::from_yaml_str(&yaml, FILE), Ok(c.clone()));
    let summary = c.summary();
    assert!(!summary.contains('\n'));
    for part in [
        "node1",
        "0.0.0.0:8001",
        "3 cluster nodes",
        "max_memory 3000",
        FILE,
    ] {
        assert!(summary.contains(part), "{summary} lacks {part}");
    }
}

#[test]
fn enums_order_and_display() {
    assert!(LogLevel::Error < LogLevel::Warn && LogLevel::Warn < LogLevel::Info);
    assert!(LogLevel::Info < LogLevel::Debug);
    let shown: Vec<String> = [
        LogLevel::Error,
        LogLevel::Warn,
        LogLevel::Info,
        LogLevel::Debug,
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    assert_eq!(shown, ["error", "warn", "info", "debug"]);
    let shown: Vec<String> = [IoDriver::Auto, IoDriver::Uring, IoDriver::Epoll]
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(shown, ["auto", "uring", "epoll"]);
}

#[test]
fn idle_poll_is_brief_or_always_and_always_is_named_at_start_up() {
    let brief = Config::from_yaml_str(SEED, FILE).expect("default");
    assert!(
        !brief.summary().contains("idle_poll"),
        "{}",
        brief.summary()
    );
    let c = Config::from_yaml_str(&format!("{SEED}idle_poll: always\n"), FILE).expect("always");
    assert_eq!(c.idle_poll, IdlePoll::Always);
    assert!(c.summary().contains("idle_poll always"), "{}", c.summary());
    assert!(c.to_yaml().contains("idle_poll: always"), "{}", c.to_yaml());
    assert_eq!(Config::from_yaml_str(&c.to_yaml(), FILE), Ok(c));
    let err = Config::from_yaml_str(&format!("{SEED}idle_poll: spin\n"), FILE)
        .expect_err("spin is not a choice")
        .to_string();
    assert!(
        err.contains("idle_poll") && err.contains("unknown variant `spin`"),
        "{err}"
    );
}

#[test]
fn worker_scheduling_is_normal_by_default_and_round_trips() {
    let c = Config::from_yaml_str(SEED, FILE).expect("default");
    assert_eq!(c.worker_scheduling, WorkerScheduling::Normal);
    for (word, want) in [
        ("normal", WorkerScheduling::Normal),
        ("batch", WorkerScheduling::Batch),
    ] {
        let c =
            Config::from_yaml_str(&format!("{SEED}worker_scheduling: {word}\n"), FILE).expect(word);
        assert_eq!(c.worker_scheduling, want);
        assert!(
            c.to_yaml().contains(&format!("worker_scheduling: {word}")),
            "{}",
            c.to_yaml()
        );
        assert_eq!(Config::from_yaml_str(&c.to_yaml(), FILE), Ok(c));
    }
    let err = Config::from_yaml_str(&format!("{SEED}worker_scheduling: fifo\n"), FILE)
        .expect_err("fifo is not a choice")
        .to_string();
    assert!(
        err.contains("worker_scheduling") && err.contains("unknown variant `fifo`"),
        "{err}"
    );
}

#[test]
fn log_format_is_text_or_json() {
    let c = Config::from_yaml_str(&format!("{SEED}log_format: json\n"), FILE).expect("json");
    assert_eq!(c.log_format, LogFormat::Json);
    assert_eq!(LogFormat::Json.as_str(), "json");
    let back = Config::from_yaml_str(&c.to_yaml(), FILE).expect("to_yaml loads back");
    assert_eq!(back.log_format, LogFormat::Json);
    let err = Config::from_yaml_str(&format!("{SEED}log_format: xml\n"), FILE)
        .expect_err("xml is not a format")
        .to_string();
    assert!(err.contains("log_format"), "{err}");
}

#[test]
fn replicas_default_to_two_on_a_cluster_and_are_capped_at_the_node_count() {
    let with = |extra: &str| {
        Config::from_yaml_str(&format!("{SEED}{extra}"), "<string>").expect("valid config")
    };
    assert_eq!(with("").replicas, 2);
    assert_eq!(with("replicas: 1\n").replicas, 1);
    assert_eq!(with("replicas: 3\n").replicas, 3);
    assert_eq!(with("replicas: 7\n").replicas, 3, "capped at the 3 nodes");
    let alone = Config::from_yaml_str("node_id: a\naddress: \":0\"\ncache_size: 1\n", "<string>")
        .expect("standalone");
    assert_eq!(alone.replicas, 1);
    assert_eq!(alone.tombstone_ttl, DEFAULT_TOMBSTONE_TTL);
    assert!(alone.data_dir.is_empty());
    let err = Config::from_yaml_str(&format!("{SEED}replicas: 8\n"), FILE).expect_err("too many");
    assert!(err.to_string().contains("replicas"), "{err}");
    let err = Config::from_yaml_str(&format!("{SEED}tombstone_ttl: 10ms\n"), FILE)
        .expect_err("too short");
    assert!(err.to_string().contains("tombstone_ttl"), "{err}");
}

#[test]
fn membership_change_and_discovery_keys() {
    let c = Config::from_yaml_str(SEED, FILE).expect("seed");
    assert_eq!(c.cluster.migration_rate, 64 << 20);
    assert_eq!(
        (c.cluster.discovery(), c.cluster.discovery_resolver()),
        (None, None)
    );
    let text = format!(
        "{SEED}cluster:\n  migration_rate: 10MiB\n  discovery: \"dns:cache-node.default.svc:8001\"\n  \
         discovery_resolver: \"[::1]:5353\"\n"
    );
    let c = Config::from_yaml_str(&text, FILE).expect("valid");
    assert_eq!(c.cluster.migration_rate, 10 << 20);
    let d = c.cluster.discovery().expect("discovery is on");
    assert_eq!((d.name.as_str(), d.port), ("cache-node.default.svc", 8001));
    let resolver = c.cluster.discovery_resolver();
    assert_eq!(resolver, Some("[::1]:5353".parse().unwrap()));
    // The effective config carries them and loads back to the same values.
    let yaml = c.to_yaml();
    assert!(yaml.contains("migration_rate: 10MiB"), "{yaml}");
    assert_eq!(Config::from_yaml_str(&yaml, FILE), Ok(c));
    let c = Config::from_yaml_str(&format!("{SEED}cluster:\n  migration_rate: 0\n"), FILE);
    assert_eq!(c.expect("0 = unthrottled").cluster.migration_rate, 0);
}

/// A StatefulSet pod's config: one file, the pod name from the environment.
const POD: &str = "node_id: \"${HOSTNAME}\"\naddress: \":${PORT}\"\ncluster_nodes:\n  \
                   \"${HOSTNAME}\": \"${HOSTNAME}.cache-node:${PORT}\"\ncache_size: 1000\n\
                   data_dir: \"/var/lib/${HOSTNAME}\"\ncluster:\n  discovery: \"dns:cache-node:${PORT}\"\n";

fn pod_env(name: &str) -> Option<String> {
    match name {
        "HOSTNAME" => Some("cache-node-1".to_owned()),
        "PORT" => Some("8001".to_owned()),
        _ => None,
    }
}

#[test]
fn environment_variables_fill_in_keys_and_values() {
    let c = Config::from_yaml_str_with_env(POD, FILE, &pod_env).expect("expanded");
    assert_eq!(
        (c.node_id.as_str(), c.address.as_str()),
        ("cache-node-1", ":8001")
    );
    let nodes: Vec<(&str, &str)> = c
        .cluster_nodes
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(nodes, [("cache-node-1", "cache-node-1.cache-node:8001")]);
    assert_eq!(c.data_dir, "/var/lib/cache-node-1");
    assert_eq!(c.cluster.discovery().map(|d| d.port), Some(8001));
    // Errors found after the expansion still point at the right line.
    let text = format!("{POD}cache_size: 2\n");
    let err = Config::from_yaml_str_with_env(&text, FILE, &pod_env).expect_err("duplicate");
    assert_eq!(
        (err.line, err.key.as_deref()),
        (Some(9), Some("cache_size"))
    );
}

#[test]
fn the_process_environment_is_used_by_default() {
    // PATH is set wherever tests run, but it would not pass as a node id (':' and '/' are not
    // allowed there), so use it in a free-form value; an unlikely name is surely unset.
    let Ok(path) = std::env::var("PATH") else {
        return;
    };
    if path
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._-:/".contains(c))
    {
        let text = format!("{SEED}data_dir: \"${{PATH}}\"\n");
        let c = Config::from_yaml_str(&text, FILE).expect("PATH expands");
        assert_eq!(c.data_dir, path);
    }
    let text = format!("{SEED}data_dir: \"${{DCACHE_TEST_SURELY_UNSET_7F3A}}\"\n");
    let err = Config::from_yaml_str(&text, FILE).expect_err("unset");
    assert_eq!(
        err.to_string(),
        format!(
            "{FILE}:9: key `data_dir`: environment variable `DCACHE_TEST_SURELY_UNSET_7F3A` is not \
             set (referenced as ${{DCACHE_TEST_SURELY_UNSET_7F3A}})"
        )
    );
}
