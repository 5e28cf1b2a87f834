//! How a worker's io_uring ring is set up, and the benchmarking knob that changes it.
//!
//! The set-up flags decide whether the default driver beats epoll on this workload (many small
//! requests, one worker per core that never blocks outside the ring; measured side by side in
//! `bench/run.sh`'s `flags` scenario, figures in docs/benchmarks.md):
//!
//! - `plain`: no flags. Every completion interrupts the worker with task work (an IPI-like
//!   notification), which is what made io_uring slower than epoll here.
//! - `coop` (the default): `COOP_TASKRUN | TASKRUN_FLAG` (Linux 5.19+). Completions are handed over
//!   when the worker enters the kernel anyway; a worker never sleeps outside the ring, so none
//!   waits longer than its next loop turn.
//! - `single_defer`: `SINGLE_ISSUER | DEFER_TASKRUN` (Linux 6.1+). Completions are produced only
//!   when the worker waits in the ring (`io_uring_enter` with `GETEVENTS`). monoio qualifies: the
//!   ring is built on the worker thread, only that thread submits (other threads wake it through
//!   an eventfd, not the ring), and it waits with `GETEVENTS` every time its run queue is empty;
//!   a task that re-queued itself forever would starve the ring's completions, none does.
//! - `sqpoll`: a kernel thread polls the submission queue (`SQPOLL`, idle after 10 ms). It costs
//!   a CPU of its own, which a host running one worker per CPU does not have.
//!
//! `CACHE_URING_SETUP=plain|coop|single_defer|sqpoll` and `CACHE_URING_ENTRIES=N` (a power of
//! two, 2..=32768) choose another set-up without a rebuild. They are read once per process and
//! are a benchmarking knob, not configuration: the default is what measured best. A set-up the
//! kernel refuses is a start-up error when asked for explicitly; the default falls back to the
//! plain ring, and `io_driver: auto` then picks epoll (the plain ring is the slower driver here).

use std::sync::OnceLock;

use super::StartError;
use crate::config::IoDriver;

/// The environment variable naming the ring set-up (see the module doc).
pub const SETUP_ENV: &str = "CACHE_URING_SETUP";
/// The environment variable giving the submission queue size.
pub const ENTRIES_ENV: &str = "CACHE_URING_ENTRIES";
/// Submission queue entries per core: 1024 in-flight operations are ample for thousands of
/// connections per core (monoio's own default); the completion queue is twice that.
pub const DEFAULT_ENTRIES: u32 = 1024;
/// The kernel's limit for a submission queue (`IORING_MAX_ENTRIES`).
const MAX_ENTRIES: u32 = 32_768;
/// How long the `sqpoll` kernel thread keeps polling an idle queue before it sleeps.
const SQPOLL_IDLE_MS: u32 = 10;

/// Which set-up flags the ring gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RingFlags {
    Plain,
    Coop,
    SingleDefer,
    Sqpoll,
}

impl RingFlags {
    const ALL: [(RingFlags, &'static str); 4] = [
        (RingFlags::Plain, "plain"),
        (RingFlags::Coop, "coop"),
        (RingFlags::SingleDefer, "single_defer"),
        (RingFlags::Sqpoll, "sqpoll"),
    ];

    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(f, _)| *f == self)
            .map_or("plain", |(_, n)| n)
    }
}

/// A ring set-up: flags and queue size, and whether someone asked for it explicitly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingSetup {
    pub flags: RingFlags,
    pub entries: u32,
    /// Named in the environment: refused flags are an error, not a silent fallback.
    pub explicit: bool,
}

impl Default for RingSetup {
    fn default() -> Self {
        RingSetup {
            flags: RingFlags::Coop,
            entries: DEFAULT_ENTRIES,
            explicit: false,
        }
    }
}

impl RingSetup {
    /// The set-up named by `CACHE_URING_SETUP` / `CACHE_URING_ENTRIES`, read once per process.
    pub fn from_env() -> Result<RingSetup, String> {
        static SETUP: OnceLock<Result<RingSetup, String>> = OnceLock::new();
        SETUP
            .get_or_init(|| {
                let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
                RingSetup::parse(var(SETUP_ENV).as_deref(), var(ENTRIES_ENV).as_deref())
            })
            .clone()
    }

