//! Progress of key moves after membership changes (counters only; the moving is the server's).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

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
    /// Keys and bytes sent to new replicas (this node's part), and keys examined.
    pub keys_moved: AtomicU64,
    pub bytes_moved: AtomicU64,
    pub keys_scanned: AtomicU64,
    /// How long the last finished move took.
    pub last_duration_ms: AtomicU64,
    /// Cores still scanning the current move.
    pub cores_pending: AtomicU64,
}

impl MigrationStats {
    /// A move of `epoch` starts on `cores` cores.
    pub fn start(&self, epoch: u64, cores: usize, now_ms: u64) {
        self.epoch.store(epoch, Ordering::Relaxed);
        self.started_unix_ms.store(now_ms, Ordering::Relaxed);
        self.cores_pending.store(cores as u64, Ordering::Release);
        self.running.store(true, Ordering::Release);
        self.started.fetch_add(1, Ordering::Relaxed);
    }

    /// One core finished its part; true when it was the last one.
    pub fn core_done(&self, now_ms: u64) -> bool {
        if self.cores_pending.fetch_sub(1, Ordering::AcqRel) != 1 {
            return false;
        }
        let began = self.started_unix_ms.load(Ordering::Relaxed);
        self.last_duration_ms
            .store(now_ms.saturating_sub(began), Ordering::Relaxed);
        self.running.store(false, Ordering::Release);
        self.finished.fetch_add(1, Ordering::Relaxed);
        true
    }

    pub fn is_running(&self) -> bool {
        self.running.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_core_finishes_the_move() {
        let s = MigrationStats::default();
        s.start(3, 2, 1_000);
        assert!(s.is_running());
        assert!(!s.core_done(1_500));
        assert!(s.is_running());
        assert!(s.core_done(2_000));
        assert!(!s.is_running());
        assert_eq!(s.last_duration_ms.load(Ordering::Relaxed), 1_000);
        assert_eq!(s.started.load(Ordering::Relaxed), 1);
        assert_eq!(s.finished.load(Ordering::Relaxed), 1);
    }
}
