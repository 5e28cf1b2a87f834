//! Rate limits for log lines that a failure can repeat for every request (a dead owner makes
//! every forwarded request fail): at most one line per kind per [`LOG_LINE_INTERVAL`] on each
//! thread, and the line that gets through carries how many were held back.
//!
//! Per thread (one per core) so the check is a thread-local `Cell` read, no lock and no atomic
//! shared between cores; with N cores a node writes at most N lines per second per kind.

use std::cell::Cell;
use std::time::Instant;

/// One line per second per kind per core: enough to see that something is failing and what,
/// while a failure that hits 100k requests per second cannot flood the journal or the disk.
pub const LOG_LINE_INTERVAL_MS: u64 = 1_000;

/// The rate-limited kinds of line: each has its own budget, so one flood does not hide another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogKind {
    /// A forwarded request answered the client 502/503/504.
    ForwardFailed = 0,
    /// Keys could not be handed to their owner.
    HandoverFailed = 1,
    /// A peer's ring fingerprint differs from ours.
    RingMismatch = 2,
    /// A worker core's heartbeat stopped (the watchdog withholds its ping).
    CoreStalled = 3,
    /// The node answered a request 5xx for a reason of its own (overloaded, shutting down, no
    /// replica of the key reachable); a failed forward is [`LogKind::ForwardFailed`].
    ErrorAnswered = 4,
}

const KINDS: usize = 5;

/// One kind's budget: admits a line when `interval_ms` passed since the last admitted one.
#[derive(Debug, Default)]
pub(super) struct RateLimit {
    /// When the last line was admitted (ms on the caller's clock); `None` before the first.
    last_ms: Cell<Option<u64>>,
    suppressed: Cell<u64>,
}

impl RateLimit {
    /// At `now_ms`: `Some(lines suppressed since the last admitted one)` when a line may be
    /// written, `None` when it must be dropped (and is counted).
    pub(super) fn admit(&self, now_ms: u64, interval_ms: u64) -> Option<u64> {
        match self.last_ms.get() {
            Some(last) if now_ms.saturating_sub(last) < interval_ms => {
                self.suppressed.set(self.suppressed.get() + 1);
                None
            }
            _ => {
                self.last_ms.set(Some(now_ms));
                Some(self.suppressed.replace(0))
            }
        }
    }
}

thread_local! {
    static LIMITS: [RateLimit; KINDS] = Default::default();
    /// The clock of this thread's limits: milliseconds since the thread's first limited line.
    static EPOCH: Instant = Instant::now();
}

/// Whether a line of `kind` may be written now on this thread: `Some(suppressed)` if so.
pub fn admit(kind: LogKind) -> Option<u64> {
    let now_ms = EPOCH.with(|e| e.elapsed().as_millis() as u64);
    LIMITS.with(|l| l[kind as usize].admit(now_ms, LOG_LINE_INTERVAL_MS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_with_the_count_of_the_dropped_ones() {
        let r = RateLimit::default();
        let seen: Vec<Option<u64>> = [0, 10, 999, 1_000, 1_500, 2_000, 2_001, 9_000]
            .iter()
            .map(|&t| r.admit(t, 1_000))
            .collect();
        assert_eq!(
            seen,
            [Some(0), None, None, Some(2), None, Some(1), None, Some(1)]
        );
    }

    #[test]
    fn kinds_have_separate_budgets() {
        assert_eq!(admit(LogKind::ForwardFailed), Some(0));
        assert_eq!(admit(LogKind::HandoverFailed), Some(0));
        // The same kind again within the interval is dropped (a 1 s interval cannot pass here
        // unless the test thread stalls for a second; then the next line is admitted instead).
        let again = admit(LogKind::ForwardFailed);
        assert!(matches!(again, None | Some(0)), "{again:?}");
    }
}
