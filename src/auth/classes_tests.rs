//! The class table: every class of request with every kind of credential, open classes, and
//! what a refusal says.

use super::*;
use crate::auth::Secrets;

const A: &str = "admin-token-0123456789";
const C: &str = "client-token-0123456789";
const R: &str = "read-token-0123456789ab";
const M: &str = "metrics-token-012345678";
const S: &str = "cluster-secret-01234567";

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
    Secrets::from_env(&env).expect("loads")
}

#[test]
fn credentials_name_their_class() {
    let s = all_secrets();
    let h = |t: &str| format!("Bearer {t}");
    let cred = |v: &str| s.credential(Some(v.as_bytes()));
    assert_eq!(s.credential(None), Credential::None);
    assert_eq!(cred("Basic abc"), Credential::Malformed);
    assert_eq!(
        cred(&h("nope-nope-nope-nope")),
        Credential::Token(Kinds::NONE)
    );
    assert_eq!(cred(&h(A)), Credential::Token(Kinds::of(&[Kind::Admin])));
    assert_eq!(
        cred(&h(R)),
        Credential::Token(Kinds::of(&[Kind::ClientRead]))
    );
    assert!(cred(&h(S)).is_cluster());
    assert!(s.is_cluster(Some(h(S).as_bytes())));
    assert!(!s.is_cluster(Some(h(A).as_bytes())));
    assert!(!Secrets::default().is_cluster(Some(h(S).as_bytes())));
}

/// What each presented credential is, for the table below.
#[derive(Clone, Copy, Debug)]
enum Presented {
    Nothing,
    Wrong,
    Client,
    ReadOnly,
    Metrics,
    Admin,
    Cluster,
}

fn cred_of(p: Presented) -> (Credential, bool) {
    let t = |k: &[Kind]| Credential::Token(Kinds::of(k));
    match p {
        Presented::Nothing => (Credential::None, false),
        Presented::Wrong => (t(&[]), false),
        Presented::Client => (t(&[Kind::Client]), false),
        Presented::ReadOnly => (t(&[Kind::ClientRead]), false),
        Presented::Metrics => (t(&[Kind::Metrics]), false),
        Presented::Admin => (t(&[Kind::Admin]), false),
        Presented::Cluster => (t(&[Kind::Cluster]), true),
    }
}

/// Every class × every credential, with every token class configured: 200 = granted.
#[test]
fn class_table_with_every_token_configured() {
    use Presented::*;
    let all = Kinds::of(&Kind::ALL);
    #[rustfmt::skip]
    let table: [(Need, [u16; 7]); 6] = [
        //                Nothing Wrong Client Read Metrics Admin Cluster
        (Need::Open,       [200, 200, 200, 200, 200, 200, 200]),
        (Need::CacheRead,  [401, 401, 200, 200, 403, 200, 200]),
        (Need::CacheWrite, [401, 401, 200, 403, 403, 200, 200]),
        (Need::Metrics,    [401, 401, 403, 403, 200, 200, 200]),
        (Need::Admin,      [401, 401, 403, 403, 403, 200, 200]),
        (Need::Internal,   [401, 401, 403, 403, 403, 403, 200]),
    ];
    let presented = [Nothing, Wrong, Client, ReadOnly, Metrics, Admin, Cluster];
    for (need, want) in table {
        for (p, want) in presented.iter().zip(want) {
            let (cred, peer) = cred_of(*p);
            let got = match decide(need, all, cred, peer) {
                Access::Granted => 200,
                Access::Refused(r) => r.status(),
            };
            assert_eq!(got, want, "{need:?} with {p:?}");
        }
    }
}

/// Classes without tokens are open; `/internal` falls back to the admin token.
#[test]
fn unconfigured_classes_are_open() {
    let none = Kinds::NONE;
    for need in [
        Need::CacheRead,
        Need::CacheWrite,
        Need::Metrics,
        Need::Admin,
        Need::Internal,
    ] {
        assert_eq!(
            decide(need, none, Credential::None, false),
            Access::Granted,
            "{need:?}"
        );
    }
    let admin_only = Kinds::of(&[Kind::Admin]);
    let granted = |need, cred| decide(need, admin_only, cred, false) == Access::Granted;
    let admin = Credential::Token(Kinds::of(&[Kind::Admin]));
    assert!(
        granted(Need::CacheWrite, Credential::None),
        "cache open without client tokens"
    );
    assert!(
        granted(Need::Metrics, Credential::None),
        "metrics open without a metrics token"
    );
    assert!(!granted(Need::Admin, Credential::None));
    assert!(
        !granted(Need::Internal, Credential::None),
        "standalone: admin token guards /internal"
    );
    assert!(granted(Need::Internal, admin));
    // A read-only token alone protects writes too (they then need the admin token).
    let read_only = Kinds::of(&[Kind::ClientRead, Kind::Admin]);
    let r = decide(Need::CacheWrite, read_only, Credential::None, false);
    assert!(matches!(r, Access::Refused(f) if f.needed == Needed::ClientWrite));
    // A verified peer (certificate) passes everywhere, with or without a token.
    let all = Kinds::of(&Kind::ALL);
    assert_eq!(
        decide(Need::Internal, all, Credential::None, true),
        Access::Granted
    );
}

#[test]
fn refusals_say_what_is_needed() {
    let all = Kinds::of(&Kind::ALL);
    let refusal = |need, cred| match decide(need, all, cred, false) {
        Access::Refused(r) => r,
        Access::Granted => panic!("granted"),
    };
    let r = refusal(Need::Admin, Credential::None);
    assert_eq!(
        (r.status(), r.challenge()),
        (401, "Bearer realm=\"cache-node\"")
    );
    assert!(r.message().contains("admin token (auth.admin_token_file)"));
    assert!(r.message().contains("Authorization: Bearer"));
    let r = refusal(Need::Admin, Credential::Token(Kinds::NONE));
    assert!(r.challenge().ends_with("error=\"invalid_token\""));
    let r = refusal(Need::Admin, Credential::Malformed);
    assert!(r.challenge().ends_with("error=\"invalid_request\""));
    let r = refusal(
        Need::CacheWrite,
        Credential::Token(Kinds::of(&[Kind::ClientRead])),
    );
    assert_eq!(r.status(), 403);
    assert!(
        r.message().contains("auth.client_token_file"),
        "{}",
        r.message()
    );
    let r = refusal(Need::Internal, Credential::None);
    assert!(r.message().contains("auth.cluster_secret_file"));
    let standalone = decide(
        Need::Internal,
        Kinds::of(&[Kind::Admin]),
        Credential::None,
        false,
    );
    assert!(matches!(standalone, Access::Refused(r) if r.message().contains("admin token")));
}
