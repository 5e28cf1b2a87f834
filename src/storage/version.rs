//! Write versions: a hybrid logical clock (HLC) shared by every core of a node.
//!
//! A [`Version`] orders writes to one key across replicas, hints and repairs: the larger version
//! wins. It packs wall-clock milliseconds since the Unix epoch into the top 48 bits and a counter
//! into the low [`COUNTER_BITS`], so versions sort by time across nodes whose clocks roughly agree,
//! and still strictly increase on one node when its wall clock stalls or steps backwards (the
//! counter, then the millisecond field, simply keeps counting past the last version issued).
//! Versions seen from peers are folded in with [`Hlc::observe`], so a write that follows a
//! replicated one on this node is ordered after it even if the peer's clock runs ahead.
//!
//! The clock is one `AtomicU64` updated with compare-and-swap: every core may call it without a
//! lock, and the whole node shares one total order of the versions it issues.

use std::sync::atomic::{AtomicU64, Ordering};

/// Wall-clock milliseconds since the Unix epoch in the top 48 bits, a counter in the low 16.
pub type Version = u64;

/// Low bits of a [`Version`] that count writes within one millisecond (65,536 per ms before the
/// clock borrows from the millisecond field, which is harmless: order is all that matters).
pub const COUNTER_BITS: u32 = 16;

/// Largest wall-clock value that fits the 48-bit millisecond field (the year 10889). Larger
/// inputs are clamped rather than shifted out, so a nonsense clock cannot wrap a version to 0.
pub const MAX_WALL_MS: u64 = u64::MAX >> COUNTER_BITS;

/// Hex digits in a formatted version: a `u64` always prints as exactly this many, so ETags and
/// headers have a fixed width and sort as strings.
pub const HEX_DIGITS: usize = 16;

/// The node's hybrid logical clock: the last version it issued or observed.
///
/// `Sync`: one instance is shared (e.g. in an `Arc`) by all cores. Each operation is a single
/// atomic read-modify-write on `last`; `Relaxed` ordering suffices because versions only need a
/// total order among themselves (an atomic's modification order), not to publish other memory.
#[derive(Debug, Default)]
pub struct Hlc {
    last: AtomicU64,
}

impl Hlc {
    /// A clock that has issued nothing yet: its first [`Hlc::next`] is `wall_ms << 16`.
    pub fn new() -> Hlc {
        Hlc::default()
    }

    /// A version greater than every version this clock returned or observed, and at least
    /// `wall_ms << 16` (with `wall_ms` clamped to [`MAX_WALL_MS`]).
    ///
    /// The wall clock may go backwards between calls (NTP steps, or callers on different cores
    /// reading it in a different order than they reach here): the result still increases.
    /// Saturates at `u64::MAX`, which only a clock or peer 8,000 years in the future reaches;
    /// from then on it returns `u64::MAX` again rather than panicking on a core.
    pub fn next(&self, wall_ms: u64) -> Version {
        let floor = wall_ms.min(MAX_WALL_MS) << COUNTER_BITS;
        let step = |last: u64| last.saturating_add(1).max(floor);
        // The closure always returns `Some`, so `fetch_update` cannot fail; both arms carry the
        // value that was replaced.
        let prev = match self
            .last
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
                Some(step(last))
            }) {
            Ok(prev) | Err(prev) => prev,
        };
        step(prev)
    }

    /// Remember a version seen elsewhere (a replica write, a hint, a repair), so every later
    /// [`Hlc::next`] exceeds it.
    ///
    /// Versions far in the future are taken as they are, not rejected: a peer whose clock runs
    /// ahead of ours must still have its writes ordered before our later ones, or a client's
    /// write-then-overwrite through two nodes could lose the overwrite. The cost is that a peer
    /// with a badly wrong clock drags this node's versions ahead with it (the counter keeps them
    /// unique and increasing; they just stop tracking our wall clock until it catches up).
    pub fn observe(&self, v: Version) {
        self.last.fetch_max(v, Ordering::Relaxed);
    }

    /// The last version issued or observed (0 for a fresh clock).
    pub fn last(&self) -> Version {
        self.last.load(Ordering::Relaxed)
    }
}

/// The wall-clock milliseconds a version was issued at (for display and logs).
pub fn wall_ms_of(v: Version) -> u64 {
    v >> COUNTER_BITS
}

/// The 16 lowercase hex digits of `v` in a stack buffer: no allocation on the request path,
/// where it becomes the ETag `"<hex>"`. Leading zeros are kept so every version has one spelling.
pub fn hex(v: Version) -> [u8; HEX_DIGITS] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; HEX_DIGITS];
    for (i, byte) in out.iter_mut().enumerate() {
        let shift = 4 * (HEX_DIGITS - 1 - i);
        *byte = DIGITS[((v >> shift) & 0xf) as usize];
    }
    out
}

/// [`hex`] as a `String`, for logs and tests.
pub fn to_hex(v: Version) -> String {
    // `hex` only produces ASCII digits, so the conversion cannot fail.
    hex(v).iter().map(|&b| char::from(b)).collect()
}

