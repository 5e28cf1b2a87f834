//! The generator threads: one monoio runtime per thread (like the node), one task per connection.
//!
//! A connection task writes a batch of `pipeline` requests in one write and reads their answers
//! in order, recording each request's latency from the moment it was *meant* to be sent:
//! - closed loop (default): the batch is sent as soon as the previous one is answered, so the
//!   intended time is the send time (what wrk measures);
//! - open loop (`--rate`): request `i` of a connection is due at `start + phase + i * interval`.
//!   A task waits for the due time and, when it is behind (the server was slow), sends every
//!   overdue request at once (up to the pipeline depth), still timed from its due time. That
//!   corrects coordinated omission as wrk2 does: a stall shows up in the latency of every request
//!   that should have been sent during it, not only in the one that was waiting.
//!
//! Due times are kept by the thread's [`Pacer`], which wakes each task within microseconds of
//! its due time (monoio's own timers are 1 ms coarse and late while any task is busy).

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use monoio::net::TcpStream;

use super::keys::{Op, Rng, Workload};
use super::pacer::Pacer;
use super::stats::{ErrorKind, ThreadStats};

mod exchange;
use exchange::exchange;

/// Wait before reconnecting after a failed connect, so a dead target is not hammered.
const RECONNECT_BACKOFF: Duration = Duration::from_millis(100);
/// A connection gives up after this many failed connects in a row (5 s of backoff): the target is
/// gone, and a preload without a deadline must still end.
const MAX_CONNECT_FAILURES: u32 = 50;
/// Read buffer per connection; grows only for larger answers.
const READ_BUF: usize = 64 * 1024;

/// Which monoio driver the generator threads use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Driver {
    /// io_uring when the kernel allows it, else epoll.
    Auto,
    Uring,
    Epoll,
}

/// Where a connection's keys come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Drawn from the workload's distribution and mix.
    Random,
    /// PUT every key once: connection `c` of `C` stores keys `c, c + C, c + 2C, ...` (preload).
    Sequential,
}

/// Everything fixed for one run.
pub struct Plan {
    pub targets: Vec<SocketAddr>,
    /// One per target (the `Host` header differs).
    pub workloads: Vec<Workload>,
    pub connections: usize,
    pub threads: usize,
    pub pipeline: usize,
    /// Total requests per second over all connections (open loop); `None`: closed loop.
    pub rate: Option<f64>,
    pub duration: Option<Duration>,
    /// Stop after this many requests in total.
    pub requests: Option<u64>,
    pub timeout: Duration,
    pub driver: Driver,
    pub source: Source,
    pub seed: u64,
}

/// Live state shared by the threads of one run.
pub struct Run {
    pub plan: Plan,
    pub start: Instant,
    deadline: Option<Instant>,
    issued: AtomicU64,
    stop: AtomicBool,
    pub stats: Vec<ThreadStats>,
    /// Set by each thread: true when it runs on io_uring.
    pub uring: AtomicBool,
}

impl Run {
    pub fn new(plan: Plan) -> Arc<Run> {
        let start = Instant::now();
        Arc::new(Run {
            deadline: plan.duration.map(|d| start + d),
            stats: (0..plan.threads).map(|_| ThreadStats::default()).collect(),
            plan,
            start,
            issued: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            uring: AtomicBool::new(false),
        })
    }

    /// Ask every connection to finish its batch in flight and stop.
    pub fn request_stop(&self) {
        self.stop.store(true, Relaxed);
    }

