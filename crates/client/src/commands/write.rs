//! Writing one key: `set` (create or replace), `cas` (replace only the version read: `If-Match`),
//! `add` (create only: `If-None-Match: *`) and `delete` (optionally `--if-match`). A condition
//! that does not hold is HTTP 412 from the node, reported as such with exit code 3
//! ([`crate::EXIT_CONFLICT`]); everything else as the other commands do.

use serde_json::Value;

use super::{not_found, Ctx};
use crate::conn::{field_value, Options, Response};
use crate::http::key_path;
use crate::output::{secs_text, served_by, with_etag};
use crate::EXIT_OK;

/// A value as given on the command line, and how to send it.
pub struct NewValue<'a> {
    pub text: &'a str,
    /// `text` is JSON (number, object, ...) sent as written; else it is a string.
    pub is_json: bool,
    pub ttl: Option<u64>,
}

impl NewValue<'_> {
    /// The value as JSON text: `text` itself (checked) with `-J`, else `text` as a JSON string.
    pub fn json(&self) -> Result<String, String> {
        if self.is_json {
            serde_json::value::RawValue::from_string(self.text.to_string())
                .map(|raw| raw.get().to_string())
                .map_err(|e| format!("VALUE is not valid JSON: {e}"))
        } else {
            Ok(Value::String(self.text.to_string()).to_string())
        }
    }

    /// The PUT body: the seed's `{"value":..,"ttl":..}` envelope.
    fn envelope(&self) -> Result<String, String> {
        let value = self.json()?;
        Ok(match self.ttl {
            Some(t) => format!("{{\"value\":{value},\"ttl\":{t}}}"),
            None => format!("{{\"value\":{value}}}"),
        })
    }
}

/// An ETag as typed: `"0123456789abcdef"`, the same without quotes (the quotes are easy to lose
/// in a shell), `*`, or a list as HTTP writes it. Bare hex gets its quotes back; the rest is
/// sent as given and judged by the node (a malformed tag is its 400, naming the header).
pub fn etag_arg(text: &str) -> Result<String, String> {
    let text = text.trim();
    let bare = !text.is_empty() && text.bytes().all(|b| b.is_ascii_hexdigit());
    let tag = if bare {
        format!("\"{text}\"")
    } else {
        text.to_string()
    };
    field_value("--if-match", &tag)?;
    Ok(tag)
}

/// How a write is conditioned, and its name in messages.
enum Cond<'a> {
    None,
    /// `cas`: only over this version (`If-Match`).
    Match(&'a str),
    /// `add`: only when absent (`If-None-Match: *`).
    Absent,
}

pub fn set(ctx: &Ctx, key: &str, v: &NewValue<'_>) -> u8 {
    store(ctx, "set", key, v, Cond::None)
}

pub fn cas(ctx: &Ctx, key: &str, v: &NewValue<'_>, if_match: &str) -> u8 {
    match etag_arg(if_match) {
        Ok(tag) => store(ctx, "cas", key, v, Cond::Match(&tag)),
        Err(e) => ctx.out.usage(&e),
    }
}

pub fn add(ctx: &Ctx, key: &str, v: &NewValue<'_>) -> u8 {
    store(ctx, "add", key, v, Cond::Absent)
}

fn store(ctx: &Ctx, verb: &str, key: &str, v: &NewValue<'_>, cond: Cond<'_>) -> u8 {
    let body = match v.envelope() {
        Ok(b) => b,
        Err(e) => return ctx.out.usage(&e),
    };
    let headers: &[(&str, &str)] = match &cond {
        Cond::None => &[],
        Cond::Match(tag) => &[("If-Match", tag)],
        Cond::Absent => &[("If-None-Match", "*")],
    };
    let opts = Options {
        headers,
        ..Options::default()
    };
    let r = match ctx.send("PUT", &key_path(key), Some(body.as_bytes()), &opts) {
        Ok(r) => r,
        Err(e) => return ctx.out.client_error(&e),
    };
    match r.status {
        200 | 201 => stored(ctx, key, v.ttl, &r),
        412 => {
            let msg = match cond {
                Cond::Absent => format!("{verb} {key}: {}", exists_text(key, &r)),
                Cond::Match(tag) => format!("{verb} {key}: {}", changed_text(key, tag, &r)),
                Cond::None => format!("{verb} {key}: HTTP 412 {}", r.error_message()),
            };
            ctx.out.precondition_failed(&msg, &r)
        }
        _ => ctx.out.http_failure(&format!("{verb} {key}"), &r),
    }
}

