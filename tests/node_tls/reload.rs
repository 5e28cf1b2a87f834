//! The real binary with TLS: SIGHUP picks up a new certificate and key for new connections, and
//! a broken replacement keeps the previous one in force (the log says why).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use crate::common::eventually;
use crate::tls_common::{connect, Leaf, Pki};

const BIN: &str = env!("CARGO_BIN_EXE_cache-node");

/// The child, killed and reaped on drop; its stderr collected by a thread.
struct Proc {
    child: Child,
    log: Arc<Mutex<String>>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    /// Start `cache-node --config <config>`; the address from its `listening on ADDR with` line.
    fn start(config: &str) -> (Proc, SocketAddr) {
        let mut child = Command::new(BIN)
            .args(["--config", config])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn cache-node");
        let stderr = child.stderr.take().expect("piped stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { return };
                let addr = line
                    .split_once("listening on ")
                    .and_then(|(_, rest)| rest.split_once(" with "))
                    .and_then(|(addr, _)| addr.parse::<SocketAddr>().ok());
                if let Some(addr) = addr {
                    let _ = tx.send(addr);
                }
                sink.lock().unwrap().push_str(&line);
                sink.lock().unwrap().push('\n');
            }
        });
        let p = Proc { child, log };
        let addr = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|e| panic!("no `listening on` line ({e}): {}", p.log()));
        (p, addr)
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    fn sighup(&self) {
        // SAFETY: kill(2) on the pid of a child we spawned and have not reaped.
        let rc = unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGHUP) };
        assert_eq!(rc, 0, "kill(SIGHUP)");
    }
}

/// The certificate the node at `addr` presents to a new connection.
fn presented(addr: SocketAddr, pki: &Pki) -> Vec<u8> {
    let s = connect(addr, &pki.client(None)).expect("TLS handshake");
    let certs = s.conn.peer_certificates().expect("server certificate");
    certs[0].as_ref().to_vec()
}

fn der(leaf: &Leaf) -> Vec<u8> {
    CertificateDer::from_pem_slice(leaf.cert_pem.as_bytes())
        .expect("PEM")
        .as_ref()
        .to_vec()
}

pub fn sighup_reloads_the_certificate() {
    let pki = Pki::new("reload");
    let first = pki.leaf("node", &["127.0.0.1"]);
    let config = pki.write(
        "node.yaml",
        &format!(
            "node_id: \"r1\"\naddress: \"127.0.0.1:0\"\ncache_size: 100\nthreads: 1\npin_threads: false\n{}",
            pki.yaml(&first, false, false)
        ),
    );
    let (node, addr) = Proc::start(&config);
    assert_eq!(presented(addr, &pki), der(&first));
    // A new certificate and key in the same files: new connections get it after SIGHUP.
    let second = pki.leaf("next", &["127.0.0.1"]);
    std::fs::write(&first.cert_file, &second.cert_pem).unwrap();
    std::fs::write(&first.key_file, &second.key_pem).unwrap();
    node.sighup();
    assert!(
        eventually(Duration::from_secs(10), || presented(addr, &pki)
            == der(&second)),
        "the new certificate is not served: {}",
        node.log()
    );
    assert!(
        node.log().contains("tls: certificate, key and CA reloaded"),
        "{}",
        node.log()
    );
    // A broken key: the reload is refused, the previous certificate stays.
    std::fs::write(&first.key_file, "not a key\n").unwrap();
    node.sighup();
    assert!(
        eventually(Duration::from_secs(10), || node
            .log()
            .contains("tls: reload failed")),
        "{}",
        node.log()
    );
    assert!(node.log().contains("tls.key_file"), "{}", node.log());
    assert_eq!(presented(addr, &pki), der(&second));
}
