//! Hot keys (issue 13): which keys this core reads far more often than the rest, so that they
//! can be served from short-lived read copies and their forwards coalesced.
//!
//! Each core counts the reads it receives in a Space-Saving top-K ([`topk`]). Counting is
//! sampled: one read in about [`HotKeys::period`] is counted, with that many reads' weight, at a
//! random distance from the last (so a client cycling through a few keys cannot alias with the
//! sampling). Counts decay with a half-life of [`HALF_LIFE_MS`] by forward decay: a read at time
//! `t` weighs `2^((t - landmark) / half-life)`, so older reads weigh relatively less without
//! touching any counter; all counters are scaled down together once the weights grow large. A
//! steady rate `r` then gives a count of `r · τ` (`τ = half-life / ln 2`, the mean life), which
//! is how a count becomes "reads per second".
//!
//! The read path costs a countdown and two comparisons while no key is hot on the core; once one
//! is, a read that is not sampled also hashes its key (ahash, per-process seeds) and scans the
//! short list of hot keys' hashes ([`hotset`]). Nothing is allocated per read: a key's bytes are
//! copied only when it enters the top-K.

use std::cell::{Cell, RefCell};

use crate::config::HotKeysConfig;

pub(crate) mod lease;
pub(crate) mod local;
pub(crate) mod remote;
pub(crate) mod topk;

mod hotset;

use hotset::{HotSet, Seen};
use topk::SpaceSaving;

/// Half-life of a counted read. A key's rate follows its real rate within about a second (from
/// nothing to hot at twice the threshold in one half-life; from 10x the threshold to not hot in
/// 3.3) while a key at the threshold still gets ~46 samples per mean life (±15 % noise).
pub(crate) const HALF_LIFE_MS: f64 = 500.0;
/// Mean life `τ` of a counted read, in seconds: a steady rate `r` gives a count of `r · τ`.
const MEAN_LIFE_S: f64 = HALF_LIFE_MS / 1000.0 / std::f64::consts::LN_2;
/// Weights grow by 2 per half-life; past this (16 s) every counter is scaled back to 1 so they
/// stay far from f64's exponent limit and keep their precision (counts stay below 2^53).
const RESCALE_ABOVE: f64 = (1u64 << 32) as f64;
/// Reads per second a key at `min_reads_per_sec` should be sampled at: the sampling period is
/// `min_reads_per_sec / 64` (15 at the default), so a low threshold (tests, small nodes) counts
/// every read. 64 samples a second keep a key at the threshold within about ±15 % (about 46
/// samples per mean life), while a sample of a key new to the top-K (~500 instructions: it
/// takes a counter over) costs a read ~33 instructions on average.
const SAMPLES_AT_THRESHOLD: u32 = 64;
/// Most reads one sample stands for: the cost of counting is already small at 1 in 16.
const MAX_PERIOD: u32 = 16;
/// How often the set of keys that may be hot is rebuilt (keys that cooled down leave it then).
const RECHECK_MS: u64 = 64;
/// `/admin/hotkeys` lists keys read at least this often (the rest of the top-K is noise).
const LIST_MIN_READS_PER_SEC: f64 = 1.0;

/// One key of a core's top-K, as `/admin/hotkeys` shows it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct HotKey {
    pub key: Vec<u8>,
    /// Estimated reads per second on this core (a lower bound, sampling aside).
    pub reads_per_sec: f64,
    /// At least `min_reads_per_sec`.
    pub hot: bool,
}

/// This core's view of its hot keys. Owned by the core (plain `Cell`s).
pub(crate) struct HotKeys {
    enabled: bool,
    min_reads_per_sec: u32,
    /// Mean reads per sample (the weight of one sample).
    period: u32,
    /// Reads left until the next sample (the next one when ≤ 1).
    skip: Cell<u32>,
    /// xorshift64 state for the sampling distances.
    rng: Cell<u64>,
    hasher: ahash::RandomState,
    /// `now_ms` the weights below were computed for.
    now_ms: Cell<u64>,
    /// Time the weights are relative to.
    landmark_ms: Cell<u64>,
    /// Weight of one read at `now_ms`.
    gain: Cell<f64>,
    /// Count (at `now_ms`'s weights) from which a key is hot.
    hot_at: Cell<f64>,
    /// Every key hot now (and some that were, until the next rebuild).
    hot_set: HotSet,
    /// When `hot_set` was last rebuilt.
    checked_ms: Cell<u64>,
    top: RefCell<SpaceSaving>,
}

impl HotKeys {
    pub(crate) fn new(cfg: &HotKeysConfig) -> HotKeys {
        let hasher = ahash::RandomState::new();
        HotKeys {
            enabled: cfg.enabled,
            min_reads_per_sec: cfg.min_reads_per_sec,
            period: (cfg.min_reads_per_sec / SAMPLES_AT_THRESHOLD).clamp(1, MAX_PERIOD),
            skip: Cell::new(0),
            rng: Cell::new(hasher.hash_one(0x0068_6f74_u32) | 1),
            hasher,
            now_ms: Cell::new(0),
            landmark_ms: Cell::new(0),
            gain: Cell::new(1.0),
            hot_at: Cell::new(Self::threshold(cfg.min_reads_per_sec, 1.0)),
            hot_set: HotSet::default(),
            checked_ms: Cell::new(0),
            top: RefCell::new(SpaceSaving::new(if cfg.enabled { cfg.top_k } else { 1 })),
        }
    }

    /// Whether hot-key handling is on (`hot_keys.enabled`).
    pub(crate) fn enabled(&self) -> bool {
        self.enabled
    }

