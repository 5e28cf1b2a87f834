//! The access decision: which tokens a class of request accepts, and what a refused request is
//! told. Pure and allocation-free: the server maps a route and method to a [`Need`], the
//! request's `Authorization` header to a [`Credential`], and answers what [`decide`] says.
//!
//! | class ([`Need`]) | accepted | open when |
//! |---|---|---|
//! | `Open`: `/`, `/health`, `/api/v1/health`, OPTIONS | anyone | always |
//! | `CacheRead`: GET/HEAD `/api/v1/cache/*` | client_read, client, admin, cluster | no client and no client_read token |
//! | `CacheWrite`: PUT/DELETE `/api/v1/cache/*` | client, admin, cluster | no client and no client_read token |
//! | `Metrics`: `/admin/metrics`, `/metrics` | metrics, admin, cluster | no metrics token |
//! | `Admin`: `/admin/cluster`, `/admin/hotkeys`, `/admin/export`, `/admin/import` | admin, cluster | no admin token |
//! | `Internal`: `/internal/*` | cluster (admin when no cluster secret) | neither secret nor admin token |
//!
//! A request from a peer (the cluster secret, or a verified peer certificate) passes everywhere.
//! No credential or one no class accepts: 401 with `WWW-Authenticate: Bearer`. A valid token
//! of another class: 403.

/// The classes of token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Admin,
    Client,
    ClientRead,
    Metrics,
    Cluster,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Admin,
        Kind::Client,
        Kind::ClientRead,
        Kind::Metrics,
        Kind::Cluster,
    ];

    /// The config key that names its file.
    pub fn key(self) -> &'static str {
        match self {
            Kind::Admin => "auth.admin_token_file",
            Kind::Client => "auth.client_token_file",
            Kind::ClientRead => "auth.client_read_token_file",
            Kind::Metrics => "auth.metrics_token_file",
            Kind::Cluster => "auth.cluster_secret_file",
        }
    }

    /// The environment variable read when the key is empty.
    pub fn env(self) -> &'static str {
        use crate::config as s;
        match self {
            Kind::Admin => s::ENV_ADMIN_TOKEN,
            Kind::Client => s::ENV_CLIENT_TOKEN,
            Kind::ClientRead => s::ENV_CLIENT_READ_TOKEN,
            Kind::Metrics => s::ENV_METRICS_TOKEN,
            Kind::Cluster => s::ENV_CLUSTER_SECRET,
        }
    }

    /// Its file's name in `auth.token_dir` (the key of the Kubernetes Secret `cache-auth`).
    pub fn file_name(self) -> &'static str {
        match self {
            Kind::Admin => "admin-token",
            Kind::Client => "client-token",
            Kind::ClientRead => "client-read-token",
            Kind::Metrics => "metrics-token",
            Kind::Cluster => "cluster-secret",
        }
    }

    /// Its name in log lines.
    pub fn what(self) -> &'static str {
        match self {
            Kind::Admin => "admin token",
            Kind::Client => "client token",
            Kind::ClientRead => "read-only client token",
            Kind::Metrics => "metrics token",
            Kind::Cluster => "cluster secret",
        }
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// A set of [`Kind`]s, as bits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Kinds(u8);

impl Kinds {
    pub const NONE: Kinds = Kinds(0);

    pub fn of(kinds: &[Kind]) -> Kinds {
        kinds.iter().fold(Kinds::NONE, |s, k| s.with(*k))
    }

    pub fn with(self, k: Kind) -> Kinds {
        Kinds(self.0 | k.bit())
    }

    pub fn has(self, k: Kind) -> bool {
        self.0 & k.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    fn meets(self, other: Kinds) -> bool {
        self.0 & other.0 != 0
    }
}

/// What a request presented.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Credential {
    /// No `Authorization` header.
    None,
    /// An `Authorization` header that is not `Bearer <token>`.
    Malformed,
    /// A bearer token, and the classes whose token it is (none: unknown).
    Token(Kinds),
}

impl Credential {
    /// The token is the cluster secret.
    pub fn is_cluster(self) -> bool {
        matches!(self, Credential::Token(k) if k.has(Kind::Cluster))
    }
}

/// The class of a request, from its route and method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    Open,
    CacheRead,
    CacheWrite,
    Metrics,
    Admin,
    Internal,
}

