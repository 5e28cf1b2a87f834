//! Reading the secrets: token files (mode-checked, one token a line, two during a rotation) and
//! the environment-variable fallback of a `*_file` key left empty. Every error names the config
//! key and the file or variable, and never a token value.

use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use super::{AuthError, Kind, Secrets, TokenSet};
use crate::config::AuthConfig;

/// Shortest token accepted: 16 visible characters are at least ~100 bits when random (the
/// docs say `openssl rand -hex 32`, 64 characters); shorter is a password someone typed.
pub const MIN_TOKEN_BYTES: usize = 16;
/// Longest token accepted: far beyond any generated secret, small enough that comparing a
/// presented token against every configured one stays cheap, and it fits the request-head
/// bound of the protocol layer (`dcache_http::MAX_AUTHORIZATION_BYTES`, checked in the tests).
pub const MAX_TOKEN_BYTES: usize = 4096;
/// Tokens per class: the current one and, during a rotation, the next (or previous) one.
pub const MAX_TOKENS: usize = 2;
/// Largest token file read: two longest tokens plus room for comments. Bounds the read of a
/// path pointing somewhere unexpected (`/dev/zero`, a log file).
const MAX_FILE_BYTES: u64 = 64 * 1024;
/// Mode bits a token file must not have: any access by others. Group bits stay allowed (a
/// Kubernetes Secret mounted with `fsGroup` is 0440; systemd credentials are 0400).
const OTHERS_BITS: u32 = 0o007;

/// The directory of token files when `auth.token_dir` is empty (the Kubernetes manifests set it
/// to the mount point of the Secret `cache-auth`, since their node configs are the seed's).
pub const ENV_TOKEN_DIR: &str = "CACHE_TOKEN_DIR";

/// `auth.token_dir`, else [`ENV_TOKEN_DIR`], else empty (none).
pub(super) fn token_dir(config: &AuthConfig, env: &dyn Fn(&str) -> Option<String>) -> String {
    if config.token_dir.is_empty() {
        env(ENV_TOKEN_DIR).map_or_else(String::new, |d| d.trim().to_owned())
    } else {
        config.token_dir.clone()
    }
}

/// The process environment, empty values read as unset (the loader takes the lookup as a
/// parameter so the tests need not touch the real environment).
pub(super) fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Every class's tokens from `config`, falling back to `env` for a key left empty.
pub(super) fn secrets(
    config: &AuthConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Secrets, AuthError> {
    let dir = token_dir(config, env);
    let set = |k: Kind| token_set(k, configured_path(config, k), &dir, env);
    let mut s = Secrets {
        admin: set(Kind::Admin)?,
        client: set(Kind::Client)?,
        client_read: set(Kind::ClientRead)?,
        metrics: set(Kind::Metrics)?,
        cluster: set(Kind::Cluster)?,
        cluster_header: Box::default(),
    };
    if let Some(first) = s.cluster.first() {
        s.cluster_header = [&b"Bearer "[..], first].concat().into_boxed_slice();
    }
    Ok(s)
}

/// The `*_file` key of class `k`.
pub(super) fn configured_path(config: &AuthConfig, k: Kind) -> &str {
    match k {
        Kind::Admin => &config.admin_token_file,
        Kind::Client => &config.client_token_file,
        Kind::ClientRead => &config.client_read_token_file,
        Kind::Metrics => &config.metrics_token_file,
        Kind::Cluster => &config.cluster_secret_file,
    }
}

/// Where the tokens of one class come from, in the order [`token_set`] looks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Source {
    /// The class's `*_file` key, or the file its `<ENV>_FILE` variable names: must exist.
    File { path: String, origin: String },
    /// The class's environment variable (read once: the environment does not change).
    Env,
    /// `auth.token_dir/<file_name>`: used when it exists, else the class is open.
    Dir(String),
    /// Nothing configured: open.
    None,
}

