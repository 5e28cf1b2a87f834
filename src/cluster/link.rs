//! A connection to a peer: plain TCP, or TLS when the node has a `tls:` section (then peers are
//! verified against `tls.ca_file` under the host of their configured address, and with
//! `tls.peer_client_certs` this node presents its own certificate). The pool, the export reader
//! and the prober's blocking checks all connect here, so every node-to-node byte takes the same
//! path.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use monoio::buf::{IoBuf, IoBufMut, IoVecBuf, IoVecBufMut};
use monoio::io::{AsyncReadRent, AsyncWriteRent};
use monoio::net::TcpStream;
use monoio::BufResult;

use super::{Cluster, ConnectError};
use crate::tls::{self, ClientStream};

/// A connection to a peer. An enum, not a generic: peer I/O is batched and rare next to client
/// I/O, and one pool type serves both kinds.
pub(crate) enum PeerStream {
    Plain(TcpStream),
    /// Boxed: a TLS session is a few KiB and idle pools hold many connections.
    Tls(Box<ClientStream<TcpStream>>),
}

/// Connect to member `peer`: the first of `addrs` that accepts within `connect_timeout` (the TLS
/// handshake gets the same bound again). The error names the last address tried.
pub(crate) async fn connect(
    cl: &Cluster,
    peer: usize,
    addrs: &[SocketAddr],
    connect_timeout: Duration,
) -> Result<PeerStream, ConnectError> {
    let mut last = ConnectError::NoAddress;
    for &addr in addrs {
        let timed_out = ConnectError::TimedOut {
            addr,
            ms: connect_timeout.as_millis() as u64,
        };
        let tcp = match monoio::time::timeout(connect_timeout, TcpStream::connect_addr(addr)).await
        {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                last = ConnectError::Io {
                    addr,
                    kind: e.kind(),
                };
                continue;
            }
            Err(_) => {
                last = timed_out;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let Some(client) = client_config(cl) else {
            return Ok(PeerStream::Plain(tcp));
        };
        let name = match tls::server_name(&cl.member(peer).addr) {
            Ok(n) => n,
            Err(why) => return Err(ConnectError::Tls { addr, why }),
        };
        match monoio::time::timeout(connect_timeout, tls::connect(client, name, tcp)).await {
            Ok(Ok(s)) => return Ok(PeerStream::Tls(Box::new(s))),
            Ok(Err(why)) => last = ConnectError::Tls { addr, why },
            Err(_) => last = timed_out,
        }
    }
    Err(last)
}

/// The client side of the node's TLS, when it has one toward peers.
fn client_config(cl: &Cluster) -> Option<std::sync::Arc<rustls::ClientConfig>> {
    cl.tls.as_ref().and_then(|t| t.current().client.clone())
}

impl AsyncReadRent for PeerStream {
    async fn read<T: IoBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            PeerStream::Plain(s) => s.read(buf).await,
            PeerStream::Tls(s) => s.read(buf).await,
        }
    }

    async fn readv<T: IoVecBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            PeerStream::Plain(s) => s.readv(buf).await,
            PeerStream::Tls(s) => s.readv(buf).await,
        }
    }
}

impl AsyncWriteRent for PeerStream {
    async fn write<T: IoBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            PeerStream::Plain(s) => s.write(buf).await,
            PeerStream::Tls(s) => s.write(buf).await,
        }
    }

    async fn writev<T: IoVecBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            PeerStream::Plain(s) => s.writev(buf).await,
            PeerStream::Tls(s) => s.writev(buf).await,
        }
    }

    async fn flush(&mut self) -> io::Result<()> {
        match self {
            PeerStream::Plain(s) => s.flush().await,
            PeerStream::Tls(s) => s.flush().await,
        }
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        match self {
            PeerStream::Plain(s) => s.shutdown().await,
            PeerStream::Tls(s) => s.shutdown().await,
        }
    }
}

/// A blocking connection to a peer (prober thread, notices).
pub(crate) enum BlockingLink {
    Plain(std::net::TcpStream),
    Tls(Box<tls::blocking::BlockingStream>),
}

/// Put TLS on `tcp`, a blocking connection to the peer configured as `peer_addr` (`host:port`)
/// reached at `addr`, whose timeouts are set (they bound the handshake), when the node has TLS
/// toward peers; otherwise use it as it is.
pub(crate) fn secure_blocking(
    tls: Option<&tls::Tls>,
    peer_addr: &str,
    addr: SocketAddr,
    tcp: std::net::TcpStream,
) -> Result<BlockingLink, ConnectError> {
    let Some(client) = tls.and_then(|t| t.current().client.clone()) else {
        return Ok(BlockingLink::Plain(tcp));
    };
    let tls_failed = |why| ConnectError::Tls { addr, why };
    let name = tls::server_name(peer_addr).map_err(tls_failed)?;
    tls::blocking::connect(client, name, tcp)
        .map(|s| BlockingLink::Tls(Box::new(s)))
        .map_err(tls_failed)
}

impl Read for BlockingLink {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            BlockingLink::Plain(s) => s.read(buf),
            BlockingLink::Tls(s) => s.read(buf),
        }
    }
}

impl Write for BlockingLink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            BlockingLink::Plain(s) => s.write(buf),
            BlockingLink::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            BlockingLink::Plain(s) => s.flush(),
            BlockingLink::Tls(s) => s.flush(),
        }
    }
}
