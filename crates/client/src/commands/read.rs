//! `get KEY [--output FILE]`: one key's value, its TTL, its version (`ETag`) and the node that
//! answered. A JSON value comes in the node's envelope; a raw value (stored with another
//! `Content-Type`, see `put --file`) comes as its exact bytes, which are never turned into text:
//! `--output` writes them to a file (or `-`, stdout) as they came, and `--json` gives them in
//! base64, as the export document and batch answers do.

use std::io::Write;
use std::path::Path;

use base64::Engine as _;
use serde_json::{json, value::RawValue, Value};

use super::{not_found, Ctx};
use crate::conn::Response;
use crate::http::key_path;
use crate::output::{bytes_text, secs_text, served_by, with_etag};
use crate::EXIT_OK;

/// A GET answer with the value kept as the node stored it (member order, `2.50` spellings).
#[derive(serde::Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    value: &'a RawValue,
    ttl: Option<u64>,
}

/// What a 200 to a GET holds.
pub(crate) enum Got<'a> {
    /// The seed's envelope: the JSON value as stored, and the seconds left when it expires.
    Json { value: &'a str, ttl: Option<u64> },
    /// A raw value: its bytes exactly, and the type it was stored with.
    Raw {
        content_type: &'a str,
        bytes: &'a [u8],
        ttl: Option<u64>,
    },
}

/// Whether a `Content-Type` is JSON, i.e. the answer is the envelope. A raw value never has it: a
/// PUT sent as `application/json` is read as the envelope, not stored as bytes.
pub(crate) fn is_json_type(content_type: Option<&str>) -> bool {
    content_type.is_none_or(|t| {
        let media = t.split(';').next().unwrap_or("").trim();
        media.eq_ignore_ascii_case("application/json")
    })
}

/// The seconds a raw value has left, from `Cache-Control: max-age=N` (a raw answer has no
/// envelope to hold a `ttl`); `None` for a value that does not expire (the node's default
/// `no-cache` for those). A node whose `cache_control_no_ttl` itself sets a `max-age` makes a
/// value without TTL look like one with that TTL here: the header cannot tell them apart.
pub(crate) fn max_age(r: &Response) -> Option<u64> {
    r.header("cache-control")?
        .split(',')
        .find_map(|d| d.trim().strip_prefix("max-age=")?.trim().parse().ok())
}

