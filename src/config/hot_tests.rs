use crate::config::Config;

fn load(hot: &str) -> Result<Config, String> {
    let yaml =
        format!("node_id: \"n1\"\naddress: \"127.0.0.1:0\"\ncache_size: 100\nhot_keys:\n{hot}");
    Config::from_yaml_str(&yaml, "<test>").map_err(|e| e.to_string())
}

#[test]
fn defaults_and_every_key() {
    let c = load("  enabled: true\n").expect("valid");
    assert_eq!(c.hot_keys, super::HotKeysConfig::default());
    assert_eq!(c.hot_keys.min_reads_per_sec, 1_000);
    assert_eq!(c.hot_keys.top_k, 1024);
    assert_eq!(c.hot_keys.copy_ttl, std::time::Duration::from_millis(50));
    let c = load("  enabled: false\n  min_reads_per_sec: 50\n  top_k: 4096\n  copy_ttl: \"1s\"\n")
        .expect("valid");
    assert!(!c.hot_keys.enabled);
    assert_eq!((c.hot_keys.min_reads_per_sec, c.hot_keys.top_k), (50, 4096));
    assert_eq!(c.hot_keys.copy_ttl, super::MAX_HOT_COPY_TTL);
}

#[test]
fn out_of_range_values_are_refused_with_the_key_named() {
    for (hot, says) in [
        ("  copy_ttl: \"2s\"\n", "copy_ttl"),
        ("  top_k: 0\n", "top_k"),
        ("  top_k: 4097\n", "top_k"),
        ("  min_reads_per_sec: 0\n", "min_reads_per_sec"),
        ("  copy_ttl: 50\n", "copy_ttl"),
        ("  hot_key: true\n", "hot_key"),
    ] {
        let e = load(hot).expect_err(hot);
        assert!(e.contains(says), "{hot}: {e}");
    }
    let e = load("  copy_ttl: \"2s\"\n").expect_err("too long");
    assert!(e.contains("hot_keys") && e.contains("1s"), "{e}");
}
