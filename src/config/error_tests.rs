//! Every error class: the message names the file, the key and the correct line.

use super::tests::{shipped, FILE, SEED};
use super::*;
use std::time::Instant;

/// Asserts that `text` is rejected with this key and line, a message containing `needle`, and a
/// Display naming all three.
fn rejects(text: &str, key: Option<&str>, line: Option<usize>, needle: &str) {
    let err = Config::from_yaml_str(text, FILE).expect_err(needle);
    let shown = err.to_string();
    assert_eq!(err.file, FILE, "{shown}");
    assert_eq!(err.key.as_deref(), key, "{shown}");
    assert_eq!(err.line, line, "{shown}");
    assert!(err.message.contains(needle), "{shown} lacks {needle:?}");
    assert!(shown.starts_with(FILE), "{shown}");
    if let Some(line) = line {
        assert!(shown.starts_with(&format!("{FILE}:{line}: ")), "{shown}");
    }
    if let Some(key) = key {
        assert!(shown.contains(&format!("key `{key}`: ")), "{shown}");
    }
}

/// SEED with line `line` (1-based) replaced by `with` (which may span lines).
fn seed_with(line: usize, with: &str) -> String {
    let mut lines: Vec<&str> = SEED.lines().collect();
    lines[line - 1] = with;
    lines.join("\n") + "\n"
}

#[test]
fn file_level_errors() {
    let missing = shipped("no-such-file.yaml");
    let err = Config::load(&missing).expect_err("missing file");
    let shown = err.to_string();
    assert!(shown.starts_with(&missing.display().to_string()), "{shown}");
    assert!(
        shown.contains("cannot read file: No such file or directory"),
        "{shown}"
    );
    rejects("", None, None, "file is empty");
    rejects("# nothing\n\n---\n", None, None, "file is empty");
    rejects(
        "- a\n- b\n",
        None,
        Some(1),
        "expected a mapping of config keys",
    );
    rejects(
        "just text\n",
        None,
        Some(1),
        "expected a mapping of config keys",
    );
    let big = format!("{SEED}#{}\n", "x".repeat(MAX_CONFIG_FILE_BYTES as usize));
    rejects(&big, None, None, "larger than 1MiB");
    rejects(
        &format!("{SEED}---\nnode_id: b\n"),
        None,
        None,
        "more than one document",
    );
}

#[test]
fn syntax_and_type_errors_carry_serde_positions() {
    rejects(
        &seed_with(7, "cache_size: abc"),
        Some("cache_size"),
        Some(7),
        "expected an integer",
    );
    rejects(
        &seed_with(7, "cache_size: -1"),
        Some("cache_size"),
        Some(7),
        "expected an integer",
    );
    rejects(
        &seed_with(8, "virtual_nodes: 1.5"),
        Some("virtual_nodes"),
        Some(8),
        "expected an integer",
    );
    // An unclosed quote runs on to the next quote; the parser reports where it noticed (line 4).
    rejects(
        &seed_with(2, "address: \":8001"),
        None,
        Some(4),
        "did not find expected key",
    );
    rejects(
        &seed_with(7, "\tcache_size: 1"),
        None,
        Some(7),
        "cannot start any token",
    );
    rejects(
        &seed_with(5, "  node2: [1]"),
        Some("cluster_nodes.node2"),
        Some(5),
        "expected a string",
    );
    rejects(
        &seed_with(3, "cluster_nodes: 5"),
        Some("cluster_nodes"),
        Some(3),
        "node id to \"host:port\"",
    );
    rejects(
        &format!("{SEED}io_driver: fast\n"),
        Some("io_driver"),
        Some(9),
        "unknown variant `fast`",
    );
    rejects(
        &format!("{SEED}log_level: trace\n"),
        Some("log_level"),
        Some(9),
        "expected one of `error`",
    );
    rejects(
        &format!("{SEED}limits: 5\n"),
        Some("limits"),
        Some(9),
        "mapping of `limits` keys",
    );
    rejects(
        &format!("{SEED}\n\nmax_memory: \"10 parsecs\"\n"),
        Some("max_memory"),
        Some(11),
        "parsecs",
    );
    rejects(
        &format!("{SEED}max_memory: -1\n"),
        Some("max_memory"),
        Some(9),
        "integer `-1`",
    );
    rejects(
        &format!("{SEED}max_memory: 1.5.3\n"),
        Some("max_memory"),
        Some(9),
        "unknown size unit",
    );
    let overflow = format!("{SEED}max_value_bytes: 99999999999GiB\n");
    rejects(&overflow, Some("max_value_bytes"), Some(9), "too large");
    let bad_duration = format!("{SEED}timeouts:\n  idle: 60s\n  header: 10 parsecs\n");
    rejects(
        &bad_duration,
        Some("timeouts.header"),
        Some(11),
        "unknown duration unit",
    );
    // A bare number, plain or quoted: refused (it used to mean ms here, s in cache-client).
    for idle in ["1500", "\"1500\""] {
        let bare = format!("{SEED}timeouts:\n  idle: {idle}\n");
        rejects(
            &bare,
            Some("timeouts.idle"),
            Some(10),
            "\"1500ms\" or \"1500s\"",
        );
    }
}