/// The token a refused request should have sent (the class resolved against the config).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Needed {
    ClientRead,
    ClientWrite,
    Metrics,
    Admin,
    Cluster,
}

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Why {
    /// 401: no `Authorization` header.
    Missing,
    /// 401: an `Authorization` header that is not `Bearer <token>`.
    Malformed,
    /// 401: a bearer token no class has.
    Invalid,
    /// 403: a valid token of a class that may not do this.
    WrongClass,
}

/// A refusal: the status, header and message of the answer follow from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub needed: Needed,
    pub why: Why,
}

/// The verdict on one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Granted,
    Refused(Refusal),
}

/// Decide whether a request of class `need` may run. `configured`: the classes that have tokens;
/// `cred`: what it presented; `peer`: it comes from another node (the cluster secret, or a
/// verified peer certificate), which may use every route.
pub fn decide(need: Need, configured: Kinds, cred: Credential, peer: bool) -> Access {
    use Kind::*;
    let cache_open = !configured.has(Client) && !configured.has(ClientRead);
    let (open, accepted, needed) = match need {
        Need::Open => return Access::Granted,
        Need::CacheRead => (
            cache_open,
            Kinds::of(&[ClientRead, Client, Admin, Cluster]),
            Needed::ClientRead,
        ),
        Need::CacheWrite => (
            cache_open,
            Kinds::of(&[Client, Admin, Cluster]),
            Needed::ClientWrite,
        ),
        Need::Metrics => (
            !configured.has(Metrics),
            Kinds::of(&[Metrics, Admin, Cluster]),
            Needed::Metrics,
        ),
        Need::Admin => (
            !configured.has(Admin),
            Kinds::of(&[Admin, Cluster]),
            Needed::Admin,
        ),
        // Node-to-node routes take the cluster secret; a node without one (standalone) lets
        // its admin token stand in, and is open only when it has neither.
        Need::Internal if configured.has(Cluster) => {
            (false, Kinds::of(&[Cluster]), Needed::Cluster)
        }
        Need::Internal => (!configured.has(Admin), Kinds::of(&[Admin]), Needed::Admin),
    };
    if open || peer {
        return Access::Granted;
    }
    let why = match cred {
        Credential::Token(k) if k.meets(accepted) => return Access::Granted,
        Credential::Token(k) if !k.is_empty() => Why::WrongClass,
        Credential::Token(_) => Why::Invalid,
        Credential::Malformed => Why::Malformed,
        Credential::None => Why::Missing,
    };
    Access::Refused(Refusal { needed, why })
}

/// The realm every challenge names (RFC 6750 §3).
const CHALLENGE: &str = "Bearer realm=\"cache-node\"";

impl Refusal {
    /// 401 when the credential is missing or unknown, 403 when it is valid but not enough.
    pub fn status(self) -> u16 {
        match self.why {
            Why::WrongClass => 403,
            _ => 401,
        }
    }

    /// The `WWW-Authenticate` value (RFC 6750 §3.1 error codes).
    pub fn challenge(self) -> &'static str {
        match self.why {
            Why::Missing => CHALLENGE,
            Why::Malformed => "Bearer realm=\"cache-node\", error=\"invalid_request\"",
            Why::Invalid => "Bearer realm=\"cache-node\", error=\"invalid_token\"",
            Why::WrongClass => "Bearer realm=\"cache-node\", error=\"insufficient_scope\"",
        }
    }

    /// The error text: what went wrong and which token (and config key) the route needs.
    pub fn message(self) -> &'static str {
        macro_rules! says {
            ($needs:literal) => {
                match self.why {
                    Why::Missing => concat!($needs, "; send Authorization: Bearer <token>"),
                    Why::Malformed => {
                        concat!("the Authorization header is not `Bearer <token>`: ", $needs)
                    }
                    Why::Invalid => concat!("the bearer token is not valid on this node: ", $needs),
                    Why::WrongClass => {
                        concat!("the bearer token is valid but may not do this: ", $needs)
                    }
                }
            };
        }
        match self.needed {
            Needed::ClientRead => says!("reading the cache needs the client token (auth.client_token_file), the read-only client token (auth.client_read_token_file) or the admin token"),
            Needed::ClientWrite => says!("writing to the cache needs the client token (auth.client_token_file) or the admin token"),
            Needed::Metrics => says!("metrics need the metrics token (auth.metrics_token_file) or the admin token"),
            Needed::Admin => says!("this route needs the admin token (auth.admin_token_file)"),
            Needed::Cluster => says!("node-to-node routes need the cluster secret (auth.cluster_secret_file)"),
        }
    }
}

#[cfg(test)]
#[path = "classes_tests.rs"]
mod tests;