    /// Mean reads per counted sample.
    #[cfg(test)]
    pub(crate) fn period(&self) -> u32 {
        self.period
    }

    /// Count one read of `key` on this core at `now_ms` (the node's TTL clock). Most reads only
    /// step the sampling countdown: no hash, no lookup (whether the key is hot is asked with
    /// [`Self::is_hot`] where it matters, which most reads never do).
    #[inline]
    pub(crate) fn count(&self, key: &[u8], now_ms: u64) {
        if !self.enabled {
            return;
        }
        if now_ms != self.now_ms.get() {
            self.tick(now_ms);
        }
        let skip = self.skip.get();
        if skip > 1 {
            self.skip.set(skip - 1);
            return;
        }
        self.skip.set(self.draw_skip());
        self.sample(key);
    }

    /// [`Self::count`], then whether the key is hot on this core (estimated reads per second
    /// ≥ `hot_keys.min_reads_per_sec`).
    #[cfg(test)]
    pub(crate) fn observe(&self, key: &[u8], now_ms: u64) -> bool {
        self.count(key, now_ms);
        self.is_hot(key, now_ms)
    }

    /// Keys hot on this core now (the `cache_hot_keys` gauge).
    pub(crate) fn hot_count(&self, now_ms: u64) -> u64 {
        if !self.enabled {
            return 0;
        }
        self.tick(now_ms);
        let hot_at = self.hot_at.get();
        self.top
            .borrow()
            .iter()
            .filter(|(_, c)| c.lower() >= hot_at)
            .count() as u64
    }

    /// Whether `key` is hot on this core now, without counting a read.
    #[inline]
    pub(crate) fn is_hot(&self, key: &[u8], now_ms: u64) -> bool {
        if !self.enabled {
            return false;
        }
        if now_ms != self.now_ms.get() {
            self.tick(now_ms);
        }
        !self.hot_set.is_empty() && self.lookup(key)
    }

    /// The keys of this core's top-K read at least once a second, with their estimated rates,
    /// in no particular order.
    pub(crate) fn top(&self, now_ms: u64) -> Vec<HotKey> {
        if !self.enabled {
            return Vec::new();
        }
        self.tick(now_ms);
        let per_sec = 1.0 / (self.gain.get() * MEAN_LIFE_S);
        let hot_at = self.hot_at.get();
        self.top
            .borrow()
            .iter()
            .filter(|(_, c)| c.lower() * per_sec >= LIST_MIN_READS_PER_SEC)
            .map(|(_, c)| HotKey {
                key: c.key().to_vec(),
                reads_per_sec: c.lower() * per_sec,
                hot: c.lower() >= hot_at,
            })
            .collect()
    }

    /// Count (at weight `gain`) from which a key read `min_reads_per_sec` is hot.
    fn threshold(min_reads_per_sec: u32, gain: f64) -> f64 {
        f64::from(min_reads_per_sec) * MEAN_LIFE_S * gain
    }

    /// Whether `key` holds a counter whose lower bound makes it hot: a hash and a scan of the
    /// hot set for most keys, the counter checked only for the few the set names.
    #[inline]
    fn lookup(&self, key: &[u8]) -> bool {
        let h = self.hasher.hash_one(key);
        let hot_at = self.hot_at.get();
        let top = self.top.borrow();
        let counter = match self.hot_set.seen(h) {
            Seen::Cold => return false,
            Seen::Counter(i) => Some(top.at(i)).filter(|c| c.key() == key),
            Seen::Crowded => top.get(h, key),
        };
        counter.is_some_and(|c| c.lower() >= hot_at)
    }

    /// Count one sample of `key`, standing for `period` reads.
    #[inline(never)]
    fn sample(&self, key: &[u8]) {
        let h = self.hasher.hash_one(key);
        let w = f64::from(self.period) * self.gain.get();
        let (i, lower) = self.top.borrow_mut().add(h, key, w);
        if lower >= self.hot_at.get() {
            self.hot_set.note(h, i);
        }
    }

    /// Reads until the next sample: uniform in `1..=2·period-1` (mean `period`).
    #[inline]
    fn draw_skip(&self) -> u32 {
        let mut x = self.rng.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng.set(x);
        let span = u64::from(2 * self.period - 1);
        // Lemire's range reduction of the top 32 bits: no division.
        1 + (((x >> 32) * span) >> 32) as u32
    }

    /// Bring the weights to `now_ms`: the current read weight and hot threshold, a rescale of
    /// every counter when weights grew large, and now and then a rebuilt hot set.
    #[inline(never)]
    fn tick(&self, now_ms: u64) {
        self.now_ms.set(now_ms);
        // A caller holding an older `now` than the last rescale's sees the weights of the
        // rescale (not ones below 1, which would make every counted key look hot).
        let since = (now_ms as f64 - self.landmark_ms.get() as f64).max(0.0);
        let mut gain = (since / HALF_LIFE_MS).exp2();
        if gain > RESCALE_ABOVE {
            self.top.borrow_mut().scale(1.0 / gain);
            self.landmark_ms.set(now_ms);
            gain = 1.0;
        }
        self.gain.set(gain);
        let hot_at = Self::threshold(self.min_reads_per_sec, gain);
        self.hot_at.set(hot_at);
        if now_ms.abs_diff(self.checked_ms.get()) >= RECHECK_MS {
            self.checked_ms.set(now_ms);
            self.hot_set.clear();
            for (i, c) in self.top.borrow().iter() {
                if c.lower() >= hot_at {
                    self.hot_set.note(c.hash(), i);
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "tracker_tests.rs"]
mod tests;