impl<'a> Got<'a> {
    /// The value of a 200 to a GET, or `None` when its JSON body is not the envelope.
    pub(crate) fn of(r: &'a Response) -> Option<Got<'a>> {
        let content_type = r.header("content-type");
        if is_json_type(content_type) {
            let env: Envelope<'a> = serde_json::from_slice(&r.body).ok()?;
            return Some(Got::Json {
                value: env.value.get(),
                ttl: env.ttl,
            });
        }
        Some(Got::Raw {
            content_type: content_type.unwrap_or_default(),
            bytes: &r.body,
            ttl: max_age(r),
        })
    }

    /// The bytes `--output` writes: a raw value's own, or the JSON text of a JSON value.
    fn bytes(&self) -> &[u8] {
        match self {
            Got::Json { value, .. } => value.as_bytes(),
            Got::Raw { bytes, .. } => bytes,
        }
    }
}

/// Raw bytes as a JSON object's members, as the export document and batch answers carry them.
pub(crate) fn raw_json(content_type: &str, bytes: &[u8]) -> serde_json::Map<String, Value> {
    let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut m = serde_json::Map::new();
    m.insert("value_base64".into(), Value::String(b64));
    m.insert("content_type".into(), Value::String(content_type.into()));
    m
}

/// `bytes` as text for a terminal when they are UTF-8 without control characters (tabs and line
/// breaks aside), else `None`: binary is never printed.
pub(crate) fn printable(bytes: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(bytes).ok()?;
    let plain = text
        .chars()
        .all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r'));
    plain.then_some(text)
}

pub fn get(ctx: &Ctx, key: &str, output: Option<&Path>) -> u8 {
    let to_stdout = output == Some(Path::new("-"));
    if to_stdout && ctx.out.json {
        return ctx
            .out
            .usage("--output - and --json would both write to stdout: give --output a FILE");
    }
    let r = match ctx.first("GET", &key_path(key), None) {
        Ok(r) => r,
        Err(e) => return ctx.out.client_error(&e),
    };
    match r.status {
        200 => {}
        404 => return not_found(ctx, &r, key),
        _ => return ctx.out.http_failure(&format!("get {key}"), &r),
    }
    let Some(got) = Got::of(&r) else {
        return ctx
            .out
            .http_failure(&format!("get {key}: unexpected body"), &r);
    };
    match output {
        Some(path) => save(ctx, key, &r, &got, path),
        None if ctx.out.json => print_json(ctx, key, &r, &got),
        None => print_human(key, &r, &got),
    }
}

/// `--json`: the node's envelope as it came plus `etag`; a raw value as `value_base64`.
fn print_json(ctx: &Ctx, key: &str, r: &Response, got: &Got<'_>) -> u8 {
    let etag = r.header("etag");
    match got {
        Got::Json { .. } => match with_etag(&r.body, etag) {
            Some(text) => println!("{text}"),
            None => ctx.out.body(r),
        },
        Got::Raw {
            content_type,
            bytes,
            ttl,
        } => {
            let mut m = serde_json::Map::new();
            m.insert("key".into(), Value::from(key));
            m.extend(raw_json(content_type, bytes));
            if let Some(t) = ttl {
                m.insert("ttl".into(), Value::from(*t));
            }
            if let Some(e) = etag {
                m.insert("etag".into(), Value::from(e));
            }
            ctx.out.value(&Value::Object(m));
        }
    }
    EXIT_OK
}

fn print_human(key: &str, r: &Response, got: &Got<'_>) -> u8 {
    println!("key    {key}");
    let ttl = match got {
        Got::Json { value, ttl } => {
            println!("value  {value}");
            ttl
        }
        Got::Raw {
            content_type,
            bytes,
            ttl,
        } => {
            println!("type   {content_type}");
            println!("size   {}", bytes_text(bytes.len() as u64));
            match printable(bytes) {
                Some(text) => println!("value  {text}"),
                None => println!("value  (binary: save it with --output FILE)"),
            }
            ttl
        }
    };
    if let Some(ttl) = ttl {
        println!("ttl    {}", secs_text(*ttl));
    }
    if let Some(etag) = r.header("etag") {
        println!("etag   {etag}");
    }
    if let Some(node) = served_by(r) {
        println!("node   {node}");
    }
    EXIT_OK
}

/// `--output PATH`: the value's bytes exactly, to `PATH.part` renamed to `PATH` once written
/// (so a failed write never leaves half a value under the real name), or to stdout for `-`.
fn save(ctx: &Ctx, key: &str, r: &Response, got: &Got<'_>, path: &Path) -> u8 {
    let bytes = got.bytes();
    if path == Path::new("-") {
        let mut out = std::io::stdout().lock();
        if let Err(e) = out.write_all(bytes).and_then(|()| out.flush()) {
            return ctx
                .out
                .usage(&format!("writing {key}'s value to stdout: {e}"));
        }
        return EXIT_OK;
    }
    let mut part = path.as_os_str().to_owned();
    part.push(".part");
    let part = Path::new(&part);
    let written = std::fs::write(part, bytes).and_then(|()| std::fs::rename(part, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(part);
        return ctx.out.usage(&format!(
            "cannot write {key}'s value to {}: {e}",
            path.display()
        ));
    }
    let content_type = match got {
        Got::Json { .. } => "application/json",
        Got::Raw { content_type, .. } => content_type,
    };
    if ctx.out.json {
        ctx.out
            .value(&json!({"key": key, "file": path.display().to_string(),
            "bytes": bytes.len(), "content_type": content_type, "etag": r.header("etag")}));
    } else {
        eprintln!(
            "saved {key} ({}, {content_type}) to {}",
            bytes_text(bytes.len() as u64),
            path.display()
        );
    }
    EXIT_OK
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(content_type: Option<&str>, extra: &[(&str, &str)], body: &[u8]) -> Response {
        let mut headers: Vec<(String, String)> = extra
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        if let Some(t) = content_type {
            headers.push(("Content-Type".into(), t.into()));
        }
        Response {
            status: 200,
            headers,
            body: body.to_vec(),
        }
    }

    #[test]
    fn json_types_are_the_envelope_others_raw() {
        for t in [
            None,
            Some("application/json"),
            Some("Application/JSON; charset=utf-8"),
        ] {
            assert!(is_json_type(t), "{t:?}");
        }
        for t in [
            "application/octet-stream",
            "image/png",
            "application/vnd.api+json",
        ] {
            assert!(!is_json_type(Some(t)), "{t}");
        }
    }

    #[test]
    fn a_raw_answer_keeps_its_bytes_and_type() {
        let png = b"\x89PNG\r\n\x1a\n\x00\xff";
        let r = response(Some("image/png"), &[("Cache-Control", "max-age=42")], png);
        let Some(Got::Raw {
            content_type,
            bytes,
            ttl,
        }) = Got::of(&r)
        else {
            panic!("raw expected");
        };
        assert_eq!(
            (content_type, bytes, ttl),
            ("image/png", &png[..], Some(42))
        );
        assert_eq!(Got::of(&r).unwrap().bytes(), png);
        assert!(printable(png).is_none());
        assert_eq!(printable(b"<p>hi</p>\n"), Some("<p>hi</p>\n"));
        let m = raw_json("image/png", png);
        assert_eq!(m["value_base64"], "iVBORw0KGgoA/w==");

        let r = response(
            Some("application/json"),
            &[],
            br#"{"key":"k","value":[1,2.50],"ttl":9}"#,
        );
        let Some(Got::Json { value, ttl }) = Got::of(&r) else {
            panic!("envelope expected");
        };
        assert_eq!((value, ttl), ("[1,2.50]", Some(9)));
        let no_ttl = response(Some("text/plain"), &[("Cache-Control", "no-store")], b"x");
        assert_eq!(max_age(&no_ttl), None);
    }
}
