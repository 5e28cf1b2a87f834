//! Handshakes on monoio streams: the listener's side ([`accept`]) and a node's side toward a peer
//! ([`connect`]), and [`Guarded`], the stream wrapper that makes a cancelled TLS operation safe.
//!
//! The server side drives rustls itself instead of `monoio_rustls::TlsAcceptor`, for one reason:
//! the acceptor gives no access to the session afterwards, and whether the client presented a
//! verified certificate (`peer_client_certs`) must be known. It reads the handshake record by
//! record (a 5-byte header, then exactly the announced length), so nothing the client sent after
//! its last handshake record is read early, and the session can then be wrapped in monoio-rustls'
//! stream (which starts with an empty buffer) without losing a byte.

use std::io;
use std::sync::Arc;

use monoio::buf::{IoBuf, IoBufMut, IoVecBuf, IoVecBufMut, SliceMut};
use monoio::io::{AsyncReadRent, AsyncReadRentExt, AsyncWriteRent, AsyncWriteRentExt};
use monoio::BufResult;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ServerConfig, ServerConnection};

use super::Failure;

/// A TLS record header: content type, protocol version, length (RFC 8446 §5.1).
pub(super) const RECORD_HEADER: usize = 5;
/// The largest record body a peer may send: 2^14 bytes of plaintext plus 2048 of expansion
/// (RFC 5246 §6.2.3; TLS 1.3 allows less). rustls refuses larger ones first; this bounds our read.
const MAX_RECORD_BODY: usize = 16 * 1024 + 2048;
/// Initial size of the handshake read buffer: a ClientHello, or a client's certificate flight,
/// fits; a larger record grows it up to `MAX_RECORD_BODY`.
const HANDSHAKE_BUF: usize = 2 * 1024;

/// The listener's TLS stream over a socket.
pub type ServerStream<IO> = Guarded<monoio_rustls::ServerTlsStream<IO>>;
/// A node's TLS stream toward a peer.
pub type ClientStream<IO> = Guarded<monoio_rustls::ClientTlsStream<IO>>;

/// A finished server handshake.
pub struct Accepted<IO> {
    pub stream: ServerStream<IO>,
    /// The client presented a certificate that verified against `tls.ca_file` (only asked for
    /// with `tls.peer_client_certs`; a client without one is an ordinary client).
    pub peer_cert: bool,
}

/// Run the server side of a handshake on `io`. The caller bounds it in time (dropping the future
/// drops the socket). On a protocol error the alert rustls prepared is sent before returning.
pub async fn accept<IO>(config: Arc<ServerConfig>, mut io: IO) -> Result<Accepted<IO>, Failure>
where
    IO: AsyncReadRent + AsyncWriteRent,
{
    let mut conn = ServerConnection::new(config).map_err(|e| Failure::from(&e))?;
    let mut buf: Vec<u8> = Vec::with_capacity(HANDSHAKE_BUF);
    let mut out: Vec<u8> = Vec::new();
    loop {
        send(&mut conn, &mut io, &mut out).await?;
        if !conn.is_handshaking() {
            break;
        }
        // One record: its header (which rustls checks), then exactly the body it announces.
        buf = read_exact(&mut io, buf, RECORD_HEADER).await?;
        let mut fed = feed(&mut conn, &buf);
        let len = u16::from_be_bytes([buf[3], buf[4]]) as usize;
        if fed.is_ok() && len > MAX_RECORD_BODY {
            fed = Err(Failure::Protocol);
        }
        if fed.is_ok() && len > 0 {
            buf = read_exact(&mut io, buf, len).await?;
            fed = feed(&mut conn, &buf);
        }
        if let Err(e) = fed {
            // Best effort: tell the client why (the alert rustls prepared), then give up.
            let _ = send(&mut conn, &mut io, &mut out).await;
            return Err(e);
        }
    }
    let peer_cert = conn.peer_certificates().is_some_and(|c| !c.is_empty());
    Ok(Accepted {
        stream: Guarded::new(monoio_rustls::ServerTlsStream::new(io, conn)),
        peer_cert,
    })
}

