//! The client handshake on a blocking socket, for the prober thread's health checks and the
//! notices a node sends its peers (a handful of requests a second, off the cores).

use std::net::TcpStream;
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};

use super::Failure;

/// A TLS session on a blocking socket (`Read + Write`; the socket's timeouts apply).
pub type BlockingStream = StreamOwned<ClientConnection, TcpStream>;

/// Complete a handshake toward the peer named `name` on `tcp` (whose read and write timeouts
/// bound it).
pub fn connect(
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
    mut tcp: TcpStream,
) -> Result<BlockingStream, Failure> {
    let mut conn = ClientConnection::new(config, name).map_err(|e| Failure::from(&e))?;
    while conn.is_handshaking() {
        match conn.complete_io(&mut tcp) {
            Ok((0, 0)) => return Err(Failure::Closed),
            Ok(_) => {}
            Err(e) => return Err(Failure::from(e)),
        }
    }
    Ok(StreamOwned::new(conn, tcp))
}
