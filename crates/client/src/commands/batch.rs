//! `mget KEY...` and `mset KEY=VALUE... [--ttl S]`: many keys in one `POST /api/v1/batch`
//! (split into batches of [`MAX_BATCH_OPS`] when there are more), which the node fans out to the
//! keys' owners. Each key gets its own status, as the node answers them in order: the command
//! exits 0 only when every key was found (`mget`) or stored (`mset`), and names the others.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use super::read::printable;
use super::write::NewValue;
use super::Ctx;
use crate::conn::{Options, Response};
use crate::output::{bytes_text, served_by};
use crate::{EXIT_FAILED, EXIT_OK};

/// The batch call.
pub const BATCH_PATH: &str = "/api/v1/batch";

/// Operations sent per request: the node's own bound on one batch (`MAX_BATCH_OPS` in the
/// node's `src/server/handlers/batch/parse.rs`), so a longer command line becomes several
/// batches, not a 400.
pub const MAX_BATCH_OPS: usize = 1000;

/// One result of a batch answer, as far as this client reads it; the JSON itself is kept as it
/// came for `--json`.
#[derive(Deserialize)]
struct OpResult<'a> {
    status: u16,
    #[serde(borrow, default)]
    value: Option<&'a RawValue>,
    #[serde(default)]
    value_base64: Option<&'a str>,
    #[serde(default)]
    content_type: Option<&'a str>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct Answer<'a> {
    #[serde(borrow)]
    results: Vec<&'a RawValue>,
}

/// `{"ops":[..]}` from the ops' JSON texts.
fn document(ops: &[String]) -> String {
    format!("{{\"ops\":[{}]}}", ops.join(","))
}

/// Results of a batch command: each op's JSON text in order, and the node that answered.
struct Done {
    results: Vec<String>,
    node: Option<String>,
}

/// Send `ops` in batches; every result, or the exit code of a failure already reported.
fn run(ctx: &Ctx, verb: &str, ops: &[String]) -> Result<Done, u8> {
    let mut results = Vec::with_capacity(ops.len());
    let mut node = None;
    for chunk in ops.chunks(MAX_BATCH_OPS) {
        let body = document(chunk);
        let r = match ctx.send(
            "POST",
            BATCH_PATH,
            Some(body.as_bytes()),
            &Options::default(),
        ) {
            Ok(r) => r,
            Err(e) => return Err(ctx.out.client_error(&e)),
        };
        let parsed = (r.status == 200)
            .then(|| serde_json::from_slice::<Answer<'_>>(&r.body).ok())
            .flatten()
            .filter(|a| a.results.len() == chunk.len());
        let Some(answer) = parsed else {
            return Err(failed(ctx, verb, &r));
        };
        results.extend(answer.results.iter().map(|v| v.get().to_string()));
        node = node.or_else(|| served_by(&r));
    }
    Ok(Done { results, node })
}

fn failed(ctx: &Ctx, verb: &str, r: &Response) -> u8 {
    if r.status == 200 {
        ctx.out.http_failure(
            &format!("{verb}: the batch answer is not one result per key"),
            r,
        )
    } else {
        ctx.out.http_failure(verb, r)
    }
}

/// The results as one `{"results":[..]}` document, each as the node wrote it.
fn print_results(results: &[String]) {
    println!("{{\"results\":[{}]}}", results.join(","));
}

/// The key text of a result line, padded so that values line up (up to a bound).
fn key_column(keys: &[&str]) -> usize {
    /// Wider keys are not padded further: a long key should not push every value off screen.
    const MAX_KEY_COLUMN: usize = 40;
    keys.iter()
        .map(|k| k.chars().count())
        .max()
        .unwrap_or(0)
        .min(MAX_KEY_COLUMN)
}

/// A result in words for `mget`: the value, `(not found)`, a raw value's type and size, or the
/// error.
fn value_text(res: &OpResult<'_>) -> String {
    match res.status {
        200 => match (res.value, res.value_base64, res.content_type) {
            (Some(v), _, _) => v.get().to_string(),
            (None, Some(b64), t) => {
                let len = base64_len(b64);
                let t = t.unwrap_or("raw");
                format!("({t}, {})", bytes_text(len))
            }
            _ => "(no value in the answer)".to_string(),
        },
        404 => "(not found)".to_string(),
        s => format!("(HTTP {s}: {})", res.error.as_deref().unwrap_or("failed")),
    }
}

/// Decoded length of standard base64 text.
fn base64_len(b64: &str) -> u64 {
    let pad = b64.bytes().rev().take_while(|b| *b == b'=').count();
    (b64.len() / 4 * 3).saturating_sub(pad) as u64
}

pub fn mget(ctx: &Ctx, keys: &[String]) -> u8 {
    let ops: Vec<String> = keys
        .iter()
        .map(|k| format!("{{\"op\":\"get\",\"key\":{}}}", Value::from(k.as_str())))
        .collect();
    let results = match run(ctx, "mget", &ops) {
        Ok(done) => done.results,
        Err(code) => return code,
    };
    let mut missing = 0;
    let mut failed = Vec::new();
    let width = key_column(&keys.iter().map(String::as_str).collect::<Vec<_>>());
    for (key, text) in keys.iter().zip(&results) {
        let res: OpResult<'_> = serde_json::from_str(text).unwrap_or(OpResult {
            status: 0,
            value: None,
            value_base64: None,
            content_type: None,
            error: Some(format!("unreadable result {text}")),
        });
        match res.status {
            200 => {}
            404 => missing += 1,
            _ => failed.push(key.as_str()),
        }
        if !ctx.out.json {
            let shown = match (&res.value_base64, res.status) {
                (Some(b64), 200) => text_of_raw(b64).unwrap_or_else(|| value_text(&res)),
                _ => value_text(&res),
            };
            println!("{key:<width$}  {shown}");
        }
    }
    if ctx.out.json {
        print_results(&results);
    } else if missing > 0 || !failed.is_empty() {
        let mut parts = Vec::new();
        if missing > 0 {
            parts.push(format!("{missing} not found"));
        }
        if !failed.is_empty() {
            parts.push(format!("failed: {}", failed.join(", ")));
        }
        eprintln!(
            "mget: {} of {} keys: {}",
            missing + failed.len(),
            keys.len(),
            parts.join("; ")
        );
    }
    if missing == 0 && failed.is_empty() {
        EXIT_OK
    } else {
        EXIT_FAILED
    }
}

