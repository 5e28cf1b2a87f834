//! Loading errors (each names the key, the file and the problem), the checks of the node's own
//! certificate, reload, server names, and the configs in an in-memory handshake.

use std::path::PathBuf;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConnection, RootCertStore, ServerConnection};

use super::*;

/// A CA and certificates it signed, as PEM text.
struct Pki {
    ca: CertifiedIssuer<'static, KeyPair>,
}

struct Leaf {
    cert: String,
    key: String,
}

impl Pki {
    fn new(name: &str) -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Pki { ca }
    }

    fn ca_pem(&self) -> String {
        self.ca.pem()
    }

    /// A certificate for `names` (DNS names or IP addresses).
    fn leaf(&self, names: &[&str]) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let params = CertificateParams::new(names).unwrap();
        let cert = params.signed_by(&key, &self.ca).unwrap();
        Leaf {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }
}

/// A scratch directory for one test's files (removed on drop).
struct Dir(PathBuf);

impl Dir {
    fn new(test: &str) -> Dir {
        let p = std::env::temp_dir().join(format!("dcache-tls-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Dir(p)
    }

    fn write(&self, name: &str, text: &str) -> String {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
        p.to_string_lossy().into_owned()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A `tls:` section over files in `dir`: the node certificate `leaf`, and the CA when `ca`.
fn config(dir: &Dir, pki: &Pki, leaf: &Leaf, ca: bool, peer_client_certs: bool) -> TlsConfig {
    TlsConfig {
        cert_file: dir.write("node.crt", &leaf.cert),
        key_file: dir.write("node.key", &leaf.key),
        ca_file: if ca {
            dir.write("ca.crt", &pki.ca_pem())
        } else {
            String::new()
        },
        peer_client_certs,
    }
}

fn roots(pem: &[u8]) -> RootCertStore {
    let mut store = RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(pem) {
        store.add(c.unwrap()).unwrap();
    }
    store
}

fn load_err(cfg: &TlsConfig, own: Option<&str>) -> String {
    match Tls::load(cfg, own) {
        Ok(_) => panic!("loaded {cfg:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn tls_off_without_cert_file() {
    assert!(Tls::load(&TlsConfig::default(), None).unwrap().is_none());
}

#[test]
fn good_files_give_both_sides() {
    let (dir, pki) = (Dir::new("good"), Pki::new("CA"));
    let leaf = pki.leaf(&["localhost", "127.0.0.1"]);
    let tls = Tls::load(
        &config(&dir, &pki, &leaf, true, true),
        Some("127.0.0.1:7000"),
    )
    .unwrap()
    .unwrap();
    let c = tls.current();
    assert_eq!(c.server.alpn_protocols, vec![b"http/1.1".to_vec()]);
    assert!(c.client.is_some());
    assert!(tls.peer_client_certs());
    // Without a CA (a standalone node): a listener only.
    let alone = Tls::load(&config(&dir, &pki, &leaf, false, false), None)
        .unwrap()
        .unwrap();
    assert!(alone.current().client.is_none());
}

#[test]
fn missing_file_is_named() {
    let (dir, pki) = (Dir::new("missing"), Pki::new("CA"));
    let leaf = pki.leaf(&["localhost"]);
    let mut cfg = config(&dir, &pki, &leaf, false, false);
    let open_key = dir.write("open.key", "x");
    std::fs::set_permissions(
        &open_key,
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    let mut loose = cfg.clone();
    loose.key_file = open_key;
    let e = load_err(&loose, None);
    assert!(
        e.contains("readable or writable by others") && e.contains("chmod 600"),
        "{e}"
    );
    cfg.key_file = dir.0.join("nope.key").to_string_lossy().into_owned();
    let e = load_err(&cfg, None);
    assert!(e.starts_with("tls.key_file "), "{e}");
    assert!(e.contains("nope.key") && e.contains("cannot read"), "{e}");
}

#[test]
fn not_a_certificate() {
    let (dir, pki) = (Dir::new("notcert"), Pki::new("CA"));
    let leaf = pki.leaf(&["localhost"]);
    let mut cfg = config(&dir, &pki, &leaf, false, false);
    // A key where the certificate should be: valid PEM, no certificate in it.
    cfg.cert_file = dir.write("swapped.crt", &leaf.key);
    let e = load_err(&cfg, None);
    assert!(
        e.contains("tls.cert_file") && e.contains("swapped.crt"),
        "{e}"
    );
    assert!(e.contains("no `BEGIN CERTIFICATE` block"), "{e}");
    // Broken base64 inside a certificate block.
    cfg.cert_file = dir.write(
        "broken.crt",
        "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
    );
    let e = load_err(&cfg, None);
    assert!(
        e.contains("broken.crt") && e.contains("not valid PEM"),
        "{e}"
    );
    // Valid PEM, garbage DER.
    cfg.cert_file = dir.write(
        "garbage.crt",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    );
    let e = load_err(&cfg, None);
    assert!(
        e.contains("tls.cert_file") && e.contains("garbage.crt"),
        "{e}"
    );
}

#[test]
fn not_a_key() {
    let (dir, pki) = (Dir::new("notkey"), Pki::new("CA"));
    let leaf = pki.leaf(&["localhost"]);
    let mut cfg = config(&dir, &pki, &leaf, false, false);
    cfg.key_file = dir.write("cert-as-key.key", &leaf.cert);
    let e = load_err(&cfg, None);
    assert!(
        e.starts_with("tls.key_file") && e.contains("cert-as-key.key"),
        "{e}"
    );
    assert!(e.contains("no private key found"), "{e}");
}

#[test]
fn key_of_another_certificate() {
    let (dir, pki) = (Dir::new("mismatch"), Pki::new("CA"));
    let (leaf, other) = (pki.leaf(&["localhost"]), pki.leaf(&["localhost"]));
    let mut cfg = config(&dir, &pki, &leaf, false, false);
    cfg.key_file = dir.write("other.key", &other.key);
    let e = load_err(&cfg, None);
    assert!(
        e.starts_with("tls.key_file") && e.contains("other.key"),
        "{e}"
    );
    assert!(e.contains("does not belong to the certificate"), "{e}");
}

#[test]
fn bad_ca_file() {
    let (dir, pki) = (Dir::new("badca"), Pki::new("CA"));
    let leaf = pki.leaf(&["localhost"]);
    let mut cfg = config(&dir, &pki, &leaf, true, false);
    cfg.ca_file = dir.write("empty-ca.crt", "no pem here\n");
    let e = load_err(&cfg, None);
    assert!(
        e.starts_with("tls.ca_file") && e.contains("empty-ca.crt"),
        "{e}"
    );
    cfg.ca_file = dir.write(
        "junk-ca.crt",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    );
    let e = load_err(&cfg, None);
    assert!(
        e.contains("junk-ca.crt") && e.contains("could not be parsed"),
        "{e}"
    );
}

#[test]
fn cluster_needs_a_ca() {
    let (dir, pki) = (Dir::new("noca"), Pki::new("CA"));
    let leaf = pki.leaf(&["127.0.0.1"]);
    let e = load_err(
        &config(&dir, &pki, &leaf, false, false),
        Some("127.0.0.1:7000"),
    );
    assert!(
        e.starts_with("tls.ca_file is empty: a cluster with TLS"),
        "{e}"
    );
}

#[test]
fn own_certificate_checked_as_peers_will() {
    let (dir, pki) = (Dir::new("own"), Pki::new("CA"));
    // Signed by another CA than ca_file.
    let stranger = Pki::new("other CA").leaf(&["127.0.0.1"]);
    let e = load_err(
        &config(&dir, &pki, &stranger, true, false),
        Some("127.0.0.1:7000"),
    );
    assert!(
        e.contains("peers would refuse this certificate when they connect to 127.0.0.1:7000"),
        "{e}"
    );
    assert!(e.contains("not signed by a CA in tls.ca_file"), "{e}");
    // Signed by the CA, for another name than the node's address.
    let elsewhere = pki.leaf(&["node-b.example"]);
    let e = load_err(
        &config(&dir, &pki, &elsewhere, true, false),
        Some("node-a.example:7000"),
    );
    assert!(e.contains("not valid for the name"), "{e}");
    // For the right name (a DNS name this time) it loads.
    let right = pki.leaf(&["node-a.example"]);
    Tls::load(
        &config(&dir, &pki, &right, true, true),
        Some("node-a.example:7000"),
    )
    .unwrap();
}

#[test]
fn failed_reload_keeps_the_previous_config() {
    let (dir, pki) = (Dir::new("reload"), Pki::new("CA"));
    let leaf = pki.leaf(&["127.0.0.1"]);
    let cfg = config(&dir, &pki, &leaf, true, false);
    let tls = Tls::load(&cfg, Some("127.0.0.1:7000")).unwrap().unwrap();
    let before = tls.current();
    assert!(Arc::ptr_eq(&before, &tls.current()), "cached per thread");
    std::fs::write(&cfg.key_file, "garbage").unwrap();
    let e = tls.reload().unwrap_err().to_string();
    assert!(e.starts_with("tls.key_file"), "{e}");
    assert_eq!(tls.generation(), 0);
    assert!(Arc::ptr_eq(&before, &tls.current()));
    // A new certificate and key: picked up.
    let next = pki.leaf(&["127.0.0.1"]);
    std::fs::write(&cfg.cert_file, &next.cert).unwrap();
    std::fs::write(&cfg.key_file, &next.key).unwrap();
    tls.reload().unwrap();
    assert_eq!(tls.generation(), 1);
    assert!(!Arc::ptr_eq(&before, &tls.current()));
}

#[test]
fn server_names_from_addresses() {
    let ip = |s: &str| matches!(server_name(s), Ok(ServerName::IpAddress(_)));
    let dns = |s: &str| matches!(server_name(s), Ok(ServerName::DnsName(_)));
    assert!(ip("127.0.0.1:7000"));
    assert!(ip("[::1]:7000"));
    assert!(dns("cache-0.cache.svc.cluster.local:7000"));
    assert!(dns("localhost"));
    assert_eq!(server_name(":7000"), Err(Failure::BadName));
    assert_eq!(server_name("[]:7000"), Err(Failure::BadName));
    assert_eq!(server_name("bad name:7000"), Err(Failure::BadName));
}

#[test]
fn plain_http_is_not_tls() {
    let (dir, pki) = (Dir::new("plain"), Pki::new("CA"));
    let leaf = pki.leaf(&["localhost"]);
    let tls = Tls::load(&config(&dir, &pki, &leaf, false, false), None)
        .unwrap()
        .unwrap();
    let server = Arc::clone(&tls.current().server);
    let r = feed_server(&server, b"GET /api/v1/cache/k HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r, Err(Failure::NotTls));
    assert_eq!(feed_server(&server, b""), Ok(()));
    // Arbitrary bytes never panic (the fuzz target does this at scale).
    for seed in 0u32..200 {
        let data: Vec<u8> = (0..seed * 7 % 300)
            .map(|i| (i.wrapping_mul(2654435761u32.wrapping_add(seed)) >> 13) as u8)
            .collect();
        let _ = feed_server(&server, &data);
    }
}

/// Run a handshake between two in-memory sessions; the server session after it.
fn handshake(
    client: &mut ClientConnection,
    server: &mut ServerConnection,
) -> Result<(), rustls::Error> {
    let mut buf = Vec::new();
    for _ in 0..10 {
        buf.clear();
        while client.wants_write() {
            client.write_tls(&mut buf).unwrap();
        }
        server.read_tls(&mut &buf[..]).unwrap();
        server.process_new_packets()?;
        buf.clear();
        while server.wants_write() {
            server.write_tls(&mut buf).unwrap();
        }
        client.read_tls(&mut &buf[..]).unwrap();
        client.process_new_packets()?;
        if !client.is_handshaking() && !server.is_handshaking() {
            return Ok(());
        }
    }
    panic!("handshake did not finish");
}

#[test]
fn peers_present_verified_certificates() {
    let (dir, pki) = (Dir::new("mtls"), Pki::new("CA"));
    let leaf = pki.leaf(&["127.0.0.1"]);
    let tls = Tls::load(
        &config(&dir, &pki, &leaf, true, true),
        Some("127.0.0.1:7000"),
    )
    .unwrap()
    .unwrap();
    let c = tls.current();
    let name = server_name("127.0.0.1:7000").unwrap();
    // A node (its client config presents its certificate): verified on the server side.
    let mut client = ClientConnection::new(c.client.clone().unwrap(), name.clone()).unwrap();
    let mut server = ServerConnection::new(Arc::clone(&c.server)).unwrap();
    handshake(&mut client, &mut server).unwrap();
    assert_eq!(server.peer_certificates().map(|p| p.len()), Some(1));
    assert_eq!(server.alpn_protocol(), Some(&b"http/1.1"[..]));
    // A client without a certificate is still served, as an ordinary client.
    let plain = configs_from_pem(
        leaf.cert.as_bytes(),
        leaf.key.as_bytes(),
        pki.ca_pem().as_bytes(),
        false,
    )
    .unwrap();
    let mut client = ClientConnection::new(plain.client.unwrap(), name.clone()).unwrap();
    let mut server = ServerConnection::new(Arc::clone(&c.server)).unwrap();
    handshake(&mut client, &mut server).unwrap();
    assert!(server.peer_certificates().is_none_or(|p| p.is_empty()));
    // A client certificate from another CA is refused.
    let stranger = Pki::new("other CA").leaf(&["127.0.0.1"]);
    let chain = CertificateDer::pem_slice_iter(stranger.cert.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(stranger.key.as_bytes()).unwrap();
    let theirs = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(Arc::new(roots(pki.ca_pem().as_bytes())))
    .with_client_auth_cert(chain, key)
    .unwrap();
    let mut client = ClientConnection::new(Arc::new(theirs), name).unwrap();
    let mut server = ServerConnection::new(Arc::clone(&c.server)).unwrap();
    let e = handshake(&mut client, &mut server).unwrap_err();
    assert_eq!(
        Failure::from(&e),
        Failure::Certificate("not signed by a CA in tls.ca_file")
    );
}
