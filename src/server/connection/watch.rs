//! Noticing a client that leaves while its connection waits for forwarded answers.
//!
//! A connection answers a pipeline in order and reads nothing while it waits for the answers,
//! so a client that closed its socket while a forward to a slow or paused peer was pending would
//! be noticed only when that forward ended (its answer, or `cluster.request_timeout`), and until
//! then its forwards would keep their places in the peer's queue and be sent. So while a forward
//! is awaited the socket is watched too: a readiness wait (nothing is read by it, so nothing can
//! be lost when it is dropped; on io_uring dropping it cancels it). When the socket turns
//! readable, whatever is there is taken at once, without blocking, into the read buffer's spare
//! room after the bytes not parsed yet: a pipelining client may legitimately send its next
//! requests meanwhile, and they are parsed once the pending answers are written. End of stream
//! or a reset means the client is gone: its waiters are dropped at once, so forwards still queued
//! are never sent (`cluster::batch`), and the connection closes (`cache_client_gone_total`).
//! Like nginx (`proxy_ignore_client_abort off`), a half-close counts as leaving.
//!
//! A client leaving never leaves a half-replicated write: a write waiting for its replica copies
//! is finished in a task of its own (copies sent, hints kept for the replicas that miss them),
//! only its answer is dropped. A write forwarded to its coordinator and not sent yet is dropped
//! as if it had never arrived; one already sent is completed there.
//!
//! The watch starts only once the batch has waited [`WATCH_AFTER`] (checked by the per-core idle
//! clock): a forward to a live peer is answered long before (tens to hundreds of
//! microseconds), and a readiness wait armed and dropped for each one (on io_uring a `POLL_ADD`
//! and its `ASYNC_CANCEL`) took about 4 % of the entry node's CPU in the local 3-node cluster
//! (`perf`, kernel side alone). Noticing a departure that late changes
//! nothing that matters: what the watch is for is a peer that does not answer for seconds.
//!
//! Cost: a batch with nothing pending (every GET hit of a key on its own core) pays nothing, one
//! without a forward (cross-core calls) one scan of its queue; a batch with forwards pays one idle-clock slot, and, once that has fired, one
//! readiness wait per forward still pending when it is reached. Plain TCP only: a TLS session
//! reads ahead into buffers of its own, so bytes taken from under it would be lost; a TLS
//! client that leaves is noticed when its forward ends.

use std::any::Any;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::pin;
use std::rc::Rc;

use monoio::net::TcpStream;

use super::dispatch::finish_one;
use super::{Conn, Queued, Stream};
use crate::deadline::{Deadline, TICK};
use crate::metrics::Trust;
use crate::server::core::Core;
use crate::util::{race, Either};

/// How long a batch waits for its forwarded answers before it watches the client's socket too
/// (see the module doc for why not at once); the idle clock fires it at its next check after
/// that, 0 to one [`TICK`] later. 5 ms: a forward to a live peer is answered well within it, so
/// only batches waiting on a slow or paused peer pay for the watch.
pub(super) const WATCH_AFTER: std::time::Duration = std::time::Duration::from_millis(5);
// A departure is still noticed within a fraction of a second.
const _: () = assert!(WATCH_AFTER.as_millis() + TICK.as_millis() <= 100);

/// How waiting for a batch's answers ended.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Watched {
    /// Every answer is in the write buffer; nothing was read.
    Answered,
    /// Every answer is in the write buffer, and the client sent more meanwhile (kept in the read
    /// buffer, to be parsed before reading again).
    MoreInput,
    /// The client closed or reset the connection: nothing is to be written.
    Gone,
}

/// What a readable socket had.
#[derive(Debug, PartialEq, Eq)]
enum Input {
    /// Nothing after all (readiness reported early).
    Nothing,
    /// Bytes, now in the read buffer.
    Taken,
    /// Bytes, but no room left for them in the read buffer: the client is sending, not gone.
    NoRoom,
    /// End of stream or an error: the client left.
    Gone,
}

impl Conn {
    /// [`Conn::resolve`], watching the socket while a forward is awaited (see the module doc).
    pub(super) async fn resolve_watching<S: Stream>(
        &mut self,
        c: &Rc<Core>,
        stream: &mut S,
    ) -> Watched {
        let forwards = self.queue.iter().any(|q| matches!(q, Queued::Forward(_)));
        let tcp = match (stream as &mut dyn Any).downcast_mut::<TcpStream>() {
            Some(tcp) if forwards => tcp,
            _ => {
                self.resolve(c).await;
                return Watched::Answered;
            }
        };
        let fd = tcp.as_raw_fd();
        let mut watching = true;
        let mut took = false;
        // Set at the first forward (one clock read and one slot per batch); the watch starts
        // when it fires.
        let mut grace: Option<Deadline> = None;
        let mut graced = false;
        while let Some(q) = self.queue.pop_front() {
            if !watching || !matches!(q, Queued::Forward(_)) {
                finish_one(c, q, &mut self.wbuf).await;
                continue;
            }
            let gone = {
                let mut answer = pin!(finish_one(c, q, &mut self.wbuf));
                if !graced {
                    let wait = grace.get_or_insert_with(|| {
                        Deadline::at(std::time::Instant::now() + WATCH_AFTER)
                    });
                    match race(answer.as_mut(), wait).await {
                        Either::Left(()) => continue,
                        Either::Right(()) => graced = true,
                    }
                }
                loop {
                    let ready = match race(answer.as_mut(), tcp.readable(false)).await {
                        Either::Left(()) => break false,
                        Either::Right(ready) => ready,
                    };
                    let input = match ready {
                        Ok(()) => take_input(fd, &mut self.rbuf),
                        Err(_) => Input::Gone,
                    };
                    match input {
                        Input::Nothing => {}
                        Input::Taken => took = true,
                        Input::NoRoom => {
                            took = true;
                            // Input keeps the socket readable: stop watching it until the next batch.
                            watching = false;
                            answer.as_mut().await;
                            break false;
                        }
                        Input::Gone => break true,
                    }
                }
            };
            if gone {
                self.client_gone(c);
                return Watched::Gone;
            }
        }
        if took {
            Watched::MoreInput
        } else {
            Watched::Answered
        }
    }