/// A raw value shown as a JSON string when it is one line of text, else `None`.
fn text_of_raw(b64: &str) -> Option<String> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    let text = printable(&bytes).filter(|t| !t.contains(['\n', '\r']))?;
    Some(Value::from(text).to_string())
}

/// `KEY=VALUE` split at the first `=` (so a value may hold `=`, a key may not).
pub fn parse_pair(pair: &str) -> Result<(&str, &str), String> {
    match pair.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k, v)),
        _ => Err(format!(
            "{pair:?} is not KEY=VALUE (the first '=' ends the key; a key cannot be empty)"
        )),
    }
}

pub fn mset(ctx: &Ctx, pairs: &[String], is_json: bool, ttl: Option<u64>) -> u8 {
    let mut keys = Vec::with_capacity(pairs.len());
    let mut ops = Vec::with_capacity(pairs.len());
    for pair in pairs {
        let (key, text) = match parse_pair(pair) {
            Ok(kv) => kv,
            Err(e) => return ctx.out.usage(&e),
        };
        let value = match (NewValue { text, is_json, ttl }).json() {
            Ok(v) => v,
            Err(e) => return ctx.out.usage(&format!("{key}: {e}")),
        };
        let ttl = ttl.map(|t| format!(",\"ttl\":{t}")).unwrap_or_default();
        let key_json = Value::from(key);
        ops.push(format!(
            "{{\"op\":\"put\",\"key\":{key_json},\"value\":{value}{ttl}}}"
        ));
        keys.push(key);
    }
    let Done { results, node } = match run(ctx, "mset", &ops) {
        Ok(done) => done,
        Err(code) => return code,
    };
    let (mut created, mut replaced, mut failed) = (0, 0, 0);
    for (key, text) in keys.iter().zip(&results) {
        let res = serde_json::from_str::<OpResult<'_>>(text).ok();
        match res.as_ref().map(|r| r.status) {
            Some(201) => created += 1,
            Some(200) => replaced += 1,
            status => {
                failed += 1;
                if !ctx.out.json {
                    let why = res
                        .and_then(|r| r.error)
                        .unwrap_or_else(|| text.to_string());
                    let status = status.map_or("?".to_string(), |s| s.to_string());
                    eprintln!("error: mset {key}: HTTP {status} {why}");
                }
            }
        }
    }
    if ctx.out.json {
        print_results(&results);
    } else {
        println!(
            "stored {} of {} keys ({created} created, {replaced} replaced) via {}",
            created + replaced,
            keys.len(),
            node.unwrap_or_else(|| ctx.nodes[0].name.clone())
        );
    }
    if failed == 0 {
        EXIT_OK
    } else {
        EXIT_FAILED
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_split_at_the_first_equals() {
        assert_eq!(parse_pair("a=b=c"), Ok(("a", "b=c")));
        assert_eq!(parse_pair("a="), Ok(("a", "")));
        assert!(parse_pair("=b").is_err());
        assert!(parse_pair("ab").is_err());
    }

    #[test]
    fn results_in_words() {
        let r = |t: &str| value_text(&serde_json::from_str::<OpResult<'_>>(t).unwrap());
        assert_eq!(
            r(r#"{"status":200,"key":"a","value":[1,2.50]}"#),
            "[1,2.50]"
        );
        assert_eq!(r(r#"{"status":404,"key":"a"}"#), "(not found)");
        assert_eq!(
            r(
                r#"{"status":200,"key":"a","value_base64":"iVBORw0KGgoA/w==","content_type":"image/png"}"#
            ),
            "(image/png, 10 B)"
        );
        assert_eq!(
            r(r#"{"status":503,"key":"a","error":"no replica"}"#),
            "(HTTP 503: no replica)"
        );
        assert_eq!(text_of_raw("aGVsbG8="), Some("\"hello\"".to_string()));
        assert_eq!(text_of_raw("iVBORw0KGgoA/w=="), None);
        assert_eq!(document(&["1".into(), "2".into()]), r#"{"ops":[1,2]}"#);
    }
}
