//! Noticing a changed token file without a signal (`auth.reload_interval`): a Kubernetes Secret
//! mounted as a volume is updated in place by kubelet, and nobody sends the node a SIGHUP.
//!
//! Every interval a thread `stat`s each token file the node reads (following symlinks: kubelet
//! swaps a `..data` symlink atomically, so the path's target changes inode; an editor's rename
//! over the file does too; an in-place write changes size or mtime) and, when any [`Stamp`]
//! differs from the last one seen, runs the SIGHUP reload ([`Keyring::reload_logged_as`]): the
//! same checks, the same per-class log lines, and a failed reload keeps the previous tokens. The
//! stamp is remembered either way, so a broken file is reported once, and its next change (the
//! fix) is noticed. The comparison ([`Watch::poll`]) takes the time and the `stat` as arguments,
//! so it is tested without sleeping or touching files.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use super::load::{self, Source};
use super::{Keyring, Kind};
use crate::config::AuthConfig;

/// What identifies one version of a file: a rename or kubelet's swap gives a new inode, an
/// in-place write a new size or mtime (nanoseconds), a `chmod` a new ctime.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i128,
    pub ctime_ns: i128,
}

/// The [`Stamp`] of the file at `path` (symlinks followed); `None` when it does not exist or
/// cannot be read.
pub fn stat(path: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
    Some(Stamp {
        dev: m.dev(),
        ino: m.ino(),
        size: m.size(),
        mtime_ns: ns(m.mtime(), m.mtime_nsec()),
        ctime_ns: ns(m.ctime(), m.ctime_nsec()),
    })
}

/// The token files of `config` (a class's file, or its file in `token_dir` even while absent,
/// so its appearance is noticed); classes set from the environment or open have none.
pub fn watched_paths(config: &AuthConfig, env: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    let dir = load::token_dir(config, env);
    let mut out: Vec<String> = Vec::new();
    for k in Kind::ALL {
        let configured = load::configured_path(config, k);
        let p = match load::source(k, configured, &dir, env) {
            Source::File { path, .. } | Source::Dir(path) => path,
            Source::Env | Source::None => continue,
        };
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

/// The files watched, their last stamps, and when the next check is due.
pub struct Watch {
    paths: Vec<String>,
    seen: Vec<Option<Stamp>>,
    interval: Duration,
    next: Instant,
}

impl Watch {
    /// Watch `paths` every `interval` from `now`, their current stamps taken as the versions
    /// loaded (take them before loading: a change in between is then noticed, not missed).
    pub fn new(
        paths: Vec<String>,
        interval: Duration,
        now: Instant,
        stat: &dyn Fn(&Path) -> Option<Stamp>,
    ) -> Watch {
        let seen = paths.iter().map(|p| stat(Path::new(p))).collect();
        Watch {
            paths,
            seen,
            interval,
            next: now + interval,
        }
    }

    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// When the next check is due.
    pub fn next_due(&self) -> Instant {
        self.next
    }

    /// At `now`: nothing before the next check is due; then the paths whose stamp changed since
    /// the last check (empty: nothing to do). The new stamps are remembered.
    pub fn poll(&mut self, now: Instant, stat: &dyn Fn(&Path) -> Option<Stamp>) -> Vec<&str> {
        if now < self.next {
            return Vec::new();
        }
        self.next = now + self.interval;
        let mut changed = Vec::new();
        for (path, seen) in self.paths.iter().zip(self.seen.iter_mut()) {
            let now = stat(Path::new(path));
            if now != *seen {
                *seen = now;
                changed.push(path.as_str());
            }
        }
        changed
    }
}

/// Start the thread that polls `watch` and reloads `ring` on a change. It holds the keyring
/// weakly and ends at the first check after the node is gone. No thread when nothing is watched
/// or the interval is 0.
pub(super) fn spawn(ring: &Arc<Keyring>, mut watch: Watch, node_id: String) {
    if watch.paths.is_empty() || watch.interval.is_zero() {
        return;
    }
    let ring: Weak<Keyring> = Arc::downgrade(ring);
    let started = std::thread::Builder::new()
        .name("auth-reload".into())
        .spawn(move || {
            crate::log::set_thread_node(&node_id);
            loop {
                std::thread::sleep(watch.next_due().saturating_duration_since(Instant::now()));
                let Some(ring) = ring.upgrade() else {
                    return;
                };
                let changed = watch.poll(Instant::now(), &stat);
                if !changed.is_empty() {
                    let why = format!("auth.reload_interval: {} changed", changed.join(", "));
                    let _ = ring.reload_logged_as(&why);
                }
            }
        });
    if let Err(e) = started {
        crate::warn!("auth: cannot start the token file watcher ({e}): token files are re-read on SIGHUP only");
    }
}

#[cfg(test)]
#[path = "watch_tests.rs"]
mod tests;
