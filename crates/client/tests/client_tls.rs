//! `cache-client` against `https://` nodes: the built binary and a real in-process node with
//! `tls:` in its config, certificates generated per test by rcgen (as the node's own TLS tests
//! make them). Requests over TLS with the CA from `--cacert` or `$CACHE_CACERT`, and each refused
//! handshake's message: an untrusted CA, a name the certificate does not carry, `http://` and
//! `https://` mixed up; a client certificate (`--tls-cert`/`--tls-key`) that the node counts as a peer's.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

/// A throwaway CA whose files live in a directory of their own (removed on drop).
struct Pki {
    ca: CertifiedIssuer<'static, KeyPair>,
    dir: PathBuf,
}

/// Certificate and key files of a leaf.
struct Leaf {
    cert: String,
    key: String,
}

impl Pki {
    fn new(tag: &str) -> Pki {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "client-tls-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, format!("{tag} test CA"));
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key"))
            .expect("CA certificate");
        let pki = Pki { ca, dir };
        pki.write("ca.crt", &pki.ca.pem());
        pki
    }

    fn ca_file(&self) -> String {
        self.dir.join("ca.crt").to_string_lossy().into_owned()
    }

    /// Write a file readable by its owner only (the node requires it of keys and token files).
    fn write(&self, name: &str, text: &str) -> String {
        let p = self.dir.join(name);
        std::fs::write(&p, text).expect("write");
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .expect("chmod");
        p.to_string_lossy().into_owned()
    }

    /// A certificate for `names` (DNS names or IP addresses) signed by this CA.
    fn leaf(&self, file: &str, names: &[&str]) -> Leaf {
        let key = KeyPair::generate().expect("key");
        let params =
            CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .expect("params");
        let cert = params.signed_by(&key, &self.ca).expect("signed");
        Leaf {
            cert: self.write(&format!("{file}.crt"), &cert.pem()),
            key: self.write(&format!("{file}.key"), &key.serialize_pem()),
        }
    }

