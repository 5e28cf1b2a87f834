//! The systemd watchdog, fed only while every worker core makes progress.
//!
//! Each core runs a small timer task that bumps its own [`Heartbeats`] counter every
//! [`HEARTBEAT_INTERVAL`]. A plain thread wakes at half of `WATCHDOG_USEC` (systemd's advice) and
//! sends `WATCHDOG=1` only if every counter moved since its previous check ([`Liveness`]): a core
//! stuck in a loop or a blocking call stops the pings, and systemd restarts the node after
//! `WatchdogSec=`. The pings prove the cores' executors run, not merely that the process exists.
//!
//! Hand-written rather than the `sd-notify` crate: the protocol is one datagram, which
//! `startup::sd_notify` already sends (abstract sockets included), and the two environment
//! variables are parsed here in a few lines with tests; a crate would add a dependency and
//! still leave the per-core liveness logic, which is the real work, to us.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How often each core proves it is alive. Four beats per second per core cost nothing, and a
/// check every 500 ms (the shortest sensible `WatchdogSec=1s`) still sees at least one beat.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_millis(250);

/// One progress counter per worker core; each core writes only its own.
pub struct Heartbeats {
    beats: Box<[AtomicU64]>,
}

impl Heartbeats {
    pub fn new(cores: usize) -> Heartbeats {
        Heartbeats {
            beats: (0..cores).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Core `core` is alive (called from its timer task).
    pub fn beat(&self, core: usize) {
        if let Some(b) = self.beats.get(core) {
            b.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The counters now, in core order.
    pub fn read(&self) -> Vec<u64> {
        self.beats
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect()
    }
}

/// The ping decision: remembers the counters seen at the previous check.
#[derive(Debug)]
pub struct Liveness {
    last: Vec<u64>,
}

impl Liveness {
    /// Start from the counters read now (a check right after start judges the first interval).
    pub fn new(now: Vec<u64>) -> Liveness {
        Liveness { last: now }
    }

    /// The cores whose counter did not move since the previous check (empty: ping), then
    /// remember `now` for the next check.
    pub fn stalled(&mut self, now: Vec<u64>) -> Vec<usize> {
        let stalled = now
            .iter()
            .enumerate()
            .filter(|&(i, beat)| self.last.get(i) == Some(beat))
            .map(|(i, _)| i)
            .collect();
        self.last = now;
        stalled
    }
}

/// The ping interval systemd asks for: half of `WATCHDOG_USEC`, if it is set for this process
/// (`WATCHDOG_PID`, when present, must be ours, as in `sd_watchdog_enabled(3)`).
pub fn ping_interval(usec: Option<&str>, pid: Option<&str>, my_pid: u32) -> Option<Duration> {
    if pid.is_some_and(|p| p.trim().parse::<u32>().ok() != Some(my_pid)) {
        return None;
    }
    let usec: u64 = usec?.trim().parse().ok().filter(|&u| u > 0)?;
    Some(Duration::from_micros(usec / 2))
}

/// Start the watchdog thread when systemd enabled the watchdog (`WatchdogSec=`); otherwise
/// nothing. The thread lives as long as the process.
pub fn spawn(heartbeats: Arc<Heartbeats>) -> Option<JoinHandle<()>> {
    let usec = std::env::var("WATCHDOG_USEC").ok();
    let pid = std::env::var("WATCHDOG_PID").ok();
    let every = ping_interval(usec.as_deref(), pid.as_deref(), std::process::id())?;
    crate::info!(
        "systemd watchdog on: WATCHDOG=1 every {} ms while every core beats",
        every.as_millis()
    );
    std::thread::Builder::new()
        .name("watchdog".into())
        .spawn(move || run(&heartbeats, every))
        .ok()
}

fn run(heartbeats: &Heartbeats, every: Duration) {
    let mut liveness = Liveness::new(heartbeats.read());
    loop {
        std::thread::sleep(every);
        let stalled = liveness.stalled(heartbeats.read());
        if stalled.is_empty() {
            crate::startup::sd_notify("WATCHDOG=1");
        } else if let Some(suppressed) = crate::log::admit(crate::log::LogKind::CoreStalled) {
            crate::error!(
                suppressed = (suppressed > 0).then_some(suppressed);
                "watchdog: core(s) {stalled:?} made no progress in {} ms; withholding WATCHDOG=1 so systemd restarts the node if they stay stuck",
                every.as_millis()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pings_only_when_every_core_advanced() {
        let mut l = Liveness::new(vec![0, 0, 0]);
        assert_eq!(l.stalled(vec![1, 4, 2]), Vec::<usize>::new());
        // Core 1 stuck: no ping, and it is named.
        assert_eq!(l.stalled(vec![2, 4, 3]), vec![1]);
        // Still stuck on the next check, even though others advanced a lot.
        assert_eq!(l.stalled(vec![90, 4, 90]), vec![1]);
        // It recovers: pings resume.
        assert_eq!(l.stalled(vec![91, 5, 91]), Vec::<usize>::new());
        // Everything stopped (e.g. a stop-the-world stall).
        assert_eq!(l.stalled(vec![91, 5, 91]), vec![0, 1, 2]);
    }

    #[test]
    fn heartbeats_count_per_core() {
        let h = Heartbeats::new(2);
        h.beat(1);
        h.beat(1);
        h.beat(7); // out of range: ignored, not a panic
        assert_eq!(h.read(), vec![0, 2]);
    }

    #[test]
    fn interval_is_half_of_watchdog_usec_for_this_process() {
        let half = Some(Duration::from_secs(15));
        assert_eq!(ping_interval(Some("30000000"), None, 7), half);
        assert_eq!(ping_interval(Some("30000000"), Some("7"), 7), half);
        assert_eq!(ping_interval(Some("30000000"), Some("8"), 7), None);
        assert_eq!(ping_interval(None, None, 7), None);
        assert_eq!(ping_interval(Some("0"), None, 7), None);
        assert_eq!(ping_interval(Some("soon"), None, 7), None);
    }
}
