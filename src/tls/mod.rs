//! TLS for the listener and for node-to-node links, on rustls (ring provider) and monoio-rustls.
//!
//! A support module below the cluster layer: it imports only `config`. [`Tls`] holds the
//! configurations built from the `tls:` files ([`Configs`]: the listener's `ServerConfig`, and,
//! when a CA is configured, the `ClientConfig` a node uses toward its peers) and swaps them whole
//! on SIGHUP, like the auth keyring: a failed reload keeps the previous certificate and says why.
//! Each thread caches the current `Arc` and re-reads it only when the generation moved, so an
//! accept costs one atomic load and no lock. Existing connections keep the session they have.
//!
//! - [`load`]: PEM files → configs, with the checks a peer would make of our certificate;
//! - [`handshake`]: the listener's accept (record by record, so the session stays reachable and
//!   `peer_client_certs` can be read off it), a peer connect, and the cancel-safe stream;
//! - [`blocking`]: the same client handshake on a blocking socket (the prober thread).

pub mod blocking;
mod error;
pub mod handshake;
mod load;

pub use error::{Failure, TlsError};
pub use handshake::{accept, connect, Accepted, ClientStream, ServerStream};
pub use load::server_name;

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rustls::{ClientConfig, ServerConfig};

use crate::config::TlsConfig;

/// What one load of the `tls:` files produced.
pub struct Configs {
    /// The listener's configuration (client certificates asked for with `peer_client_certs`).
    pub server: Arc<ServerConfig>,
    /// Toward peers: verify them against `ca_file`, present our certificate with
    /// `peer_client_certs`. `None` without `ca_file` (a node without peers).
    pub client: Option<Arc<ClientConfig>>,
}

/// The node's TLS configurations, swapped whole on SIGHUP.
pub struct Tls {
    config: TlsConfig,
    /// This node's `host:port` as its peers reach it (`None` without peers): the reload checks
    /// the new certificate against it too.
    own_addr: Option<String>,
    /// Tells holders apart in the per-thread cache (tests run several nodes in one process).
    id: u64,
    generation: AtomicU64,
    current: Mutex<Arc<Configs>>,
}

/// Source of [`Tls::id`].
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// This thread's copy of the configs: (holder id, generation, configs).
    static CACHED: RefCell<Option<(u64, u64, Arc<Configs>)>> = const { RefCell::new(None) };
}

impl Tls {
    /// Load the files of `config`; `None` when TLS is off (no `cert_file`). `own_addr` is this
    /// node's address when it has peers: then `ca_file` is required, and the certificate must
    /// be one the peers accept for that address.
    pub fn load(config: &TlsConfig, own_addr: Option<&str>) -> Result<Option<Arc<Tls>>, TlsError> {
        if !config.enabled() {
            return Ok(None);
        }
        let configs = load::load(config, own_addr)?;
        Ok(Some(Arc::new(Tls {
            config: config.clone(),
            own_addr: own_addr.map(str::to_owned),
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            generation: AtomicU64::new(0),
            current: Mutex::new(Arc::new(configs)),
        })))
    }

    /// Re-read the files (SIGHUP). On error the previous configuration stays in force; new
    /// connections use the new one, established ones keep theirs.
    pub fn reload(&self) -> Result<(), TlsError> {
        let configs = load::load(&self.config, self.own_addr.as_deref())?;
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = Arc::new(configs);
        self.generation.fetch_add(1, Ordering::Release);
        Ok(())
    }

    /// How many successful reloads happened.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Whether a connecting client may present a certificate that makes it a peer.
    pub fn peer_client_certs(&self) -> bool {
        self.config.peer_client_certs
    }

    /// The current configurations (this thread's cached copy unless a reload happened since).
    pub fn current(&self) -> Arc<Configs> {
        let generation = self.generation();
        CACHED.with(|cell| {
            let mut cached = cell.borrow_mut();
            if let Some((id, g, configs)) = cached.as_ref() {
                if *id == self.id && *g == generation {
                    return Arc::clone(configs);
                }
            }
            let configs = Arc::clone(&self.current.lock().unwrap_or_else(|p| p.into_inner()));
            *cached = Some((self.id, generation, Arc::clone(&configs)));
            configs
        })
    }
}

/// Build configurations from PEM contents, checked like the files of a standalone node (the
/// `tls_accept` fuzz target; `peer_client_certs` needs a `ca`).
pub fn configs_from_pem(
    cert: &[u8],
    key: &[u8],
    ca: &[u8],
    peer_client_certs: bool,
) -> Result<Configs, TlsError> {
    let config = TlsConfig {
        cert_file: "(cert)".into(),
        key_file: "(key)".into(),
        ca_file: if ca.is_empty() { "" } else { "(ca)" }.into(),
        peer_client_certs,
    };
    load::build(&config, &load::Pem { cert, key, ca }, None)
}

/// Feed `data` to a fresh server session of `server` the way the listener reads a handshake
/// (a record header, then the body it announces), answering as it goes; where it stopped. For
/// the `tls_accept` fuzz target: whatever the bytes, this must never panic.
pub fn feed_server(server: &Arc<ServerConfig>, mut data: &[u8]) -> Result<(), Failure> {
    let mut conn =
        rustls::ServerConnection::new(Arc::clone(server)).map_err(|e| Failure::from(&e))?;
    let mut sink = Vec::new();
    while !data.is_empty() && conn.is_handshaking() {
        let (header, rest) = data.split_at(data.len().min(handshake::RECORD_HEADER));
        handshake::feed(&mut conn, header)?;
        let len = match header {
            [_, _, _, hi, lo] => u16::from_be_bytes([*hi, *lo]) as usize,
            _ => 0,
        };
        let (body, rest) = rest.split_at(rest.len().min(len));
        handshake::feed(&mut conn, body)?;
        data = rest;
        while conn.wants_write() {
            sink.clear();
            conn.write_tls(&mut sink).map_err(Failure::from)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
