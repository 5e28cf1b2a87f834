//! The query of `DELETE /admin/cache`: what a client may ask (`?prefix=P`) and what nodes send
//! each other (`?scope=local&step=clock|apply&members=..`). Strict on purpose: a typo such as
//! `?prefx=user:` must not turn a prefix flush into a flush of everything, so an unknown or
//! repeated parameter and an empty prefix are refused (400) instead of being ignored.

/// What a flush request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct FlushQuery {
    /// Percent-decoded prefix; `None` = every key.
    pub prefix: Option<Vec<u8>>,
    pub step: Step,
    /// `members=` of an apply step: one digit per member in ring order, `1` = took part,
    /// `0` = could not be reached (keep the flush for it). Absent on a late delivery.
    pub members: Option<Vec<bool>>,
}

/// Which part of a flush a request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    /// A client's flush: this node coordinates it across the cluster.
    Cluster,
    /// Node-to-node: answer this node's clock (`{"clock":"<hex>"}`), change nothing.
    Clock,
    /// Node-to-node: apply the flush at the `X-Cache-Version` sent, on this node only.
    Apply,
}

/// Why a flush query was refused (each is a 400 whose text names the parameter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum QueryError {
    Unknown(String),
    Repeated(&'static str),
    EmptyPrefix,
    BadEscape,
    NotUtf8,
    TooLong {
        max: usize,
    },
    BadValue {
        name: &'static str,
        got: String,
    },
    /// `scope=local`, `step` or `members` from a client, or `step`/`members` without
    /// `scope=local`.
    NodeToNode,
    /// `members=` whose length is not the number of members.
    Members {
        want: usize,
    },
}

impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QueryError::Unknown(p) => write!(
                f,
                "unknown query parameter {p:?}: DELETE /admin/cache takes only ?prefix=P"
            ),
            QueryError::Repeated(p) => write!(f, "query parameter {p} given twice"),
            QueryError::EmptyPrefix => f.write_str(
                "empty prefix: to delete every key send DELETE /admin/cache without ?prefix=",
            ),
            QueryError::BadEscape => f.write_str("prefix: malformed percent-escape"),
            QueryError::NotUtf8 => f.write_str("prefix is not valid UTF-8 after percent-decoding"),
            QueryError::TooLong { max } => {
                write!(f, "prefix longer than max_key_bytes ({max}): no key can match")
            }
            QueryError::BadValue { name, got } => write!(f, "{name}={got:?} is not valid"),
            QueryError::NodeToNode => f.write_str(
                "scope=local, step and members are what nodes send each other; a client flushes the whole cluster with DELETE /admin/cache[?prefix=P]",
            ),
            QueryError::Members { want } => {
                write!(f, "members= must have one digit 0 or 1 per member ({want})")
            }
        }
    }
}

/// Parse the query of a flush; `peer`: the request comes from another node; `members`: how
/// many members the cluster has; `max_prefix`: `max_key_bytes`.
pub(super) fn parse(
    q: Option<&[u8]>,
    peer: bool,
    members: usize,
    max_prefix: usize,
) -> Result<FlushQuery, QueryError> {
    let (mut prefix, mut scope, mut step, mut digits) = (None, None, None, None);
    for (name, value) in crate::server::router::query_pairs(q) {
        let slot = match name {
            b"prefix" => (&mut prefix, "prefix"),
            b"scope" => (&mut scope, "scope"),
            b"step" => (&mut step, "step"),
            b"members" => (&mut digits, "members"),
            _ => return Err(QueryError::Unknown(lossy(name))),
        };
        if slot.0.replace(value).is_some() {
            return Err(QueryError::Repeated(slot.1));
        }
    }
    let local = match scope {
        None | Some(b"cluster") => false,
        Some(b"local") => true,
        Some(v) => return Err(bad("scope", v)),
    };
    if (local && !peer) || (!local && (step.is_some() || digits.is_some())) {
        return Err(QueryError::NodeToNode);
    }
    let step = match (local, step) {
        (false, _) => Step::Cluster,
        (true, Some(b"clock")) => Step::Clock,
        (true, Some(b"apply")) => Step::Apply,
        (true, v) => return Err(bad("step", v.unwrap_or_default())),
    };
    let members = match digits {
        None => None,
        Some(d) if d.len() == members && d.iter().all(|&b| b == b'0' || b == b'1') => {
            Some(d.iter().map(|&b| b == b'1').collect())
        }
        Some(_) => return Err(QueryError::Members { want: members }),
    };
    let prefix = prefix.map(|p| decode_prefix(p, max_prefix)).transpose()?;
    Ok(FlushQuery {
        prefix,
        step,
        members,
    })
}

