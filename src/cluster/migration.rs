//! Progress of key moves after membership changes (counters only; the moving is the server's).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

/// Shared by every core; read by `/admin/cluster` and the metrics.
#[derive(Default)]
pub struct MigrationStats {
    /// A move of this node's keys is under way.
    pub running: AtomicBool,
    /// The epoch being (or last) moved.
    pub epoch: AtomicU64,
    /// Unix ms when the current (or last) move started.
    pub started_unix_ms: AtomicU64,
    pub started: AtomicU64,
    pub finished: AtomicU64,
    /// Keys and bytes sent to new replicas, and keys examined, in the current (or last) move.
    pub keys_moved: AtomicU64,
    pub bytes_moved: AtomicU64,
    pub keys_scanned: AtomicU64,
    /// The same since the process started (the metrics' counters).
    pub total_keys_moved: AtomicU64,
    pub total_bytes_moved: AtomicU64,
    /// How long the last finished move took.
    pub last_duration_ms: AtomicU64,
    /// `(epoch, cores done)` of the current move. Cores start and finish in any order (an empty
    /// shard finishes before a busy core has even started), so both sides go through the lock.
    progress: Mutex<(u64, usize)>,
}

impl MigrationStats {
    /// A core starts its part of the move of `epoch`; the first one starts the move.
    pub fn start(&self, epoch: u64, now_ms: u64) {
        let mut p = self.progress.lock().unwrap_or_else(|e| e.into_inner());
        if p.0 == epoch {
            return;
        }
        *p = (epoch, 0);
        self.epoch.store(epoch, Ordering::Relaxed);
        self.started_unix_ms.store(now_ms, Ordering::Relaxed);
        for c in [&self.keys_moved, &self.bytes_moved, &self.keys_scanned] {
            c.store(0, Ordering::Relaxed);
        }
        self.running.store(true, Ordering::Release);
        self.started.fetch_add(1, Ordering::Relaxed);
    }

    /// One of `cores` cores finished its part of the move of `epoch`; true when it was the last.
    pub fn core_done(&self, epoch: u64, cores: usize, now_ms: u64) -> bool {
        let mut p = self.progress.lock().unwrap_or_else(|e| e.into_inner());
        if p.0 != epoch {
            return false;
        }
        p.1 += 1;
        if p.1 != cores {
            return false;
        }
        let began = self.started_unix_ms.load(Ordering::Relaxed);
        self.last_duration_ms
            .store(now_ms.saturating_sub(began), Ordering::Relaxed);
        self.running.store(false, Ordering::Release);
        self.finished.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Count `keys` and `bytes` delivered to a new replica.
    pub fn moved(&self, keys: u64, bytes: u64) {
        self.keys_moved.fetch_add(keys, Ordering::Relaxed);
        self.bytes_moved.fetch_add(bytes, Ordering::Relaxed);
        self.total_keys_moved.fetch_add(keys, Ordering::Relaxed);
        self.total_bytes_moved.fetch_add(bytes, Ordering::Relaxed);
    }

    pub fn is_running(&self) -> bool {
        self.running.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_core_finishes_the_move_whatever_the_order() {
        let s = MigrationStats::default();
        // An empty core may finish before another has started: it starts the move itself.
        s.start(3, 1_000);
        assert!(!s.core_done(3, 2, 1_200));
        s.start(3, 1_300);
        assert!(s.is_running());
        s.moved(5, 50);
        assert!(s.core_done(3, 2, 2_000));
        assert!(!s.is_running());
        assert_eq!(s.last_duration_ms.load(Ordering::Relaxed), 1_000);
        assert_eq!(s.started.load(Ordering::Relaxed), 1);
        assert_eq!(s.finished.load(Ordering::Relaxed), 1);
        // A done from a superseded move counts for nothing; a new move restarts the per-move
        // figures but not the totals.
        assert!(!s.core_done(2, 2, 2_100));
        s.start(4, 3_000);
        assert_eq!(s.keys_moved.load(Ordering::Relaxed), 0);
        assert_eq!(s.total_keys_moved.load(Ordering::Relaxed), 5);
    }
}