    /// The `tls:` section of a node presenting `leaf`.
    fn yaml(&self, leaf: &Leaf, peer_client_certs: bool) -> String {
        format!(
            "tls:\n  cert_file: \"{}\"\n  key_file: \"{}\"\n  ca_file: \"{}\"\n  peer_client_certs: {peer_client_certs}\n",
            leaf.cert,
            leaf.key,
            self.ca_file()
        )
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A TLS node (certificate for 127.0.0.1 and localhost) with `extra` config, and its PKI.
fn tls_node(extra: &str, peer_client_certs: bool) -> (common::Running, Pki) {
    let pki = Pki::new("node");
    let leaf = pki.leaf("node", &["127.0.0.1", "localhost"]);
    let node = common::run_single(2, &format!("{}{extra}", pki.yaml(&leaf, peer_client_certs)));
    (node, pki)
}

/// Run the binary with `env` (and none of the TLS or token variables of the test's own
/// environment).
fn client_env(node: &str, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cache-client"));
    for var in [
        "CACHE_CACERT",
        "CACHE_TLS_CERT",
        "CACHE_TLS_KEY",
        "CACHE_TOKEN",
        "CACHE_TOKEN_FILE",
        "CACHE_NODES",
    ] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied())
        .arg("--nodes")
        .arg(node)
        .args(args)
        .current_dir(std::env::temp_dir())
        .output()
        .expect("cache-client runs")
}

fn client(node: &str, args: &[&str]) -> Output {
    client_env(node, &[], args)
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited normally")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn get_and_put_over_tls_with_the_ca_from_the_flag_or_the_environment() {
    let (node, pki) = tls_node("", false);
    let url = format!("https://{}", node.addr());
    let ca = pki.ca_file();
    let o = client(&url, &["--cacert", &ca, "set", "k1", "over tls"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let o = client_env(&url, &[("CACHE_CACERT", &ca)], &["get", "k1", "--json"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let got: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(got["value"], "over tls");
    // A raw value, a batch, an incr and the test suite: every command rides the same TLS path.
    let file = pki.write("value.bin", "raw bytes\n");
    let o = client(&url, &["--cacert", &ca, "put", "raw", "--file", &file]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let o = client(&url, &["--cacert", &ca, "mget", "k1", "raw"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let o = client(&url, &["--cacert", &ca, "incr", "n", "5"]);
    assert_eq!((code(&o), text(&o).trim()), (0, "5"));
    let o = client(&url, &["--cacert", &ca, "test"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    // By name: the certificate lists localhost too.
    let by_name = format!("https://localhost:{}", node.addr().port());
    let o = client(&by_name, &["--cacert", &ca, "health"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
}

#[test]
fn a_certificate_from_an_untrusted_ca_is_refused_with_the_reason() {
    let (node, _pki) = tls_node("", false);
    let url = format!("https://{}", node.addr());
    let stranger = Pki::new("stranger");
    let o = client(&url, &["--cacert", &stranger.ca_file(), "get", "k"]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    let msg = text(&o);
    assert!(msg.contains(&url), "names the address: {msg}");
    assert!(msg.contains("not signed by a trusted CA"), "{msg}");
    assert!(msg.contains("--cacert"), "says what to do: {msg}");
    // Without --cacert the system's trust store decides, and it does not hold the test CA.
    let o = client(&url, &["get", "k", "--json"]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON error");
    assert_eq!(doc["kind"], "tls", "{doc}");
    assert_eq!(doc["address"], url.as_str(), "{doc}");
    assert!(
        doc["error"].as_str().unwrap_or("").contains("--cacert"),
        "{doc}"
    );
}

#[test]
fn a_name_the_certificate_does_not_list_is_refused() {
    let pki = Pki::new("name");
    let leaf = pki.leaf("node", &["node1.example"]);
    let node = common::run_single(2, &pki.yaml(&leaf, false));
    let url = format!("https://{}", node.addr());
    let o = client(&url, &["--cacert", &pki.ca_file(), "get", "k"]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    let msg = text(&o);
    assert!(msg.contains(&url) && msg.contains("name mismatch"), "{msg}");
}

#[test]
fn http_and_https_mixed_up_are_named() {
    let (node, pki) = tls_node("", false);
    let plain_to_tls = node.addr().to_string();
    let o = client(&plain_to_tls, &["get", "k"]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    let msg = text(&o);
    assert!(
        msg.contains(&plain_to_tls) && msg.contains(&format!("use https://{plain_to_tls}")),
        "{msg}"
    );

    let plain = common::run_single(2, "");
    let tls_to_plain = format!("https://{}", plain.addr());
    let o = client(&tls_to_plain, &["--cacert", &pki.ca_file(), "get", "k"]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    let msg = text(&o);
    assert!(
        msg.contains(&tls_to_plain) && msg.contains("plain HTTP") && msg.contains("http://"),
        "{msg}"
    );
    // http:// is accepted as the plain spelling.
    let o = client(&format!("http://{}", plain.addr()), &["health"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
}

#[test]
fn bad_tls_files_are_usage_errors_naming_the_file() {
    let o = client(
        "https://127.0.0.1:1",
        &["--cacert", "/nonexistent/ca.pem", "get", "k"],
    );
    assert_eq!(code(&o), 2);
    assert!(text(&o).contains("/nonexistent/ca.pem"), "{}", text(&o));
    let pki = Pki::new("files");
    let leaf = pki.leaf("client", &["client"]);
    let o = client(
        "https://127.0.0.1:1",
        &["--tls-cert", &leaf.cert, "get", "k"],
    );
    assert_eq!(code(&o), 2);
    assert!(text(&o).contains("--tls-key"), "{}", text(&o));
    // The load generator speaks plain HTTP only, and says so.
    let o = client("https://127.0.0.1:1", &["bench", "-d", "1s"]);
    assert_eq!(code(&o), 2);
    assert!(text(&o).contains("plain HTTP only"), "{}", text(&o));
    let not_pem = pki.write("junk.pem", "not a certificate\n");
    let o = client("https://127.0.0.1:1", &["--cacert", &not_pem, "get", "k"]);
    assert_eq!(code(&o), 2);
    assert!(text(&o).contains("junk.pem"), "{}", text(&o));
}

#[test]
fn a_client_certificate_signed_by_the_ca_counts_as_a_peer() {
    let pki = Pki::new("mtls");
    let admin = pki.write("admin-token", "admin-token-0123456789abcdef\n");
    let auth = format!("auth:\n  admin_token_file: \"{admin}\"\n");
    let leaf = pki.leaf("node", &["127.0.0.1"]);
    let node = common::run_single(2, &format!("{}{auth}", pki.yaml(&leaf, true)));
    let url = format!("https://{}", node.addr());
    let ca = pki.ca_file();
    // No token, no certificate: the admin route is refused.
    let o = client(&url, &["--cacert", &ca, "cluster"]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(
        text(&o).contains("401") || text(&o).contains("token"),
        "{}",
        text(&o)
    );
    // A certificate the node's CA signed (here from the environment) is a peer's: allowed.
    let me = pki.leaf("operator", &["operator.example"]);
    let env = [
        ("CACHE_TLS_CERT", me.cert.as_str()),
        ("CACHE_TLS_KEY", me.key.as_str()),
    ];
    let o = client_env(&url, &env, &["--cacert", &ca, "cluster"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
}
