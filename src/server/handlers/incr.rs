//! `POST /api/v1/cache/{key}/incr` (issue 12: counters): add a signed delta to an integer value.
//!
//! Body `{"delta": N, "ttl": S}`, both optional (no body or `{}` adds 1); `ttl` applies only
//! when the key is missing (it starts at 0), an existing key keeps its TTL. The arithmetic is
//! exact `i64` with overflow checked, in one shard call on the key's core, so concurrent
//! increments through any nodes never lose one (`storage::op`, [`KeyOp::Incr`]). The answer is
//! `{"key":k,"value":N}` with the new `ETag`: 201 when the key was created, else 200; 409 when the
//! stored value is not an integer or the result would overflow. `If-Match` / `If-None-Match`
//! apply as on a PUT.
//!
//! The coordinator runs it first and copies the result, never the increment, to the other
//! replicas as a versioned PUT (local-first, `replicate.rs`). A forwarded increment is not
//! idempotent: the forwarder never sends it twice once it may have arrived (`forward.rs`).

use serde::Deserialize;

use super::cache::{condition, placed};
use super::conditional::{cache_path, guarded, local_first};
use super::replicate::{self, CopySource};
use super::{KeyKind, Req, Routed};
use crate::server::core::Core;
use crate::server::router::MAX_TTL_SECS;
use crate::storage::KeyOp;

/// What an increment asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Increment {
    pub delta: i64,
    /// For a missing key; `None` = no expiry (`ttl` absent or 0).
    pub ttl_s: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IncrBody {
    #[serde(default = "one")]
    delta: i64,
    #[serde(default)]
    ttl: Option<u64>,
}

fn one() -> i64 {
    1
}

/// Parse an increment's body (empty or whitespace = add 1).
pub(super) fn parse_body(body: &[u8]) -> Result<Increment, String> {
    const EXPECTED: &str = "expected {\"delta\": <integer>, \"ttl\": <seconds>} (both optional)";
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    let parsed: IncrBody = if first.is_none() {
        IncrBody {
            delta: 1,
            ttl: None,
        }
    } else if first != Some(&b'{') {
        // serde would also take `[5]` for the struct's fields in order: only an object is one.
        return Err(format!("invalid incr body: not a JSON object; {EXPECTED}"));
    } else {
        serde_json::from_slice(body).map_err(|e| {
            format!(
                "invalid incr body: {}; {EXPECTED}",
                crate::server::json_error::describe(&e)
            )
        })?
    };
    let ttl_s = match parsed.ttl {
        Some(t) if t > MAX_TTL_SECS => {
            return Err("ttl larger than ten years (ttl is in seconds)".to_string())
        }
        Some(0) | None => None,
        t => t,
    };
    Ok(Increment {
        delta: parsed.delta,
        ttl_s,
    })
}

/// Handle an increment (see the module doc); `seg` is the raw key segment of the path.
pub(super) fn handle(
    c: &Core,
    req: &Req<'_>,
    seg: &[u8],
    key_buf: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> Routed {
    let m = req.meta();
    let Some(key) = super::cache::key_or_answer(c, m, seg, req.path_escaped, key_buf, out) else {
        return Routed::Done;
    };
    if req.version.is_some() {
        let msg =
            "an increment is never a replica copy (replicas get a versioned PUT of its result)";
        c.resp.error(out, m, 400, msg, Some(key), &[]);
        return Routed::Done;
    }
    let prefs = match placed(c, req, key, out) {
        Ok(p) => p,
        Err(elsewhere) => return elsewhere.routed(),
    };
    let inc = match parse_body(req.body) {
        Ok(i) => i,
        Err(msg) => {
            c.resp.error(out, m, 400, &msg, Some(key), &[]);
            return Routed::Done;
        }
    };
    let cond = match condition(req) {
        Ok(cond) => cond,
        Err(e) => {
            c.resp.error(out, m, 400, &e.message(), Some(key), &[]);
            return Routed::Done;
        }
    };
    let version = c.node.next_version();
    let op = guarded(
        cond,
        KeyOp::Incr {
            delta: inc.delta,
            ttl_ms: inc.ttl_s.map(|t| t * 1000),
            version,
        },
    );
    let others = replicate::others(c, key, &prefs);
    let source = (!others.is_empty()).then(|| CopySource::Counter {
        path: cache_path(seg),
        headers: super::forward::context_lines(req),
    });
    local_first(c, m, key, op, KeyKind::Incr, version, others, source)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_body_or_an_empty_object_adds_one() {
        let one = Increment {
            delta: 1,
            ttl_s: None,
        };
        assert_eq!(parse_body(b""), Ok(one));
        assert_eq!(parse_body(b" \r\n"), Ok(one));
        assert_eq!(parse_body(b"{}"), Ok(one));
    }

    #[test]
    fn delta_and_ttl_are_read_exactly() {
        assert_eq!(
            parse_body(br#"{"delta":-9223372036854775808,"ttl":60}"#),
            Ok(Increment {
                delta: i64::MIN,
                ttl_s: Some(60)
            })
        );
        assert_eq!(
            parse_body(br#"{"delta":5,"ttl":0}"#),
            Ok(Increment {
                delta: 5,
                ttl_s: None
            })
        );
    }

    #[test]
    fn malformed_bodies_say_what_is_wrong() {
        for (body, says) in [
            (&br#"{"delta":1.5}"#[..], "invalid incr body"),
            (br#"{"delta":9223372036854775808}"#, "invalid incr body"),
            (br#"{"delta":"1"}"#, "invalid incr body"),
            (br#"{"by":1}"#, "unknown field"),
            (br#"{"ttl":-1}"#, "invalid incr body"),
            (b"1", "not a JSON object"),
            (b"[5]", "not a JSON object"),
        ] {
            let e = parse_body(body).expect_err(&String::from_utf8_lossy(body));
            assert!(e.contains(says), "{e}");
        }
        let ten_years = format!(r#"{{"ttl":{}}}"#, MAX_TTL_SECS + 1);
        assert!(parse_body(ten_years.as_bytes())
            .unwrap_err()
            .contains("ten years"));
    }
}
