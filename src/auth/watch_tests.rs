//! Unit tests of `watch.rs`: change detection with an injected clock and `stat` (no sleeps),
//! and the files a config watches.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use super::*;

fn stamp(ino: u64, size: u64, mtime_ns: i128) -> Stamp {
    Stamp {
        dev: 1,
        ino,
        size,
        mtime_ns,
        ctime_ns: mtime_ns,
    }
}

/// A fake file system: path -> stamp.
struct Files(RefCell<HashMap<String, Stamp>>);

impl Files {
    fn set(&self, path: &str, s: Option<Stamp>) {
        let mut m = self.0.borrow_mut();
        match s {
            Some(s) => m.insert(path.to_owned(), s),
            None => m.remove(path),
        };
    }
    fn stat(&self, p: &Path) -> Option<Stamp> {
        self.0.borrow().get(p.to_str()?).copied()
    }
}

#[test]
fn a_change_is_reported_once_when_the_check_is_due() {
    let files = Files(RefCell::new(HashMap::new()));
    files.set("/s/admin-token", Some(stamp(10, 40, 1)));
    let stat = |p: &Path| files.stat(p);
    let t0 = Instant::now();
    let iv = Duration::from_secs(10);
    let mut w = Watch::new(
        vec!["/s/admin-token".into(), "/s/cluster-secret".into()],
        iv,
        t0,
        &stat,
    );
    // Nothing changed: nothing to do, at any time.
    assert!(w.poll(t0 + iv, &stat).is_empty());
    // kubelet's swap: the path now resolves to a new inode, same size and even the same mtime.
    files.set("/s/admin-token", Some(stamp(11, 40, 1)));
    // Not due yet (the last check was at t0 + iv): not looked at.
    assert!(w.poll(t0 + iv + Duration::from_secs(5), &stat).is_empty());
    assert_eq!(w.poll(t0 + iv * 2, &stat), vec!["/s/admin-token"]);
    // Reported once: the new stamp is remembered.
    assert!(w.poll(t0 + iv * 3, &stat).is_empty());
    // An in-place write: same inode, new size or mtime.
    files.set("/s/admin-token", Some(stamp(11, 80, 1)));
    assert_eq!(w.poll(t0 + iv * 4, &stat), vec!["/s/admin-token"]);
    files.set("/s/admin-token", Some(stamp(11, 80, 2)));
    assert_eq!(w.poll(t0 + iv * 5, &stat), vec!["/s/admin-token"]);
    // A file that appears (a key added to the Secret) and one that disappears.
    files.set("/s/cluster-secret", Some(stamp(20, 40, 3)));
    assert_eq!(w.poll(t0 + iv * 6, &stat), vec!["/s/cluster-secret"]);
    files.set("/s/admin-token", None);
    assert_eq!(w.poll(t0 + iv * 7, &stat), vec!["/s/admin-token"]);
}

#[test]
fn a_late_check_runs_once_and_the_next_is_an_interval_later() {
    let files = Files(RefCell::new(HashMap::new()));
    let stat = |p: &Path| files.stat(p);
    let t0 = Instant::now();
    let iv = Duration::from_secs(10);
    let mut w = Watch::new(vec!["/f".into()], iv, t0, &stat);
    assert_eq!(w.next_due(), t0 + iv);
    files.set("/f", Some(stamp(1, 1, 1)));
    // The thread overslept (a suspended VM): one check, the next a full interval after it.
    let late = t0 + Duration::from_secs(95);
    assert_eq!(w.poll(late, &stat), vec!["/f"]);
    assert_eq!(w.next_due(), late + iv);
}