    /// The client left: drop every waiter still queued, except writes waiting for their
    /// replica copies, which finish in a task of their own (their answers dropped).
    fn client_gone(&mut self, c: &Rc<Core>) {
        c.resp.metrics.trust.inc(Trust::ClientGone);
        for q in self.queue.drain(..) {
            if let Queued::Replicate(r) = q {
                let c = Rc::clone(c);
                monoio::spawn(async move {
                    let mut unread = Vec::new();
                    r.finish(&c, &mut unread).await;
                });
            }
        }
        self.wbuf.clear();
    }
}

/// Take what a readable socket has into `rbuf`'s spare room, without blocking and without
/// growing it (a client that fills it is sending, not gone); with no room, peek at one byte.
fn take_input(fd: RawFd, rbuf: &mut Vec<u8>) -> Input {
    let len = rbuf.len();
    let spare = rbuf.capacity() - len;
    let mut byte = 0u8;
    let (ptr, room, flags) = if spare == 0 {
        (&mut byte as *mut u8, 1, libc::MSG_DONTWAIT | libc::MSG_PEEK)
    } else {
        // SAFETY: `len..capacity` is allocated and unused; `recv` writes at most `spare` bytes.
        (
            unsafe { rbuf.as_mut_ptr().add(len) },
            spare,
            libc::MSG_DONTWAIT,
        )
    };
    // SAFETY: `ptr` is valid for `room` bytes (above); `fd` is the connection's open socket.
    let n = unsafe { libc::recv(fd, ptr.cast(), room, flags) };
    match n {
        0 => Input::Gone,
        n if n > 0 && spare == 0 => Input::NoRoom,
        n if n > 0 => {
            // SAFETY: `recv` initialized `n` bytes after `len`, within the capacity.
            unsafe { rbuf.set_len(len + n as usize) };
            if n as usize == spare {
                Input::NoRoom
            } else {
                Input::Taken
            }
        }
        _ => match std::io::Error::last_os_error().raw_os_error() {
            Some(libc::EAGAIN | libc::EINTR) => Input::Nothing,
            _ => Input::Gone,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::{TcpListener, TcpStream as StdStream};

    fn pair() -> (StdStream, StdStream) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = StdStream::connect(l.local_addr().unwrap()).unwrap();
        let (server, _) = l.accept().unwrap();
        (client, server)
    }

    /// Wait (bounded) until the server side has something to read.
    fn readable(s: &StdStream) {
        let mut p = libc::pollfd {
            fd: s.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let ready = unsafe { libc::poll(&mut p, 1, 5000) };
        assert_eq!(ready, 1, "socket never became readable");
    }

    #[test]
    fn takes_pipelined_bytes_after_the_unparsed_ones_then_sees_the_client_leave() {
        let (mut client, server) = pair();
        let mut rbuf = Vec::with_capacity(64);
        rbuf.extend_from_slice(b"GET /a HTTP/1.1\r\n");
        assert_eq!(take_input(server.as_raw_fd(), &mut rbuf), Input::Nothing);
        client.write_all(b"Host: x\r\n\r\n").unwrap();
        readable(&server);
        assert_eq!(take_input(server.as_raw_fd(), &mut rbuf), Input::Taken);
        assert_eq!(rbuf, b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
        drop(client);
        readable(&server);
        assert_eq!(take_input(server.as_raw_fd(), &mut rbuf), Input::Gone);
    }

    #[test]
    fn a_full_buffer_is_not_grown_and_nothing_is_consumed_by_the_peek() {
        let (mut client, server) = pair();
        let mut rbuf = Vec::with_capacity(4);
        client.write_all(b"abcdefgh").unwrap();
        readable(&server);
        assert_eq!(take_input(server.as_raw_fd(), &mut rbuf), Input::NoRoom);
        assert_eq!((rbuf.as_slice(), rbuf.capacity()), (&b"abcd"[..], 4));
        assert_eq!(take_input(server.as_raw_fd(), &mut rbuf), Input::NoRoom);
        // The peek left the rest in the socket.
        rbuf.clear();
        assert_eq!(take_input(server.as_raw_fd(), &mut rbuf), Input::NoRoom);
        assert_eq!(rbuf, b"efgh");
    }
}
