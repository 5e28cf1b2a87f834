//! TLS on the listener and between nodes (`tls:`): requests over TLS, refused handshakes (an
//! untrusted certificate, plain HTTP to the TLS port, a client that never speaks), start-up
//! errors naming the file, a three-node cluster whose forwards, replica copies and probes go over
//! TLS, client certificates that mark a peer (`peer_client_certs`), and a SIGHUP reload that
//! picks up a new certificate (or keeps the old one when the new files are broken).
//!
//! Certificates are generated per test by rcgen into a temp dir (`common/tls.rs`). The tests are
//! grouped in the modules below; the `#[test]` functions here only call them.

#[path = "../common/cluster.rs"]
mod cluster_common;
#[path = "../common/mod.rs"]
mod common;
#[path = "../common/tls.rs"]
mod tls_common;

mod cluster;
mod listener;
mod reload;

#[test]
fn get_and_put_over_tls() {
    listener::get_and_put_over_tls();
}

#[test]
fn client_that_does_not_trust_the_ca_fails_the_handshake() {
    listener::client_that_does_not_trust_the_ca_fails_the_handshake();
}

#[test]
fn plain_http_to_the_tls_port_gets_no_http_answer() {
    listener::plain_http_to_the_tls_port_gets_no_http_answer();
}

#[test]
fn silent_client_is_closed_after_the_header_timeout() {
    listener::silent_client_is_closed_after_the_header_timeout();
}

#[test]
fn start_refuses_unusable_tls_files() {
    listener::start_refuses_unusable_tls_files();
}

#[test]
fn cluster_forwards_and_replicates_over_tls() {
    cluster::cluster_forwards_and_replicates_over_tls();
}

#[test]
fn client_certificate_signed_by_the_ca_marks_a_peer() {
    cluster::client_certificate_signed_by_the_ca_marks_a_peer();
}

#[test]
fn sighup_reloads_the_certificate() {
    reload::sighup_reloads_the_certificate();
}
