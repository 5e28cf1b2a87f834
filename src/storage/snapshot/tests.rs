//! Tests of the snapshot format: round trips, and refusal (never a panic) of damaged files.

use super::*;
use std::time::Instant;
use xxhash_rust::xxh64::xxh64;

const NODE: &str = "node-a";
const NOW: u64 = 1_700_000_000_000;

/// A fresh directory under the system temp dir, removed when the test ends (pass or fail).
struct TestDir(PathBuf);

impl TestDir {
    fn new(test: &str) -> TestDir {
        let path = std::env::temp_dir().join(format!("dcache-snap-{}-{test}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        TestDir(path)
    }

    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn record(key: &[u8], value: &[u8], expires: Option<u64>, version: u64, tomb: bool) -> Record {
    Record {
        key: Bytes::copy_from_slice(key),
        value: Bytes::copy_from_slice(value),
        expires_at_unix_ms: expires,
        version,
        tomb,
    }
}

fn sample() -> Vec<Record> {
    vec![
        record(b"plain", b"value", None, 1, false),
        record(
            &[0, 0xff, b'\n', 0x80],
            &[0xff; 3],
            Some(NOW + 60_000),
            2,
            false,
        ),
        record(b"empty-value", b"", None, 3, false),
        record(b"", b"empty key", None, 4, false),
        record(b"deleted", b"", Some(NOW + 1), u64::MAX, true),
    ]
}

fn save(dir: &Path, name: &str, records: &[Record]) -> SaveStats {
    let mut w = SnapshotWriter::create(dir, name, NODE, NOW - 5).unwrap();
    for r in records {
        w.push(&RecordRef {
            key: &r.key,
            value: &r.value,
            expires_at_unix_ms: r.expires_at_unix_ms,
            version: r.version,
            tomb: r.tomb,
        })
        .unwrap();
    }
    w.finish().unwrap()
}

/// Append a valid trailer checksum, for hand-built (hostile but well-sealed) files.
fn seal(mut body: Vec<u8>) -> Vec<u8> {
    let sum = xxh64(&body, 0);
    body.extend_from_slice(&sum.to_le_bytes());
    body
}

fn header(node: &str) -> Vec<u8> {
    let mut h = MAGIC.to_vec();
    h.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    h.extend_from_slice(&(node.len() as u16).to_le_bytes());
    h.extend_from_slice(node.as_bytes());
    h.extend_from_slice(&NOW.to_le_bytes());
    h
}

fn load_bytes(dir: &TestDir, bytes: &[u8]) -> Result<Loaded, SnapshotError> {
    let path = dir.0.join("probe.snap");
    fs::write(&path, bytes).unwrap();
    load(&path, NODE, NOW)
}

#[test]
fn round_trip_keeps_every_field_and_leaves_no_tmp() {
    let dir = TestDir::new("round_trip");
    let records = sample();
    let stats = save(&dir.0, &file_name(3), &records);
    let path = dir.0.join("shard-3.snap");
    assert_eq!(dir.names(), ["shard-3.snap"]);
    assert_eq!(stats.records, records.len() as u64);
    assert_eq!(stats.bytes, fs::metadata(&path).unwrap().len());

    let loaded = load(&path, NODE, NOW).unwrap();
    assert_eq!(loaded.records, records);
    assert_eq!(loaded.expired, 0);
    assert_eq!(loaded.bytes, stats.bytes);
    assert_eq!(loaded.written_unix_ms, NOW - 5);
}

#[test]
fn an_empty_snapshot_round_trips() {
    let dir = TestDir::new("empty");
    let stats = save(&dir.0, "shard-0.snap", &[]);
    let loaded = load(&dir.0.join("shard-0.snap"), NODE, NOW).unwrap();
    assert_eq!((stats.records, loaded.records.len()), (0, 0));
}

#[test]
fn expired_records_are_skipped_and_counted() {
    let dir = TestDir::new("expired");
    let records = vec![
        record(b"past", b"x", Some(NOW - 1), 1, false),
        record(b"now", b"x", Some(NOW), 2, false),
        record(b"future", b"x", Some(NOW + 1), 3, false),
        record(b"forever", b"x", None, 4, false),
        record(b"old-tomb", b"", Some(NOW - 10), 5, true),
    ];
    save(&dir.0, "shard-0.snap", &records);
    let loaded = load(&dir.0.join("shard-0.snap"), NODE, NOW).unwrap();
    let keys: Vec<&[u8]> = loaded.records.iter().map(|r| &r.key[..]).collect();
    assert_eq!(keys, [&b"future"[..], b"forever"]);
    assert_eq!(loaded.expired, 3);
}

#[test]
fn every_single_bit_flip_is_refused() {
    let dir = TestDir::new("bit_flips");
    save(&dir.0, "shard-0.snap", &sample()[..3]);
    let good = fs::read(dir.0.join("shard-0.snap")).unwrap();
    assert!(load_bytes(&dir, &good).is_ok());
    for offset in 0..good.len() {
        for bit in 0..8 {
            let mut bad = good.clone();
            bad[offset] ^= 1 << bit;
            let result = load_bytes(&dir, &bad);
            assert!(
                result.is_err(),
                "flip of bit {bit} at offset {offset} was accepted"
            );
        }
    }
}

#[test]
fn every_truncation_is_refused() {
    let dir = TestDir::new("truncation");
    save(&dir.0, "shard-0.snap", &sample());
    let good = fs::read(dir.0.join("shard-0.snap")).unwrap();
    for len in 0..good.len() {
        let err = load_bytes(&dir, &good[..len]).unwrap_err();
        assert!(
            err.to_string().contains("truncated at offset"),
            "{len}: {err}"
        );
    }
    // Bytes glued on after the checksum are refused too.
    let mut long = good.clone();
    long.push(0);
    assert!(load_bytes(&dir, &long).is_err());
}

#[test]
fn another_nodes_snapshot_is_refused_naming_both() {
    let dir = TestDir::new("wrong_node");
    save(&dir.0, "shard-0.snap", &sample());
    let err = load(&dir.0.join("shard-0.snap"), "node-b", NOW).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err.kind, ErrorKind::WrongNode { .. }), "{msg}");
    assert!(
        msg.contains("\"node-a\"") && msg.contains("\"node-b\""),
        "{msg}"
    );
    assert!(msg.contains("shard-0.snap"), "{msg}");
}

#[test]
fn errors_name_the_problem() {
    let dir = TestDir::new("messages");
    let not_ours = load_bytes(&dir, b"GIF89a, not a snapshot").unwrap_err();
    assert!(
        not_ours.to_string().contains("not a cache snapshot"),
        "{not_ours}"
    );

    let mut future = header(NODE);
    future[8] = 2;
    let err = load_bytes(&dir, &seal(future)).unwrap_err();
    assert!(
        err.to_string().contains("unsupported format version 2"),
        "{err}"
    );

    save(&dir.0, "shard-0.snap", &sample());
    let mut bad = fs::read(dir.0.join("shard-0.snap")).unwrap();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    let err = load_bytes(&dir, &bad).unwrap_err();
    assert!(
        err.to_string().contains("checksum mismatch: expected "),
        "{err}"
    );

    let missing = load(&dir.0.join("absent.snap"), NODE, NOW).unwrap_err();
    assert!(missing.to_string().contains("read failed"), "{missing}");
    assert!(missing.to_string().contains("absent.snap"), "{missing}");
}

#[test]
fn well_sealed_hostile_files_are_refused_without_huge_allocations() {
    let dir = TestDir::new("hostile");
    // A trailer claiming u64::MAX records: the capacity is bounded by the file, then the count
    // check refuses it.
    let mut body = header(NODE);
    body.push(END_MARKER);
    body.extend_from_slice(&u64::MAX.to_le_bytes());
    let err = load_bytes(&dir, &seal(body)).unwrap_err();
    assert!(err.to_string().contains("record count"), "{err}");

    // A value length of 1 GiB in a tiny file.
    let mut body = header(NODE);
    body.push(0);
    body.extend_from_slice(&7u64.to_le_bytes());
    body.extend_from_slice(&1u32.to_le_bytes());
    body.extend_from_slice(&(MAX_VALUE_LEN as u32).to_le_bytes());
    body.push(b'k');
    let err = load_bytes(&dir, &seal(body.clone())).unwrap_err();
    assert!(
        matches!(err.kind, ErrorKind::Truncated { what: "value", .. }),
        "{err}"
    );

    // Lengths over the limits, and unknown flag bits.
    let at = body.len() - 5;
    body[at..at + 4].copy_from_slice(&(MAX_VALUE_LEN as u32 + 1).to_le_bytes());
    let err = load_bytes(&dir, &seal(body.clone())).unwrap_err();
    assert!(
        matches!(
            err.kind,
            ErrorKind::TooLarge {
                what: "value length",
                ..
            }
        ),
        "{err}"
    );
    let flags_at = header(NODE).len();
    body[flags_at] = 0x04;
    let err = load_bytes(&dir, &seal(body)).unwrap_err();
    assert!(err.to_string().contains("unknown record flags"), "{err}");
}

#[test]
fn oversized_records_fail_the_save_and_leave_nothing() {
    let dir = TestDir::new("oversized");
    let mut w = SnapshotWriter::create(&dir.0, "shard-0.snap", NODE, NOW).unwrap();
    let key = vec![b'k'; MAX_KEY_LEN + 1];
    let r = RecordRef {
        key: &key,
        value: b"",
        expires_at_unix_ms: None,
        version: 1,
        tomb: false,
    };
    let err = w.push(&r).unwrap_err();
    assert!(
        matches!(err.kind, ErrorKind::TooLarge { what: "key", .. }),
        "{err}"
    );
    drop(w);
    assert!(dir.names().is_empty(), "{:?}", dir.names());
}

#[test]
fn list_finds_only_finished_snapshots_in_core_order() {
    let dir = TestDir::new("list");
    for name in ["shard-10.snap", "shard-2.snap", "shard-0.snap"] {
        save(&dir.0, name, &[]);
    }
    for stray in [
        "shard-1.snap.tmp",
        "shard-01.snap",
        "shard-+3.snap",
        "shard-.snap",
        "notes.txt",
    ] {
        fs::write(dir.0.join(stray), b"x").unwrap();
    }
    let found = list(&dir.0).unwrap();
    let names: Vec<_> = found
        .iter()
        .map(|p| p.file_name().unwrap().to_str().unwrap())
        .collect();
    assert_eq!(names, ["shard-0.snap", "shard-2.snap", "shard-10.snap"]);
    assert!(list(&dir.0.join("missing")).unwrap().is_empty());
}

#[test]
fn a_loaded_record_stays_small() {
    // The bound in `load`'s capacity comment assumes this.
    assert!(std::mem::size_of::<Record>() <= 96);
}

/// Save and load rates: `cargo test --release --lib snapshot_rates -- --ignored --nocapture`.
#[test]
#[ignore]
fn snapshot_rates_1m() {
    const RECORDS: u64 = 1_000_000;
    let dir = TestDir::new("rates");
    let value = [0x5a_u8; 100];
    let started = Instant::now();
    let mut w = SnapshotWriter::create(&dir.0, "shard-0.snap", NODE, NOW).unwrap();
    for i in 0..RECORDS {
        // 16-byte key built in place, so the figure is the writer's cost, not `format!`'s.
        let mut key = *b"key-000000000000";
        let mut n = i;
        for digit in key[4..].iter_mut().rev() {
            *digit = b'0' + (n % 10) as u8;
            n /= 10;
        }
        let expires_at_unix_ms = (i % 2 == 0).then_some(NOW + 3_600_000);
        w.push(&RecordRef {
            key: &key,
            value: &value,
            expires_at_unix_ms,
            version: i,
            tomb: false,
        })
        .unwrap();
    }
    let stats = w.finish().unwrap();
    let saved = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let loaded = load(&dir.0.join("shard-0.snap"), NODE, NOW).unwrap();
    let loaded_in = started.elapsed().as_secs_f64();
    assert_eq!(loaded.records.len() as u64, RECORDS);

    let mb = stats.bytes as f64 / 1e6;
    let rate = |secs: f64| {
        format!(
            "{:.2} M records/s, {:.0} MB/s ({secs:.3} s)",
            RECORDS as f64 / secs / 1e6,
            mb / secs
        )
    };
    println!("snapshot of {RECORDS} records, {mb:.1} MB");
    println!("  save (incl. fsync): {}", rate(saved));
    println!("  load (incl. read):  {}", rate(loaded_in));
}
