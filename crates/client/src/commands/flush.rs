//! `flush --prefix P` and `flush --all`: delete every key starting with P, or every key, on the
//! whole cluster (`DELETE /admin/cache`, an admin call: the admin token when the nodes require
//! tokens). Deleting everything needs `--all` spelled out: a bare `flush` is a usage error, so a
//! forgotten argument cannot empty the cluster.

use serde_json::Value;

use super::Ctx;
use crate::conn::Options;
use crate::http::push_encoded_key;
use crate::output::served_by;
use crate::{EXIT_FAILED, EXIT_OK};

/// The admin path that flushes.
pub const FLUSH_PATH: &str = "/admin/cache";

/// `/admin/cache`, or `/admin/cache?prefix=<percent-encoded P>`.
pub fn flush_path(prefix: Option<&str>) -> String {
    match prefix {
        None => FLUSH_PATH.to_string(),
        Some(p) => {
            let mut out = format!("{FLUSH_PATH}?prefix=").into_bytes();
            push_encoded_key(&mut out, p.as_bytes());
            // Only ASCII was pushed.
            String::from_utf8(out).unwrap_or_default()
        }
    }
}

pub fn flush(ctx: &Ctx, prefix: Option<&str>, all: bool) -> u8 {
    let prefix = match (prefix, all) {
        (Some(""), _) => {
            return ctx
                .out
                .usage("--prefix needs at least one character; --all deletes every key")
        }
        (Some(p), _) => Some(p),
        (None, true) => None,
        (None, false) => {
            return ctx.out.usage(
                "flush needs --prefix PREFIX (keys starting with it) or --all (every key of the cluster)",
            )
        }
    };
    let what = match prefix {
        Some(p) => format!("flush --prefix {p}"),
        None => "flush --all".to_string(),
    };
    let (node, r) = match ctx.any_with("DELETE", &flush_path(prefix), None, &Options::default()) {
        Ok(x) => x,
        Err(e) => return ctx.out.client_error(&e),
    };
    // 200: applied on every member; 502 with the same document: applied on those that answered,
    // kept for the others (listed under `unreached`) until they are back.
    let doc = r
        .json()
        .filter(|v| matches!(r.status, 200 | 502) && v["deleted"].is_u64());
    let Some(v) = doc else {
        return ctx.out.http_failure(&what, &r);
    };
    let unreached: Vec<&str> = v["unreached"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if ctx.out.json {
        ctx.out.body(&r);
    } else {
        let deleted = v["deleted"].as_u64().unwrap_or(0);
        let scope = match prefix {
            Some(p) => format!(" starting with {}", Value::from(p)),
            None => String::new(),
        };
        let by = served_by(&r).unwrap_or_else(|| node.name.clone());
        println!(
            "deleted {deleted} {}{scope} across the cluster (via {by})",
            if deleted == 1 { "key" } else { "keys" }
        );
        if r.status != 200 || !unreached.is_empty() {
            let why = v["error"].as_str().map_or_else(
                || format!("not applied on {} yet", unreached.join(", ")),
                str::to_string,
            );
            eprintln!("warning: {what}: HTTP {}: {why}", r.status);
        }
    }
    if r.status == 200 && unreached.is_empty() {
        EXIT_OK
    } else {
        EXIT_FAILED
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_percent_encoded_into_the_query() {
        assert_eq!(flush_path(None), "/admin/cache");
        assert_eq!(
            flush_path(Some("user:1 &x=é")),
            "/admin/cache?prefix=user%3A1%20%26x%3D%C3%A9"
        );
    }
}