/// Parse the `X-Cache-Version` header: 1 to 16 hex digits, either case, nothing else (no sign,
/// spaces or `0x`), so every accepted spelling denotes exactly one `u64` and none can overflow.
pub fn parse_hex(s: &[u8]) -> Option<Version> {
    if s.is_empty() || s.len() > HEX_DIGITS {
        return None;
    }
    s.iter().try_fold(0u64, |acc, &b| {
        let digit = char::from(b).to_digit(16)?;
        Some(acc << 4 | u64::from(digit))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::Arc;

    #[test]
    fn first_version_is_the_wall_clock() {
        let hlc = Hlc::new();
        assert_eq!(hlc.last(), 0);
        assert_eq!(hlc.next(1_000), 1_000 << 16);
        assert_eq!(hlc.next(1_000), (1_000 << 16) + 1);
        assert_eq!(hlc.next(2_000), 2_000 << 16);
        assert_eq!(wall_ms_of(hlc.last()), 2_000);
    }

    #[test]
    fn a_stalled_or_backward_clock_still_counts_up() {
        let hlc = Hlc::new();
        let a = hlc.next(5_000);
        let b = hlc.next(4_000);
        let c = hlc.next(0);
        assert!(a < b && b < c);
        assert_eq!(wall_ms_of(c), 5_000);
    }

    #[test]
    fn observed_versions_are_exceeded() {
        let hlc = Hlc::new();
        let peer = (9_000 << 16) + 7;
        hlc.observe(peer);
        hlc.observe(3); // an older version never moves the clock back
        assert_eq!(hlc.last(), peer);
        assert_eq!(hlc.next(1_000), peer + 1);
    }

    #[test]
    fn extreme_inputs_clamp_and_saturate_without_panicking() {
        let hlc = Hlc::new();
        assert_eq!(hlc.next(u64::MAX), MAX_WALL_MS << COUNTER_BITS);
        hlc.observe(u64::MAX);
        assert_eq!(hlc.next(0), u64::MAX);
        assert_eq!(hlc.next(0), u64::MAX);
    }

    #[test]
    fn concurrent_callers_get_distinct_versions() {
        const THREADS: usize = 4;
        const PER_THREAD: usize = 10_000;
        let hlc = Arc::new(Hlc::new());
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let hlc = Arc::clone(&hlc);
                // Each thread's wall clock is a little different, as on different cores.
                std::thread::spawn(move || {
                    (0..PER_THREAD)
                        .map(|i| hlc.next(1_000 + (i / 100 + t) as u64))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all = Vec::with_capacity(THREADS * PER_THREAD);
        for h in handles {
            let mine = h.join().unwrap();
            assert!(mine.windows(2).all(|w| w[0] < w[1]), "per-thread order");
            all.extend(mine);
        }
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), THREADS * PER_THREAD);
    }

    #[test]
    fn hex_is_fixed_width_lowercase() {
        assert_eq!(to_hex(0), "0000000000000000");
        assert_eq!(to_hex(0xDEAD_BEEF), "00000000deadbeef");
        assert_eq!(&hex(u64::MAX), b"ffffffffffffffff");
    }

    #[test]
    fn parse_hex_accepts_only_plain_digits() {
        assert_eq!(parse_hex(b"0"), Some(0));
        assert_eq!(parse_hex(b"DeadBeef"), Some(0xdead_beef));
        assert_eq!(parse_hex(b"ffffffffffffffff"), Some(u64::MAX));
        for bad in [
            &b""[..],
            b"10000000000000000", // 17 digits
            b"12g4",
            b"+12",
            b"-1",
            b" 12",
            b"12 ",
            b"0x12",
            "١٢".as_bytes(), // non-ASCII digits
        ] {
            assert_eq!(parse_hex(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    /// One step of a clock's life: issue a version at some wall time, or observe a peer's.
    #[derive(Debug, Clone)]
    enum Step {
        Next(u64),
        Observe(u64),
    }

    fn step() -> impl Strategy<Value = Step> {
        // Observed versions stay well below `u64::MAX` so the strict increase is not
        // masked by saturation, which `extreme_inputs_clamp_and_saturate_without_panicking` covers.
        prop_oneof![
            any::<u64>().prop_map(Step::Next),
            (0..u64::MAX / 2).prop_map(Step::Observe),
        ]
    }

    proptest! {
        #[test]
        fn next_strictly_increases_over_any_history(steps in prop::collection::vec(step(), 1..200)) {
            let hlc = Hlc::new();
            let mut max_seen = 0u64;
            for s in steps {
                match s {
                    Step::Next(wall) => {
                        // A fresh clock's `last` is 0 and `next` never returns 0, so "greater
                        // than everything issued or observed" is just `> max_seen`.
                        let v = hlc.next(wall);
                        prop_assert!(v > max_seen);
                        prop_assert!(v >= wall.min(MAX_WALL_MS) << COUNTER_BITS);
                        max_seen = v;
                    }
                    Step::Observe(v) => {
                        hlc.observe(v);
                        max_seen = max_seen.max(v);
                    }
                }
                prop_assert_eq!(hlc.last(), max_seen);
            }
        }

        #[test]
        fn hex_round_trips(v in any::<u64>()) {
            let digits = hex(v);
            prop_assert_eq!(parse_hex(&digits), Some(v));
            prop_assert_eq!(parse_hex(to_hex(v).to_uppercase().as_bytes()), Some(v));
            let trimmed = to_hex(v).trim_start_matches('0').to_owned();
            prop_assert_eq!(parse_hex(trimmed.as_bytes()).unwrap_or(0), v);
        }
    }
}
