//! How one thread wakes another that sleeps waiting for it, three ways, measured side by side
//! (issue 13 asks for the cross-core wake-up "measured both ways": through an eventfd, as monoio's
//! runtimes wake each other, and with a message through io_uring):
//!
//! - **futex**: `Thread::unpark` / `Thread::park`, the cheapest wake-up Linux has (a reference);
//! - **eventfd**: one eventfd per direction, the sender `write`s 1, the sleeper is blocked in
//!   `read` (what a parked monoio worker waits on, without the runtime around it);
//! - **io_uring message**: `IORING_OP_MSG_RING` posts a completion straight into the other
//!   thread's ring, which waits in `io_uring_enter`; the sender's submission and its own wait are
//!   one `io_uring_enter` (the send's own completion is skipped, `IOSQE_CQE_SKIP_SUCCESS`). Both
//!   rings are set up as the node's default (`COOP_TASKRUN | TASKRUN_FLAG`, src/node/uring.rs).
//!
//! Two threads pinned to CPU 0 and CPU 1 pass a turn back and forth. Each mechanism runs back to
//! back (the other thread has just gone to sleep) and after 1 ms idle (both CPUs have halted, as
//! on a quiet node). Reported: wall ns per round trip (median of three runs) and, back to back,
//! the CPU both threads spent per round trip (`CLOCK_THREAD_CPUTIME_ID`), which is what each
//! wake-up costs a busy node.
//!
//!     cargo bench --bench wake

#[path = "harness.rs"]
mod harness;

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use io_uring::{opcode, squeue, types, IoUring};

/// How long both threads sleep before each round trip of the idle cases.
const IDLE_GAP: Duration = Duration::from_millis(1);
/// The `user_data` a message carries: the peer's wait looks for it among its completions.
const TURN: u64 = 1;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mech {
    Futex,
    Eventfd,
    MsgRing,
}

impl Mech {
    fn name(self) -> &'static str {
        match self {
            Mech::Futex => "futex (Thread::unpark)",
            Mech::Eventfd => "eventfd (write / blocking read)",
            Mech::MsgRing => "io_uring message (IORING_OP_MSG_RING)",
        }
    }
}

/// One thread's end of a ping-pong: give the other its turn, wait for ours.
trait End: Send {
    fn pass(&mut self);
    fn wait(&mut self);
    /// `pass` then `wait`, in one system call where the mechanism allows it.
    fn pass_and_wait(&mut self) {
        self.pass();
        self.wait();
    }
}

struct FutexEnd {
    /// Round trips so far, counted in turns: odd while the echo thread has the turn.
    turn: Arc<AtomicU64>,
    mine: u64,
    peer: Thread,
}

impl End for FutexEnd {
    fn pass(&mut self) {
        self.turn.fetch_add(1, Ordering::AcqRel);
        self.mine += 2;
        self.peer.unpark();
    }
    fn wait(&mut self) {
        while self.turn.load(Ordering::Acquire) != self.mine {
            thread::park();
        }
    }
}

struct EventfdEnd {
    to_peer: Arc<OwnedFd>,
    from_peer: Arc<OwnedFd>,
}

impl End for EventfdEnd {
    fn pass(&mut self) {
        let one = 1u64.to_ne_bytes();
        // SAFETY: writes 8 bytes from a live buffer to an eventfd this end holds open.
        let n = unsafe { libc::write(self.to_peer.as_raw_fd(), one.as_ptr().cast(), 8) };
        assert_eq!(n, 8, "eventfd write: {}", std::io::Error::last_os_error());
    }
    fn wait(&mut self) {
        let mut buf = [0u8; 8];
        // SAFETY: reads at most 8 bytes into a live buffer from an eventfd this end holds open.
        let n = unsafe { libc::read(self.from_peer.as_raw_fd(), buf.as_mut_ptr().cast(), 8) };
        assert_eq!(n, 8, "eventfd read: {}", std::io::Error::last_os_error());
    }
}