/// A write's success: `created KEY (ttl 1 min 0 s) on node1, ETag "..."`, or the node's body
/// plus `etag` with `--json`.
pub(crate) fn stored(ctx: &Ctx, key: &str, ttl: Option<u64>, r: &Response) -> u8 {
    let etag = r.header("etag");
    if ctx.out.json {
        match with_etag(&r.body, etag) {
            Some(text) => println!("{text}"),
            None => ctx.out.body(r),
        }
        return EXIT_OK;
    }
    let what = if r.status == 201 {
        "created"
    } else {
        "replaced"
    };
    let ttl = ttl
        .filter(|t| *t > 0)
        .map(|t| format!(" (ttl {})", secs_text(t)))
        .unwrap_or_default();
    let node = served_by(r).map(|n| format!(" on {n}")).unwrap_or_default();
    let etag = etag.map(|e| format!(", ETag {e}")).unwrap_or_default();
    println!("{what} {key}{ttl}{node}{etag}");
    EXIT_OK
}

/// Where the node that answered is named in a message: ` on node2` (or nothing).
fn on_node(r: &Response) -> String {
    served_by(r).map(|n| format!(" on {n}")).unwrap_or_default()
}

/// `add`'s 412: the key holds a value (its ETag, when the node sent it).
fn exists_text(key: &str, r: &Response) -> String {
    let now = r
        .header("etag")
        .map(|e| format!(" (ETag {e})"))
        .unwrap_or_default();
    format!("{key} already exists{}{now}: not added", on_node(r))
}

/// `cas`'s (or `delete --if-match`'s) 412: the key is at another version, or holds nothing.
fn changed_text(key: &str, tag: &str, r: &Response) -> String {
    let now = match r.header("etag") {
        Some(e) => format!("it is at ETag {e} now"),
        None => "it holds no value now".to_string(),
    };
    format!(
        "precondition failed{}: {key} is not at ETag {tag}; {now} (read it again and retry)",
        on_node(r)
    )
}

pub fn delete(ctx: &Ctx, key: &str, if_match: Option<&str>) -> u8 {
    let tag = match if_match.map(etag_arg).transpose() {
        Ok(t) => t,
        Err(e) => return ctx.out.usage(&e),
    };
    let headers: Vec<(&str, &str)> = tag.iter().map(|t| ("If-Match", t.as_str())).collect();
    let opts = Options {
        headers: &headers,
        ..Options::default()
    };
    let r = match ctx.send("DELETE", &key_path(key), None, &opts) {
        Ok(r) => r,
        Err(e) => return ctx.out.client_error(&e),
    };
    match (r.status, tag) {
        (200, _) => {
            if ctx.out.json {
                ctx.out.body(&r);
            } else {
                println!("deleted {key}");
            }
            EXIT_OK
        }
        (404, _) => not_found(ctx, &r, key),
        (412, Some(tag)) => {
            let msg = format!("delete {key}: {}", changed_text(key, &tag, &r));
            ctx.out.precondition_failed(&msg, &r)
        }
        _ => ctx.out.http_failure(&format!("delete {key}"), &r),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_as_typed_become_header_values() {
        assert_eq!(
            etag_arg("01a213e472610000").unwrap(),
            "\"01a213e472610000\""
        );
        assert_eq!(
            etag_arg("\"01a213e472610000\"").unwrap(),
            "\"01a213e472610000\""
        );
        assert_eq!(etag_arg("*").unwrap(), "*");
        assert_eq!(etag_arg("\"a\", \"b\"").unwrap(), "\"a\", \"b\"");
        assert!(etag_arg("\"a\"\r\nX-Evil: 1").is_err());
        assert!(etag_arg("").is_err());
    }

    #[test]
    fn values_become_the_envelope() {
        let v = NewValue {
            text: "hi \"there\"",
            is_json: false,
            ttl: Some(5),
        };
        assert_eq!(v.envelope().unwrap(), r#"{"value":"hi \"there\"","ttl":5}"#);
        let v = NewValue {
            text: "[1, 2.50]",
            is_json: true,
            ttl: None,
        };
        assert_eq!(v.envelope().unwrap(), r#"{"value":[1, 2.50]}"#);
        let v = NewValue {
            text: "{nope",
            is_json: true,
            ttl: None,
        };
        assert!(v.envelope().unwrap_err().contains("not valid JSON"));
    }

    #[test]
    fn a_lost_race_names_both_versions_and_the_node() {
        let r = Response {
            status: 412,
            headers: vec![
                ("X-Cache-Node".into(), "node2".into()),
                ("ETag".into(), "\"00000000000000bb\"".into()),
            ],
            body: br#"{"error":"precondition failed","status":412,"key":"k"}"#.to_vec(),
        };
        let t = changed_text("k", "\"00000000000000aa\"", &r);
        assert_eq!(
            t,
            "precondition failed on node2: k is not at ETag \"00000000000000aa\"; it is at ETag \"00000000000000bb\" now (read it again and retry)"
        );
        assert_eq!(
            exists_text("k", &r),
            "k already exists on node2 (ETag \"00000000000000bb\"): not added"
        );
    }
}
