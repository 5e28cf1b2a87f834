//! The access check of one core: which class a request is ([`need`]), whether its credential
//! may use it, whether it comes from a peer (so its forwarding markers count), and the 401/403
//! answers.
//!
//! The secrets come from the core's [`LocalKeyring`] (one relaxed load per request; a copy is
//! made only after a SIGHUP reload) and tokens are compared in place: no allocation, no lock.
//! With no token configured at all the check is a few branches and the node behaves as before
//! authentication existed (a forwarding marker then still marks a peer, for compatibility).

use std::rc::Rc;

use super::respond::Meta;
use super::router::Route;
use crate::auth::{decide, Access, Credential, LocalKeyring, Need, Refusal};
use crate::http::Method;
use crate::metrics::Trust;

/// The class of a request (see the table in `crate::auth`). Unknown routes are open here: they
/// are answered 404 before anything asks for a token.
pub(super) fn need(route: Route, method: Method) -> Need {
    match (route, method) {
        (_, Method::Options) | (Route::Index | Route::Health | Route::Unknown, _) => Need::Open,
        (Route::Cache, Method::Get | Method::Head) => Need::CacheRead,
        (Route::Cache | Route::Incr | Route::Batch, _) => Need::CacheWrite,
        (Route::Flush, _) => Need::Admin,
        (Route::Metrics, _) => Need::Metrics,
        (
            Route::Cluster | Route::Export | Route::Import | Route::HotKeys | Route::ClusterNodes,
            _,
        ) => Need::Admin,
        (
            Route::InternalHealth
            | Route::SyncHints
            | Route::SyncDigest
            | Route::SyncFetch
            | Route::Leave
            | Route::SyncRequest
            | Route::Ready
            | Route::Invalidate
            | Route::Membership
            | Route::Propose,
            _,
        ) => Need::Internal,
    }
}

/// What the check decided about one request, carried in `Req` (Copy, no allocation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Checked {
    /// Refused: answer this instead of running the request.
    pub refused: Option<Refusal>,
    /// The request carried `X-Cache-Forwarded` / `X-Cache-Version` without being a peer: the
    /// markers were dropped (it is served as a client request) and this is counted.
    pub markers_ignored: bool,
}

impl Checked {
    /// A request that was admitted (or needs no check: a retry this node makes itself).
    pub(crate) const PASSED: Checked = Checked {
        refused: None,
        markers_ignored: false,
    };
}

/// One request's verdict: the check, and whether it comes from another node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Verdict {
    pub peer: bool,
    pub checked: Checked,
}

/// One core's access check.
pub(crate) struct Authz {
    keys: Rc<LocalKeyring>,
    /// Peers authenticate by TLS client certificate (`tls.peer_client_certs`): forwarding
    /// markers then count only on such connections even without a cluster secret.
    peer_certs: bool,
}

impl Authz {
    pub(crate) fn new(keys: Rc<LocalKeyring>, peer_certs: bool) -> Authz {
        Authz { keys, peer_certs }
    }

    /// The core's copy of the secrets (shared with its peer client and exporter).
    pub(crate) fn keys(&self) -> &Rc<LocalKeyring> {
        &self.keys
    }

    /// Check one request of class `need`: its `Authorization` value, whether it carried a
    /// forwarding marker (`X-Cache-Forwarded`/`X-Cache-Version`), and `tls_peer` (a verified
    /// peer certificate). Pure apart from reading the secrets; counting is left to the caller,
    /// which may build a request's view twice.
    #[inline]
    pub(crate) fn check(
        &self,
        need: Need,
        authorization: Option<&[u8]>,
        forwarded: bool,
        markers: bool,
        tls_peer: bool,
    ) -> Verdict {
        let shape = self.keys.shape();
        if shape.configured.is_empty() {
            // Nothing configured (the seed's deployment): every class is open and no
            // credential is read, so the verdict is only who is a peer. What the general path
            // below decides for this shape, without its work on every request
            // (`an_open_node_decides_as_the_general_path` holds the two together).
            let peer = tls_peer || (forwarded && !self.peer_certs);
            return Verdict {
                peer,
                checked: Checked {
                    refused: None,
                    markers_ignored: markers && !peer,
                },
            };
        }
        self.check_configured(shape, need, authorization, forwarded, markers, tls_peer)
    }

