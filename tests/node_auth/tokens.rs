//! Token files for the suite: written into a directory of their own with mode 0600 (the node
//! refuses files others may read), and the `auth:` YAML naming them.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::common::Resp;

pub const ADMIN: &str = "admin-token-5f2c8e1a9b7d4c36";
pub const CLIENT: &str = "client-token-8a1e3f5c7b9d2e40";
pub const READ: &str = "read-token-2b4d6f8a0c1e3a57";
pub const METRICS: &str = "metrics-token-9c7e5a3b1d0f2e86";
pub const SECRET: &str = "cluster-secret-6e4c2a0f8d7b5a93";
pub const WRONG: &str = "wrong-token-0000000000000000";

/// A directory of token files, removed on drop.
pub struct Tokens {
    pub dir: PathBuf,
}

impl Tokens {
    pub fn new(tag: &str) -> Tokens {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "dcache-node-auth-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("token dir");
        Tokens { dir }
    }

    /// Write `text` to file `name` with `mode`; returns its path.
    pub fn write_mode(&self, name: &str, text: &str, mode: u32) -> String {
        let p = self.dir.join(name);
        std::fs::write(&p, text).expect("write token file");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
        p.to_str().expect("utf-8 path").to_owned()
    }

    /// Write `text` to file `name` with mode 0600; returns its path.
    pub fn write(&self, name: &str, text: &str) -> String {
        self.write_mode(name, text, 0o600)
    }

    /// The `auth:` section for `(key, token)` pairs (`admin_token_file`, ...), one file each.
    pub fn yaml(&self, pairs: &[(&str, &str)]) -> String {
        let mut y = String::from("auth:\n");
        for (key, token) in pairs {
            let path = self.write(key, &format!("# {key}\n{token}\n"));
            y.push_str(&format!("  {key}: \"{path}\"\n"));
        }
        y
    }

    /// Every class configured, one token each.
    pub fn all(&self) -> String {
        self.yaml(&[
            ("admin_token_file", ADMIN),
            ("client_token_file", CLIENT),
            ("client_read_token_file", READ),
            ("metrics_token_file", METRICS),
            ("cluster_secret_file", SECRET),
        ])
    }
}

impl Drop for Tokens {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Check a refusal: status, challenge, and a JSON error naming what is needed.
pub fn assert_refused(r: &Resp, status: u16, error: Option<&str>, ctx: &str) {
    assert_eq!(r.status, status, "{ctx}: {}", r.text());
    let challenge = r
        .header("www-authenticate")
        .unwrap_or_else(|| panic!("{ctx}: no WWW-Authenticate"));
    assert!(
        challenge.starts_with("Bearer realm=\"cache-node\""),
        "{ctx}: {challenge}"
    );
    match error {
        Some(e) => assert!(
            challenge.ends_with(&format!("error=\"{e}\"")),
            "{ctx}: {challenge}"
        ),
        None => assert!(!challenge.contains("error="), "{ctx}: {challenge}"),
    }
    if !r.body.is_empty() {
        let body = r.json();
        assert_eq!(body["status"], status, "{ctx}");
        let msg = body["error"].as_str().expect("error text");
        assert!(
            msg.contains("auth."),
            "{ctx}: the message names the config key: {msg}"
        );
    }
}