    /// The set-up for these values of the two variables (`None`: not set).
    pub fn parse(setup: Option<&str>, entries: Option<&str>) -> Result<RingSetup, String> {
        let mut s = RingSetup::default();
        if let Some(name) = setup {
            s.flags = RingFlags::ALL
                .iter()
                .find(|(_, n)| n.eq_ignore_ascii_case(name.trim()))
                .map(|(f, _)| *f)
                .ok_or_else(|| {
                    let names: Vec<&str> = RingFlags::ALL.iter().map(|(_, n)| *n).collect();
                    format!("{SETUP_ENV}={name:?}: expected one of {}", names.join(", "))
                })?;
            s.explicit = true;
        }
        if let Some(n) = entries {
            s.entries = n
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|n| n.is_power_of_two() && (2..=MAX_ENTRIES).contains(n))
                .ok_or_else(|| {
                    format!("{ENTRIES_ENV}={n:?}: expected a power of two from 2 to {MAX_ENTRIES}")
                })?;
            s.explicit = true;
        }
        Ok(s)
    }

    /// The same queue size without set-up flags: what a refused default falls back to.
    pub fn plain(self) -> RingSetup {
        RingSetup {
            flags: RingFlags::Plain,
            ..self
        }
    }

    /// The ring builder for monoio's `RuntimeBuilder::uring_builder` (pair it with
    /// `with_entries(self.entries)`).
    pub fn builder(&self) -> io_uring::Builder {
        let mut b = io_uring::IoUring::builder();
        match self.flags {
            RingFlags::Plain => {}
            RingFlags::Coop => {
                b.setup_coop_taskrun().setup_taskrun_flag();
            }
            RingFlags::SingleDefer => {
                b.setup_single_issuer().setup_defer_taskrun();
            }
            RingFlags::Sqpoll => {
                b.setup_sqpoll(SQPOLL_IDLE_MS);
            }
        }
        b
    }

    /// Whether this kernel accepts the set-up (a small ring built and dropped on the calling
    /// thread; call it from a thread that is not a worker).
    pub fn supported(&self) -> bool {
        self.builder().build(8).is_ok()
    }

    /// "coop, 1024 entries", for logs and error messages.
    pub fn describe(&self) -> String {
        format!("{}, {} entries", self.flags.name(), self.entries)
    }
}