    /// [`Self::check`] when some secret is configured (`shape`).
    fn check_configured(
        &self,
        shape: crate::auth::Shape,
        need: Need,
        authorization: Option<&[u8]>,
        forwarded: bool,
        markers: bool,
        tls_peer: bool,
    ) -> Verdict {
        let configured = shape.configured;
        let cred = if configured.is_empty() {
            Credential::None // nothing to compare with: every class is open
        } else {
            self.keys.current().credential(authorization)
        };
        let authenticated = tls_peer || cred.is_cluster();
        // Without any way for peers to authenticate, a marker is what marks a peer, as before
        // authentication existed; it grants no access though (`decide` sees `authenticated`).
        let peer = if shape.cluster_open && !self.peer_certs {
            authenticated || forwarded
        } else {
            authenticated
        };
        let refused = match decide(need, configured, cred, authenticated) {
            Access::Granted => None,
            Access::Refused(r) => Some(r),
        };
        Verdict {
            peer,
            checked: Checked {
                refused,
                markers_ignored: markers && !peer,
            },
        }
    }
}

/// Answer a refused request: 401 or 403 with the challenge and a message naming the token the
/// route needs; counted in the trust metrics.
pub(super) fn refuse(c: &super::core::Core, out: &mut Vec<u8>, m: Meta, r: Refusal) {
    let status = r.status();
    c.resp.metrics.trust.inc(if status == 401 {
        Trust::Unauthorized
    } else {
        Trust::Forbidden
    });
    let challenge: &[(&str, &[u8])] = &[("WWW-Authenticate", r.challenge().as_bytes())];
    c.resp.error(out, m, status, r.message(), None, challenge);
}

/// The access check on fixed secrets, for the fuzz target (`crate::fuzz_api`).
pub(crate) mod fuzz {
    use super::*;

    pub(crate) const TOKENS: [(&str, &str); 5] = [
        ("CACHE_ADMIN_TOKEN", "fuzz-admin-token-0123456789"),
        ("CACHE_CLIENT_TOKEN", "fuzz-client-token-0123456789"),
        ("CACHE_CLIENT_READ_TOKEN", "fuzz-read-token-0123456789"),
        ("CACHE_METRICS_TOKEN", "fuzz-metrics-token-0123456789"),
        ("CACHE_CLUSTER_SECRET", "fuzz-cluster-secret-0123456789"),
    ];

    thread_local! {
        static AUTHZ: Authz = {
            let lookup = |name: &str| {
                TOKENS.iter().find(|(n, _)| *n == name).map(|(_, t)| t.to_string())
            };
            let secrets = crate::auth::Secrets::from_env(&lookup).expect("valid fuzz tokens");
            Authz::new(LocalKeyring::new(crate::auth::Keyring::fixed(secrets)), false)
        };
    }