/// Give `data` to the session and process it; the error a hostile or confused client causes.
/// Never panics whatever the bytes (the `tls_accept` fuzz target checks it).
pub(super) fn feed(conn: &mut ServerConnection, mut data: &[u8]) -> Result<(), Failure> {
    while !data.is_empty() {
        match conn.read_tls(&mut data) {
            Ok(0) => return Err(Failure::Closed),
            Ok(_) => {}
            // The session's buffer is full: more than a handshake's worth of records.
            Err(_) => return Err(Failure::Protocol),
        }
        conn.process_new_packets().map_err(|e| Failure::from(&e))?;
    }
    Ok(())
}

/// Write whatever the session has to send (`out` is a reusable buffer).
async fn send<IO: AsyncWriteRent>(
    conn: &mut ServerConnection,
    io: &mut IO,
    out: &mut Vec<u8>,
) -> Result<(), Failure> {
    while conn.wants_write() {
        conn.write_tls(out).map_err(Failure::from)?;
    }
    if out.is_empty() {
        return Ok(());
    }
    let (res, buf) = io.write_all(std::mem::take(out)).await;
    *out = buf;
    out.clear();
    res.map(|_| ()).map_err(Failure::from)
}

/// Read exactly `n` bytes into `buf` (replacing its contents).
async fn read_exact<IO: AsyncReadRent>(
    io: &mut IO,
    mut buf: Vec<u8>,
    n: usize,
) -> Result<Vec<u8>, Failure> {
    buf.clear();
    buf.reserve(n);
    let (res, slice): (_, SliceMut<Vec<u8>>) = io.read_exact(buf.slice_mut(0..n)).await;
    res.map_err(Failure::from)?;
    Ok(slice.into_inner())
}

/// Run the client side of a handshake toward a peer named `name` (see [`super::server_name`]).
pub async fn connect<IO>(
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
    io: IO,
) -> Result<ClientStream<IO>, Failure>
where
    IO: AsyncReadRent + AsyncWriteRent,
{
    match monoio_rustls::TlsConnector::from(config)
        .connect(name, io)
        .await
    {
        Ok(s) => Ok(Guarded::new(s)),
        Err(monoio_rustls::TlsError::Io(e)) => Err(Failure::from(e)),
        Err(monoio_rustls::TlsError::Rustls(e)) => Err(Failure::from(&e)),
    }
}

/// A TLS stream that refuses further use after an operation on it was cancelled.
///
/// monoio-rustls moves its socket buffer into each read or write and puts it back when the
/// operation completes; a future dropped mid-operation (a timeout, a shutdown race) leaves the
/// stream without it, and the next operation would panic. The connection code does drop reads
/// on timeouts and may still write an error answer or drain afterwards: here that becomes an
/// error (and the connection closes), never a panic.
pub struct Guarded<S> {
    inner: S,
    /// An operation started and did not finish: set before each one, cleared after.
    broken: bool,
}

impl<S> Guarded<S> {
    fn new(inner: S) -> Self {
        Guarded {
            inner,
            broken: false,
        }
    }
}

fn cancelled() -> io::Error {
    io::Error::new(
        io::ErrorKind::BrokenPipe,
        "TLS stream unusable after a cancelled operation",
    )
}

/// Run `$op` on the inner stream unless an earlier operation was cancelled.
macro_rules! guarded {
    ($self:ident, $buf:ident, $op:expr) => {{
        if $self.broken {
            return (Err(cancelled()), $buf);
        }
        $self.broken = true;
        let r = $op.await;
        $self.broken = false;
        r
    }};
}

impl<S: AsyncReadRent> AsyncReadRent for Guarded<S> {
    async fn read<T: IoBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        guarded!(self, buf, self.inner.read(buf))
    }

    async fn readv<T: IoVecBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        guarded!(self, buf, self.inner.readv(buf))
    }
}

impl<S: AsyncWriteRent> AsyncWriteRent for Guarded<S> {
    async fn write<T: IoBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        guarded!(self, buf, self.inner.write(buf))
    }

    async fn writev<T: IoVecBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        guarded!(self, buf, self.inner.writev(buf))
    }

    async fn flush(&mut self) -> io::Result<()> {
        if self.broken {
            return Err(cancelled());
        }
        self.broken = true;
        let r = self.inner.flush().await;
        self.broken = false;
        r
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        if self.broken {
            return Err(cancelled());
        }
        self.broken = true;
        let r = self.inner.shutdown().await;
        self.broken = false;
        r
    }
}
