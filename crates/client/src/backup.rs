//! `export [FILE]` and `import FILE`: the deployment guide's 数据备份 (data backup) section as
//! commands.
//!
//! An export is streamed to `FILE.part` and renamed to `FILE` only once it is complete, so an
//! interrupted export never leaves a truncated backup under the real name; memory stays bounded
//! whatever the data size (only the document's last bytes are kept, to read its summary). An
//! import streams the file as the request body. Exit 1 when the export misses down members or the
//! import was refused or partial. On a terminal both draw their progress on stderr ([`progress`]).

mod progress;

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::commands::Ctx;
use super::conn::Body;
use super::output::bytes_text;
use super::{EXIT_FAILED, EXIT_OK};
use progress::{Metered, Progress};

/// Bytes of the end of an export kept to read its `count`, `nodes` and `missing` members.
const TAIL_BYTES: usize = 64 * 1024;

/// Passes bytes through and remembers the last [`TAIL_BYTES`] of them and the total.
struct Tail<W> {
    inner: W,
    tail: Vec<u8>,
    total: u64,
}

impl<W: Write> Write for Tail<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.total += n as u64;
        self.tail.extend_from_slice(&buf[..n]);
        if self.tail.len() > 2 * TAIL_BYTES {
            self.tail.drain(..self.tail.len() - TAIL_BYTES);
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// `{"count":N,"nodes":[..],"missing":[..]}` from the end of an export document.
fn export_summary(tail: &[u8]) -> Option<Value> {
    let text = std::str::from_utf8(tail).ok()?;
    let at = text.rfind("],\"count\":")?;
    serde_json::from_str(&format!("{{{}", &text[at + 2..])).ok()
}

fn part_path(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".part");
    PathBuf::from(name)
}

pub fn export(ctx: &Ctx, file: Option<&Path>, local: bool) -> u8 {
    let path = if local {
        "/admin/export?scope=local"
    } else {
        "/admin/export"
    };
    let node = &ctx.nodes[0];
    let part = file.map(part_path);
    let sink = match export_sink(ctx, part.as_deref()) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let mut tail = Tail {
        inner: Metered {
            inner: sink,
            progress: Progress::new(progress::wanted_here(ctx.out.json), "exporting", None),
        },
        tail: Vec::new(),
        total: 0,
    };
    let res = ctx
        .conn(node)
        .request_to("GET", path, Body::None, &mut tail);
    let flushed = tail.flush();
    tail.inner.progress.finish();
    let Tail {
        tail: end, total, ..
    } = tail;
    let discard = || {
        if let Some(p) = &part {
            let _ = std::fs::remove_file(p);
        }
    };
    let meta = match res {
        Ok(m) => m,
        Err(e) => {
            discard();
            return ctx.out.client_error(&e);
        }
    };
    if meta.status != 200 {
        discard();
        let r = super::conn::Response {
            status: meta.status,
            headers: meta.headers,
            body: meta.error_body,
        };
        return ctx.out.http_failure("export", &r);
    }
    if let Err(e) = flushed {
        discard();
        return ctx.out.usage(&format!("writing the export: {e}"));
    }
    let summary = export_summary(&end).unwrap_or(Value::Null);
    if let (Some(p), Some(f)) = (&part, file) {
        if let Err(e) = std::fs::rename(p, f) {
            return ctx.out.usage(&format!(
                "cannot rename {} to {}: {e}",
                p.display(),
                f.display()
            ));
        }
    }
    report_export(ctx, file, &node.addr, &summary, total)
}

/// Where an export goes: `FILE.part` (buffered) or stdout; the exit code when it cannot be created.
fn export_sink(ctx: &Ctx, part: Option<&Path>) -> Result<Box<dyn Write>, u8> {
    Ok(match part {
        Some(p) => match File::create(p) {
            Ok(f) => Box::new(io::BufWriter::with_capacity(256 * 1024, f)),
            Err(e) => {
                return Err(ctx
                    .out
                    .usage(&format!("cannot create {}: {e}", p.display())))
            }
        },
        None => Box::new(io::stdout().lock()),
    })
}

/// Report a finished export from the `summary` at its end (`total` bytes, read via `from`); exit
/// 1 when it is incomplete.
fn report_export(ctx: &Ctx, file: Option<&Path>, from: &str, summary: &Value, total: u64) -> u8 {
    let missing: Vec<String> = summary["missing"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|m| m.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let count = summary["count"].as_u64();
    let to = file.map_or("stdout".to_string(), |f| f.display().to_string());
    if ctx.out.json {
        if let Some(f) = file {
            let s = json!({"file": f.display().to_string(), "bytes": total, "count": count,
                "nodes": summary["nodes"], "missing": missing});
            ctx.out.value(&s);
        }
    } else {
        eprintln!(
            "exported {} entries ({}) from {} to {to}",
            count.map_or("?".to_string(), |c| c.to_string()),
            bytes_text(total),
            summary["nodes"]
                .as_array()
                .map(|a| a
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", "))
                .unwrap_or_else(|| from.to_string())
        );
    }
    if missing.is_empty() && count.is_some() {
        EXIT_OK
    } else {
        if !ctx.out.json {
            eprintln!(
                "warning: the export is incomplete: {}",
                if missing.is_empty() {
                    "no summary at its end".to_string()
                } else {
                    format!("members down, not included: {}", missing.join(", "))
                }
            );
        }
        EXIT_FAILED
    }
}

