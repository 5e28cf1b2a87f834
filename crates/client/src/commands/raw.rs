//! `put KEY --file FILE [--content-type TYPE] [--ttl S]`: store a file's bytes as they are (an
//! image, protobuf, compressed HTML), with the type given, as the node's raw values. Nothing is
//! guessed: the type is `application/octet-stream` unless `--content-type` says otherwise, and the
//! bytes are sent unchanged (never read as text). `get KEY --output FILE` gets them back.

use std::io::Read;
use std::path::Path;

use super::write::{etag_arg, stored};
use super::Ctx;
use crate::conn::{field_value, Options};
use crate::http::key_path;
use crate::output::bytes_text;

/// The type of a raw value when `--content-type` is not given.
pub const DEFAULT_RAW_TYPE: &str = "application/octet-stream";

/// Largest file `put` reads: the ceiling of the node's `max_value_bytes` (512 MiB). A node
/// configured lower answers 413 for anything above its own limit.
pub const MAX_RAW_BYTES: u64 = 512 * 1024 * 1024;

/// Types the node reads as the `{"value":..}` envelope, not as raw bytes (the seed's calls and
/// `curl -d` send them): a file sent with one would be parsed, not stored.
const ENVELOPE_TYPES: [&str; 2] = ["application/json", "application/x-www-form-urlencoded"];

/// The options of `put`.
pub struct RawPut<'a> {
    pub file: &'a Path,
    pub content_type: &'a str,
    pub ttl: Option<u64>,
    pub if_match: Option<&'a str>,
    pub if_absent: bool,
}

/// `content_type` when it can be a raw value's type; the reason otherwise.
pub fn check_type(content_type: &str) -> Result<&str, String> {
    let t = field_value("--content-type", content_type)?;
    let media = t.split(';').next().unwrap_or("").trim();
    if ENVELOPE_TYPES.iter().any(|e| media.eq_ignore_ascii_case(e)) {
        return Err(format!(
            "--content-type {media}: the node reads a body of that type as the {{\"value\":..}} envelope, not as raw bytes; store JSON with `set KEY VALUE --json-value`, or name another type"
        ));
    }
    let (kind, sub) = media.split_once('/').unwrap_or(("", ""));
    if kind.is_empty() || sub.is_empty() || media.contains(char::is_whitespace) {
        return Err(format!(
            "--content-type must be a media type such as image/png or text/html; charset=utf-8, not {t:?}"
        ));
    }
    Ok(t)
}

/// The file's bytes (`-`: standard input), at most [`MAX_RAW_BYTES`].
fn read_value(file: &Path) -> Result<Vec<u8>, String> {
    let mut data = Vec::new();
    let name = file.display();
    let read = if file == Path::new("-") {
        std::io::stdin()
            .lock()
            .take(MAX_RAW_BYTES + 1)
            .read_to_end(&mut data)
    } else {
        std::fs::File::open(file).and_then(|f| f.take(MAX_RAW_BYTES + 1).read_to_end(&mut data))
    };
    read.map_err(|e| format!("cannot read {name}: {e}"))?;
    if data.len() as u64 > MAX_RAW_BYTES {
        return Err(format!(
            "{name} is larger than any node takes as one value ({})",
            bytes_text(MAX_RAW_BYTES)
        ));
    }
    Ok(data)
}

pub fn put(ctx: &Ctx, key: &str, p: &RawPut<'_>) -> u8 {
    let content_type = match check_type(p.content_type) {
        Ok(t) => t,
        Err(e) => return ctx.out.usage(&e),
    };
    let tag = match p.if_match.map(etag_arg).transpose() {
        Ok(t) => t,
        Err(e) => return ctx.out.usage(&e),
    };
    let data = match read_value(p.file) {
        Ok(d) => d,
        Err(e) => return ctx.out.usage(&e),
    };
    let ttl = p.ttl.map(|t| t.to_string());
    let mut headers: Vec<(&str, &str)> = Vec::new();
    if let Some(t) = &ttl {
        headers.push(("X-Cache-TTL", t));
    }
    if let Some(t) = &tag {
        headers.push(("If-Match", t));
    }
    if p.if_absent {
        headers.push(("If-None-Match", "*"));
    }
    let opts = Options {
        content_type,
        headers: &headers,
        ..Options::default()
    };
    let r = match ctx.send("PUT", &key_path(key), Some(&data), &opts) {
        Ok(r) => r,
        Err(e) => return ctx.out.client_error(&e),
    };
    match r.status {
        200 | 201 => stored(ctx, key, p.ttl, &r),
        412 => {
            let why = match &tag {
                Some(t) => format!("{key} is not at ETag {t}"),
                None => format!("{key} already exists"),
            };
            let now = r
                .header("etag")
                .map(|e| format!(" (now ETag {e})"))
                .unwrap_or_default();
            ctx.out
                .precondition_failed(&format!("put {key}: precondition failed: {why}{now}"), &r)
        }
        _ => ctx.out.http_failure(&format!("put {key}"), &r),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_media_type_but_the_envelope_ones() {
        for ok in ["image/png", "text/html; charset=utf-8", DEFAULT_RAW_TYPE] {
            assert_eq!(check_type(ok), Ok(ok));
        }
        for json in ["application/json", "Application/JSON; charset=utf-8"] {
            let e = check_type(json).unwrap_err();
            assert!(e.contains("envelope") && e.contains("--json-value"), "{e}");
        }
        assert!(check_type("application/x-www-form-urlencoded").is_err());
        for bad in ["png", "image/", "/png", "text/\r\nX: 1", "a b/c"] {
            assert!(check_type(bad).is_err(), "{bad:?}");
        }
    }
}
