//! `GET /admin/export`: the whole cluster's data as one streamed document.
//!
//! The [`Exporter`] produces the document piece by piece: this node's shards page by page (typed
//! scans run on each core), then each live peer's local export, spliced line by line. Memory
//! held is one page or one network read, whatever the data size. See `server::document` for
//! the format.

use std::rc::Rc;

use bytes::BytesMut;
use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;

use super::admin::json_str;
use crate::http::response::json_escape;
use crate::http::{parse_response_head, ChunkStatus, ChunkedDecoder};
use crate::mesh::oneshot::Canceled;
use crate::server::core::Core;
use crate::server::document::{write_entry, Scope, EXPORT_FORMAT, EXPORT_VERSION};
use crate::storage::Entry;

/// Entries fetched from a core per export step: bounds the memory an export holds at once.
pub const EXPORT_PAGE: usize = 1000;
/// Largest single line accepted from a peer's export (one entry: key + value + framing).
const MAX_EXPORT_LINE_SLACK: usize = 64 * 1024;

/// Walks every core's shard page by page; memory held is one page, whatever the data size.
pub struct LocalScan {
    core: usize,
    cursor: Option<usize>,
}

impl Default for LocalScan {
    fn default() -> Self {
        LocalScan {
            core: 0,
            cursor: Some(0),
        }
    }
}

impl LocalScan {
    /// The next page of entries; `None` when every core is done.
    pub async fn next_page(&mut self, c: &Rc<Core>) -> Result<Option<Vec<Entry>>, Canceled> {
        loop {
            if self.core >= c.exec.cores() {
                return Ok(None);
            }
            let Some(cursor) = self.cursor else {
                self.core += 1;
                self.cursor = Some(0);
                continue;
            };
            let page = c
                .on_core(self.core, move |c| {
                    let now = c.exec.now_ms();
                    c.exec.shard.borrow().page(cursor, EXPORT_PAGE, now)
                })
                .await?;
            self.cursor = page.next;
            if !page.entries.is_empty() {
                return Ok(Some(page.entries));
            }
        }
    }
}

enum Phase {
    Start,
    Local,
    /// Next member index to visit.
    Peer(usize),
    /// Streaming member `.0`'s export.
    Streaming(usize, Box<PeerExport>),
    Done,
}

/// Produces the export document piece by piece (this node's shards, then each live peer's);
/// each call appends at most one page or one network read, so memory stays bounded.
pub struct Exporter {
    scope: Scope,
    scan: LocalScan,
    phase: Phase,
    count: u64,
    nodes: Vec<String>,
    missing: Vec<String>,
}

impl Exporter {
    pub fn new(scope: Scope) -> Self {
        Exporter {
            scope,
            scan: LocalScan::default(),
            phase: Phase::Start,
            count: 0,
            nodes: Vec::new(),
            missing: Vec::new(),
        }
    }

    fn push_entry(count: &mut u64, out: &mut Vec<u8>, entry: &[u8]) {
        if *count > 0 {
            out.push(b',');
        }
        out.push(b'\n');
        out.extend_from_slice(entry);
        *count += 1;
    }

    /// Append the next piece to `out`; Ok(false) when the document is complete.
    pub async fn next(&mut self, c: &Rc<Core>, out: &mut Vec<u8>) -> Result<bool, String> {
        let cl = &c.node.cluster;
        let phase = std::mem::replace(&mut self.phase, Phase::Done);
        self.phase = match phase {
            Phase::Start => {
                out.extend_from_slice(format!("{{\"format\":\"{EXPORT_FORMAT}\",\"version\":{EXPORT_VERSION},\"node_id\":\"").as_bytes());
                json_escape(out, c.cfg().node_id.as_bytes());
                out.extend_from_slice(b"\",\"exported_at\":\"");
                out.extend_from_slice(
                    crate::log::timestamp(std::time::SystemTime::now()).as_bytes(),
                );
                out.extend_from_slice(b"\",\"entries\":[");
                Phase::Local
            }
            Phase::Local => match self.scan.next_page(c).await.map_err(|e| e.to_string())? {
                Some(page) => {
                    let mut line = Vec::with_capacity(256);
                    for e in &page {
                        line.clear();
                        write_entry(&mut line, e);
                        Self::push_entry(&mut self.count, out, &line);
                    }
                    Phase::Local
                }
                None => {
                    self.nodes.push(c.cfg().node_id.clone());
                    if self.scope == Scope::Local {
                        Phase::Done
                    } else {
                        Phase::Peer(0)
                    }
                }
            },
            Phase::Peer(i) if i >= cl.members.len() => Phase::Done,
            Phase::Peer(i) if i == cl.me => Phase::Peer(i + 1),
            Phase::Peer(i) if !cl.is_alive(i) => {
                self.missing.push(cl.members[i].id.clone());
                Phase::Peer(i + 1)
            }
            Phase::Peer(i) => Phase::Streaming(i, Box::new(PeerExport::open(c, i).await?)),
            Phase::Streaming(i, mut px) => {
                let done = px.step(c, &mut self.count, out).await?;
                if done {
                    self.nodes.push(cl.members[i].id.clone());
                    Phase::Peer(i + 1)
                } else {
                    Phase::Streaming(i, px)
                }
            }
            Phase::Done => {
                let list =
                    |v: &[String]| v.iter().map(|s| json_str(s)).collect::<Vec<_>>().join(",");
                out.extend_from_slice(
                    format!(
                        "\n],\"count\":{},\"nodes\":[{}],\"missing\":[{}]}}\n",
                        self.count,
                        list(&self.nodes),
                        list(&self.missing)
                    )
                    .as_bytes(),
                );
                return Ok(false);
            }
        };
        Ok(true)
    }
}

