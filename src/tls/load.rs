//! Reading the PEM files of `tls:` and building rustls' server and client configurations.
//!
//! Every error names the config key, the file and what is wrong with it. Besides parsing, the
//! node checks its own certificate the way its peers will (signed by `ca_file`, valid now, valid
//! for the host peers reach it by, usable as a client certificate when `peer_client_certs` is
//! on), so a certificate that peers would refuse stops the start (or the reload) with a reason
//! instead of failing every handshake later.

use std::sync::Arc;

use rustls::client::danger::ServerCertVerifier;
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use super::{Configs, TlsError};
use crate::config::TlsConfig;

/// The only application protocol the listener speaks (ALPN, RFC 7301).
pub(super) const ALPN_HTTP11: &[u8] = b"http/1.1";

/// The PEM contents of the `tls:` files (read from disk, or given directly by the fuzz target).
pub(super) struct Pem<'a> {
    pub cert: &'a [u8],
    pub key: &'a [u8],
    /// Empty when `ca_file` is not set.
    pub ca: &'a [u8],
}

/// Read a file named by `tls.<key>`.
fn read(key: &str, file: &str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(file)
        .map_err(|e| TlsError::file(key, file, format!("cannot read: {e}").to_lowercase()))
}

/// A private key others may read is a leaked key: refused like a token file (group bits are
/// allowed, for a service group or Kubernetes' fsGroup).
fn check_private(key: &str, file: &str) -> Result<(), TlsError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(file)
        .map_err(|e| TlsError::file(key, file, format!("cannot read: {e}").to_lowercase()))?
        .permissions()
        .mode();
    if mode & 0o007 != 0 {
        return Err(TlsError::file(
            key,
            file,
            format!(
                "is readable or writable by others (mode {:o}): run chmod 600 {file}",
                mode & 0o777
            ),
        ));
    }
    Ok(())
}

/// Load and check the files of `cfg`; `own_addr` is this node's `host:port` as its peers reach
/// it (`None` for a node without peers).
pub(super) fn load(cfg: &TlsConfig, own_addr: Option<&str>) -> Result<Configs, TlsError> {
    if own_addr.is_some() && cfg.ca_file.is_empty() {
        return Err(TlsError(
            "tls.ca_file is empty: a cluster with TLS needs the CA that signed the nodes' certificates (each node verifies its peers against it)".to_owned(),
        ));
    }
    let cert = read("cert_file", &cfg.cert_file)?;
    let key = read("key_file", &cfg.key_file)?;
    check_private("key_file", &cfg.key_file)?;
    let ca = if cfg.ca_file.is_empty() {
        Vec::new()
    } else {
        read("ca_file", &cfg.ca_file)?
    };
    let pem = Pem {
        cert: &cert,
        key: &key,
        ca: &ca,
    };
    build(cfg, &pem, own_addr)
}

/// Build the configurations from PEM contents; `cfg` supplies the file names for messages and
/// `peer_client_certs`.
pub(super) fn build(
    cfg: &TlsConfig,
    pem: &Pem,
    own_addr: Option<&str>,
) -> Result<Configs, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = certificates(&cfg.cert_file, pem.cert)?;
    let key = private_key(&cfg.key_file, pem.key)?;
    let roots = if pem.ca.is_empty() {
        None
    } else {
        Some(Arc::new(roots(&cfg.ca_file, pem.ca)?))
    };
    let mismatch = |e: rustls::Error| match e {
        rustls::Error::InconsistentKeys(_) => TlsError::file(
            "key_file",
            &cfg.key_file,
            format_args!(
                "this private key does not belong to the certificate in tls.cert_file {}",
                cfg.cert_file
            ),
        ),
        e => TlsError::file("cert_file", &cfg.cert_file, format_args!("unusable: {e}")),
    };
    let versions = |e: rustls::Error| TlsError(format!("tls: no usable protocol version: {e}"));
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(versions)?;
    let builder = match (&roots, cfg.peer_client_certs) {
        (Some(roots), true) => {
            let verifier = WebPkiClientVerifier::builder_with_provider(
                Arc::clone(roots),
                Arc::clone(&provider),
            )
            // Clients without a certificate are ordinary clients; with one it must verify.
            .allow_unauthenticated()
            .build()
            .map_err(|e| TlsError::file("ca_file", &cfg.ca_file, e))?;
            builder.with_client_cert_verifier(verifier)
        }
        _ => builder.with_no_client_auth(),
    };
    let mut server = builder
        .with_single_cert(chain.clone(), key.clone_key())
        .map_err(mismatch)?;
    server.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
    let client = match &roots {
        None => None,
        Some(roots) => {
            check_own(cfg, &provider, roots, &chain, own_addr)?;
            let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
                .with_safe_default_protocol_versions()
                .map_err(versions)?
                .with_root_certificates(Arc::clone(roots));
            let mut client = if cfg.peer_client_certs {
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(mismatch)?
            } else {
                builder.with_no_client_auth()
            };
            client.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
            Some(Arc::new(client))
        }
    };
    Ok(Configs {
        server: Arc::new(server),
        client,
    })
}

