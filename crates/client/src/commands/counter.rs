//! `incr KEY [DELTA] [--ttl S]`: add DELTA (default 1, may be negative) to the integer stored at
//! KEY, atomically on the node that coordinates it; a missing key starts at 0 (and gets the TTL,
//! which an existing key keeps its own). Prints the new value alone, so `n=$(cache-client incr
//! hits)` works. Sent once: an `incr` that may have reached the node is never sent again (a
//! second send would count twice), so a broken connection is reported, not retried.

use super::Ctx;
use crate::conn::Options;
use crate::http::key_path;
use crate::output::with_etag;
use crate::EXIT_OK;

/// `/api/v1/cache/{key}/incr`.
pub fn incr_path(key: &str) -> String {
    format!("{}/incr", key_path(key))
}

/// `{"delta":N}` plus `"ttl"` when given.
pub fn incr_body(delta: i64, ttl: Option<u64>) -> String {
    match ttl {
        Some(t) => format!("{{\"delta\":{delta},\"ttl\":{t}}}"),
        None => format!("{{\"delta\":{delta}}}"),
    }
}

pub fn incr(ctx: &Ctx, key: &str, delta: i64, ttl: Option<u64>) -> u8 {
    let body = incr_body(delta, ttl);
    let opts = Options {
        idempotent: false,
        ..Options::default()
    };
    let r = match ctx.send("POST", &incr_path(key), Some(body.as_bytes()), &opts) {
        Ok(r) => r,
        Err(e) => return ctx.out.client_error(&e),
    };
    if !matches!(r.status, 200 | 201) {
        return ctx.out.http_failure(&format!("incr {key}"), &r);
    }
    if ctx.out.json {
        match with_etag(&r.body, r.header("etag")) {
            Some(text) => println!("{text}"),
            None => ctx.out.body(&r),
        }
        return EXIT_OK;
    }
    // The new value exactly as the node wrote it (an i64 has no other spelling).
    match r.json().and_then(|v| v.get("value")?.as_i64()) {
        Some(n) => {
            println!("{n}");
            EXIT_OK
        }
        None => ctx
            .out
            .http_failure(&format!("incr {key}: unexpected body"), &r),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_and_body() {
        assert_eq!(incr_path("hits/x"), "/api/v1/cache/hits%2Fx/incr");
        assert_eq!(incr_body(-3, None), r#"{"delta":-3}"#);
        assert_eq!(
            incr_body(i64::MIN, Some(60)),
            r#"{"delta":-9223372036854775808,"ttl":60}"#
        );
    }
}