#[test]
fn unknown_duplicate_and_missing_keys() {
    rejects(
        &format!("{SEED}cache_sise: 5\n"),
        Some("cache_sise"),
        Some(9),
        "unknown field `cache_sise`",
    );
    let nested = format!("{SEED}cluster:\n  fail_after: 2\n  fail_afterr: 2\n");
    rejects(
        &nested,
        Some("cluster.fail_afterr"),
        Some(11),
        "expected one of",
    );
    rejects(
        &format!("{SEED}cache_size: 5\n"),
        Some("cache_size"),
        Some(9),
        "duplicate field",
    );
    let nested_dup = format!("{SEED}storage:\n  sweep_budget: 1\n\n  sweep_budget: 2\n");
    rejects(
        &nested_dup,
        Some("storage.sweep_budget"),
        Some(12),
        "duplicate field",
    );
    let dup_node = seed_with(
        6,
        "  node3: \"localhost:8003\"\n  node2: \"localhost:8004\"",
    );
    rejects(
        &dup_node,
        Some("cluster_nodes.node2"),
        Some(7),
        "duplicate node id `node2`",
    );
    rejects(
        &seed_with(1, "# no id"),
        Some("node_id"),
        None,
        "missing field `node_id`",
    );
    rejects(
        &seed_with(7, ""),
        Some("cache_size"),
        None,
        "missing field `cache_size`",
    );
}

#[test]
fn address_errors() {
    let started = Instant::now();
    for (address, needle) in [
        ("\"8001\"", "expected \"host:port\""),
        ("\":70000\"", "out of range"),
        ("\"a:b:c\"", "too many ':'"),
        ("\"no-such-host.invalid:8001\"", "no-such-host.invalid"),
    ] {
        rejects(
            &seed_with(2, &format!("address: {address}")),
            Some("address"),
            Some(2),
            needle,
        );
    }
    // Resolution is cut off after RESOLVE_TIMEOUT whatever the resolver does; 5x that leaves
    // room for a loaded machine without letting a hung lookup through.
    assert!(
        started.elapsed() < super::RESOLVE_TIMEOUT * 5,
        "{:?}",
        started.elapsed()
    );
    for ok in [":0", "127.0.0.1:8001", "[::1]:8001", "localhost:8001"] {
        let c =
            Config::from_yaml_str(&seed_with(2, &format!("address: \"{ok}\"")), FILE).expect(ok);
        assert!(
            c.listen.port() == 0 || c.listen.port() == 8001,
            "{}",
            c.listen
        );
    }
}

#[test]
fn cluster_node_errors() {
    rejects(
        &seed_with(1, "node_id: node4"),
        Some("node_id"),
        Some(1),
        "not listed in cluster_nodes",
    );
    rejects(
        &seed_with(1, "node_id: \"no de\""),
        Some("node_id"),
        Some(1),
        "only letters",
    );
    rejects(
        &seed_with(6, "  node3: \"localhost\""),
        Some("cluster_nodes.node3"),
        Some(6),
        "host:port",
    );
    rejects(
        &seed_with(6, "  node3: \"localhost:0\""),
        Some("cluster_nodes.node3"),
        Some(6),
        "port 0",
    );
    rejects(
        &seed_with(6, "  node3: \"localhost:8002\""),
        Some("cluster_nodes.node3"),
        Some(6),
        "also used by node `node2`",
    );
    rejects(
        &seed_with(6, "  no/de: \"localhost:8003\""),
        Some("cluster_nodes.no/de"),
        Some(6),
        "only letters",
    );
    // Standalone: no cluster_nodes at all, or an empty mapping.
    let standalone = "node_id: solo\naddress: \":0\"\ncluster_nodes:\ncache_size: 1\n";
    assert!(Config::from_yaml_str(standalone, FILE)
        .expect("valid")
        .cluster_nodes
        .is_empty());
}

