//! The socket side of a connection: reads with deadlines, whole-buffer writes, lingering close.

use std::time::{Duration, Instant};

use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};
use monoio::net::TcpStream;

use super::{
    Closing, Conn, ReadResult, Wait, BUF_INITIAL, BUF_KEEP, LINGER_BYTES, LINGER_TIME,
    READ_MIN_SPARE,
};
use crate::server::core::Core;
use crate::util::{race, Either};

impl Conn {
    /// Write the whole write buffer; false when the connection is dead or too slow.
    pub(super) async fn flush(&mut self, stream: &mut TcpStream, write_timeout: Duration) -> bool {
        if self.wbuf.is_empty() {
            return true;
        }
        let buf = std::mem::take(&mut self.wbuf);
        match monoio::time::timeout(write_timeout, stream.write_all(buf)).await {
            Ok((Ok(_), mut buf)) => {
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

    pub(super) async fn read(
        &mut self,
        c: &Core,
        stream: &mut TcpStream,
        deadline: Instant,
        wait: Wait,
        slot: usize,
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
        let read = monoio::time::timeout_at(deadline.into(), stream.read(buf.slice_mut(len..cap)));
        let res = if wait == Wait::Idle {
            match race(read, c.shutdown.wait(slot)).await {
                Either::Left(r) => r,
                Either::Right(()) => return ReadResult::Closed,
            }
        } else {
            read.await
        };
        match res {
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

    pub(super) async fn close(&mut self, stream: &mut TcpStream) {
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
