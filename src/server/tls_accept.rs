//! TLS on an accepted connection: the handshake, bounded by `timeouts.header` and counted
//! (`cache_tls_handshakes_total`, `..._failures_total`), then the same connection loop as plain
//! TCP over the TLS stream (monomorphized: the plain path is untouched). Every listener
//! (`address`, `admin_address`) goes through here, so they all speak the same TLS. With TLS on,
//! a listener speaks only TLS: plain HTTP fails the handshake and the socket is closed.

use std::rc::Rc;
use std::sync::Arc;

use monoio::net::TcpStream;

use super::admission::Admission;
use super::connection;
use super::core::Core;
use crate::metrics::Trust;

/// Whether this node's listeners speak TLS.
pub(super) fn enabled(c: &Core) -> bool {
    c.node.cluster.tls.is_some()
}

/// Handshake on `stream`, then serve it (or answer its refusal over TLS, so the client reads
/// why). A failed or late handshake just closes the socket; dropping `admission` gives its
/// connection counts back.
pub(super) async fn serve(c: Rc<Core>, stream: TcpStream, admission: Admission) {
    let Some(tls) = c.node.cluster.tls.as_ref() else {
        return;
    };
    let config = Arc::clone(&tls.current().server);
    let limit = c.cfg().timeouts.header;
    let accepted = match monoio::time::timeout(limit, crate::tls::accept(config, stream)).await {
        Ok(Ok(a)) => a,
        Ok(Err(_)) | Err(_) => {
            c.resp.metrics.trust.inc(Trust::TlsHandshakeFailures);
            return;
        }
    };
    c.resp.metrics.trust.inc(Trust::TlsHandshakes);
    match admission {
        Admission::Serve(a) => {
            connection::serve(c, accepted.stream, accepted.peer_cert, a).await;
        }
        Admission::Refuse(r) => connection::reject(c, accepted.stream, r).await,
    }
}