    fn should_stop(&self) -> bool {
        self.stop.load(Relaxed) || self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// Take up to `want` requests from the run's budget.
    fn claim(&self, want: u64) -> u64 {
        match self.plan.requests {
            None => want,
            Some(limit) => {
                let before = self.issued.fetch_add(want, Relaxed);
                limit.saturating_sub(before).min(want)
            }
        }
    }
}

/// Start the generator threads; each ends when the run does.
pub fn spawn_threads(run: &Arc<Run>) -> Vec<std::thread::JoinHandle<Result<(), String>>> {
    (0..run.plan.threads)
        .map(|t| {
            let run = Arc::clone(run);
            std::thread::Builder::new()
                .name(format!("bench-{t}"))
                .spawn(move || thread_main(run, t))
                .map_err(|e| e.to_string())
        })
        .filter_map(Result::ok)
        .collect()
}

fn thread_main(run: Arc<Run>, thread: usize) -> Result<(), String> {
    let driver = run.plan.driver;
    let all = {
        let run = Arc::clone(&run);
        async move {
            let pacer = run.plan.rate.map(|_| Rc::new(Pacer::default()));
            let conns = (thread..run.plan.connections).step_by(run.plan.threads);
            let tasks: Vec<_> = conns
                .map(|c| {
                    let (run, pacer) = (Arc::clone(&run), pacer.clone());
                    if let Some(p) = &pacer {
                        p.conn_started();
                    }
                    monoio::spawn(async move {
                        connection(run, thread, c, pacer.as_ref()).await;
                        if let Some(p) = &pacer {
                            p.conn_finished();
                        }
                    })
                })
                .collect();
            if let Some(p) = pacer {
                monoio::spawn(p.run());
            }
            for t in tasks {
                t.await;
            }
        }
    };
    if driver != Driver::Epoll {
        match monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
            .with_entries(1024)
            .enable_timer()
            .build()
        {
            Ok(mut rt) => {
                run.uring.store(true, Relaxed);
                rt.block_on(all);
                return Ok(());
            }
            Err(e) if driver == Driver::Uring => return Err(format!("io_uring unavailable: {e}")),
            Err(_) => {}
        }
    }
    monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .enable_timer()
        .build()
        .map(|mut rt| rt.block_on(all))
        .map_err(|e| format!("cannot build the epoll runtime: {e}"))
}

/// Per-connection state that survives reconnects.
struct ConnState {
    stream: Option<TcpStream>,
    wbuf: Vec<u8>,
    rbuf: Vec<u8>,
    /// Operation and intended send time of each request of the batch in flight.
    batch: Vec<(Op, Instant)>,
    latencies: Vec<u64>,
}

/// A connection's open-loop schedule and its next sequential key.
struct Schedule {
    /// Time between two requests of this connection (open loop only).
    interval: Option<Duration>,
    /// Intended send time of the next request (open loop only).
    next_due: Option<Instant>,
    /// Index of the next key (sequential source only).
    next_seq: u64,
}

/// Outcome of making sure a connection has a stream.
enum Connected {
    Ready,
    /// The connect failed; try again (the backoff has been waited).
    Retry,
    /// Too many failed connects in a row: the connection ends.
    GiveUp,
}

async fn connection(run: Arc<Run>, thread: usize, conn: usize, pacer: Option<&Rc<Pacer>>) {
    let plan = &run.plan;
    let stats = &run.stats[thread];
    let target = conn % plan.targets.len();
    let addr = plan.targets[target];
    let work = &plan.workloads[target];
    let mut rng = Rng::new(plan.seed ^ (conn as u64 + 1).wrapping_mul(0x2545_f491_4f6c_dd1d));
    let mut st = ConnState {
        stream: None,
        wbuf: Vec::with_capacity(plan.pipeline * 256),
        rbuf: Vec::with_capacity(READ_BUF),
        batch: Vec::with_capacity(plan.pipeline),
        latencies: Vec::with_capacity(plan.pipeline),
    };
    let interval = plan
        .rate
        .map(|r| Duration::from_secs_f64(plan.connections as f64 / r));
    let mut sched = Schedule {
        interval,
        // Spread the connections' schedules over one interval.
        next_due: interval.map(|iv| run.start + iv.mul_f64(conn as f64 / plan.connections as f64)),
        next_seq: conn as u64,
    };
    let mut connect_failures = 0;
    loop {
        if run.should_stop() {
            break;
        }
        match ensure_connected(&mut st, addr, plan.timeout, stats, &mut connect_failures).await {
            Connected::Ready => {}
            Connected::Retry => continue,
            Connected::GiveUp => break,
        }
        let Some(n) = batch_size(&run, work, &sched, pacer).await else {
            break;
        };
        build_batch(&mut st, plan, work, &mut rng, &mut sched, n);
        let failure = exchange(&mut st, plan.timeout, stats).await;
        stats.record(&st.latencies);
        if let Some((kind, unanswered)) = failure {
            stats.error(kind, unanswered);
            st.stream = None;
        }
    }
}

/// Open the stream if there is none, counting failed connects in `failures`.
async fn ensure_connected(
    st: &mut ConnState,
    addr: SocketAddr,
    timeout: Duration,
    stats: &ThreadStats,
    failures: &mut u32,
) -> Connected {
    if st.stream.is_some() {
        return Connected::Ready;
    }
    match monoio::time::timeout(timeout, TcpStream::connect_addr(addr)).await {
        Ok(Ok(s)) => {
            let _ = s.set_nodelay(true);
            st.stream = Some(s);
            st.rbuf.clear();
            *failures = 0;
            Connected::Ready
        }
        _ => {
            stats.error(ErrorKind::Connect, 1);
            *failures += 1;
            if *failures >= MAX_CONNECT_FAILURES {
                return Connected::GiveUp;
            }
            monoio::time::sleep(RECONNECT_BACKOFF).await;
            Connected::Retry
        }
    }
}

/// How many requests the next batch holds, claimed from the run's budget, once its first request
/// is due (open loop); `None` when the connection is done.
async fn batch_size(
    run: &Run,
    work: &Workload,
    sched: &Schedule,
    pacer: Option<&Rc<Pacer>>,
) -> Option<u64> {
    let plan = &run.plan;
    let mut n = plan.pipeline as u64;
    if let (Some(iv), Some(due), Some(pacer)) = (sched.interval, sched.next_due, pacer) {
        if run.deadline.is_some_and(|d| due >= d) {
            return None;
        }
        pacer.until(due).await;
        let behind = Instant::now().saturating_duration_since(due);
        n = n.min((behind.as_nanos() / iv.as_nanos().max(1)) as u64 + 1);
    }
    if plan.source == Source::Sequential {
        let left = work.keys.count.saturating_sub(sched.next_seq);
        n = n.min(left.div_ceil(plan.connections as u64));
    }
    let n = run.claim(n);
    (n > 0).then_some(n)
}

/// Write `n` requests into `st.wbuf` and their operations and intended send times into `st.batch`.
fn build_batch(
    st: &mut ConnState,
    plan: &Plan,
    work: &Workload,
    rng: &mut Rng,
    sched: &mut Schedule,
    n: u64,
) {
    st.wbuf.clear();
    st.batch.clear();
    let now = Instant::now();
    for _ in 0..n {
        let (op, idx) = match plan.source {
            Source::Random => work.next(rng),
            Source::Sequential => {
                let idx = sched.next_seq;
                sched.next_seq += plan.connections as u64;
                (Op::Put, idx)
            }
        };
        work.push_request(&mut st.wbuf, op, idx);
        let at = match (sched.interval, sched.next_due.as_mut()) {
            (Some(iv), Some(due)) => {
                let at = *due;
                *due += iv;
                at
            }
            _ => now,
        };
        st.batch.push((op, at));
    }
}
