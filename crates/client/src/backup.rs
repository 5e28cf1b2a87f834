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
        let (summary, notes) = import_text(v, addr);
        println!("{summary}");
        for n in notes {
            eprintln!("{n}");
        }
    } else {
        let msg = v["error"].as_str().map_or_else(
            || String::from_utf8_lossy(body).into_owned(),
            str::to_string,
        );
        eprintln!("error: import refused: HTTP {} {msg}", status);
    }
}

/// An import answer in words: the summary line (stdout) and the notes, warnings and error that
/// follow it (stderr), from the node's `{"imported","superseded","rejected","total","nodes",
/// "unknown","failed","hinted","hints_dropped"[,"error"]}` (a node from before versions answers
/// `nodes` as plain counts and without the other members; both read the same).
fn import_text(v: &Value, addr: &str) -> (String, Vec<String>) {
    let num = |x: &Value| x.as_u64().unwrap_or(0);
    let per_node = v["nodes"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(id, n)| match n.as_u64() {
                    Some(count) => format!("{id} {count}"),
                    None => {
                        let mut t = format!("{id} {}", num(&n["applied"]));
                        let others: Vec<String> = [
                            ("superseded", &n["superseded"]),
                            ("rejected", &n["rejected"]),
                        ]
                        .into_iter()
                        .filter(|(_, x)| num(x) > 0)
                        .map(|(what, x)| format!("{} {what}", num(x)))
                        .collect();
                        if !others.is_empty() {
                            t.push_str(&format!(" ({})", others.join(", ")));
                        }
                        t
                    }
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    let superseded = num(&v["superseded"]);
    let summary = format!(
        "imported {} of {} entries ({superseded} superseded, {} rejected) via {addr}; per node: {per_node}",
        num(&v["imported"]),
        num(&v["total"]),
        num(&v["rejected"]),
    );
    let mut notes = Vec::new();
    if superseded > 0 {
        notes.push(format!(
            "note: {superseded} entries were not newer than what the cluster holds (a later write or delete of the key wins, or it is there already); import --overwrite restores them anyway"
        ));
    }
    let (hinted, dropped) = (num(&v["hinted"]), num(&v["hints_dropped"]));
    if hinted > 0 || dropped > 0 {
        let mut n = format!("note: {hinted} copies kept as hints for members that could not take them, delivered when they are back");
        if dropped > 0 {
            n.push_str(&format!("; {dropped} could not be kept (hint bound reached): those members catch up by repair"));
        }
        notes.push(n);
    }
    let unknown: Vec<&str> = v["unknown"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if !unknown.is_empty() {
        notes.push(format!(
            "warning: no complete answer from {}: they may have applied part of their share (kept as hints too; running the import again settles it)",
            unknown.join(", ")
        ));
    }
    if let Some(failed) = v["failed"].as_object() {
        for (id, why) in failed {
            notes.push(format!(
                "warning: {id} applied nothing of its share: {}",
                why.as_str().unwrap_or("failed")
            ));
        }
    }
    if let Some(e) = v["error"].as_str() {
        notes.push(format!("error: {e}"));
    }
    (summary, notes)
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
    fn an_import_answer_in_words() {
        let v: Value = serde_json::from_str(
            r#"{"imported":3,"rejected":1,"superseded":2,"total":6,"nodes":{"node1":{"applied":3,"superseded":1,"rejected":0},"node2":{"applied":2,"superseded":2,"rejected":1}},"unknown":["node3"],"failed":{"node4":"answered 400: no"},"hinted":4,"hints_dropped":1,"error":"import incomplete: 1 of 6 entries reached no replica","status":502}"#,
        )
        .unwrap();
        let (summary, notes) = import_text(&v, "h:1");
        assert_eq!(
            summary,
            "imported 3 of 6 entries (2 superseded, 1 rejected) via h:1; per node: node1 3 (1 superseded), node2 2 (2 superseded, 1 rejected)"
        );
        assert_eq!(notes.len(), 5, "{notes:?}");
        assert!(
            notes[0].starts_with("note: 2 entries were not newer")
                && notes[0].contains("--overwrite")
        );
        assert!(
            notes[1].starts_with("note: 4 copies kept as hints")
                && notes[1].contains("1 could not be kept")
        );
        assert!(notes[2].starts_with("warning: no complete answer from node3:"));
        assert_eq!(
            notes[3],
            "warning: node4 applied nothing of its share: answered 400: no"
        );
        assert_eq!(
            notes[4],
            "error: import incomplete: 1 of 6 entries reached no replica"
        );

        let clean: Value = serde_json::from_str(
            r#"{"imported":2,"rejected":0,"superseded":0,"total":2,"nodes":{"node1":{"applied":2,"superseded":0,"rejected":0}},"unknown":[],"failed":{},"hinted":0,"hints_dropped":0}"#,
        )
        .unwrap();
        let (summary, notes) = import_text(&clean, "h:1");
        assert_eq!(
            summary,
            "imported 2 of 2 entries (0 superseded, 0 rejected) via h:1; per node: node1 2"
        );
        assert!(notes.is_empty(), "{notes:?}");

        // A node from before versions: plain counts per node.
        let old: Value = serde_json::from_str(
            r#"{"imported":5,"rejected":0,"total":5,"nodes":{"n1":2,"n2":3}}"#,
        )
        .unwrap();
        let (summary, notes) = import_text(&old, "h:1");
        assert_eq!(
            summary,
            "imported 5 of 5 entries (0 superseded, 0 rejected) via h:1; per node: n1 2, n2 3"
        );
        assert!(notes.is_empty());
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
