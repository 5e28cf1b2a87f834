//! The clock TTLs are measured on: monotonic milliseconds, one handle per core.
//!
//! Production nodes read the process's monotonic clock. Tests build a node with a manual clock
//! ([`Clock::manual`]) and move it forward with [`Clock::advance`], so an expiry test takes no
//! wall time and cannot fail because a loaded machine slept too long or too little. Every core
//! holds its own clone of the handle (an `Arc`, read with one relaxed load or one `Instant`
//! read per request), so the clock is per-core state that the whole node agrees on.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A source of "now" in milliseconds; cheap to clone, `Send + Sync`.
#[derive(Clone, Debug)]
pub struct Clock(Source);

#[derive(Clone, Debug)]
enum Source {
    /// Milliseconds since `epoch` on the monotonic clock.
    Monotonic(Instant),
    /// Milliseconds set by the test that owns the handle.
    Manual(Arc<AtomicU64>),
}

impl Default for Clock {
    fn default() -> Self {
        Clock::monotonic()
    }
}

impl Clock {
    /// The real clock, starting at 0 now.
    pub fn monotonic() -> Clock {
        Clock(Source::Monotonic(Instant::now()))
    }

    /// A clock that stands still until [`Clock::advance`] moves it (tests).
    pub fn manual() -> Clock {
        // Start well above 0 so "now minus something" arithmetic is exercised as in production.
        Clock(Source::Manual(Arc::new(AtomicU64::new(1_000_000))))
    }

    /// Milliseconds since this clock's start.
    pub fn now_ms(&self) -> u64 {
        match &self.0 {
            Source::Monotonic(epoch) => epoch.elapsed().as_millis() as u64,
            Source::Manual(ms) => ms.load(Ordering::Relaxed),
        }
    }

    /// [`Clock::now_ms`] for a caller that has just read the monotonic clock (`at`), so it need
    /// not be read again. A manual clock ignores `at`: its time is the test's.
    pub fn ms_at(&self, at: Instant) -> u64 {
        match &self.0 {
            Source::Monotonic(epoch) => at.saturating_duration_since(*epoch).as_millis() as u64,
            Source::Manual(ms) => ms.load(Ordering::Relaxed),
        }
    }

    /// Move a manual clock forward (every core sees it on its next read). A monotonic clock
    /// cannot be moved: calling this on one is a test bug, reported by a panic.
    pub fn advance(&self, by: Duration) {
        match &self.0 {
            Source::Manual(ms) => {
                ms.fetch_add(by.as_millis() as u64, Ordering::Relaxed);
            }
            Source::Monotonic(_) => panic!("Clock::advance called on the real clock"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_advanced_and_clones_share_it() {
        let c = Clock::manual();
        let core_copy = c.clone();
        let t0 = c.now_ms();
        assert_eq!(core_copy.now_ms(), t0);
        c.advance(Duration::from_millis(1500));
        assert_eq!(core_copy.now_ms(), t0 + 1500);
    }

    #[test]
    fn a_reading_taken_by_the_caller_is_the_clock_at_that_reading() {
        let c = Clock::monotonic();
        let Source::Monotonic(epoch) = &c.0 else {
            unreachable!()
        };
        assert_eq!(c.ms_at(*epoch + Duration::from_millis(2_345)), 2_345);
        // A reading from before the clock started is its start, not a wrap-around.
        if let Some(earlier) = epoch.checked_sub(Duration::from_millis(1)) {
            assert_eq!(c.ms_at(earlier), 0);
        }
        // An older reading is never ahead of the clock.
        let at = Instant::now();
        assert!(c.ms_at(at) <= c.now_ms());
        // A manual clock is the test's time, whatever the reading.
        let m = Clock::manual();
        m.advance(Duration::from_millis(7));
        assert_eq!(m.ms_at(at + Duration::from_secs(60)), m.now_ms());
    }

    #[test]
    fn monotonic_clock_never_goes_back() {
        let c = Clock::monotonic();
        let a = c.now_ms();
        let b = c.now_ms();
        assert!(b >= a);
    }
}
