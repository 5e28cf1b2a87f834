//! Loading (files, modes, lengths, comments, rotation, env fallback), bearer parsing,
//! constant-time comparison, and the per-core copy after a reload.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::load::{parse_env, parse_file, secrets};
use super::*;

const A: &str = "admin-token-0123456789";
const C: &str = "client-token-0123456789";
const R: &str = "read-token-0123456789ab";
const M: &str = "metrics-token-012345678";
const S: &str = "cluster-secret-01234567";

/// A fresh directory of this test process (removed by the test that made it).
fn temp_dir() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!(
        "dcache-auth-unit-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn write(dir: &std::path::Path, name: &str, text: &str, mode: u32) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write token file");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
    p.to_str().expect("utf-8").to_owned()
}

fn no_env(_: &str) -> Option<String> {
    None
}

#[test]
fn files_load_with_comments_blank_lines_and_two_tokens() {
    let d = temp_dir();
    let cfg = AuthConfig {
        admin_token_file: write(&d, "a", &format!("# admin\n\n  {A}  \r\n"), 0o600),
        client_token_file: write(&d, "c", &format!("{C}\n# next one\n{R}x\n"), 0o640),
        cluster_secret_file: write(&d, "s", &format!("{S}\n"), 0o400),
        ..AuthConfig::default()
    };
    let s = secrets(&cfg, &no_env).expect("loads");
    assert_eq!(s.admin.len(), 1);
    assert!(s.admin.accepts(A.as_bytes()));
    assert_eq!(s.client.len(), 2, "rotation: both lines are valid");
    assert!(s.client.accepts(C.as_bytes()) && s.client.accepts(format!("{R}x").as_bytes()));
    assert_eq!(
        s.client.first(),
        Some(C.as_bytes()),
        "the first line is sent"
    );
    assert!(s.client_read.is_open() && s.metrics.is_open());
    assert_eq!(
        s.cluster_authorization(),
        Some(format!("Bearer {S}").as_bytes())
    );
    assert_eq!(
        s.configured(),
        Kinds::of(&[Kind::Admin, Kind::Client, Kind::Cluster])
    );
    // Debug never shows a value.
    let dbg = format!("{s:?}");
    for t in [A, C, S] {
        assert!(!dbg.contains(t), "{dbg}");
    }
    std::fs::remove_dir_all(d).ok();
}

#[test]
fn files_others_may_read_are_refused_with_the_fix() {
    let d = temp_dir();
    for mode in [0o604, 0o602, 0o601, 0o644, 0o666] {
        let path = write(&d, "a", A, mode);
        let cfg = AuthConfig {
            admin_token_file: path.clone(),
            ..AuthConfig::default()
        };
        let e = secrets(&cfg, &no_env).expect_err("too open").to_string();
        assert!(e.contains("auth.admin_token_file"), "{e}");
        assert!(e.contains(&path), "{e}");
        assert!(e.contains(&format!("chmod 600 {path}")), "{e}");
        assert!(!e.contains(A), "the token leaked into {e}");
    }
    std::fs::remove_dir_all(d).ok();
}

#[test]
fn bad_files_name_key_file_and_line_never_the_token() {
    let d = temp_dir();
    let short = "short-token";
    let cases = [
        (format!("{short}\n"), "11 characters"),
        ("\n# only comments\n".to_owned(), "no token"),
        (format!("{A}\n{C}\n{R}\n"), "3 tokens"),
        (format!("{A}\nbad token with spaces\n"), "line 2"),
        (
            format!("{}\n", "x".repeat(MAX_TOKEN_BYTES + 1)),
            "4097 characters",
        ),
        (
            "tok\u{e9}n-0123456789abcdef\n".to_owned(),
            "not visible ASCII",
        ),
    ];
    for (text, want) in cases {
        let path = write(&d, "m", &text, 0o600);
        let cfg = AuthConfig {
            metrics_token_file: path.clone(),
            ..AuthConfig::default()
        };
        let e = secrets(&cfg, &no_env).expect_err(want).to_string();
        assert!(
            e.contains("auth.metrics_token_file") && e.contains(&path),
            "{e}"
        );
        assert!(e.contains(want), "want {want:?} in {e}");
        assert!(!e.contains(short) && !e.contains(A), "token in {e}");
    }
    let missing = AuthConfig {
        admin_token_file: d.join("nope").to_str().unwrap().to_owned(),
        ..AuthConfig::default()
    };
    let e = secrets(&missing, &no_env).expect_err("missing").to_string();
    assert!(e.contains("cannot open") && e.contains("nope"), "{e}");
    let dir = AuthConfig {
        admin_token_file: d.to_str().unwrap().to_owned(),
        ..AuthConfig::default()
    };
    assert!(
        secrets(&dir, &no_env).is_err(),
        "a directory is not a token file"
    );
    std::fs::remove_dir_all(d).ok();
}

