//! TLS toward `https://` nodes: which CA to trust and which certificate to present (set once at
//! start, like the token), and the handshake with an error that says what went wrong.
//!
//! The node is verified against `--cacert FILE`, else `$CACHE_CACERT`, else the operating
//! system's trust store (as curl does). `--tls-cert FILE --tls-key FILE` (or `$CACHE_TLS_CERT` and
//! `$CACHE_TLS_KEY`) present a client certificate: a node with `tls.peer_client_certs: true` asks
//! for one and counts a connection whose certificate its CA signed as a peer's, so an operator can
//! run admin commands with a node's certificate instead of a token. Without them no certificate is
//! offered (the node does not require one from clients).
//!
//! The files are read and checked by [`init`] (a usage error names the file), the trust store only
//! when the first `https://` connection is opened, so a plain-HTTP run never reads it.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

mod failure;

pub use failure::explain;

/// A TLS session on a blocking socket (its read and write timeouts apply).
pub type TlsStream = StreamOwned<ClientConnection, TcpStream>;

/// Environment variable naming the CA file when `--cacert` is absent.
pub const CACERT_ENV: &str = "CACHE_CACERT";
/// Environment variables naming the client certificate and its key when `--tls-cert`/`--tls-key` are
/// absent (not `CACHE_KEY`: in a cache client "key" means a cache key).
pub const CERT_ENV: &str = "CACHE_TLS_CERT";
pub const KEY_ENV: &str = "CACHE_TLS_KEY";

/// What the command line (or the environment) asked for.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    pub cacert: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

impl Settings {
    /// The flags, each falling back to its environment variable when absent.
    pub fn with_env(cacert: Option<&Path>, cert: Option<&Path>, key: Option<&Path>) -> Settings {
        let env = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        Settings {
            cacert: cacert.map(Path::to_path_buf).or_else(|| env(CACERT_ENV)),
            cert: cert.map(Path::to_path_buf).or_else(|| env(CERT_ENV)),
            key: key.map(Path::to_path_buf).or_else(|| env(KEY_ENV)),
        }
    }
}

/// The checked files of [`Settings`]: CA certificates (none: the system's) and a client identity.
struct Material {
    roots: Option<RootCertStore>,
    identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
}

static MATERIAL: OnceLock<Material> = OnceLock::new();
static CONFIG: OnceLock<Result<Arc<ClientConfig>, String>> = OnceLock::new();

/// Read and check the files of `settings` and remember them for [`config`]. Errors name the file
/// (or the flag missing its partner).
pub fn init(settings: &Settings) -> Result<(), String> {
    let material = load(settings)?;
    let _ = MATERIAL.set(material);
    Ok(())
}

fn load(s: &Settings) -> Result<Material, String> {
    let roots = match &s.cacert {
        Some(path) => Some(read_roots(path)?),
        None => None,
    };
    let identity = match (&s.cert, &s.key) {
        (Some(cert), Some(key)) => Some((read_chain(cert)?, read_key(key)?)),
        (None, None) => None,
        (Some(_), None) => return Err(format!("--tls-cert needs --tls-key (or ${KEY_ENV})")),
        (None, Some(_)) => return Err(format!("--tls-key needs --tls-cert (or ${CERT_ENV})")),
    };
    Ok(Material { roots, identity })
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {what} {}: {e}", path.display()))
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = read(path, "certificate file")?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: not a PEM certificate file: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{}: no certificate in it (expected PEM: -----BEGIN CERTIFICATE-----)",
            path.display()
        ));
    }
    Ok(certs)
}

fn read_roots(path: &Path) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    for cert in read_chain(path)? {
        roots
            .add(cert)
            .map_err(|e| format!("{}: unusable CA certificate: {e}", path.display()))?;
    }
    Ok(roots)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let pem = read(path, "key file")?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| {
        format!(
            "{}: no private key in it (PEM: PKCS#8, PKCS#1 or SEC1): {e}",
            path.display()
        )
    })
}

/// The client configuration for `https://` nodes, built on first use: the CA of `--cacert`, else
/// the system's trust store. `Err` when there is no usable trust store and no `--cacert`.
pub fn config() -> Result<Arc<ClientConfig>, String> {
    CONFIG
        .get_or_init(|| {
            let material = MATERIAL.get_or_init(|| Material {
                roots: None,
                identity: None,
            });
            build(material)
        })
        .clone()
}

fn build(m: &Material) -> Result<Arc<ClientConfig>, String> {
    let roots = match &m.roots {
        Some(r) => r.clone(),
        None => system_roots()?,
    };
    let builder =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS set-up: {e}"))?
            .with_root_certificates(roots);
    let config = match &m.identity {
        Some((chain, key)) => builder
            .with_client_auth_cert(chain.clone(), key.clone_key())
            .map_err(|e| format!("the client certificate and key do not go together: {e}"))?,
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

fn system_roots() -> Result<RootCertStore, String> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let why = found
            .errors
            .first()
            .map_or_else(|| "it is empty".to_string(), ToString::to_string);
        return Err(format!(
            "no CA certificate in the system's trust store ({why}): name the node's CA with --cacert FILE or ${CACERT_ENV}"
        ));
    }
    Ok(roots)
}

/// Complete a handshake with `host` on `tcp` (whose timeouts bound it). The error is the reason,
/// for [`crate::ClientError::Tls`].
pub fn connect(
    config: Arc<ClientConfig>,
    host: &str,
    mut tcp: TcpStream,
) -> Result<TlsStream, String> {
    let name = server_name(host)?;
    let mut conn =
        ClientConnection::new(config, name).map_err(|e| explain(&io::Error::other(e), &[]))?;
    let mut sniff = Sniff {
        inner: &mut tcp,
        first: Vec::new(),
    };
    while conn.is_handshaking() {
        match conn.complete_io(&mut sniff) {
            Ok((0, 0)) => return Err(explain(&io::ErrorKind::UnexpectedEof.into(), &sniff.first)),
            Ok(_) => {}
            Err(e) => return Err(explain(&e, &sniff.first)),
        }
    }
    Ok(StreamOwned::new(conn, tcp))
}

/// The name the certificate must carry: the host of the node's address, a DNS name or an IP
/// address (brackets of an IPv6 literal removed).
fn server_name(host: &str) -> Result<ServerName<'static>, String> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(bare.to_string())
        .map_err(|_| format!("{host:?} is not a valid DNS name or IP address"))
}

/// Bytes the server sends first, kept so a failed handshake can tell a plain-HTTP answer
/// (`HTTP/1.1 400 ...`) from a TLS problem.
const SNIFF_BYTES: usize = 8;

/// A socket that remembers the first [`SNIFF_BYTES`] it read.
struct Sniff<'a> {
    inner: &'a mut TcpStream,
    first: Vec<u8>,
}

impl Read for Sniff<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let room = SNIFF_BYTES.saturating_sub(self.first.len()).min(n);
        self.first.extend_from_slice(&buf[..room]);
        Ok(n)
    }
}

impl Write for Sniff<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Whether `first`, the first bytes a server sent on a connection we spoke plain HTTP on, are a
/// TLS record (an alert or a handshake): the node at that address speaks TLS.
pub fn looks_like_tls(first: &[u8]) -> bool {
    matches!(first, [0x15 | 0x16, 0x03, ..])
}

#[cfg(test)]
mod tests;
