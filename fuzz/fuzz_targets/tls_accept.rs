//! The listener's TLS handshake on arbitrary bytes: a fresh rustls server session built by the
//! node's own `tls` code is fed the input record by record, as the listener reads a handshake,
//! and answers as it goes. Whatever the bytes (plain HTTP, truncated or oversized records,
//! garbage ClientHellos, client certificates), it must fail cleanly, never panic.
//!
//! The first byte picks the configuration: odd = client certificates asked for and verified
//! against the CA (`peer_client_certs`), even = no client certificates. The certificates below
//! are throwaway test material (P-256, valid 2000-2100), generated with openssl for this target.
#![no_main]

use std::sync::OnceLock;

use dcache::fuzz_api::{tls_accept, tls_server, TlsServer};
use libfuzzer_sys::fuzz_target;

const CA: &str = "-----BEGIN CERTIFICATE-----
MIIBVjCB/aADAgECAgEBMAoGCCqGSM49BAMCMBIxEDAOBgNVBAMMB2Z1enogQ0Ew
IBcNMDAwMTAxMDAwMDAwWhgPMjEwMDAxMDEwMDAwMDBaMBIxEDAOBgNVBAMMB2Z1
enogQ0EwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAASeaK/rbzi33qyNBbClid/1
vQJP1Irg079kFC7/9JdFIkDI5pfW9yvGwdyAix+WnD3f6yTc8x1WoqMhJqexe++t
o0IwQDAPBgNVHRMBAf8EBTADAQH/MA4GA1UdDwEB/wQEAwICBDAdBgNVHQ4EFgQU
pGw/bFipk/lkz1lnPoFpJkdVnOowCgYIKoZIzj0EAwIDSAAwRQIgLlIHcndrjx/e
XRgnZvBiBtgHhouoi1pMcSry2GGq3sECIQD9PwnHq03pQTYJ0HrgiqZzZ5jzO5/x
At2PThhaIvYjng==
-----END CERTIFICATE-----
";
const CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBfzCCASagAwIBAgIBAjAKBggqhkjOPQQDAjASMRAwDgYDVQQDDAdmdXp6IENB
MCAXDTAwMDEwMTAwMDAwMFoYDzIxMDAwMTAxMDAwMDAwWjAUMRIwEAYDVQQDDAlm
dXp6IG5vZGUwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAARigJUii7XOQItyf2pV
lgVfqbqYyNNNeoNrGuhxgbw9ybydk7a0zdKqwgcJL4HxtT2LU+zH6Pvk8yYn2Jkg
hrVxo2kwZzAJBgNVHRMEAjAAMBoGA1UdEQQTMBGHBH8AAAGCCWxvY2FsaG9zdDAf
BgNVHSMEGDAWgBSkbD9sWKmT+WTPWWc+gWkmR1Wc6jAdBgNVHQ4EFgQU0d+3TPmv
DeGGZrGhwDxywb+WwVYwCgYIKoZIzj0EAwIDRwAwRAIgTFHDLwXljKl+ozDxqmTJ
945O65Ac9icwup7YXYX/b0wCIHXgF4L1EWAetoSYk1x2MoUNeZXQrJve24jrmRzl
znSb
-----END CERTIFICATE-----
";
const KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg6N84taEIu98AiWa2
1xJAzDqN6CoYY5Gg5jlc5T/zav2hRANCAARigJUii7XOQItyf2pVlgVfqbqYyNNN
eoNrGuhxgbw9ybydk7a0zdKqwgcJL4HxtT2LU+zH6Pvk8yYn2JkghrVx
-----END PRIVATE KEY-----
";

fn servers() -> &'static [TlsServer; 2] {
    static SERVERS: OnceLock<[TlsServer; 2]> = OnceLock::new();
    SERVERS.get_or_init(|| {
        let plain = tls_server(CERT.as_bytes(), KEY.as_bytes(), b"").expect("test certificate");
        let mtls = tls_server(CERT.as_bytes(), KEY.as_bytes(), CA.as_bytes()).expect("test CA");
        [plain, mtls]
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let _ = tls_accept(&servers()[usize::from(pick & 1)], rest);
});