struct RingEnd {
    ring: IoUring,
    peer_fd: RawFd,
}

impl RingEnd {
    fn push_turn(&mut self) {
        let msg = opcode::MsgRingData::new(types::Fd(self.peer_fd), 0, TURN, None)
            .build()
            .flags(squeue::Flags::SKIP_SUCCESS);
        // SAFETY: the entry refers to no memory; the peer's ring fd stays open for the run (the
        // peer's `IoUring` is dropped only after both threads are done).
        unsafe { self.ring.submission().push(&msg) }.expect("submission queue full");
    }

    /// Drain completions until the peer's turn message is among them.
    fn took_turn(&mut self) -> bool {
        let mut got = false;
        for cqe in self.ring.completion() {
            assert!(cqe.result() >= 0, "msg_ring failed: {}", cqe.result());
            got |= cqe.user_data() == TURN;
        }
        got
    }
}

impl End for RingEnd {
    fn pass(&mut self) {
        self.push_turn();
        self.ring.submit().expect("io_uring_enter");
    }
    fn wait(&mut self) {
        while !self.took_turn() {
            self.ring.submit_and_wait(1).expect("io_uring_enter");
        }
    }
    fn pass_and_wait(&mut self) {
        self.push_turn();
        loop {
            self.ring.submit_and_wait(1).expect("io_uring_enter");
            if self.took_turn() {
                return;
            }
        }
    }
}

/// The node's default ring set-up (src/node/uring.rs, `coop`).
fn ring() -> Option<IoUring> {
    IoUring::builder()
        .setup_coop_taskrun()
        .setup_taskrun_flag()
        .build(8)
        .ok()
}

