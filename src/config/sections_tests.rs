//! Unit tests for `sections.rs` (a child module of it; see the `#[path]` there).

use super::*;

#[test]
fn defaults_are_valid() {
    assert!(LimitsConfig::default().validate().is_ok());
    assert!(TimeoutsConfig::default().validate().is_ok());
    assert!(ClusterConfig::default().validate().is_ok());
    assert!(StorageConfig::default().validate().is_ok());
}

fn rejected(result: Result<(), Invalid>, section: &str, key: &str) {
    let err = result.expect_err(key);
    assert_eq!(
        (err.section, err.key.as_str()),
        (Some(section), key),
        "{}",
        err.message
    );
}

#[test]
fn limits_ranges() {
    let limits = |f: fn(&mut LimitsConfig)| {
        let mut l = LimitsConfig::default();
        f(&mut l);
        l.validate()
    };
    rejected(
        limits(|l| l.max_header_bytes = 1023),
        "limits",
        "max_header_bytes",
    );
    rejected(
        limits(|l| l.max_header_bytes = MIB + 1),
        "limits",
        "max_header_bytes",
    );
    assert!(limits(|l| l.max_header_bytes = KIB).is_err()); // default target 8 KiB > 1 KiB head
    assert!(limits(|l| (l.max_header_bytes, l.max_target_bytes) = (KIB, KIB)).is_ok());
    rejected(
        limits(|l| l.max_target_bytes = 63),
        "limits",
        "max_target_bytes",
    );
    rejected(
        limits(|l| l.max_connections = 0),
        "limits",
        "max_connections",
    );
    rejected(limits(|l| l.max_pipeline = 4097), "limits", "max_pipeline");
    let unbounded = |l: &mut LimitsConfig| l.max_queued_per_core = MAX_QUEUED_CEILING + 1;
    rejected(limits(unbounded), "limits", "max_queued_per_core");
    let msg = limits(|l| l.max_header_bytes = 512).unwrap_err().message;
    assert_eq!(msg, "512 is out of range (1KiB..=1MiB)");
}

#[test]
fn duration_and_cluster_ranges() {
    let mut t = TimeoutsConfig {
        idle: Duration::ZERO,
        ..Default::default()
    };
    rejected(t.validate(), "timeouts", "idle");
    t.idle = Duration::from_secs(24 * 3600 + 1);
    rejected(t.validate(), "timeouts", "idle");
    let cluster = |f: fn(&mut ClusterConfig)| {
        let mut c = ClusterConfig::default();
        f(&mut c);
        c.validate()
    };
    rejected(
        cluster(|c| c.pool_max_idle = 257),
        "cluster",
        "pool_max_idle",
    );
    rejected(
        cluster(|c| c.pool_max_total = 0),
        "cluster",
        "pool_max_total",
    );
    rejected(cluster(|c| c.fail_after = 0), "cluster", "fail_after");
    let no_queue = |c: &mut ClusterConfig| c.max_queued_per_peer = 0;
    rejected(cluster(no_queue), "cluster", "max_queued_per_peer");
    rejected(
        cluster(|c| c.recover_after = 101),
        "cluster",
        "recover_after",
    );
    let slow_connect = |c: &mut ClusterConfig| c.connect_timeout = Duration::from_secs(3);
    rejected(cluster(slow_connect), "cluster", "connect_timeout");
    let slow_probe = |c: &mut ClusterConfig| c.probe_timeout = Duration::from_secs(2);
    rejected(cluster(slow_probe), "cluster", "probe_timeout");
    let storage = StorageConfig {
        sweep_budget: 0,
        ..Default::default()
    };
    rejected(storage.validate(), "storage", "sweep_budget");
}
