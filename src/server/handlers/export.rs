//! `GET /admin/export`: the whole cluster's data as one streamed document.
//!
//! The [`Exporter`] produces the document piece by piece: this node's shards page by page (typed
//! scans run on each core), then each source peer's local export, spliced line by line. Memory
//! held is one page or one network read, whatever the data size. See `server::document` for
//! the format; entries carry their version, and only live values are exported (no tombstones).
//!
//! Each key is listed once however many replicas hold it: the coordinator ranks the members once
//! (up, behind, not asked) and sends the ranks with every `?scope=local&view=..` request; each
//! member exports only the keys whose best-ranked replica it is ([`view`] has the rule and why
//! it yields exactly one exporter per key). A down member's keys come from its other replicas;
//! `missing` lists only members holding keys of which no asked member has a replica.

use std::io::ErrorKind;
use std::rc::Rc;
use std::sync::Arc;

use super::admin::json_str;
use crate::cluster::{Cluster, ConnectError};
use crate::http::response::json_escape;
use crate::http::{ParseError, ProtoError};
use crate::mesh::oneshot::Canceled;
use crate::server::core::Core;
use crate::server::document::{write_entry, Scope, EXPORT_FORMAT, EXPORT_VERSION};
use crate::storage::Entry;

mod peer;
pub(crate) mod view;
use peer::PeerExport;
use view::View;

/// Entries fetched from a core per export step: bounds the memory an export holds at once.
pub(crate) const EXPORT_PAGE: usize = 1000;

/// Why an export stopped before the end of its document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ExportError {
    /// A core of this node stopped (shutdown) before handing over its page.
    Stopped(Canceled),
    /// Peer `id` (configured address `addr`) could not deliver its part.
    Peer {
        id: String,
        addr: String,
        cause: PeerExportError,
    },
}

/// What went wrong reading one peer's local export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PeerExportError {
    Connect(ConnectError),
    /// Sending the request failed.
    Write(ErrorKind),
    Read(ErrorKind),
    /// No data within `timeouts.write` (`ms`).
    TimedOut {
        ms: u64,
    },
    /// The peer answered another status than 200.
    Answered(u16),
    /// The connection closed before a whole response head.
    NoResponse,
    Malformed(ProtoError),
    /// The chunked framing of its body is broken.
    Chunked(ParseError),
    /// A line that is neither an entry nor the document's header or footer.
    UnexpectedLine,
    /// A line longer than the largest entry (`max` bytes).
    LineTooLong {
        max: usize,
    },
    /// The connection closed before the end of its document.
    ClosedEarly,
}

impl ExportError {
    fn peer(cl: &Cluster, idx: usize, cause: PeerExportError) -> ExportError {
        let m = &cl.member(idx);
        ExportError::Peer {
            id: m.id.clone(),
            addr: m.addr.clone(),
            cause,
        }
    }
}

impl std::fmt::Display for ExportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExportError::Stopped(e) => write!(f, "export of this node's shards: {e}"),
            ExportError::Peer {
                id,
                addr,
                cause: cause @ PeerExportError::Connect(_),
            } => write!(f, "export from {id} ({addr}): {cause}"),
            ExportError::Peer { id, cause, .. } => write!(f, "export from {id}: {cause}"),
        }
    }
}

impl std::error::Error for ExportError {}

impl std::fmt::Display for PeerExportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = |k: &ErrorKind| k.to_string().to_lowercase();
        match self {
            PeerExportError::Connect(e) => write!(f, "{e}"),
            PeerExportError::Write(k) => write!(f, "write: {}", kind(k)),
            PeerExportError::Read(k) => write!(f, "read: {}", kind(k)),
            PeerExportError::TimedOut { ms } => {
                write!(f, "timed out: no data within timeouts.write ({ms} ms)")
            }
            PeerExportError::Answered(status) => write!(f, "answered {status}"),
            PeerExportError::NoResponse => {
                f.write_str("missing response: connection closed before a response head")
            }
            PeerExportError::Malformed(e) => write!(f, "{e}"),
            PeerExportError::Chunked(e) => write!(f, "chunked body: {}", e.message()),
            PeerExportError::UnexpectedLine => f.write_str("unexpected line in its document"),
            PeerExportError::LineTooLong { max } => {
                write!(f, "line too long (over {max} bytes)")
            }
            PeerExportError::ClosedEarly => {
                f.write_str("connection closed before the end of its document")
            }
        }
    }
}

impl std::error::Error for PeerExportError {}

/// Walks every core's shard page by page; memory held is one page, whatever the data size.
pub(crate) struct LocalScan {
    core: usize,
    cursor: Option<usize>,
    /// Export only the keys this node is the exporter of (a cluster export's view).
    view: Option<Arc<View>>,
}

impl Default for LocalScan {
    fn default() -> Self {
        LocalScan::new(None)
    }
}

