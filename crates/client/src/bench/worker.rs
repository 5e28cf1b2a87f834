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

use dcache_http::{parse_response_head, BodyFraming};
use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;

use super::keys::{Op, Rng, Workload};
use super::pacer::Pacer;
use super::stats::{ErrorKind, ThreadStats};

/// Wait before reconnecting after a failed connect, so a dead target is not hammered.
const RECONNECT_BACKOFF: Duration = Duration::from_millis(100);
/// A connection gives up after this many failed connects in a row (5 s of backoff): the target is
/// gone, and a preload without a deadline must still end.
const MAX_CONNECT_FAILURES: u32 = 50;
/// Read buffer per connection; grows only for larger answers.
const READ_BUF: usize = 64 * 1024;
/// Free space kept in the read buffer before each read.
const MIN_READ_SPACE: usize = 16 * 1024;

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
    // Spread the connections' schedules over one interval.
    let mut next_due =
        interval.map(|iv| run.start + iv.mul_f64(conn as f64 / plan.connections as f64));
    let mut next_seq = conn as u64;
    let mut connect_failures = 0;
    loop {
        if run.should_stop() {
            break;
        }
        if st.stream.is_none() {
            match monoio::time::timeout(plan.timeout, TcpStream::connect_addr(addr)).await {
                Ok(Ok(s)) => {
                    let _ = s.set_nodelay(true);
                    st.stream = Some(s);
                    st.rbuf.clear();
                    connect_failures = 0;
                }
                _ => {
                    stats.error(ErrorKind::Connect, 1);
                    connect_failures += 1;
                    if connect_failures >= MAX_CONNECT_FAILURES {
                        break;
                    }
                    monoio::time::sleep(RECONNECT_BACKOFF).await;
                    continue;
                }
            }
        }
        let mut n = plan.pipeline as u64;
        if let (Some(iv), Some(due), Some(pacer)) = (interval, next_due, pacer) {
            if run.deadline.is_some_and(|d| due >= d) {
                break;
            }
            pacer.until(due).await;
            let behind = Instant::now().saturating_duration_since(due);
            n = n.min((behind.as_nanos() / iv.as_nanos().max(1)) as u64 + 1);
        }
        if plan.source == Source::Sequential {
            let left = work.keys.count.saturating_sub(next_seq);
            n = n.min(left.div_ceil(plan.connections as u64));
        }
        let n = run.claim(n);
        if n == 0 {
            break;
        }
        // Build the batch.
        st.wbuf.clear();
        st.batch.clear();
        let now = Instant::now();
        for _ in 0..n {
            let (op, idx) = match plan.source {
                Source::Random => work.next(&mut rng),
                Source::Sequential => {
                    let idx = next_seq;
                    next_seq += plan.connections as u64;
                    (Op::Put, idx)
                }
            };
            work.push_request(&mut st.wbuf, op, idx);
            let at = match (interval, next_due.as_mut()) {
                (Some(iv), Some(due)) => {
                    let at = *due;
                    *due += iv;
                    at
                }
                _ => now,
            };
            st.batch.push((op, at));
        }
        let failure = exchange(&mut st, plan.timeout, stats).await;
        stats.record(&st.latencies);
        if let Some((kind, unanswered)) = failure {
            stats.error(kind, unanswered);
            st.stream = None;
        }
    }
}

/// Write the batch and read its answers. Returns the failure and how many requests it left
/// unanswered, or `None`; on a `Connection: close` answer the stream is dropped.
async fn exchange(
    st: &mut ConnState,
    timeout: Duration,
    stats: &ThreadStats,
) -> Option<(ErrorKind, u64)> {
    let n = st.batch.len();
    let Some(stream) = st.stream.as_mut() else {
        return Some((ErrorKind::Io, n as u64));
    };
    let wbuf = std::mem::take(&mut st.wbuf);
    match monoio::time::timeout(timeout, stream.write_all(wbuf)).await {
        Ok((Ok(_), buf)) => st.wbuf = buf,
        Ok((Err(_), buf)) => {
            st.wbuf = buf;
            return Some((ErrorKind::Io, n as u64));
        }
        Err(_) => return Some((ErrorKind::Timeout, n as u64)),
    }
    st.latencies.clear();
    let deadline = Instant::now() + timeout;
    let mut done = 0;
    let mut pos = 0;
    let mut now = Instant::now();
    loop {
        // Take every complete answer already buffered.
        while done < n {
            let head = match parse_response_head(&st.rbuf[pos..], false, |_, _| {}) {
                Ok(Some(h)) => h,
                Ok(None) => break,
                Err(_) => return Some((ErrorKind::Protocol, (n - done) as u64)),
            };
            let body = match head.framing {
                BodyFraming::Empty => 0,
                BodyFraming::Length(len) => len as usize,
                BodyFraming::Chunked | BodyFraming::UntilClose => {
                    return Some((ErrorKind::Protocol, (n - done) as u64))
                }
            };
            let total = head.head_len + body;
            if st.rbuf.len() - pos < total {
                st.rbuf.reserve(pos + total - st.rbuf.len());
                break;
            }
            pos += total;
            let (op, at) = st.batch[done];
            done += 1;
            classify(stats, op, head.status);
            st.latencies
                .push(now.saturating_duration_since(at).as_nanos() as u64);
            if head.close {
                st.stream = None;
                st.rbuf.clear();
                return (done < n).then_some((ErrorKind::Closed, (n - done) as u64));
            }
        }
        if pos == st.rbuf.len() {
            st.rbuf.clear();
            pos = 0;
        }
        if done == n {
            if pos > 0 {
                st.rbuf.drain(..pos);
            }
            return None;
        }
        if st.rbuf.capacity() - st.rbuf.len() < MIN_READ_SPACE {
            st.rbuf.drain(..pos);
            pos = 0;
            st.rbuf.reserve(MIN_READ_SPACE);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(stream) = st.stream.as_mut() else {
            return Some((ErrorKind::Io, (n - done) as u64));
        };
        let buf = std::mem::take(&mut st.rbuf);
        let (len, cap) = (buf.len(), buf.capacity());
        let (res, slice) =
            match monoio::time::timeout(left, stream.read(buf.slice_mut(len..cap))).await {
                Ok(r) => r,
                Err(_) => return Some((ErrorKind::Timeout, (n - done) as u64)),
            };
        st.rbuf = slice.into_inner();
        match res {
            Ok(0) => return Some((ErrorKind::Closed, (n - done) as u64)),
            Ok(_) => now = Instant::now(),
            Err(_) => return Some((ErrorKind::Io, (n - done) as u64)),
        }
    }
}

fn classify(stats: &ThreadStats, op: Op, status: u16) {
    match op {
        Op::Get => stats.gets.fetch_add(1, Relaxed),
        Op::Put => stats.puts.fetch_add(1, Relaxed),
    };
    match (op, status) {
        (Op::Get, 200..=299) => {
            stats.hits.fetch_add(1, Relaxed);
            stats.ok.fetch_add(1, Relaxed);
        }
        (Op::Get, 404) => {
            stats.misses.fetch_add(1, Relaxed);
            stats.ok.fetch_add(1, Relaxed);
        }
        (_, 200..=299) => {
            stats.ok.fetch_add(1, Relaxed);
        }
        (_, 400..=499) => stats.error(ErrorKind::Status4xx, 1),
        _ => stats.error(ErrorKind::Status5xx, 1),
    }
}