    /// (status, peer) of a request: 200 when it may run.
    pub(crate) fn status(path: &[u8], method: Method, authorization: Option<&[u8]>) -> (u16, bool) {
        let need = need(Route::parse(path), method);
        let v = AUTHZ.with(|a| a.check(need, authorization, true, true, false));
        (v.checked.refused.map_or(200, |r| r.status()), v.peer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every route and method maps to the class the docs promise.
    #[test]
    fn routes_map_to_their_class() {
        let cases: &[(&[u8], Method, Need)] = &[
            (b"/", Method::Get, Need::Open),
            (b"/health", Method::Get, Need::Open),
            (b"/api/v1/health", Method::Head, Need::Open),
            (b"/nope", Method::Get, Need::Open),
            (b"/api/v1/cache/k", Method::Options, Need::Open),
            (b"/admin/import", Method::Options, Need::Open),
            (b"/api/v1/cache/k", Method::Get, Need::CacheRead),
            (b"/api/v1/cache/k", Method::Head, Need::CacheRead),
            (b"/api/v1/cache/k", Method::Put, Need::CacheWrite),
            (b"/api/v1/cache/k", Method::Delete, Need::CacheWrite),
            (b"/admin/metrics", Method::Get, Need::Metrics),
            (b"/metrics", Method::Get, Need::Metrics),
            (b"/admin/cluster", Method::Get, Need::Admin),
            (b"/admin/export", Method::Get, Need::Admin),
            (b"/admin/import", Method::Post, Need::Admin),
            (b"/internal/cluster/health", Method::Get, Need::Internal),
            (b"/internal/sync/hints", Method::Post, Need::Internal),
            (b"/internal/sync/digest", Method::Post, Need::Internal),
            (b"/internal/sync/fetch", Method::Post, Need::Internal),
            (b"/internal/cluster/leave", Method::Post, Need::Internal),
            (b"/internal/sync/request", Method::Post, Need::Internal),
            (b"/internal/cluster/ready", Method::Post, Need::Internal),
            (b"/admin/cluster/nodes", Method::Post, Need::Admin),
            (b"/admin/cluster/nodes/n4", Method::Delete, Need::Admin),
            (b"/admin/cluster/nodes/n4", Method::Get, Need::Admin),
            (b"/internal/cluster/membership", Method::Get, Need::Internal),
            (
                b"/internal/cluster/membership",
                Method::Post,
                Need::Internal,
            ),
            (b"/internal/cluster/propose", Method::Post, Need::Internal),
        ];
        for (path, method, want) in cases {
            let got = need(Route::parse(path), *method);
            assert_eq!(got, *want, "{} {method:?}", String::from_utf8_lossy(path));
        }
    }

    fn authz(env: &'static [(&'static str, &'static str)], peer_certs: bool) -> Authz {
        let lookup = |name: &str| {
            env.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        };
        let secrets = crate::auth::Secrets::from_env(&lookup).expect("secrets");
        let ring = crate::auth::Keyring::fixed(secrets);
        Authz::new(LocalKeyring::new(ring), peer_certs)
    }

    /// The open node's shortcut in `check` decides what the general path decides, for every
    /// class, credential and flag.
    #[test]
    fn an_open_node_decides_as_the_general_path() {
        let needs = [
            Need::Open,
            Need::CacheRead,
            Need::CacheWrite,
            Need::Metrics,
            Need::Admin,
            Need::Internal,
        ];
        for peer_certs in [false, true] {
            let a = authz(&[], peer_certs);
            let shape = a.keys.shape();
            assert!(shape.configured.is_empty());
            for need in needs {
                for auth in [None, Some(&b"Bearer nope"[..]), Some(&b"x"[..])] {
                    for bits in 0..8u8 {
                        let (fwd, markers, tls) = (bits & 1 != 0, bits & 2 != 0, bits & 4 != 0);
                        let fast = a.check(need, auth, fwd, markers, tls);
                        let general = a.check_configured(shape, need, auth, fwd, markers, tls);
                        assert_eq!(fast, general, "{need:?} {auth:?} {bits:03b} {peer_certs}");
                    }
                }
            }
        }
    }

    const SECRET: &str = "cluster-secret-0123456789";
    const ADMIN: &str = "admin-token-0123456789ab";

    /// Forwarding markers count only from a peer; with no way to authenticate peers they count
    /// as before (compatibility), but never open a protected route.
    #[test]
    fn markers_count_only_from_peers() {
        let with_secret = authz(
            &[
                ("CACHE_CLUSTER_SECRET", SECRET),
                ("CACHE_ADMIN_TOKEN", ADMIN),
            ],
            false,
        );
        let secret = format!("Bearer {SECRET}");
        let v = with_secret.check(Need::CacheWrite, None, true, true, false);
        assert!(!v.peer && v.checked.markers_ignored && v.checked.refused.is_none());
        let v = with_secret.check(Need::CacheWrite, Some(secret.as_bytes()), true, true, false);
        assert!(v.peer && !v.checked.markers_ignored);
        let v = with_secret.check(Need::Internal, None, true, true, true);
        assert!(
            v.peer && v.checked.refused.is_none(),
            "a verified certificate is a peer"
        );
        let admin = format!("Bearer {ADMIN}");
        let v = with_secret.check(Need::Internal, Some(admin.as_bytes()), true, true, false);
        assert!(!v.peer && v.checked.refused.is_some_and(|r| r.status() == 403));

        let open = authz(&[], false);
        let v = open.check(Need::CacheWrite, None, true, true, false);
        assert!(
            v.peer && !v.checked.markers_ignored,
            "compatibility without secrets"
        );
        let v = open.check(Need::CacheWrite, None, false, true, false);
        assert!(
            !v.peer && v.checked.markers_ignored,
            "a version without the marker"
        );

        let standalone = authz(&[("CACHE_ADMIN_TOKEN", ADMIN)], false);
        let v = standalone.check(Need::Admin, None, true, true, false);
        assert!(v.peer, "marker-peer as before");
        assert!(v.checked.refused.is_some(), "but a marker opens nothing");

        let certs = authz(&[], true);
        let v = certs.check(Need::CacheWrite, None, true, true, false);
        assert!(
            !v.peer && v.checked.markers_ignored,
            "certificates are the peers' proof"
        );
    }
}
