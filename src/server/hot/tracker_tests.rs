use super::*;

fn tracker(min_reads_per_sec: u32, top_k: usize) -> HotKeys {
    HotKeys::new(&HotKeysConfig {
        min_reads_per_sec,
        top_k,
        ..HotKeysConfig::default()
    })
}

/// Read `keys` in turn, `per_sec` reads a second in all, from `start_ms` for `ms`; the time
/// after the last read.
fn read(t: &HotKeys, keys: &[&[u8]], per_sec: u64, start_ms: u64, ms: u64) -> u64 {
    let n = per_sec * ms / 1000;
    for i in 0..n {
        t.observe(keys[i as usize % keys.len()], start_ms + i * 1000 / per_sec);
    }
    start_ms + ms
}

/// `n` keys `user:0`, `user:1`, ...
fn cold_keys(n: usize) -> Vec<Vec<u8>> {
    (0..n).map(|i| format!("user:{i}").into_bytes()).collect()
}

/// `keys` in turn, with `b"hot"` as every `every`th read (`every` ≥ 2).
fn with_hot(keys: &[Vec<u8>], every: usize) -> Vec<&[u8]> {
    assert!(every >= 2, "every {every}th read hot: at least every 2nd");
    let mut stream: Vec<&[u8]> = Vec::with_capacity(keys.len() + keys.len() / (every - 1) + 1);
    for (i, k) in keys.iter().enumerate() {
        if i % (every - 1) == 0 {
            stream.push(b"hot");
        }
        stream.push(k);
    }
    stream
}

fn rate(t: &HotKeys, key: &[u8], now_ms: u64) -> f64 {
    t.top(now_ms)
        .iter()
        .find(|k| k.key == key)
        .map_or(0.0, |k| k.reads_per_sec)
}

#[test]
fn the_sampling_period_follows_the_threshold() {
    assert_eq!(
        tracker(50, 8).period(),
        1,
        "a low threshold counts every read"
    );
    assert_eq!(tracker(1_000, 8).period(), 15);
    assert_eq!(tracker(1_000_000, 8).period(), MAX_PERIOD);
}

#[test]
fn disabled_counts_nothing() {
    let t = HotKeys::new(&HotKeysConfig {
        enabled: false,
        min_reads_per_sec: 1,
        ..HotKeysConfig::default()
    });
    let now = read(&t, &[b"k"], 1_000, 1_000, 2_000);
    assert!(!t.observe(b"k", now));
    assert!(!t.is_hot(b"k", now));
    assert_eq!(t.hot_count(now), 0);
    assert!(t.top(now).is_empty());
}

#[test]
fn a_key_read_above_the_threshold_becomes_hot_and_its_rate_is_estimated() {
    let t = tracker(100, 8);
    let now = read(&t, &[b"hot"], 300, 5_000, 3_000);
    assert!(t.is_hot(b"hot", now));
    assert!(t.observe(b"hot", now));
    assert_eq!(t.hot_count(now), 1);
    let r = rate(&t, b"hot", now);
    assert!((270.0..=330.0).contains(&r), "estimated {r}/s for 300/s");
    let list = t.top(now);
    assert_eq!(list.len(), 1);
    assert!(list[0].hot);
}

#[test]
fn a_key_below_the_threshold_is_not_hot() {
    let t = tracker(100, 8);
    let now = read(&t, &[b"warm"], 60, 5_000, 5_000);
    assert!(!t.is_hot(b"warm", now));
    assert_eq!(t.hot_count(now), 0);
    let r = rate(&t, b"warm", now);
    assert!((50.0..=70.0).contains(&r), "estimated {r}/s for 60/s");
}

#[test]
fn a_key_no_longer_read_cools_down_within_seconds() {
    let t = tracker(100, 8);
    let now = read(&t, &[b"k"], 1_000, 5_000, 2_000);
    assert!(t.is_hot(b"k", now));
    // 10x the threshold: hot for log2(10) ≈ 3.3 half-lives.
    assert!(t.is_hot(b"k", now + 1_000));
    assert!(!t.is_hot(b"k", now + 2_500));
    assert_eq!(t.hot_count(now + 2_500), 0);
    assert!(rate(&t, b"k", now + 2_500) < 100.0);
}

#[test]
fn asking_does_not_count() {
    let t = tracker(10, 8);
    for ms in 0..5_000 {
        assert!(!t.is_hot(b"k", ms));
    }
    assert!(t.top(5_000).is_empty());
}

#[test]
fn sampled_counts_estimate_the_rate() {
    // Period 16: one read in 16 counted, weighing 16.
    let t = tracker(1_600, 8);
    assert_eq!(t.period(), 16);
    let now = read(&t, &[b"hot", b"cold"], 8_000, 5_000, 3_000);
    let r = rate(&t, b"hot", now);
    assert!(
        (3_000.0..=5_000.0).contains(&r),
        "estimated {r}/s for 4000/s"
    );
    assert!(t.is_hot(b"hot", now) && t.is_hot(b"cold", now));
}