pub fn import(ctx: &Ctx, file: &Path, if_absent: bool, local: bool, overwrite: bool) -> u8 {
    let path = import_path(if_absent, local, overwrite);
    let (reader, len) = match import_source(ctx, file) {
        Ok(source) => source,
        Err(code) => return code,
    };
    let mut metered = Metered {
        inner: reader,
        progress: Progress::new(progress::wanted_here(ctx.out.json), "importing", Some(len)),
    };
    let reader: &mut dyn Read = &mut metered;
    let mut sink = Vec::new();
    let node = &ctx.nodes[0];
    let res = ctx
        .conn(node)
        .request_to("POST", &path, Body::Stream { reader, len }, &mut sink);
    metered.progress.finish();
    let meta = match res {
        Ok(m) => m,
        Err(e) => return ctx.out.client_error(&e),
    };
    let body = if meta.status == 200 {
        sink
    } else {
        meta.error_body
    };
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    report_import(ctx, &v, &body, meta.status, &node.addr);
    if meta.status == 200 {
        EXIT_OK
    } else {
        EXIT_FAILED
    }
}

/// `/admin/import` with the query for `--if-absent`, `--local` and `--overwrite`.
fn import_path(if_absent: bool, local: bool, overwrite: bool) -> String {
    let mut query = Vec::new();
    if if_absent {
        query.push("if_absent=1");
    }
    if overwrite {
        query.push("overwrite=1");
    }
    if local {
        query.push("scope=local");
    }
    if query.is_empty() {
        "/admin/import".to_string()
    } else {
        format!("/admin/import?{}", query.join("&"))
    }
}

/// The backup to import and its length: FILE, or all of standard input for `-`; the exit code
/// when it cannot be read.
fn import_source(ctx: &Ctx, file: &Path) -> Result<(Box<dyn Read>, u64), u8> {
    if file == Path::new("-") {
        let mut data = Vec::new();
        if let Err(e) = io::stdin().read_to_end(&mut data) {
            return Err(ctx.out.usage(&format!("cannot read standard input: {e}")));
        }
        let len = data.len() as u64;
        Ok((Box::new(io::Cursor::new(data)), len))
    } else {
        match File::open(file).and_then(|f| f.metadata().map(|m| (f, m.len()))) {
            Ok((f, len)) => Ok((Box::new(f), len)),
            Err(e) => Err(ctx
                .out
                .usage(&format!("cannot read {}: {e}", file.display()))),
        }
    }
}

/// Print the node's answer to an import (`v`, parsed from `body`; HTTP `status` via `addr`).
fn report_import(ctx: &Ctx, v: &Value, body: &[u8], status: u16, addr: &str) {
    if ctx.out.json {
        ctx.out.value(v);
    } else if v.get("imported").is_some() {
        let per_node = v["nodes"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, n)| format!("{k} {n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        println!(
            "imported {} of {} entries ({} rejected) via {}; per node: {per_node}",
            v["imported"], v["total"], v["rejected"], addr
        );
        if let Some(e) = v["error"].as_str() {
            eprintln!("error: {e}");
        }
    } else {
        let msg = v["error"].as_str().map_or_else(
            || String::from_utf8_lossy(body).into_owned(),
            str::to_string,
        );
        eprintln!("error: import refused: HTTP {} {msg}", status);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_from_the_end_of_an_export() {
        let doc = br#"{"format":"distributed-cache-export","version":1,"entries":[
{"key":"a","value":"],\"count\":9"}
],"count":1,"nodes":["n1","n2"],"missing":["n3"]}"#;
        let s = export_summary(doc).unwrap();
        assert_eq!(s["count"], 1);
        assert_eq!(s["missing"][0], "n3");
        assert!(export_summary(b"{\"entries\":[").is_none());
    }

    #[test]
    fn tail_keeps_the_end() {
        let mut t = Tail {
            inner: Vec::new(),
            tail: Vec::new(),
            total: 0,
        };
        for i in 0..100_000u32 {
            t.write_all(&i.to_le_bytes()).unwrap();
        }
        assert_eq!(t.total, 400_000);
        assert!(t.tail.len() >= TAIL_BYTES && t.tail.len() <= 2 * TAIL_BYTES);
        assert_eq!(t.tail[t.tail.len() - 4..], 99_999u32.to_le_bytes());
        assert_eq!(t.inner.len(), 400_000);
    }
}