#[test]
fn token_lengths_at_the_bounds() {
    assert!(parse_file("a".repeat(MIN_TOKEN_BYTES).as_bytes()).is_ok());
    assert!(parse_file("a".repeat(MIN_TOKEN_BYTES - 1).as_bytes()).is_err());
    assert!(parse_file("a".repeat(MAX_TOKEN_BYTES).as_bytes()).is_ok());
    assert!(parse_file("!~".repeat(MIN_TOKEN_BYTES).as_bytes()).is_ok());
    assert!(parse_file(b"0123456789abcdef\x7f").is_err());
}

#[test]
fn an_env_file_variable_names_a_token_file_and_wins_over_the_value() {
    let d = temp_dir();
    let path = write(&d, "cred", &format!("{S}\n"), 0o400);
    let env = |name: &str| match name {
        "CACHE_CLUSTER_SECRET_FILE" => Some(path.clone()),
        "CACHE_CLUSTER_SECRET" => Some(A.to_owned()),
        _ => None,
    };
    let s = secrets(&AuthConfig::default(), &env).expect("loads");
    assert!(s.cluster.accepts(S.as_bytes()) && !s.cluster.accepts(A.as_bytes()));
    assert_eq!(s.cluster.source(), format!("file {path}"));
    // A missing file is an error naming the variable, not a silently open class.
    let gone = |name: &str| {
        (name == "CACHE_ADMIN_TOKEN_FILE").then(|| d.join("absent").display().to_string())
    };
    let e = secrets(&AuthConfig::default(), &gone)
        .expect_err("missing")
        .to_string();
    assert!(
        e.contains("CACHE_ADMIN_TOKEN_FILE") && e.contains("absent"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn empty_keys_fall_back_to_the_environment() {
    let env = |name: &str| match name {
        "CACHE_ADMIN_TOKEN" => Some(A.to_owned()),
        "CACHE_CLIENT_TOKEN" => Some(format!(" {C} , {R} ")),
        _ => None,
    };
    let s = secrets(&AuthConfig::default(), &env).expect("loads");
    assert!(s.admin.accepts(A.as_bytes()));
    assert_eq!(s.admin.source(), "env CACHE_ADMIN_TOKEN");
    assert_eq!(s.client.len(), 2);
    assert!(s.client.accepts(R.as_bytes()));
    assert!(s.metrics.is_open());
    // A file wins over the variable.
    let d = temp_dir();
    let cfg = AuthConfig {
        admin_token_file: write(&d, "a", M, 0o600),
        ..AuthConfig::default()
    };
    let s = secrets(&cfg, &env).expect("loads");
    assert!(s.admin.accepts(M.as_bytes()) && !s.admin.accepts(A.as_bytes()));
    // A bad variable names the key and the variable.
    let bad = |name: &str| (name == "CACHE_CLUSTER_SECRET").then(|| "tiny".to_owned());
    let e = secrets(&AuthConfig::default(), &bad)
        .expect_err("short")
        .to_string();
    assert!(
        e.contains("auth.cluster_secret_file") && e.contains("CACHE_CLUSTER_SECRET"),
        "{e}"
    );
    assert!(!e.contains("tiny"), "{e}");
    assert!(parse_env(&format!("{A},{C},{R}")).is_err());
    assert!(parse_env(&format!("{A},")).is_err());
    std::fs::remove_dir_all(d).ok();
}

#[test]
fn bearer_credentials() {
    assert_eq!(bearer(b"Bearer abc"), Some(&b"abc"[..]));
    assert_eq!(bearer(b"bearer   abc  "), Some(&b"abc"[..]));
    assert_eq!(bearer(b"BEARER abc"), Some(&b"abc"[..]));
    assert_eq!(bearer(b"Bearer "), None);
    assert_eq!(bearer(b"Bearer"), None);
    assert_eq!(bearer(b"Basic dXNlcjpwYXNz"), None);
    assert_eq!(bearer(b"Bearerabc"), None);
    assert_eq!(bearer(b""), None);
}

#[test]
fn constant_time_equality() {
    assert!(ct_eq(b"abcdef", b"abcdef"));
    assert!(!ct_eq(b"abcdef", b"abcdeg"));
    assert!(!ct_eq(b"abcdef", b"xbcdef"));
    assert!(!ct_eq(b"abcdef", b"abcde"));
    assert!(ct_eq(b"", b""));
}

/// Secrets with every class configured (one token each).
fn all_secrets() -> Secrets {
    let env = |name: &str| {
        Some(
            match name {
                "CACHE_ADMIN_TOKEN" => A,
                "CACHE_CLIENT_TOKEN" => C,
                "CACHE_CLIENT_READ_TOKEN" => R,
                "CACHE_METRICS_TOKEN" => M,
                "CACHE_CLUSTER_SECRET" => S,
                _ => return None,
            }
            .to_owned(),
        )
    };
    secrets(&AuthConfig::default(), &env).expect("loads")
}

#[test]
fn a_core_sees_a_reload_and_keeps_the_old_secrets_on_error() {
    let d = temp_dir();
    let path = write(&d, "a", A, 0o600);
    let cfg = AuthConfig {
        admin_token_file: path.clone(),
        ..AuthConfig::default()
    };
    let ring = Keyring::load(&cfg).expect("loads");
    let local = LocalKeyring::new(Arc::clone(&ring));
    let before = local.current();
    assert!(before.admin.accepts(A.as_bytes()));
    // Rotation: the new token first, the old one kept.
    write(&d, "a", &format!("{C}\n{A}\n"), 0o600);
    ring.reload().expect("reloads");
    assert_eq!(ring.generation(), 1);
    let after = local.current();
    assert!(after.admin.accepts(C.as_bytes()) && after.admin.accepts(A.as_bytes()));
    // The check's summary follows the copy: the admin class protected, no cluster secret.
    let shape = local.shape();
    assert_eq!(shape.configured, after.configured());
    assert!(shape.configured.has(Kind::Admin) && shape.cluster_open);
    assert!(
        !before.admin.accepts(C.as_bytes()),
        "a request in flight keeps its copy"
    );
    let said = changes(&before, &after);
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(
        said[0].contains("admin token changed: 2 valid now (1 kept, 1 new)"),
        "{said:?}"
    );
    // A broken file: the reload fails and the previous secrets stay.
    write(&d, "a", "", 0o644);
    assert!(ring.reload().is_err());
    assert_eq!(ring.generation(), 1);
    assert!(local.current().admin.accepts(C.as_bytes()));
    assert!(changes(&after, &local.current()).is_empty());
    std::fs::remove_dir_all(d).ok();
}

#[test]
fn a_cluster_with_tokens_needs_a_secret() {
    let env_admin = |n: &str| (n == "CACHE_ADMIN_TOKEN").then(|| A.to_owned());
    let s = secrets(&AuthConfig::default(), &env_admin).expect("loads");
    let e = cluster_guard(&s, 3, false)
        .expect_err("refused")
        .to_string();
    assert!(
        e.contains("auth.admin_token_file") && e.contains("auth.cluster_secret_file"),
        "{e}"
    );
    assert!(cluster_guard(&s, 1, false).is_ok(), "standalone");
    assert!(cluster_guard(&s, 3, true).is_ok(), "peer certificates");
    assert!(
        cluster_guard(&Secrets::default(), 3, false).is_ok(),
        "all open"
    );
    assert!(cluster_guard(&all_secrets(), 3, false).is_ok());
    assert!(summary(&all_secrets()).contains("admin token from env CACHE_ADMIN_TOKEN"));
    assert!(!summary(&all_secrets()).contains(A));
}

/// The protocol layer's bound on an Authorization value fits the longest token we load.
#[test]
fn the_header_bound_fits_the_longest_token() {
    let longest = "Bearer ".len() + MAX_TOKEN_BYTES;
    const _: () = assert!(crate::http::MAX_AUTHORIZATION_BYTES >= 7 + MAX_TOKEN_BYTES);
    assert!(longest <= crate::http::MAX_AUTHORIZATION_BYTES);
}