/// One peer's local export being read and spliced line by line.
pub struct PeerExport {
    stream: TcpStream,
    peer_id: String,
    raw: Vec<u8>,
    decoded: BytesMut,
    dec: ChunkedDecoder,
    head_done: bool,
    lines_seen: usize,
    max_line: usize,
}

impl PeerExport {
    async fn open(c: &Core, peer: usize) -> Result<PeerExport, String> {
        let cl = &c.node.cluster;
        let m = &cl.members[peer];
        let mut last = String::from("no address");
        let mut stream = None;
        for addr in cl.addrs(peer) {
            match monoio::time::timeout(
                c.cfg().cluster.connect_timeout,
                TcpStream::connect_addr(addr),
            )
            .await
            {
                Ok(Ok(s)) => {
                    stream = Some(s);
                    break;
                }
                Ok(Err(e)) => last = format!("{addr}: {}", e.to_string().to_lowercase()),
                Err(_) => last = format!("{addr}: connect timed out"),
            }
        }
        let mut stream =
            stream.ok_or_else(|| format!("export from {} ({}): {last}", m.id, m.addr))?;
        let req = format!(
            "GET /admin/export?scope=local HTTP/1.1\r\nHost: {}\r\nX-Cache-Forwarded: {}\r\nConnection: close\r\n\r\n",
            m.addr,
            cl.self_id()
        );
        let (res, _) = stream.write_all(req.into_bytes()).await;
        res.map_err(|e| format!("export from {}: {e}", m.id))?;
        Ok(PeerExport {
            stream,
            peer_id: m.id.clone(),
            raw: Vec::with_capacity(64 * 1024),
            decoded: BytesMut::with_capacity(64 * 1024),
            // The peer's document size is unbounded by design (it is streamed); lines are bounded below.
            dec: ChunkedDecoder::new(usize::MAX / 2),
            head_done: false,
            lines_seen: 0,
            max_line: c.cfg().max_value_bytes + c.cfg().max_key_bytes * 6 + MAX_EXPORT_LINE_SLACK,
        })
    }

    /// Read once and copy the complete entry lines; Ok(true) at the end of the peer's document.
    async fn step(&mut self, c: &Core, count: &mut u64, out: &mut Vec<u8>) -> Result<bool, String> {
        let id = &self.peer_id;
        if self.raw.capacity() - self.raw.len() < 4096 {
            self.raw.reserve(64 * 1024);
        }
        let buf = std::mem::take(&mut self.raw);
        let (len, cap) = (buf.len(), buf.capacity());
        let (res, slice) = match monoio::time::timeout(
            c.cfg().timeouts.write,
            self.stream.read(buf.slice_mut(len..cap)),
        )
        .await
        {
            Ok(r) => r,
            Err(_) => return Err(format!("export from {id}: timed out")),
        };
        self.raw = slice.into_inner();
        let n = res.map_err(|e| format!("export from {id}: {e}"))?;
        if !self.head_done {
            match parse_response_head(&self.raw, false, |_, _| {}) {
                Ok(Some(h)) if h.status != 200 => {
                    return Err(format!("export from {id}: answered {}", h.status))
                }
                Ok(Some(h)) => {
                    self.raw.drain(..h.head_len);
                    self.head_done = true;
                }
                Ok(None) if n > 0 => return Ok(false),
                Ok(None) => return Err(format!("export from {id}: missing response")),
                Err(e) => return Err(format!("export from {id}: {e}")),
            }
        }
        let finished = match self.dec.decode(&self.raw, &mut self.decoded) {
            Ok(ChunkStatus::Done { .. }) => true,
            Ok(ChunkStatus::NeedMore { .. }) => false,
            Err(e) => return Err(format!("export from {id}: {}", e.message())),
        };
        self.raw.clear();
        while let Some(pos) = self.decoded.iter().position(|&b| b == b'\n') {
            let line = self.decoded.split_to(pos + 1);
            let line = &line[..pos];
            self.lines_seen += 1;
            if self.lines_seen == 1 || line.starts_with(b"]") || line.is_empty() {
                continue; // the document's header and footer lines
            }
            let entry = line.strip_suffix(b",").unwrap_or(line);
            if !(entry.starts_with(b"{\"key\":") && entry.ends_with(b"}")) {
                return Err(format!("export from {id}: unexpected line in its document"));
            }
            Exporter::push_entry(count, out, entry);
        }
        if self.decoded.len() > self.max_line {
            return Err(format!("export from {id}: line too long"));
        }
        if finished {
            return Ok(true);
        }
        if n == 0 {
            return Err(format!(
                "export from {id}: connection closed before the end of its document"
            ));
        }
        Ok(false)
    }
}
