//! One pipelined batch on the wire: writing its requests and reading their answers in order,
//! recording each answer's latency and status.

use std::ops::ControlFlow;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use dcache_http::{parse_response_head, BodyFraming};
use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};

use super::super::keys::Op;
use super::super::stats::{ErrorKind, ThreadStats};
use super::ConnState;

/// Free space kept in the read buffer before each read.
const MIN_READ_SPACE: usize = 16 * 1024;

/// Write the batch and read its answers. Returns the failure and how many requests it left
/// unanswered, or `None`; on a `Connection: close` answer the stream is dropped.
pub(super) async fn exchange(
    st: &mut ConnState,
    timeout: Duration,
    stats: &ThreadStats,
) -> Option<(ErrorKind, u64)> {
    let n = st.batch.len();
    if let Err(kind) = send_batch(st, timeout).await {
        return Some((kind, n as u64));
    }
    st.latencies.clear();
    let deadline = Instant::now() + timeout;
    let mut done = 0;
    let mut pos = 0;
    let mut now = Instant::now();
    loop {
        if let ControlFlow::Break(failure) = take_answers(st, &mut pos, &mut done, now, stats) {
            return failure;
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
        match read_more(st, deadline).await {
            Ok(at) => now = at,
            Err(kind) => return Some((kind, (n - done) as u64)),
        }
    }
}

/// Write the whole of `st.wbuf` within `timeout`.
async fn send_batch(st: &mut ConnState, timeout: Duration) -> Result<(), ErrorKind> {
    let Some(stream) = st.stream.as_mut() else {
        return Err(ErrorKind::Io);
    };
    let wbuf = std::mem::take(&mut st.wbuf);
    match monoio::time::timeout(timeout, stream.write_all(wbuf)).await {
        Ok((Ok(_), buf)) => {
            st.wbuf = buf;
            Ok(())
        }
        Ok((Err(_), buf)) => {
            st.wbuf = buf;
            Err(ErrorKind::Io)
        }
        Err(_) => Err(ErrorKind::Timeout),
    }
}

/// Take every complete answer buffered from `pos` on, for requests `done..` of the batch (answers
/// arrived at `now`). `Break` carries what [`exchange`] returns: a failure, or the end of the
/// batch on a `Connection: close` answer.
fn take_answers(
    st: &mut ConnState,
    pos: &mut usize,
    done: &mut usize,
    now: Instant,
    stats: &ThreadStats,
) -> ControlFlow<Option<(ErrorKind, u64)>> {
    let n = st.batch.len();
    while *done < n {
        let head = match parse_response_head(&st.rbuf[*pos..], false, |_, _| {}) {
            Ok(Some(h)) => h,
            Ok(None) => break,
            Err(_) => return ControlFlow::Break(Some((ErrorKind::Protocol, (n - *done) as u64))),
        };
        let body = match head.framing {
            BodyFraming::Empty => 0,
            BodyFraming::Length(len) => len as usize,
            BodyFraming::Chunked | BodyFraming::UntilClose => {
                return ControlFlow::Break(Some((ErrorKind::Protocol, (n - *done) as u64)))
            }
        };
        let total = head.head_len + body;
        if st.rbuf.len() - *pos < total {
            st.rbuf.reserve(*pos + total - st.rbuf.len());
            break;
        }
        *pos += total;
        let (op, at) = st.batch[*done];
        *done += 1;
        classify(stats, op, head.status);
        st.latencies
            .push(now.saturating_duration_since(at).as_nanos() as u64);
        if head.close {
            st.stream = None;
            st.rbuf.clear();
            return ControlFlow::Break(
                (*done < n).then_some((ErrorKind::Closed, (n - *done) as u64)),
            );
        }
    }
    ControlFlow::Continue(())
}

/// Read once into the free space of `st.rbuf`, by `deadline`; the time the bytes arrived.
async fn read_more(st: &mut ConnState, deadline: Instant) -> Result<Instant, ErrorKind> {
    let left = deadline.saturating_duration_since(Instant::now());
    let Some(stream) = st.stream.as_mut() else {
        return Err(ErrorKind::Io);
    };
    let buf = std::mem::take(&mut st.rbuf);
    let (len, cap) = (buf.len(), buf.capacity());
    let (res, slice) = match monoio::time::timeout(left, stream.read(buf.slice_mut(len..cap))).await
    {
        Ok(r) => r,
        Err(_) => return Err(ErrorKind::Timeout),
    };
    st.rbuf = slice.into_inner();
    match res {
        Ok(0) => Err(ErrorKind::Closed),
        Ok(_) => Ok(Instant::now()),
        Err(_) => Err(ErrorKind::Io),
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