#[test]
fn a_client_cycling_through_keys_does_not_alias_with_the_sampling() {
    // 16 keys in a fixed order with a period of 16: a fixed sampling stride would count one key
    // 16 times over and never see the others.
    let t = tracker(1_600, 32);
    let keys: Vec<Vec<u8>> = (0..16).map(|i| format!("k{i}").into_bytes()).collect();
    let keys: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
    let now = read(&t, &keys, 16_000, 5_000, 4_000);
    assert_eq!(t.hot_count(now), 0, "each key is read 1000/s < 1600/s");
    for k in &keys {
        let r = rate(&t, k, now);
        assert!(
            (500.0..=1_500.0).contains(&r),
            "{k:?}: estimated {r}/s for 1000/s"
        );
    }
}

#[test]
fn a_uniform_load_over_many_keys_makes_none_hot() {
    let t = tracker(100, 64);
    let keys = cold_keys(10_000);
    let keys: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
    // 50k reads/s in all, 5/s per key.
    let now = read(&t, &keys, 50_000, 5_000, 2_000);
    assert_eq!(t.hot_count(now), 0);
    assert!(keys.iter().all(|k| !t.is_hot(k, now)));
}

#[test]
fn one_hot_key_among_many_cold_ones_is_found() {
    // 64 counters: a key is found for sure when it takes more than 1/64 of the reads.
    let t = tracker(100, 64);
    let keys = cold_keys(5_000);
    // Every 20th read is the hot key: 1000/s of 20 000/s.
    let stream = with_hot(&keys, 20);
    let now = read(&t, &stream, 20_000, 5_000, 3_000);
    assert!(t.is_hot(b"hot", now));
    assert_eq!(t.hot_count(now), 1);
    let r = rate(&t, b"hot", now);
    assert!(
        (700.0..=1_300.0).contains(&r),
        "estimated {r}/s for ~1000/s"
    );
}

#[test]
fn weights_are_rescaled_over_long_runs() {
    let t = tracker(100, 8);
    // 60 s: the read weight would reach 2^120 without rescaling.
    let mut now = 1_000;
    for _ in 0..60 {
        now = read(&t, &[b"a", b"b"], 400, now, 1_000);
        assert!(t.gain.get() <= RESCALE_ABOVE);
    }
    let r = rate(&t, b"a", now);
    assert!((180.0..=220.0).contains(&r), "estimated {r}/s for 200/s");
    assert!(t.is_hot(b"a", now) && t.is_hot(b"b", now));
}

#[test]
fn more_hot_keys_than_the_hot_set_holds_are_all_hot() {
    let t = tracker(10, 64);
    let keys: Vec<Vec<u8>> = (0..hotset::HOT_SET + 4)
        .map(|i| format!("k{i}").into_bytes())
        .collect();
    let keys: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
    // 100 reads/s each, ten times the threshold.
    let now = read(&t, &keys, 100 * keys.len() as u64, 5_000, 2_000);
    assert_eq!(t.hot_count(now), keys.len() as u64);
    assert!(keys.iter().all(|k| t.is_hot(k, now)));
    assert!(!t.is_hot(b"other", now));
}

#[test]
fn a_key_whose_counter_was_taken_over_is_not_hot() {
    // One counter: "a" is hot, then a burst of "b" takes the counter over.
    let t = tracker(10, 1);
    let now = read(&t, &[b"a"], 100, 5_000, 2_000);
    assert!(t.is_hot(b"a", now));
    t.observe(b"b", now);
    assert!(!t.is_hot(b"a", now), "a lost its counter");
}

#[test]
fn clock_jumps_neither_panic_nor_make_keys_hot() {
    let t = tracker(10, 8);
    let now = read(&t, &[b"k"], 100, 1_000_000, 1_000);
    assert!(t.is_hot(b"k", now));
    // Hours later (a manual clock advanced in a test): everything has decayed.
    let later = now + 3_600_000;
    assert!(!t.is_hot(b"k", later));
    assert_eq!(t.hot_count(later), 0);
    assert!(t.gain.get().is_finite());
    // An older `now` after that rescale: no key becomes hot by it.
    t.observe(b"x", later);
    assert!(!t.is_hot(b"x", later - 10_000));
    assert_eq!(t.hot_count(later - 10_000), 0);
}

#[test]
fn the_default_finds_a_key_over_the_threshold_on_a_busy_core() {
    // Space-Saving finds a key for sure only once it takes more than 1/top_k of the core's
    // reads, and its lower bound may lose up to that share. A core serving 200k small GETs a
    // second (what one core answers) with one key at 2,000/s, twice the default threshold but
    // 1 % of the reads: 64 counters (the default until 2026-12-06) estimated such a key at a
    // tenth of its rate and never made it hot.
    let cfg = HotKeysConfig::default();
    let t = HotKeys::new(&cfg);
    let keys = cold_keys(100_000);
    let stream = with_hot(&keys, 100);
    let per_sec: u32 = 200_000;
    let hot_per_sec = f64::from(per_sec) / 100.0;
    assert_eq!(hot_per_sec, 2.0 * f64::from(cfg.min_reads_per_sec));
    let now = read(&t, &stream, u64::from(per_sec), 5_000, 3_000);
    let r = rate(&t, b"hot", now);
    assert!(
        t.is_hot(b"hot", now),
        "estimated {r}/s for {hot_per_sec}/s: not hot"
    );
    // The sampling's noise is about ±15 % here (one read in 15 counted).
    assert!(
        (0.5 * hot_per_sec..=1.5 * hot_per_sec).contains(&r),
        "estimated {r}/s for {hot_per_sec}/s"
    );
    assert_eq!(t.hot_count(now), 1, "only the hot key");
}