/// The certificate chain of `cert_file` (leaf first).
fn certificates(file: &str, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let chain = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::file("cert_file", file, not_pem(e)))?;
    if chain.is_empty() {
        return Err(TlsError::file(
            "cert_file",
            file,
            "no `BEGIN CERTIFICATE` block found (expected the PEM certificate chain, leaf first)",
        ));
    }
    Ok(chain)
}

/// The private key of `key_file` (PKCS#8, PKCS#1 or SEC1; the first one in the file).
fn private_key(file: &str, pem: &[u8]) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| match e {
        pem::Error::NoItemsFound => TlsError::file(
            "key_file",
            file,
            "no private key found (expected a PEM `PRIVATE KEY`, `RSA PRIVATE KEY` or `EC PRIVATE KEY` block)",
        ),
        e => TlsError::file("key_file", file, not_pem(e)),
    })
}

/// The CA certificates of `ca_file`: every one must parse, and there must be one.
fn roots(file: &str, pem: &[u8]) -> Result<RootCertStore, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::file("ca_file", file, not_pem(e)))?;
    let mut store = RootCertStore::empty();
    let (added, ignored) = store.add_parsable_certificates(certs);
    if ignored > 0 {
        return Err(TlsError::file(
            "ca_file",
            file,
            format_args!("{ignored} certificate(s) could not be parsed as a CA certificate"),
        ));
    }
    if added == 0 {
        return Err(TlsError::file(
            "ca_file",
            file,
            "no `BEGIN CERTIFICATE` block found (expected the PEM CA certificate(s))",
        ));
    }
    Ok(store)
}

fn not_pem(e: pem::Error) -> String {
    format!("not valid PEM: {e}")
}

/// Check this node's certificate as its peers will: chained to `ca_file`, valid now, valid for
/// the host of `own_addr`, and (with `peer_client_certs`) acceptable as a client certificate.
fn check_own(
    cfg: &TlsConfig,
    provider: &Arc<CryptoProvider>,
    roots: &Arc<RootCertStore>,
    chain: &[CertificateDer<'static>],
    own_addr: Option<&str>,
) -> Result<(), TlsError> {
    let now = UnixTime::now();
    let (leaf, intermediates) = (&chain[0], &chain[1..]);
    let refused = |how: &str, e: rustls::Error| {
        TlsError::file(
            "cert_file",
            &cfg.cert_file,
            format_args!(
                "peers would refuse this certificate {how}: {}",
                super::Failure::from(&e)
            ),
        )
    };
    if let Some(addr) = own_addr {
        let name = server_name(addr).map_err(|_| {
            TlsError(format!(
                "tls: this node's address {addr} has no host usable as a TLS server name"
            ))
        })?;
        let verifier =
            WebPkiServerVerifier::builder_with_provider(Arc::clone(roots), Arc::clone(provider))
                .build()
                .map_err(|e| TlsError::file("ca_file", &cfg.ca_file, e))?;
        verifier
            .verify_server_cert(leaf, intermediates, &name, &[], now)
            .map_err(|e| refused(&format!("when they connect to {addr}"), e))?;
    }
    if cfg.peer_client_certs {
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::clone(roots), Arc::clone(provider))
                .build()
                .map_err(|e| TlsError::file("ca_file", &cfg.ca_file, e))?;
        verifier
            .verify_client_cert(leaf, intermediates, now)
            .map_err(|e| refused("as a client certificate (peer_client_certs)", e))?;
    }
    Ok(())
}

/// The TLS server name of a peer reached at `addr` (`host:port`, `[v6]:port`): its host, as a
/// DNS name or an IP address (then the certificate needs an IP subject alternative name).
pub fn server_name(addr: &str) -> Result<ServerName<'static>, super::Failure> {
    let host = match addr.strip_prefix('[') {
        Some(rest) => rest.split_once(']').map(|(h, _)| h),
        None => addr.rsplit_once(':').map(|(h, _)| h).or(Some(addr)),
    };
    host.filter(|h| !h.is_empty())
        .and_then(|h| ServerName::try_from(h.to_owned()).ok())
        .ok_or(super::Failure::BadName)
}