fn eventfd() -> Option<Arc<OwnedFd>> {
    // SAFETY: eventfd takes no pointers; a valid result is an fd this process now owns.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
    // SAFETY: `fd` was just returned by eventfd and is owned by nobody else.
    (fd >= 0).then(|| Arc::new(unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// Makes one end, given the other end's thread (which a futex end wakes).
type Maker = Box<dyn FnOnce(Thread) -> Box<dyn End> + Send>;

/// The two ends of a futex or eventfd ping-pong: (the caller's, the echo thread's). Each is made
/// on its own thread, once the other's thread is known.
fn ends(mech: Mech) -> Option<(Maker, Maker)> {
    match mech {
        Mech::Futex => {
            let turn = Arc::new(AtomicU64::new(0));
            let t2 = Arc::clone(&turn);
            let caller = thread::current();
            Some((
                Box::new(move |echo| {
                    Box::new(FutexEnd {
                        turn,
                        mine: 0,
                        peer: echo,
                    }) as Box<dyn End>
                }),
                Box::new(move |_| {
                    Box::new(FutexEnd {
                        turn: t2,
                        mine: 1,
                        peer: caller,
                    }) as Box<dyn End>
                }),
            ))
        }
        Mech::Eventfd => {
            let (ab, ba) = (eventfd()?, eventfd()?);
            let (ab2, ba2) = (Arc::clone(&ab), Arc::clone(&ba));
            Some((
                Box::new(move |_| {
                    Box::new(EventfdEnd {
                        to_peer: ab,
                        from_peer: ba,
                    }) as Box<dyn End>
                }),
                Box::new(move |_| {
                    Box::new(EventfdEnd {
                        to_peer: ba2,
                        from_peer: ab2,
                    }) as Box<dyn End>
                }),
            ))
        }
        Mech::MsgRing => None,
    }
}

/// What one run measured.
struct Figures {
    wall_ns: f64,
    /// Both threads' CPU time per round trip.
    cpu_ns: f64,
}

fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: writes one timespec into a live local.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn pin(cpu: usize) {
    let cpus = thread::available_parallelism().map_or(1, |n| n.get());
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET writes inside it, and
    // sched_setaffinity(0, ...) only reads it for the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu % cpus, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// `rounds` round trips of `mech` between this thread (pinned to CPU 0) and an echo thread
/// (CPU 1), each after `gap` of sleep when given. None when the mechanism is unavailable here.
fn ping_pong(mech: Mech, rounds: u64, gap: Option<Duration>) -> Option<Figures> {
    let (mut mine, join) = match mech {
        Mech::MsgRing => ring_pair(rounds)?,
        _ => plain_pair(mech, rounds)?,
    };
    pin(0);
    let mut wall = Duration::ZERO;
    let cpu0 = thread_cpu_ns();
    for _ in 0..rounds {
        if let Some(gap) = gap {
            thread::sleep(gap);
        }
        let t = Instant::now();
        mine.pass_and_wait();
        wall += t.elapsed();
    }
    let cpu = thread_cpu_ns() - cpu0;
    let echo_cpu = join()?;
    Some(Figures {
        wall_ns: wall.as_nanos() as f64 / rounds as f64,
        cpu_ns: (cpu + echo_cpu) as f64 / rounds as f64,
    })
}

/// The caller's end, and what joins the echo thread (its CPU time).
type Pair = (Box<dyn End>, Box<dyn FnOnce() -> Option<u64>>);

/// The echo thread: waits, passes the turn back, `rounds` times; returns its CPU time.
fn echo_loop(end: &mut dyn End, rounds: u64) -> u64 {
    pin(1);
    let cpu0 = thread_cpu_ns();
    for _ in 0..rounds {
        end.wait();
        end.pass();
    }
    thread_cpu_ns() - cpu0
}

fn plain_pair(mech: Mech, rounds: u64) -> Option<Pair> {
    let (mine, theirs) = ends(mech)?;
    let (tx, rx) = mpsc::channel();
    let echo = thread::spawn(move || {
        let mut end = theirs(thread::current());
        tx.send(()).expect("caller alive");
        echo_loop(end.as_mut(), rounds)
    });
    rx.recv().ok()?;
    let mine = mine(echo.thread().clone());
    Some((mine, Box::new(move || echo.join().ok())))
}

fn ring_pair(rounds: u64) -> Option<Pair> {
    let my_ring = ring()?;
    let my_fd = my_ring.as_raw_fd();
    let (tx, rx) = mpsc::channel();
    let echo = thread::spawn(move || {
        let Some(ring) = ring() else {
            let _ = tx.send(None);
            return None;
        };
        let _ = tx.send(Some(ring.as_raw_fd()));
        let mut end = RingEnd {
            ring,
            peer_fd: my_fd,
        };
        Some(echo_loop(&mut end, rounds))
    });
    let peer_fd = rx.recv().ok()??;
    let mine = RingEnd {
        ring: my_ring,
        peer_fd,
    };
    Some((Box::new(mine), Box::new(move || echo.join().ok().flatten())))
}

fn main() {
    let h = harness::Harness::from_args();
    for mech in [Mech::Futex, Mech::Eventfd, Mech::MsgRing] {
        for (label, gap) in [("back to back", None), ("after 1 ms idle", Some(IDLE_GAP))] {
            let mut cpu = None;
            h.report(&format!("{}, {label}", mech.name()), |smoke| {
                let rounds = match (smoke, gap) {
                    (true, _) => 16,
                    (false, None) => 20_000,
                    (false, Some(_)) => 1_000,
                };
                // Median of three runs: a wake-up's cost swings with what else the vCPUs do.
                let mut runs: Vec<Figures> = (0..if smoke { 1 } else { 3 })
                    .filter_map(|_| {
                        thread::spawn(move || ping_pong(mech, rounds, gap))
                            .join()
                            .ok()
                            .flatten()
                    })
                    .collect();
                runs.sort_by(|a, b| a.wall_ns.total_cmp(&b.wall_ns));
                let mid = runs.get(runs.len() / 2)?;
                cpu = Some(mid.cpu_ns);
                Some(mid.wall_ns)
            });
            if gap.is_none() {
                h.report(
                    &format!("{}, back to back, CPU of both threads", mech.name()),
                    |_| cpu,
                );
            }
        }
    }
}
