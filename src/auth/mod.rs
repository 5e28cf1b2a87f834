//! Who may do what: bearer tokens per request class, and the cluster secret of node-to-node
//! requests. A support module below the cluster layer (it imports only `config` and `log`), so
//! the peer client can send the secret and the server can check it.
//!
//! - [`load`]: token files (one token a line, two during a rotation, mode-checked) and their
//!   environment-variable fallback, into [`Secrets`].
//! - [`classes`]: the pure decision "this credential on this class of request": granted, 401
//!   or 403 ([`decide`]), with the static message and `WWW-Authenticate` value of each answer.
//! - [`watch`]: the token files checked every `auth.reload_interval` (kubelet updates a mounted
//!   Secret in place); a change runs the SIGHUP reload.
//! - [`Keyring`]: the node's current secrets, swapped whole on SIGHUP; [`LocalKeyring`] is one
//!   core's copy of them, re-read only after a reload, so a request costs one relaxed atomic
//!   load and a comparison against tokens already in memory (no allocation, no lock).
//!
//! Tokens are compared in constant time for a given length ([`ct_eq`]): the time of a
//! comparison does not depend on where the first differing byte is. The length of a token may
//! leak through timing (a presented token of another length is refused at once); tokens are
//! at least [`MIN_TOKEN_BYTES`] random characters, so their length tells an attacker nothing
//! useful. Token values are never logged, never part of `--print-config` (only file paths are
//! config), and `Debug` of a [`TokenSet`] shows only how many tokens it has.

mod classes;
mod load;
#[cfg(test)]
mod tests;
pub mod watch;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::config::{AuthConfig, Config};

pub use classes::{decide, Access, Credential, Kind, Kinds, Need, Needed, Refusal, Why};
pub use load::{
    changes, cluster_guard, summary, ENV_TOKEN_DIR, MAX_TOKENS, MAX_TOKEN_BYTES, MIN_TOKEN_BYTES,
};

/// The tokens of one class: none (the class is open), or up to two during a rotation.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TokenSet {
    tokens: Vec<Box<[u8]>>,
    /// Where they came from (`file /run/x` or `env CACHE_ADMIN_TOKEN`), for log lines.
    source: String,
}

impl std::fmt::Debug for TokenSet {
    // Never the values: a Debug print must be safe to log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "TokenSet({} tokens from {:?})",
            self.tokens.len(),
            self.source
        )
    }
}

impl TokenSet {
    /// No token configured: the class is open.
    pub fn is_open(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Whether `presented` is one of the tokens. Every token is compared, each in constant
    /// time for its length, so the answer's timing does not depend on which one matched.
    pub fn accepts(&self, presented: &[u8]) -> bool {
        self.tokens
            .iter()
            .fold(false, |hit, t| hit | ct_eq(t, presented))
    }

    /// The token this node sends (the first line of the file).
    pub fn first(&self) -> Option<&[u8]> {
        self.tokens.first().map(|t| &t[..])
    }

    /// How many tokens are valid (2 during a rotation).
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Where the tokens were read from (empty when the class is open).
    pub fn source(&self) -> &str {
        &self.source
    }
}

/// Every class's tokens, as loaded at start or by the last SIGHUP.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
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
    /// The tokens of class `k`.
    pub fn set(&self, k: Kind) -> &TokenSet {
        match k {
            Kind::Admin => &self.admin,
            Kind::Client => &self.client,
            Kind::ClientRead => &self.client_read,
            Kind::Metrics => &self.metrics,
            Kind::Cluster => &self.cluster,
        }
    }

    /// The classes that have tokens (the others are open).
    pub fn configured(&self) -> Kinds {
        Kind::ALL
            .iter()
            .filter(|k| !self.set(**k).is_open())
            .fold(Kinds::NONE, |s, k| s.with(*k))
    }

    /// Which classes' tokens `token` is (usually one; none for an unknown token). Compares
    /// against every configured token, without stopping at a match.
    pub fn matches(&self, token: &[u8]) -> Kinds {
        Kind::ALL
            .iter()
            .filter(|k| self.set(**k).accepts(token))
            .fold(Kinds::NONE, |s, k| s.with(*k))
    }