fn bad(name: &'static str, got: &[u8]) -> QueryError {
    QueryError::BadValue {
        name,
        got: lossy(got),
    }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Percent-decode a prefix. Every other byte is taken as sent (the request line is already
/// checked to be visible ASCII), so `user/` works unescaped and a prefix matches the keys its
/// bytes begin, as a key in a path is decoded: `+` is a plus sign, not a space.
fn decode_prefix(v: &[u8], max: usize) -> Result<Vec<u8>, QueryError> {
    if v.is_empty() {
        return Err(QueryError::EmptyPrefix);
    }
    let hex = |b: Option<&u8>| b.and_then(|&b| char::from(b).to_digit(16));
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while let Some(&b) = v.get(i) {
        if b == b'%' {
            let (Some(hi), Some(lo)) = (hex(v.get(i + 1)), hex(v.get(i + 2))) else {
                return Err(QueryError::BadEscape);
            };
            // Two hex digits: at most 0xff.
            out.push((hi << 4 | lo) as u8);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    if std::str::from_utf8(&out).is_err() {
        return Err(QueryError::NotUtf8);
    }
    if out.len() > max {
        return Err(QueryError::TooLong { max });
    }
    Ok(out)
}

/// Percent-encode `prefix` for the query of a node-to-node call (every byte but unreserved).
pub(super) fn encode_prefix(prefix: &[u8], out: &mut String) {
    use std::fmt::Write as _;
    for &b in prefix {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(q: &str) -> Result<FlushQuery, QueryError> {
        parse(Some(q.as_bytes()), false, 3, 16)
    }

    fn peer(q: &str) -> Result<FlushQuery, QueryError> {
        parse(Some(q.as_bytes()), true, 3, 16)
    }

    #[test]
    fn a_client_flushes_everything_or_a_decoded_prefix() {
        let all = parse(None, false, 3, 16).expect("no query");
        assert_eq!((all.prefix, all.step), (None, Step::Cluster));
        assert_eq!(client("").expect("empty").prefix, None);
        let p = client("prefix=user%3A1/a+b").expect("prefix");
        assert_eq!(p.prefix.as_deref(), Some(&b"user:1/a+b"[..]));
        assert_eq!(
            client("scope=cluster&prefix=%C3%A9").expect("utf-8").prefix,
            Some("é".into())
        );
    }

    #[test]
    fn anything_that_could_widen_a_flush_by_mistake_is_refused() {
        assert_eq!(client("prefx=a"), Err(QueryError::Unknown("prefx".into())));
        assert_eq!(client("prefix="), Err(QueryError::EmptyPrefix));
        assert_eq!(client("prefix"), Err(QueryError::EmptyPrefix));
        assert_eq!(
            client("prefix=a&prefix=b"),
            Err(QueryError::Repeated("prefix"))
        );
        assert_eq!(client("prefix=%zz"), Err(QueryError::BadEscape));
        assert_eq!(client("prefix=%4"), Err(QueryError::BadEscape));
        assert_eq!(client("prefix=%ff"), Err(QueryError::NotUtf8));
        assert_eq!(
            client("prefix=12345678901234567"),
            Err(QueryError::TooLong { max: 16 })
        );
        assert_eq!(client("scope=local"), Err(QueryError::NodeToNode));
        assert_eq!(client("step=apply"), Err(QueryError::NodeToNode));
        assert!(matches!(
            client("scope=x"),
            Err(QueryError::BadValue { name: "scope", .. })
        ));
    }

    #[test]
    fn node_to_node_steps_and_members() {
        let c = peer("scope=local&step=clock").expect("clock");
        assert_eq!(c.step, Step::Clock);
        let a = peer("scope=local&step=apply&members=101&prefix=a%26b").expect("apply");
        assert_eq!(a.step, Step::Apply);
        assert_eq!(a.members, Some(vec![true, false, true]));
        assert_eq!(a.prefix.as_deref(), Some(&b"a&b"[..]));
        assert_eq!(
            peer("scope=local&step=apply&members=10"),
            Err(QueryError::Members { want: 3 })
        );
        assert_eq!(
            peer("scope=local&step=apply&members=1x1"),
            Err(QueryError::Members { want: 3 })
        );
        assert!(matches!(
            peer("scope=local"),
            Err(QueryError::BadValue { name: "step", .. })
        ));
        assert_eq!(peer("step=apply"), Err(QueryError::NodeToNode));
        // A peer may coordinate a flush like a client (no scope).
        assert_eq!(peer("prefix=a").expect("cluster").step, Step::Cluster);
    }

    #[test]
    fn encoded_prefixes_decode_to_themselves() {
        for p in [&b"user:1/a+b&c=d"[..], "é %".as_bytes(), b"plain-._~"] {
            let mut q = String::from("prefix=");
            encode_prefix(p, &mut q);
            assert_eq!(
                client(&q).expect("round trip").prefix.as_deref(),
                Some(p),
                "{q}"
            );
        }
    }
}
