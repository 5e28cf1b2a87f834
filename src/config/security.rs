//! The `auth` and `tls` sections: where the node's secrets live. Only file *paths* are config;
//! the tokens and keys themselves are read by `crate::auth` / `crate::tls` (mode-checked, never
//! logged), so `--print-config` and the start-up log can show the whole config safely.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::Invalid;
use super::units;

/// Environment variables read when the matching `*_file` key is empty (containers pass secrets
/// as env vars). Files win because only files can be rotated by SIGHUP.
pub const ENV_ADMIN_TOKEN: &str = "CACHE_ADMIN_TOKEN";
pub const ENV_CLIENT_TOKEN: &str = "CACHE_CLIENT_TOKEN";
pub const ENV_CLIENT_READ_TOKEN: &str = "CACHE_CLIENT_READ_TOKEN";
pub const ENV_METRICS_TOKEN: &str = "CACHE_METRICS_TOKEN";
pub const ENV_CLUSTER_SECRET: &str = "CACHE_CLUSTER_SECRET";

/// How often the token files are checked for a change by default (`auth.reload_interval`):
/// a Kubernetes Secret volume is updated within about a minute, so a few seconds more is
/// unnoticeable, and a `stat` of five files every 10 s costs nothing.
pub(crate) const DEFAULT_AUTH_RELOAD_INTERVAL: Duration = Duration::from_secs(10);

/// `auth:` every key optional; an empty path (and no env var) leaves that class open.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields, expecting = "a mapping of `auth` keys")]
pub struct AuthConfig {
    /// Token(s) for `/admin/*` (export, import, cluster view; metrics too unless
    /// `metrics_token_file` is set). Also allowed on every other route.
    pub admin_token_file: String,
    /// Token(s) for reads and writes under `/api/v1/cache/*`.
    pub client_token_file: String,
    /// Token(s) for GET/HEAD under `/api/v1/cache/*` only.
    pub client_read_token_file: String,
    /// Token(s) for `/admin/metrics` alone (a Prometheus scraper); empty = metrics stay open.
    pub metrics_token_file: String,
    /// The secret every node-to-node request carries (`/internal/*`, forwards, replica copies);
    /// without it forwarding markers (`X-Cache-Forwarded`, `X-Cache-Version`) are ignored.
    pub cluster_secret_file: String,
    /// A directory of token files named after their class (`admin-token`, `client-token`,
    /// `client-read-token`, `metrics-token`, `cluster-secret`: a Kubernetes Secret volume),
    /// for each class whose `*_file` key and environment variables are empty; an absent file
    /// leaves that class open. Empty: `$CACHE_TOKEN_DIR`, else none.
    pub token_dir: String,
    /// How often the token files are checked for a change (a new inode, size or mtime: an edit,
    /// a rename over them, kubelet's update of a Secret volume); a change reloads them as SIGHUP
    /// does. 0 = only on SIGHUP.
    #[serde(with = "units::duration")]
    pub reload_interval: Duration,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            admin_token_file: String::new(),
            client_token_file: String::new(),
            client_read_token_file: String::new(),
            metrics_token_file: String::new(),
            cluster_secret_file: String::new(),
            token_dir: String::new(),
            reload_interval: DEFAULT_AUTH_RELOAD_INTERVAL,
        }
    }
}

/// Shortest `auth.reload_interval` other than 0: a check is a `stat` per token file, and
/// anything faster than a second only burns wake-ups (kubelet itself takes up to a minute).
pub(crate) const MIN_AUTH_RELOAD_INTERVAL: Duration = Duration::from_secs(1);

impl AuthConfig {
    pub(crate) fn validate(&self) -> Result<(), Invalid> {
        let iv = self.reload_interval;
        if !iv.is_zero() && !(MIN_AUTH_RELOAD_INTERVAL..=super::DURATION_RANGE.1).contains(&iv) {
            return Err(Invalid::at(
                "auth",
                "reload_interval",
                format!(
                    "{} is out of range: \"0s\" (only SIGHUP reloads) or 1s to 24h",
                    units::format_duration(iv)
                ),
            ));
        }
        Ok(())
    }
}

/// `tls:` a certificate and key make the client listener (and node-to-node links) TLS-only.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields, expecting = "a mapping of `tls` keys")]
pub struct TlsConfig {
    /// PEM certificate chain of this node (leaf first).
    pub cert_file: String,
    /// PEM private key of `cert_file` (PKCS#8, PKCS#1 or SEC1).
    pub key_file: String,
    /// PEM CA bundle that signed the peers' certificates: a node verifies its peers against it.
    pub ca_file: String,
    /// Ask connecting clients for a certificate signed by `ca_file`; a connection that presents
    /// one counts as a peer (node-to-node mTLS). Nodes present their own certificate to peers.
    pub peer_client_certs: bool,
}

impl TlsConfig {
    /// Whether the listener speaks TLS.
    pub fn enabled(&self) -> bool {
        !self.cert_file.is_empty()
    }

    pub(crate) fn validate(&self) -> Result<(), Invalid> {
        match (self.cert_file.is_empty(), self.key_file.is_empty()) {
            (false, true) => {
                return Err(Invalid::at(
                    "tls",
                    "key_file",
                    "cert_file is set but key_file is empty: TLS needs both".to_owned(),
                ))
            }
            (true, false) => {
                return Err(Invalid::at(
                    "tls",
                    "cert_file",
                    "key_file is set but cert_file is empty: TLS needs both".to_owned(),
                ))
            }
            _ => {}
        }
        if self.peer_client_certs && self.ca_file.is_empty() {
            return Err(Invalid::at(
                "tls",
                "ca_file",
                "peer_client_certs needs ca_file (the CA that signed the peers' certificates)"
                    .to_owned(),
            ));
        }
        if !self.enabled() && (self.peer_client_certs || !self.ca_file.is_empty()) {
            return Err(Invalid::at(
                "tls",
                "cert_file",
                "ca_file/peer_client_certs are set but cert_file is empty: TLS is off".to_owned(),
            ));
        }
        Ok(())
    }
}