/// Where class `k`'s tokens come from: `path` when set, else the file its `<ENV>_FILE` variable
/// names (the Docker secrets convention; the systemd drop-in uses it with credentials), else its
/// environment variable, else its file in `token_dir` (a Kubernetes Secret volume), else none.
pub(super) fn source(
    k: Kind,
    path: &str,
    token_dir: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Source {
    if !path.is_empty() {
        let (path, origin) = (path.to_owned(), k.key().to_owned());
        return Source::File { path, origin };
    }
    let file_var = format!("{}_FILE", k.env());
    if let Some(p) = env(&file_var) {
        let origin = format!(
            "{} is empty and environment variable {file_var} names a file",
            k.key()
        );
        let path = p.trim().to_owned();
        return Source::File { path, origin };
    }
    if env(k.env()).is_some() {
        return Source::Env;
    }
    if !token_dir.is_empty() {
        let dir = token_dir.trim_end_matches('/');
        return Source::Dir(format!("{dir}/{}", k.file_name()));
    }
    Source::None
}

/// The tokens of class `k` from its [`source`]. Files are re-read on every reload; variables
/// are not (the process environment does not change).
fn token_set(
    k: Kind,
    path: &str,
    token_dir: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<TokenSet, AuthError> {
    let value = match source(k, path, token_dir, env) {
        Source::File { path, origin } => return from_file(&path, &origin),
        Source::Dir(path) => {
            // Follows symlinks, as the read does (kubelet's `..data` swap).
            if !std::path::Path::new(&path).exists() {
                return Ok(TokenSet::default());
            }
            let origin = format!(
                "auth.token_dir or ${ENV_TOKEN_DIR} (file {})",
                k.file_name()
            );
            return from_file(&path, &origin);
        }
        Source::None => None,
        Source::Env => env(k.env()),
    };
    match value {
        None => Ok(TokenSet::default()),
        Some(v) => {
            let tokens = parse_env(&v).map_err(|e| {
                AuthError(format!(
                    "{} is empty and environment variable {} is set: {e} (one token, or two separated by a comma during a rotation)",
                    k.key(),
                    k.env()
                ))
            })?;
            Ok(TokenSet {
                tokens,
                source: format!("env {}", k.env()),
            })
        }
    }
}

/// The tokens of class `k` from the file at `path`; `origin` says where the path came from.
fn from_file(path: &str, origin: &str) -> Result<TokenSet, AuthError> {
    let text = read_file(path).map_err(|e| AuthError(format!("{origin}: {path}: {e}")))?;
    let tokens = parse_file(&text).map_err(|e| {
        AuthError(format!(
            "{origin}: {path}: {e} (one token a line, 2 during a rotation; `#` comments and blank lines are skipped)"
        ))
    })?;
    Ok(TokenSet {
        tokens,
        source: format!("file {path}"),
    })
}

/// The file's bytes, refused when others may read or write it, or when it is not a small
/// regular file. The mode is checked on the opened handle, so it is the file that is read.
fn read_file(path: &str) -> Result<Vec<u8>, String> {
    let f = std::fs::File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let meta = f.metadata().map_err(|e| format!("cannot stat: {e}"))?;
    if !meta.is_file() {
        return Err("not a regular file".to_owned());
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & OTHERS_BITS != 0 {
        return Err(format!(
            "other users may access it (mode {mode:04o}); run `chmod 600 {path}` (0640 with a group is fine; in Kubernetes set defaultMode: 0440 on the Secret volume)"
        ));
    }
    if meta.size() > MAX_FILE_BYTES {
        return Err(format!(
            "{} bytes: a token file is at most {MAX_FILE_BYTES} bytes",
            meta.size()
        ));
    }
    let mut text = Vec::with_capacity(meta.size() as usize);
    f.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut text)
        .map_err(|e| format!("cannot read: {e}"))?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(format!("a token file is at most {MAX_FILE_BYTES} bytes"));
    }
    Ok(text)
}

/// Tokens of a file: one a line (surrounding whitespace and a CR trimmed), comment lines
/// starting with `#` and blank lines skipped; 1 or 2 of them.
pub(super) fn parse_file(text: &[u8]) -> Result<Vec<Box<[u8]>>, String> {
    let mut tokens = Vec::new();
    for (n, line) in text.split(|&b| b == b'\n').enumerate() {
        let line = line.trim_ascii();
        if line.is_empty() || line.starts_with(b"#") {
            continue;
        }
        check_token(line).map_err(|e| format!("line {}: {e}", n + 1))?;
        tokens.push(Box::from(line));
    }
    count_ok(tokens)
}

/// Tokens of an environment variable: one, or two separated by a comma.
pub(super) fn parse_env(value: &str) -> Result<Vec<Box<[u8]>>, String> {
    let mut tokens = Vec::new();
    for (n, part) in value.split(',').enumerate() {
        let t = part.trim().as_bytes();
        check_token(t).map_err(|e| format!("token {}: {e}", n + 1))?;
        tokens.push(Box::from(t));
    }
    count_ok(tokens)
}

fn count_ok(tokens: Vec<Box<[u8]>>) -> Result<Vec<Box<[u8]>>, String> {
    match tokens.len() {
        0 => Err("no token found".to_owned()),
        n if n > MAX_TOKENS => Err(format!(
            "{n} tokens; at most {MAX_TOKENS} (the current one and, during a rotation, the other)"
        )),
        _ => Ok(tokens),
    }
}

/// Visible ASCII only (what a header value carries without escaping), of a sane length. The
/// message describes the token without quoting it.
pub(super) fn check_token(t: &[u8]) -> Result<(), String> {
    if let Some(at) = t.iter().position(|b| !(0x21..=0x7e).contains(b)) {
        return Err(format!(
            "byte 0x{:02x} at position {} is not visible ASCII (tokens are 0x21..=0x7e: no spaces, control or non-ASCII characters)",
            t[at],
            at + 1
        ));
    }
    if !(MIN_TOKEN_BYTES..=MAX_TOKEN_BYTES).contains(&t.len()) {
        return Err(format!(
            "{} characters; a token has {MIN_TOKEN_BYTES}..={MAX_TOKEN_BYTES} (make one with `openssl rand -hex 32`)",
            t.len()
        ));
    }
    Ok(())
}

/// Refuse a reload in which a class whose tokens came from a file in `auth.token_dir` lost
/// that file (a key removed from the Kubernetes Secret, or the Secret deleted): the class would
/// silently become open. The previous tokens stay in force; a restart leaves the class open.
pub(super) fn keep_vanished(
    config: &AuthConfig,
    old: &Secrets,
    new: &Secrets,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), AuthError> {
    for k in Kind::ALL {
        if old.set(k).is_open() || !new.set(k).is_open() {
            continue;
        }
        let dir = token_dir(config, env);
        if let Source::Dir(path) = source(k, configured_path(config, k), &dir, env) {
            return Err(AuthError(format!(
                "auth.token_dir: {path} is gone (removed from the Secret?), and the {} would be open without it: restart the node to open that class",
                k.what()
            )));
        }
    }
    Ok(())
}

/// One line for the start-up log: which classes are protected and where their tokens come
/// from (never the values).
pub fn summary(s: &Secrets) -> String {
    let parts: Vec<String> = Kind::ALL
        .iter()
        .map(|&k| {
            let set = s.set(k);
            match set.len() {
                0 => format!("{} none", k.what()),
                1 => format!("{} from {}", k.what(), set.source()),
                n => format!("{} from {} ({n} tokens: rotation)", k.what(), set.source()),
            }
        })
        .collect();
    parts.join(", ")
}

/// What a reload changed, class by class (never the values); empty when nothing did.
pub fn changes(old: &Secrets, new: &Secrets) -> Vec<String> {
    let mut out = Vec::new();
    for k in Kind::ALL {
        let (a, b) = (old.set(k), new.set(k));
        let what = k.what();
        let line = match (a.len(), b.len()) {
            _ if a.tokens == b.tokens && a.source == b.source => continue,
            (0, n) => format!("{what} added ({n} from {})", b.source()),
            (_, 0) => format!("{what} removed: that class is open now"),
            (_, n) => {
                let kept = b.tokens.iter().filter(|t| a.tokens.contains(t)).count();
                format!(
                    "{what} changed: {n} valid now ({kept} kept, {} new) from {}",
                    n - kept,
                    b.source()
                )
            }
        };
        out.push(line);
    }
    out
}

/// Refuse a cluster whose clients need tokens while its nodes have no secret to reach each
/// other with (`members` = entries of `cluster_nodes`; `peer_certs` = peers authenticate by
/// TLS client certificate instead).
pub fn cluster_guard(s: &Secrets, members: usize, peer_certs: bool) -> Result<(), AuthError> {
    let tokens = [Kind::Admin, Kind::Client, Kind::ClientRead, Kind::Metrics]
        .into_iter()
        .filter(|k| !s.set(*k).is_open())
        .map(Kind::key)
        .collect::<Vec<_>>();
    if members < 2 || tokens.is_empty() || !s.cluster.is_open() || peer_certs {
        return Ok(());
    }
    Err(AuthError(format!(
        "{} set on a cluster of {members} nodes, but auth.cluster_secret_file is empty (and {} is unset): the nodes could not authenticate to each other (forwards, replica copies, probes would be refused). Give every node the same cluster secret",
        tokens.join(", "),
        Kind::Cluster.env()
    )))
}
