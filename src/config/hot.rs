//! `hot_keys:`: when a key counts as hot, and how long a read copy of a hot key may be served
//! without asking its owner (issue 13).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::Invalid;
use super::sections::{check_durations, check_range};
use super::units;

/// A key read this often on one core (estimated over the last second) is hot. 1000/s is far
/// above what any one key of a uniform load gets (100k keys at 100k req/s: 1/s each) and well
/// below what the top key of a Zipf 0.99 load gets (several percent of all reads).
pub const DEFAULT_HOT_MIN_READS_PER_SEC: u32 = 1_000;
/// Keys each core tracks (Space-Saving counters). A key is found for sure only once it takes more
/// than 1/top_k of its core's reads, and its estimate may lose up to that share, so
/// `reads per second on a core / top_k` must stay below `min_reads_per_sec`. 1024 keeps that true
/// at the default threshold up to ~1M reads/s per core (one core answers 100-200k small GETs a
/// second); 64, the default until 2026-12-06, estimated a key read at twice the threshold on a
/// core serving 200k reads/s at a tenth of its rate and never made it hot (test
/// `the_default_finds_a_key_over_the_threshold_on_a_busy_core`). It costs ~300 KB per core (the
/// counters, and the read-copy table sized from them); the tracker's time is per sampled read,
/// O(log top_k).
pub const DEFAULT_HOT_TOP_K: usize = 1024;
pub const HOT_TOP_K_RANGE: (usize, usize) = (1, 4096);
/// How long a read copy is served without asking the owner. Also the longest a write to a hot
/// key waits for copies elsewhere to be dropped when an invalidation goes unanswered; short
/// enough that such a write is still fast, long enough that a copy serves hundreds of reads.
pub const DEFAULT_HOT_COPY_TTL: Duration = Duration::from_millis(50);
/// A copy older than this is no longer a cache of a hot key but a second store: refused.
pub const MAX_HOT_COPY_TTL: Duration = Duration::from_secs(1);

/// The `hot_keys` section.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HotKeysConfig {
    /// Off: no tracking, no copies, no coalescing (every read goes to the key's owner).
    pub enabled: bool,
    pub min_reads_per_sec: u32,
    pub top_k: usize,
    #[serde(with = "units::duration")]
    pub copy_ttl: Duration,
}

impl Default for HotKeysConfig {
    fn default() -> Self {
        HotKeysConfig {
            enabled: true,
            min_reads_per_sec: DEFAULT_HOT_MIN_READS_PER_SEC,
            top_k: DEFAULT_HOT_TOP_K,
            copy_ttl: DEFAULT_HOT_COPY_TTL,
        }
    }
}

impl HotKeysConfig {
    pub(crate) fn validate(&self) -> Result<(), Invalid> {
        check_range(Some("hot_keys"), "top_k", self.top_k, HOT_TOP_K_RANGE)?;
        check_range(
            Some("hot_keys"),
            "min_reads_per_sec",
            self.min_reads_per_sec,
            (1, u32::MAX),
        )?;
        check_durations("hot_keys", &[("copy_ttl", self.copy_ttl)])?;
        if self.copy_ttl > MAX_HOT_COPY_TTL {
            return Err(Invalid {
                section: Some("hot_keys"),
                key: "copy_ttl".to_owned(),
                message: format!(
                    "{} is longer than {} (a copy must stay a short-lived cache of a hot key)",
                    units::format_duration(self.copy_ttl),
                    units::format_duration(MAX_HOT_COPY_TTL)
                ),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "hot_tests.rs"]
mod tests;