#[test]
fn range_errors_point_at_the_key() {
    rejects(
        &seed_with(7, "cache_size: 0"),
        Some("cache_size"),
        Some(7),
        "out of range (1..=",
    );
    rejects(
        &seed_with(8, "virtual_nodes: 10001"),
        Some("virtual_nodes"),
        Some(8),
        "1..=10000",
    );
    rejects(
        &format!("{SEED}threads: 1025\n"),
        Some("threads"),
        Some(9),
        "0..=1024",
    );
    rejects(
        &format!("{SEED}max_key_bytes: 0\n"),
        Some("max_key_bytes"),
        Some(9),
        "1..=65535",
    );
    rejects(
        &format!("{SEED}max_value_bytes: 513MiB\n"),
        Some("max_value_bytes"),
        Some(9),
        "1..=512MiB",
    );
    let header = format!("{SEED}limits:\n  max_pipeline: 8\n  max_header_bytes: 512\n");
    rejects(
        &header,
        Some("limits.max_header_bytes"),
        Some(11),
        "1KiB..=1MiB",
    );
    let zero = format!("{SEED}timeouts:\n  idle: 0ms\n");
    rejects(
        &zero,
        Some("timeouts.idle"),
        Some(10),
        "0ms is out of range (1ms..=24h)",
    );
    let probe = format!("{SEED}cluster:\n  probe_interval: 100ms\n");
    rejects(
        &probe,
        Some("cluster.probe_timeout"),
        Some(9),
        "probe_interval",
    );
    let flow = format!("{SEED}storage: {{sweep_budget: 0}}\n");
    rejects(&flow, Some("storage.sweep_budget"), Some(9), "out of range");
}

#[test]
fn cache_control_no_ttl_must_be_a_header_value() {
    for bad in ["\"\"", "\" no-cache\"", "\"no-cache\\t\"", "\"caf\u{e9}\""] {
        rejects(
            &format!("{SEED}cache_control_no_ttl: {bad}\n"),
            Some("cache_control_no_ttl"),
            Some(9),
            "is not a Cache-Control value",
        );
    }
    let long = format!("{SEED}cache_control_no_ttl: {}\n", "a".repeat(257));
    rejects(
        &long,
        Some("cache_control_no_ttl"),
        Some(9),
        "at most 256 bytes",
    );
    for good in ["no-store", "none", "\"private, max-age=60\""] {
        let c = Config::from_yaml_str(&format!("{SEED}cache_control_no_ttl: {good}\n"), FILE)
            .expect(good);
        assert_eq!(c.cache_control_no_ttl, good.trim_matches('"'));
    }
    let c = Config::from_yaml_str(SEED, FILE).expect("seed");
    assert_eq!(c.cache_control_no_ttl, DEFAULT_CACHE_CONTROL_NO_TTL);
}

#[test]
fn discovery_keys_are_checked_at_load() {
    let cluster = |body: &str| format!("{SEED}cluster:\n  fail_after: 3\n  {body}\n");
    rejects(
        &cluster("discovery: \"cache-node:8001\""),
        Some("cluster.discovery"),
        Some(11),
        "expected \"\" (off) or \"dns:<name>:<port>\"",
    );
    rejects(
        &cluster("discovery: \"dns:cache node:8001\""),
        Some("cluster.discovery"),
        Some(11),
        "contains ' '",
    );
    rejects(
        &cluster("discovery: \"dns:cache-node:0\""),
        Some("cluster.discovery"),
        Some(11),
        "invalid port \"0\"",
    );
    rejects(
        &cluster("discovery_resolver: \"kube-dns:53\""),
        Some("cluster.discovery_resolver"),
        Some(11),
        "expected \"ip:port\" of a DNS server",
    );
    rejects(
        &cluster("migration_rate: fast"),
        Some("cluster.migration_rate"),
        Some(11),
        "fast",
    );
}

#[test]
fn environment_errors_name_file_line_key_and_variable() {
    let env = |name: &str| (name == "BAD").then(|| "a b".to_owned());
    let check = |text: &str, key: &str, line: usize, needle: &str| {
        let err = Config::from_yaml_str_with_env(text, FILE, &env).expect_err(needle);
        assert_eq!(
            (err.file.as_str(), err.key.as_deref(), err.line),
            (FILE, Some(key), Some(line)),
            "{err}"
        );
        assert!(err.message.contains(needle), "{err} lacks {needle:?}");
    };
    check(
        &seed_with(5, "  node2: \"${NODE2_HOST}:8002\""),
        "cluster_nodes.node2",
        5,
        "environment variable `NODE2_HOST` is not set",
    );
    check(
        &seed_with(1, "node_id: \"${BAD}\""),
        "node_id",
        1,
        "holds ' '",
    );
    check(
        &seed_with(1, "node_id: \"${9}\""),
        "node_id",
        1,
        "not a variable reference",
    );
    // A literal `${` and other dollars pass through to the value.
    let c =
        Config::from_yaml_str_with_env(&format!("{SEED}data_dir: \"/d/$${{x}}/$y\"\n"), FILE, &env)
            .expect("literal");
    assert_eq!(c.data_dir, "/d/${x}/$y");
}