impl LocalScan {
    pub(crate) fn new(view: Option<Arc<View>>) -> Self {
        LocalScan {
            core: 0,
            cursor: Some(0),
            view,
        }
    }

    /// The next page of entries; `None` when every core is done.
    pub(crate) async fn next_page(&mut self, c: &Rc<Core>) -> Result<Option<Vec<Entry>>, Canceled> {
        loop {
            if self.core >= c.exec.cores() {
                return Ok(None);
            }
            let Some(cursor) = self.cursor else {
                self.core += 1;
                self.cursor = Some(0);
                continue;
            };
            let view = self.view.clone();
            let page = c
                .on_core(self.core, move |c| {
                    let now = c.exec.now_ms();
                    let mut page = c.exec.shard.borrow().page(cursor, EXPORT_PAGE, now);
                    if let Some(v) = view {
                        let cl = &c.node.cluster;
                        page.entries.retain(|e| v.exports_key(cl, &e.key));
                    }
                    page
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
pub(crate) struct Exporter {
    scope: Scope,
    scan: LocalScan,
    phase: Phase,
    /// A cluster export's ranking of the members (`None`: standalone, or a local export).
    view: Option<Arc<View>>,
    count: u64,
    nodes: Vec<String>,
    missing: Vec<String>,
}

impl Exporter {
    pub(crate) fn new(scope: Scope) -> Self {
        Exporter {
            scope,
            scan: LocalScan::default(),
            phase: Phase::Start,
            view: None,
            count: 0,
            nodes: Vec::new(),
            missing: Vec::new(),
        }
    }

    /// Fix who exports what (see [`view`]): a cluster export ranks the members now and works out
    /// `missing`; a local export takes the ranks its coordinator sent, if they fit this cluster.
    fn choose_view(&mut self, c: &Core) {
        let cl = &c.node.cluster;
        let view = match &self.scope {
            _ if cl.is_standalone() => None,
            Scope::Cluster => {
                let v = view::rank_members(cl);
                let missing = view::cluster_missing(cl, &v, c.cfg().virtual_nodes);
                self.missing = missing
                    .into_iter()
                    .map(|i| cl.member(i).id.clone())
                    .collect();
                Some(v)
            }
            Scope::Local { view: None } => None,
            Scope::Local { view: Some(digits) } => {
                let v = View::parse_for(digits, cl);
                if v.is_none() {
                    crate::warn!(
                        "export: ignoring view {:?} (expected one digit 0-2 per member, {} members at epoch {}): exporting every key held here",
                        String::from_utf8_lossy(digits),
                        cl.listed().len(),
                        cl.epoch()
                    );
                }
                v
            }
        };
        self.view = view.map(Arc::new);
        self.scan = LocalScan::new(self.view.clone());
    }

    fn push_entry(count: &mut u64, out: &mut Vec<u8>, entry: &[u8]) {
        if *count > 0 {
            out.push(b',');
        }
        out.push(b'\n');
        out.extend_from_slice(entry);
        *count += 1;
    }

    /// The query of a peer's part: local scope, restricted to the keys it exports (the view in
    /// the membership document's order, which peers share).
    fn peer_query(&self, cl: &crate::cluster::Cluster) -> String {
        match &self.view {
            Some(v) => format!("scope=local&view={}", v.encode_for(cl)),
            None => "scope=local".to_string(),
        }
    }

    /// Append the next piece to `out`; Ok(false) when the document is complete.
    pub(crate) async fn next(
        &mut self,
        c: &Rc<Core>,
        out: &mut Vec<u8>,
    ) -> Result<bool, ExportError> {
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
                self.choose_view(c);
                Phase::Local
            }
            Phase::Local => match self.scan.next_page(c).await.map_err(ExportError::Stopped)? {
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
                    if self.scope.is_local() {
                        Phase::Done
                    } else {
                        Phase::Peer(0)
                    }
                }
            },
            Phase::Peer(i) if i >= cl.slot_count() => Phase::Done,
            Phase::Peer(i) if !cl.listed().contains(&i) => Phase::Peer(i + 1),
            Phase::Peer(i) if i == cl.me => Phase::Peer(i + 1),
            // Not asked: its keys come from other replicas (or it is listed in `missing`).
            Phase::Peer(i) if !self.view.as_ref().is_none_or(|v| v.is_source(i)) => {
                Phase::Peer(i + 1)
            }
            Phase::Peer(i) => match PeerExport::open(c, i, &self.peer_query(cl)).await {
                Ok(px) => Phase::Streaming(i, Box::new(px)),
                Err(cause) => return Err(ExportError::peer(cl, i, cause)),
            },
            Phase::Streaming(i, mut px) => {
                let done = px
                    .step(c, &mut self.count, out)
                    .await
                    .map_err(|cause| ExportError::peer(cl, i, cause))?;
                if done {
                    self.nodes.push(cl.member(i).id.clone());
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

#[cfg(test)]
#[path = "export_tests.rs"]
mod tests;