    /// What an `Authorization` header value (or its absence) presents.
    pub fn credential(&self, authorization: Option<&[u8]>) -> Credential {
        match authorization {
            None => Credential::None,
            Some(v) => match bearer(v) {
                Some(t) => Credential::Token(self.matches(t)),
                None => Credential::Malformed,
            },
        }
    }

    /// Secrets given as environment-style values only, as the loader reads them when every
    /// `*_file` key is empty (`lookup` maps `CACHE_ADMIN_TOKEN` etc. to a value): tests, fuzzing.
    pub fn from_env(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Secrets, AuthError> {
        load::secrets(&AuthConfig::default(), lookup)
    }

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

/// The token of a `Bearer` credential (scheme case-insensitive, RFC 9110 §11.1; RFC 6750 §2.1).
/// `None` for another scheme or an empty token.
pub fn bearer(value: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = value.split_at_checked(7)?;
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return None;
    }
    let token = rest.trim_ascii();
    (!token.is_empty()).then_some(token)
}

/// Constant-time equality for equal lengths: every byte is examined, whatever the first
/// difference (an OR of XORs, as the `constant_time_eq` crate does; LLVM vectorises it and has
/// no reason to exit early, and `black_box` on the inputs and the result keeps it from reasoning
/// about either). Different lengths return at once (the length is not secret, see the module doc).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (a, b) = (std::hint::black_box(a), std::hint::black_box(b));
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// Why the secrets could not be loaded (names the config key and the file or variable).
#[derive(Debug)]
pub struct AuthError(pub String);

impl std::fmt::Display for AuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for AuthError {}

/// The node's current secrets, swapped whole on SIGHUP. Cores keep a [`LocalKeyring`] and
/// re-read it only when [`Keyring::generation`] moved, so the request path costs one relaxed
/// atomic load.
pub struct Keyring {
    /// Where the secrets come from; `None` for fixed secrets ([`Keyring::fixed`]).
    config: Option<AuthConfig>,
    generation: AtomicU64,
    current: Mutex<Arc<Secrets>>,
}

impl Keyring {
    /// Load every configured class (fails on an unreadable, too-open or malformed file).
    pub fn load(config: &AuthConfig) -> Result<Arc<Keyring>, AuthError> {
        let secrets = load::secrets(config, &load::process_env)?;
        Ok(Arc::new(Keyring {
            config: Some(config.clone()),
            generation: AtomicU64::new(0),
            current: Mutex::new(Arc::new(secrets)),
        }))
    }

    /// Load at start-up (see [`Keyring::load`]), refuse a cluster whose nodes could not
    /// authenticate to each other ([`cluster_guard`]), and log which classes are protected
    /// (never a value), with a warning when the node is open to anyone who reaches it.
    /// Then watch the token files every `auth.reload_interval` ([`watch`]).
    pub fn start(cfg: &Config) -> Result<Arc<Keyring>, AuthError> {
        let paths = watch::watched_paths(&cfg.auth, &load::process_env);
        let interval = cfg.auth.reload_interval;
        // Stamps before the load: a change in between is noticed at the first check.
        let watcher = watch::Watch::new(paths, interval, std::time::Instant::now(), &watch::stat);
        let ring = Keyring::load(&cfg.auth)?;
        let s = ring.current();
        let peer_certs = cfg.tls.peer_client_certs;
        cluster_guard(&s, cfg.cluster_nodes.len(), peer_certs)?;
        if s.configured().is_empty() && !peer_certs {
            crate::warn!("auth: no token or cluster secret is configured: anyone who can reach this node can read, write, export and import every key and call /internal/*; set the auth section (see docs/security.md) or keep the port on a trusted network");
        } else {
            crate::info!("auth: {}", summary(&s));
            if s.admin.is_open() {
                crate::warn!("auth: auth.admin_token_file is empty: /admin/* (export, import, cluster view) is open to anyone who can reach this node (see docs/security.md)");
            }
        }
        watch::spawn(&ring, watcher, cfg.node_id.clone());
        Ok(ring)
    }

    /// [`Keyring::reload`] for SIGHUP, logging what changed (class by class, never a value) or
    /// why nothing did: on error the previous secrets stay in force.
    pub fn reload_logged(&self) -> Result<(), AuthError> {
        self.reload_logged_as("SIGHUP")
    }

