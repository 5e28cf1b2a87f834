//! Authentication end to end: every class of route with no token, a wrong one and each class's
//! token (status, `WWW-Authenticate`, message, metrics); metrics open or closed; an open node;
//! a request refused before its body; rotation by reload and by SIGHUP to the real binary;
//! start-up refusals; and a three-node cluster with a cluster secret, where node-to-node traffic
//! keeps working and a client's forwarding markers are ignored.
//!
//! The tests are grouped in the modules below; the `#[test]` functions here only call them.

#[path = "../common/cluster.rs"]
mod cluster_common;
#[path = "../common/mod.rs"]
mod common;

mod classes;
mod cluster;
mod rotation;
mod tokens;
mod watch;

#[test]
fn every_class_with_every_credential() {
    classes::every_class_with_every_credential();
}

#[test]
fn malformed_credentials() {
    classes::malformed_credentials();
}

#[test]
fn metrics_open_or_closed() {
    classes::metrics_open_or_closed();
}

#[test]
fn open_node_ignores_credentials() {
    classes::open_node_ignores_credentials();
}

#[test]
fn refused_before_the_body() {
    classes::refused_before_the_body();
}

#[test]
fn reload_rotates_tokens_in_process() {
    rotation::reload_rotates_tokens_in_process();
}

#[test]
fn start_refuses_open_files_and_clusters_without_a_secret() {
    rotation::start_refuses_open_files_and_clusters_without_a_secret();
}

#[test]
fn sighup_rotates_tokens() {
    rotation::sighup_rotates_tokens();
}

#[test]
fn a_token_file_renamed_over_is_reloaded_without_sighup() {
    watch::a_token_file_renamed_over_is_reloaded_without_sighup();
}

#[test]
fn a_kubernetes_secret_volume_update_is_reloaded_without_sighup() {
    watch::a_kubernetes_secret_volume_update_is_reloaded_without_sighup();
}

#[test]
fn forwarding_replication_export_and_import_carry_the_secret() {
    cluster::forwarding_replication_export_and_import_carry_the_secret();
}

#[test]
fn spoofed_forwarding_headers_are_ignored() {
    cluster::spoofed_forwarding_headers_are_ignored();
}