/// The driver and, for io_uring, the ring set-up the workers use. `auto` picks io_uring only
/// when the ring can be set up the way that measured at least as fast as epoll here (the default
/// [`RingSetup`], or the one named by `CACHE_URING_SETUP`): a kernel that refuses those flags
/// gets epoll, because its plain ring is the slower driver for many small requests
/// (docs/benchmarks.md). An explicit `io_driver: uring` keeps io_uring, with the plain ring if
/// need be.
pub(super) fn resolve(d: IoDriver) -> Result<(IoDriver, RingSetup), StartError> {
    let setup = RingSetup::from_env().map_err(StartError)?;
    // Probe on a short-lived thread: the probe's io_uring task work can interrupt (EINTR) the
    // calling thread's next blocking call, which would surprise an embedding program.
    let (uring, tuned) = std::thread::spawn(move || {
        let uring = monoio::utils::detect_uring();
        (uring, uring && setup.supported())
    })
    .join()
    .unwrap_or((false, false));
    if uring && !tuned && setup.explicit && d != IoDriver::Epoll {
        return Err(StartError(format!(
            "the io_uring set-up asked for by {}/{} ({}) is refused by this kernel; unset them or choose another",
            SETUP_ENV,
            ENTRIES_ENV,
            setup.describe()
        )));
    }
    match d {
        IoDriver::Auto if tuned => Ok((IoDriver::Uring, setup)),
        IoDriver::Auto | IoDriver::Epoll => Ok((IoDriver::Epoll, setup)),
        IoDriver::Uring if tuned => Ok((IoDriver::Uring, setup)),
        IoDriver::Uring if uring => Ok((IoDriver::Uring, setup.plain())),
        IoDriver::Uring => Err(StartError(
            "io_driver: uring requested but io_uring is not available on this kernel (or blocked by seccomp/memlock); use io_driver: auto or epoll".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_is_the_default() {
        let s = RingSetup::parse(None, None).unwrap();
        assert_eq!(s, RingSetup::default());
        assert_eq!(s.flags, RingFlags::Coop);
        assert!(!s.explicit);
    }

    #[test]
    fn names_and_entries_parse() {
        for (f, n) in RingFlags::ALL {
            let s = RingSetup::parse(Some(n), None).unwrap();
            assert_eq!((s.flags, s.explicit), (f, true));
            assert_eq!(f.name(), n);
        }
        let s = RingSetup::parse(Some("SINGLE_DEFER"), Some("4096")).unwrap();
        assert_eq!((s.flags, s.entries), (RingFlags::SingleDefer, 4096));
        assert_eq!(
            RingSetup::parse(None, Some("256")).unwrap().flags,
            RingFlags::Coop
        );
    }

    #[test]
    fn bad_values_name_the_variable() {
        let e = RingSetup::parse(Some("fast"), None).unwrap_err();
        assert!(e.contains(SETUP_ENV) && e.contains("single_defer"), "{e}");
        for bad in ["1000", "0", "65536", "x"] {
            let e = RingSetup::parse(None, Some(bad)).unwrap_err();
            assert!(e.contains(ENTRIES_ENV) && e.contains("power of two"), "{e}");
        }
    }

    /// Each set-up this kernel accepts carries a loopback exchange and a timer on monoio, in
    /// particular `single_defer`, whose completions appear only when the worker waits with
    /// `GETEVENTS` (a driver that never did would hang here, caught by the deadline).
    #[test]
    fn every_accepted_setup_serves_a_connection() {
        use monoio::io::{AsyncReadRentExt, AsyncWriteRentExt};
        const DEADLINE: std::time::Duration = std::time::Duration::from_secs(20);
        for (flags, name) in RingFlags::ALL {
            let setup = RingSetup {
                flags,
                ..RingSetup::default()
            };
            if !monoio::utils::detect_uring() || !setup.supported() {
                eprintln!("{name}: not accepted by this kernel, skipped");
                continue;
            }
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let mut rt = monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
                    .with_entries(setup.entries)
                    .uring_builder(setup.builder())
                    .enable_timer()
                    .build()
                    .expect("runtime");
                let echoed = rt.block_on(async {
                    let l = monoio::net::TcpListener::bind("127.0.0.1:0").unwrap();
                    let addr = l.local_addr().unwrap();
                    monoio::spawn(async move {
                        let (mut s, _) = l.accept().await.unwrap();
                        let (r, buf) = s.read_exact(vec![0u8; 4]).await;
                        r.unwrap();
                        monoio::time::sleep(std::time::Duration::from_millis(2)).await;
                        let (r, _) = s.write_all(buf).await;
                        r.unwrap();
                    });
                    let mut c = monoio::net::TcpStream::connect(addr).await.unwrap();
                    let (r, _) = c.write_all(b"ping".to_vec()).await;
                    r.unwrap();
                    let (r, buf) = c.read_exact(vec![0u8; 4]).await;
                    r.unwrap();
                    buf
                });
                let _ = tx.send(echoed);
            });
            let echoed = rx
                .recv_timeout(DEADLINE)
                .unwrap_or_else(|_| panic!("{name}: no echo within {DEADLINE:?}"));
            assert_eq!(echoed, b"ping", "{name}");
        }
    }

    #[test]
    fn plain_keeps_the_size() {
        let s = RingSetup::parse(Some("single_defer"), Some("64"))
            .unwrap()
            .plain();
        assert_eq!((s.flags, s.entries), (RingFlags::Plain, 64));
    }
}