    /// [`Keyring::reload_logged`] with `why` (what triggered it) leading each log line.
    pub fn reload_logged_as(&self, why: &str) -> Result<(), AuthError> {
        let before = self.current();
        if let Err(e) = self.reload() {
            crate::error!("{why}: auth: reload failed, the previous tokens stay in force: {e}");
            return Err(e);
        }
        let said = changes(&before, &self.current());
        if said.is_empty() {
            crate::info!("{why}: auth: tokens re-read, nothing changed");
        }
        for line in said {
            crate::info!("{why}: auth: {line}");
        }
        Ok(())
    }

    /// Secrets nobody configured: every class open (tests, tools).
    pub fn open() -> Arc<Keyring> {
        Keyring::fixed(Secrets::default())
    }

    /// A keyring of given secrets that a reload leaves as they are (tests, tools).
    pub fn fixed(secrets: Secrets) -> Arc<Keyring> {
        Arc::new(Keyring {
            config: None,
            generation: AtomicU64::new(0),
            current: Mutex::new(Arc::new(secrets)),
        })
    }

    /// Re-read the files (SIGHUP). On error the previous secrets stay in force.
    pub fn reload(&self) -> Result<(), AuthError> {
        let Some(config) = &self.config else {
            return Ok(());
        };
        let secrets = load::secrets(config, &load::process_env)?;
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        load::keep_vanished(config, &current, &secrets, &load::process_env)?;
        *current = Arc::new(secrets);
        drop(current);
        // After the swap: a core that sees the new number finds the new secrets under the lock
        // (the mutex orders the two), so Relaxed is enough here and on the reading side.
        self.generation.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Bumped by every successful [`Keyring::reload`].
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Relaxed)
    }

    pub fn current(&self) -> Arc<Secrets> {
        Arc::clone(&self.current.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// One thread's copy of the [`Keyring`]'s secrets (a core's, shared by its request path and its
/// peer client). [`LocalKeyring::current`] hands out an `Rc`: no atomic reference count that
/// every core would bounce between caches, no lock; the copy is refreshed only after a reload.
pub struct LocalKeyring {
    keyring: Arc<Keyring>,
    seen: Cell<u64>,
    secrets: RefCell<Rc<Secrets>>,
    /// What every request's access check asks first, worked out once per copy: the classes
    /// with tokens, and whether the cluster secret is unset (see [`Self::shape`]).
    shape: Cell<Shape>,
}

/// The parts of the secrets an access check needs before it looks at a credential.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// [`Secrets::configured`].
    pub configured: Kinds,
    /// No cluster secret is set.
    pub cluster_open: bool,
}

impl Shape {
    fn of(s: &Secrets) -> Shape {
        Shape {
            configured: s.configured(),
            cluster_open: s.cluster.is_open(),
        }
    }
}

impl LocalKeyring {
    pub fn new(keyring: Arc<Keyring>) -> Rc<LocalKeyring> {
        let seen = keyring.generation();
        let secrets = Rc::new(Secrets::clone(&keyring.current()));
        Rc::new(LocalKeyring {
            keyring,
            seen: Cell::new(seen),
            shape: Cell::new(Shape::of(&secrets)),
            secrets: RefCell::new(secrets),
        })
    }

    /// The current secrets' [`Shape`] (one relaxed load): an open node's check needs no more.
    #[inline]
    pub fn shape(&self) -> Shape {
        let now = self.keyring.generation();
        if now != self.seen.get() {
            self.refresh(now);
        }
        self.shape.get()
    }

    /// The current secrets (one relaxed load; a copy of the keyring's after a reload).
    #[inline]
    pub fn current(&self) -> Rc<Secrets> {
        let now = self.keyring.generation();
        if now != self.seen.get() {
            self.refresh(now);
        }
        Rc::clone(&self.secrets.borrow())
    }

    #[cold]
    fn refresh(&self, now: u64) {
        let fresh = Rc::new(Secrets::clone(&self.keyring.current()));
        self.shape.set(Shape::of(&fresh));
        // The borrow ends here: no `Ref` ever leaves this type, so this cannot conflict.
        *self.secrets.borrow_mut() = fresh;
        self.seen.set(now);
    }

    /// The shared keyring (the blocking threads' view).
    pub fn keyring(&self) -> &Arc<Keyring> {
        &self.keyring
    }
}
