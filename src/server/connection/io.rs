//! The socket side of a connection: reads with deadlines, whole-buffer writes, lingering close.

use std::pin::pin;
use std::time::{Duration, Instant};

use monoio::buf::IoBufMut;
use monoio::io::AsyncWriteRentExt;

use crate::util::{race, Either};

use super::{
    Closing, Conn, ReadResult, Stream, BUF_INITIAL, BUF_KEEP, LINGER_BYTES, LINGER_TIME,
    READ_MIN_SPARE,
};

impl Conn {
    /// Write the whole write buffer; false when the connection is dead or too slow.
    pub(super) async fn flush<S: Stream>(
        &mut self,
        stream: &mut S,
        write_timeout: Duration,
    ) -> bool {
        // Checked here too: nothing to write needs no clock reading.
        if self.wbuf.is_empty() {
            return true;
        }
        self.flush_by(stream, Instant::now() + write_timeout).await
    }

    /// [`Conn::flush`] for a caller that has just read the clock: the write must be done by
    /// `deadline`.
    pub(super) async fn flush_by<S: Stream>(&mut self, stream: &mut S, deadline: Instant) -> bool {
        if self.wbuf.is_empty() {
            return true;
        }
        let buf = std::mem::take(&mut self.wbuf);
        // The write pinned where it is made: `timeout(.., write_all(..))` moved the write
        // future into the timeout and that into this frame, two copies of it per flush. The
        // write timeout is seconds: a slot of the core's coarse clock, not a timer of the
        // runtime's wheel per flush, and the connection's own slot of it (see `crate::deadline`).
        let write = pin!(stream.write_all(buf));
        match race(write, self.deadline.arm(deadline)).await {
            Either::Left((Ok(_), mut buf)) => {
                buf.clear();
                if buf.capacity() > BUF_KEEP {
                    buf = Vec::with_capacity(BUF_INITIAL);
                }
                self.wbuf = buf;
                true
            }
            _ => false,
        }
    }

    /// Read more of a request whose head or body is incomplete (an idle connection reads with
    /// `read_idle` instead).
    pub(super) async fn read<S: Stream>(
        &mut self,
        stream: &mut S,
        deadline: Instant,
    ) -> ReadResult {
        // Compact: keep only unconsumed bytes, at the front.
        if self.start == self.rbuf.len() {
            self.rbuf.clear();
            self.start = 0;
            if self.rbuf.capacity() > BUF_KEEP {
                self.rbuf = Vec::with_capacity(BUF_INITIAL);
            }
        } else if self.start > 0 {
            self.rbuf.drain(..self.start);
            self.start = 0;
        }
        if self.rbuf.capacity() - self.rbuf.len() < READ_MIN_SPARE {
            self.rbuf.reserve(BUF_INITIAL);
        }
        let buf = std::mem::take(&mut self.rbuf);
        let len = buf.len();
        let cap = buf.capacity();
        let read = stream.read(buf.slice_mut(len..cap));
        match monoio::time::timeout_at(deadline.into(), read).await {
            Ok((Ok(0), slice)) => {
                self.rbuf = slice.into_inner();
                ReadResult::Closed
            }
            Ok((Ok(_), slice)) => {
                self.rbuf = slice.into_inner();
                ReadResult::Data
            }
            Ok((Err(_), _)) => ReadResult::Closed,
            Err(_) => ReadResult::Timeout,
        }
    }

    pub(super) async fn close<S: Stream>(&mut self, stream: &mut S) {
        let kind = self.closing.unwrap_or(Closing::Graceful);
        let _ = stream.shutdown().await;
        if kind == Closing::Linger {
            let deadline = Instant::now() + LINGER_TIME;
            let mut drained = 0;
            let mut buf = Vec::with_capacity(BUF_INITIAL);
            while drained < LINGER_BYTES {
                buf.clear();
                match monoio::time::timeout_at(deadline.into(), stream.read(buf)).await {
                    Ok((Ok(n), b)) if n > 0 => {
                        drained += n;
                        buf = b;
                    }
                    _ => break,
                }
            }
        }
    }
}
