//! Reading a response off a [`Conn`]'s socket: filling the receive buffer, parsing the head
//! (skipping interim 1xx answers) and delivering the body by its framing to a sink.

use std::io::{self, Read, Write};

use bytes::BytesMut;
use dcache_http::{parse_response_head, BodyFraming, ProtoError};
use dcache_http::{ChunkStatus, ChunkedDecoder};

use super::{Conn, Failed, READ_CHUNK};
use crate::error::ClientError;

impl Conn {
    /// Read more bytes into `rbuf`; `Ok(false)` on EOF.
    pub(super) fn fill(&mut self) -> Result<bool, ClientError> {
        let Some(stream) = self.stream.as_mut() else {
            return Ok(false);
        };
        let old = self.rbuf.len();
        self.rbuf.resize(old + READ_CHUNK, 0);
        let res = stream.read(&mut self.rbuf[old..]);
        let n = *res.as_ref().unwrap_or(&0);
        self.rbuf.truncate(old + n);
        match res {
            Ok(n) => Ok(n > 0),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(true),
            // A TLS session closed without close_notify ends in UnexpectedEof: a close too.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionReset | io::ErrorKind::UnexpectedEof
                ) && old == 0 =>
            {
                Ok(false)
            }
            Err(e) => Err(self.io_error(e)),
        }
    }

    #[allow(clippy::type_complexity)]
    pub(super) fn read_head(
        &mut self,
        to_head: bool,
    ) -> Result<(u16, Vec<(String, String)>, BodyFraming, bool), Failed> {
        let mut got_bytes = false;
        loop {
            let mut headers = Vec::new();
            let parsed = parse_response_head(&self.rbuf, to_head, |n, v| {
                headers.push((n.to_string(), String::from_utf8_lossy(v).into_owned()));
            });
            match parsed {
                Ok(Some(h)) => {
                    self.rbuf.drain(..h.head_len);
                    if (100..200).contains(&h.status) {
                        got_bytes = true;
                        continue; // interim answer (100 Continue): the real one follows
                    }
                    return Ok((h.status, headers, h.framing, h.close));
                }
                Ok(None) => {}
                Err(error) => {
                    let error = self.speaks_tls().unwrap_or(ClientError::Protocol {
                        addr: self.addr.clone(),
                        error,
                    });
                    return Err(Failed {
                        error,
                        stale: false,
                    });
                }
            }
            got_bytes |= !self.rbuf.is_empty();
            let stale = !got_bytes;
            match self.fill() {
                Ok(true) => {}
                Ok(false) => {
                    if let Some(error) = self.speaks_tls() {
                        return Err(Failed {
                            error,
                            stale: false,
                        });
                    }
                    let addr = self.addr.clone();
                    return Err(Failed {
                        error: ClientError::Closed { addr },
                        stale,
                    });
                }
                Err(error) => {
                    let stale = stale && matches!(error, ClientError::Io { .. });
                    return Err(Failed { error, stale });
                }
            }
        }
    }

    /// On a plain connection whose answer starts with a TLS record (the node's alert after our
    /// plain request): the error saying so, with the address to use instead.
    fn speaks_tls(&self) -> Option<ClientError> {
        (!self.target.tls && crate::tls::looks_like_tls(&self.rbuf)).then(|| ClientError::Tls {
            addr: self.addr.clone(),
            reason: format!(
                "the node speaks TLS on this port: use https://{}",
                self.target.authority
            ),
        })
    }

    pub(super) fn read_body(
        &mut self,
        framing: BodyFraming,
        sink: &mut dyn Write,
    ) -> Result<(), ClientError> {
        let local = |source| ClientError::Local {
            what: "writing the response body".to_string(),
            source,
        };
        match framing {
            BodyFraming::Empty => Ok(()),
            BodyFraming::Length(mut left) => loop {
                let n = usize::try_from(left).map_or(self.rbuf.len(), |l| l.min(self.rbuf.len()));
                sink.write_all(&self.rbuf[..n]).map_err(local)?;
                self.rbuf.drain(..n);
                left -= n as u64;
                if left == 0 {
                    return Ok(());
                }
                if !self.fill()? {
                    return Err(ClientError::Closed {
                        addr: self.addr.clone(),
                    });
                }
            },
            BodyFraming::Chunked => {
                let mut decoder = ChunkedDecoder::new(usize::MAX);
                let mut out = BytesMut::new();
                loop {
                    let status = decoder.decode(&self.rbuf, &mut out).map_err(|e| {
                        ClientError::Protocol {
                            addr: self.addr.clone(),
                            error: ProtoError::Malformed(e.message()),
                        }
                    })?;
                    sink.write_all(&out).map_err(local)?;
                    out.clear();
                    match status {
                        ChunkStatus::Done { consumed } => {
                            self.rbuf.drain(..consumed);
                            return Ok(());
                        }
                        ChunkStatus::NeedMore { consumed } => {
                            self.rbuf.drain(..consumed);
                        }
                    }
                    if !self.fill()? {
                        return Err(ClientError::Closed {
                            addr: self.addr.clone(),
                        });
                    }
                }
            }
            BodyFraming::UntilClose => loop {
                sink.write_all(&self.rbuf).map_err(local)?;
                self.rbuf.clear();
                if !self.fill()? {
                    return Ok(());
                }
            },
        }
    }
}
