//! Who may do what: bearer tokens per request class, and the cluster secret of node-to-node
//! requests. A support module below the cluster layer (it imports only `config`).
//!
//! SKELETON (lead): the API other parts code against. The auth helper completes it: loading from
//! files and env (mode check), rotation, constant-time comparison, the class table and tests.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::config::AuthConfig;

/// The tokens of one class: none (the class is open), or up to two during a rotation.
#[derive(Clone, Debug, Default)]
pub struct TokenSet {
    tokens: Vec<Box<[u8]>>,
}

impl TokenSet {
    /// No token configured: the class is open.
    pub fn is_open(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Whether `presented` is one of the tokens.
    pub fn accepts(&self, presented: &[u8]) -> bool {
        self.tokens.iter().any(|t| &t[..] == presented)
    }

    /// The token this node sends (the first line of the file).
    pub fn first(&self) -> Option<&[u8]> {
        self.tokens.first().map(|t| &t[..])
    }
}

/// Every class's tokens, as loaded at start or by the last SIGHUP.
#[derive(Clone, Debug, Default)]
pub struct Secrets {
    pub admin: TokenSet,
    pub client: TokenSet,
    pub client_read: TokenSet,
    pub metrics: TokenSet,
    pub cluster: TokenSet,
    /// `Bearer <first cluster secret>` as sent on node-to-node requests; empty when none.
    cluster_header: Box<[u8]>,
}

impl Secrets {
    /// Whether an `Authorization` header value (`Bearer <token>`) carries the cluster secret.
    /// False when no cluster secret is configured.
    pub fn is_cluster(&self, authorization: Option<&[u8]>) -> bool {
        match authorization.and_then(bearer) {
            Some(t) => !self.cluster.is_open() && self.cluster.accepts(t),
            None => false,
        }
    }

    /// The `Authorization` header value a node sends to its peers (`Bearer <secret>`), or `None`
    /// when no cluster secret is configured.
    pub fn cluster_authorization(&self) -> Option<&[u8]> {
        if self.cluster_header.is_empty() {
            None
        } else {
            Some(&self.cluster_header)
        }
    }
}

/// The token of a `Bearer` credential (scheme case-insensitive, RFC 9110 §11.1).
pub fn bearer(value: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = value.split_at_checked(7)?;
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return None;
    }
    let token = rest.trim_ascii();
    (!token.is_empty()).then_some(token)
}

/// Why the secrets could not be loaded (names the file or variable).
#[derive(Debug)]
pub struct AuthError(pub String);

impl std::fmt::Display for AuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for AuthError {}

/// The node's current secrets, swapped whole on SIGHUP. Cores cache an `Arc` and re-read it only
/// when [`Keyring::generation`] moved, so the request path costs one relaxed atomic load.
pub struct Keyring {
    config: AuthConfig,
    generation: AtomicU64,
    current: Mutex<Arc<Secrets>>,
}

impl Keyring {
    /// Load every configured class (fails on an unreadable, too-open or malformed file).
    pub fn load(config: &AuthConfig) -> Result<Arc<Keyring>, AuthError> {
        let secrets = load_secrets(config)?;
        Ok(Arc::new(Keyring {
            config: config.clone(),
            generation: AtomicU64::new(0),
            current: Mutex::new(Arc::new(secrets)),
        }))
    }

    /// Secrets nobody configured: every class open (tests, tools).
    pub fn open() -> Arc<Keyring> {
        Arc::new(Keyring {
            config: AuthConfig::default(),
            generation: AtomicU64::new(0),
            current: Mutex::new(Arc::new(Secrets::default())),
        })
    }

    /// Re-read the files (SIGHUP). On error the previous secrets stay in force.
    pub fn reload(&self) -> Result<(), AuthError> {
        let secrets = load_secrets(&self.config)?;
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = Arc::new(secrets);
        self.generation.fetch_add(1, Ordering::Release);
        Ok(())
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn current(&self) -> Arc<Secrets> {
        Arc::clone(&self.current.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

fn load_secrets(_config: &AuthConfig) -> Result<Secrets, AuthError> {
    // Completed by the auth helper (files, env, mode check).
    Ok(Secrets::default())
}