#[test]
fn the_real_stat_follows_symlinks_like_kubelets_data_swap() {
    let dir = std::env::temp_dir().join(format!("dcache-watch-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("v1")).unwrap();
    std::fs::create_dir_all(dir.join("v2")).unwrap();
    std::fs::write(dir.join("v1/admin-token"), "a".repeat(32)).unwrap();
    std::fs::write(dir.join("v2/admin-token"), "b".repeat(32)).unwrap();
    std::os::unix::fs::symlink("v1", dir.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/admin-token", dir.join("admin-token")).unwrap();
    let path = dir.join("admin-token");
    let before = stat(&path).expect("stat through the links");
    // Swap `..data` atomically (rename over it), as kubelet does.
    std::os::unix::fs::symlink("v2", dir.join("..data_tmp")).unwrap();
    std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
    let after = stat(&path).expect("stat through the links");
    assert_ne!(before.ino, after.ino, "same size, new target: a new inode");
    assert_eq!(before.size, after.size);
    assert!(stat(&dir.join("absent")).is_none());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn watched_files_are_the_ones_read() {
    let env_none = |_: &str| None;
    let mut cfg = AuthConfig {
        admin_token_file: "/etc/a".into(),
        ..AuthConfig::default()
    };
    assert_eq!(watched_paths(&cfg, &env_none), vec!["/etc/a"]);
    // A token directory: every class without a file of its own, present or not.
    cfg.token_dir = "/var/run/secrets/cache-auth/".into();
    let paths = watched_paths(&cfg, &env_none);
    assert_eq!(paths.len(), 5, "{paths:?}");
    assert_eq!(paths[0], "/etc/a");
    assert!(paths.contains(&"/var/run/secrets/cache-auth/cluster-secret".to_string()));
    // A token in the environment is not a file: nothing to watch for that class; a _FILE is.
    let env = |name: &str| match name {
        "CACHE_CLUSTER_SECRET" => Some("x".repeat(32)),
        "CACHE_CLIENT_TOKEN_FILE" => Some("/run/creds/client".to_string()),
        _ => None,
    };
    let paths = watched_paths(&cfg, &env);
    assert!(
        !paths.iter().any(|p| p.ends_with("cluster-secret")),
        "{paths:?}"
    );
    assert!(
        paths.contains(&"/run/creds/client".to_string()),
        "{paths:?}"
    );
}

#[test]
fn reload_interval_defaults_and_bounds() {
    assert_eq!(
        AuthConfig::default().reload_interval,
        Duration::from_secs(10)
    );
    for (text, ok) in [("0s", true), ("10s", true), ("1m", true), ("500ms", false)] {
        let yaml =
            format!("node_id: n\naddress: \"127.0.0.1:0\"\ncache_size: 10\nauth:\n  reload_interval: \"{text}\"\n");
        let got = crate::config::Config::from_yaml_str(&yaml, "<test>");
        assert_eq!(
            got.is_ok(),
            ok,
            "{text}: {:?}",
            got.err().map(|e| e.to_string())
        );
    }
}

#[test]
fn token_dir_files_are_optional_and_a_removed_one_keeps_its_tokens() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("dcache-tokdir-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, token: &str| {
        let p = dir.join(name);
        std::fs::write(&p, format!("{token}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o440)).unwrap();
    };
    let admin = "admin-token-from-the-secret-0001";
    write("admin-token", admin);
    let cfg = AuthConfig {
        token_dir: dir.to_string_lossy().into_owned(),
        ..AuthConfig::default()
    };
    let ring = Keyring::load(&cfg).expect("loads");
    let s = ring.current();
    assert!(s.admin.accepts(admin.as_bytes()));
    assert!(s.cluster.is_open(), "no cluster-secret file: open");
    // A key added to the Secret later.
    write("cluster-secret", "cluster-secret-from-the-secret-01");
    ring.reload().expect("reload");
    assert!(!ring.current().cluster.is_open());
    // A key removed: refused, the tokens in force stay.
    std::fs::remove_file(dir.join("admin-token")).unwrap();
    let e = ring.reload().expect_err("admin would open").to_string();
    assert!(e.contains("admin-token") && e.contains("restart"), "{e}");
    assert!(ring.current().admin.accepts(admin.as_bytes()));
    let _ = std::fs::remove_dir_all(&dir);
}
