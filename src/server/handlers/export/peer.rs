//! Reading one live peer's local export (`GET /admin/export?scope=local`) and splicing its entry
//! lines into this node's document.

use bytes::BytesMut;
use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};

use super::{Exporter, PeerExportError};
use crate::cluster::PeerStream;
use crate::http::{parse_response_head, ChunkStatus, ChunkedDecoder};
use crate::server::core::Core;

/// Largest single line accepted from a peer's export (one entry: key + value + framing).
const MAX_EXPORT_LINE_SLACK: usize = 64 * 1024;

/// The longest entry line a peer may send: its key escaped (6 bytes per byte at worst), its
/// value (a raw one as base64, a third larger than its bytes: the larger form) and the rest.
fn max_line(max_value: usize, max_key: usize) -> usize {
    let value = base64::encoded_len(max_value, true).unwrap_or(usize::MAX / 2);
    value + max_key * 6 + MAX_EXPORT_LINE_SLACK
}

/// One peer's local export being read and spliced line by line.
pub(crate) struct PeerExport {
    /// Plain or TLS, as every node-to-node connection.
    stream: PeerStream,
    raw: Vec<u8>,
    decoded: BytesMut,
    dec: ChunkedDecoder,
    head_done: bool,
    lines_seen: usize,
    max_line: usize,
}

impl PeerExport {
    /// Connect to `peer` and ask for its export (`query`: see `Exporter::peer_query`).
    pub(super) async fn open(
        c: &Core,
        peer: usize,
        query: &str,
    ) -> Result<PeerExport, PeerExportError> {
        let cl = &c.node.cluster;
        let m = &cl.member(peer);
        let connect_timeout = c.cfg().cluster.connect_timeout;
        let mut stream = crate::cluster::connect_peer(cl, peer, &cl.addrs(peer), connect_timeout)
            .await
            .map_err(PeerExportError::Connect)?;
        let mut req = format!(
            "GET /admin/export?{query} HTTP/1.1\r\nHost: {}\r\nX-Cache-Forwarded: {}\r\nConnection: close\r\n",
            m.addr,
            cl.self_id()
        )
        .into_bytes();
        // The cluster secret: a peer's export is an admin route, and the marker counts only with it.
        if let Some(a) = c.authz.keys().current().cluster_authorization() {
            req.extend_from_slice(b"Authorization: ");
            req.extend_from_slice(a);
            req.extend_from_slice(b"\r\n");
        }
        req.extend_from_slice(b"\r\n");
        let (res, _) = stream.write_all(req).await;
        res.map_err(|e| PeerExportError::Write(e.kind()))?;
        Ok(PeerExport {
            stream,
            raw: Vec::with_capacity(64 * 1024),
            decoded: BytesMut::with_capacity(64 * 1024),
            // The peer's document size is unbounded by design (it is streamed); lines are bounded below.
            dec: ChunkedDecoder::new(usize::MAX / 2),
            head_done: false,
            lines_seen: 0,
            max_line: max_line(c.cfg().max_value_bytes, c.cfg().max_key_bytes),
        })
    }

    /// Read once and copy the complete entry lines; Ok(true) at the end of the peer's document.
    pub(super) async fn step(
        &mut self,
        c: &Core,
        count: &mut u64,
        out: &mut Vec<u8>,
    ) -> Result<bool, PeerExportError> {
        let read_timeout = c.cfg().timeouts.write;
        if self.raw.capacity() - self.raw.len() < 4096 {
            self.raw.reserve(64 * 1024);
        }
        let buf = std::mem::take(&mut self.raw);
        let (len, cap) = (buf.len(), buf.capacity());
        let (res, slice) =
            match monoio::time::timeout(read_timeout, self.stream.read(buf.slice_mut(len..cap)))
                .await
            {
                Ok(r) => r,
                Err(_) => {
                    return Err(PeerExportError::TimedOut {
                        ms: read_timeout.as_millis() as u64,
                    })
                }
            };
        self.raw = slice.into_inner();
        let n = res.map_err(|e| PeerExportError::Read(e.kind()))?;
        if !self.head_done {
            match parse_response_head(&self.raw, false, |_, _| {}) {
                Ok(Some(h)) if h.status != 200 => return Err(PeerExportError::Answered(h.status)),
                Ok(Some(h)) => {
                    self.raw.drain(..h.head_len);
                    self.head_done = true;
                }
                Ok(None) if n > 0 => return Ok(false),
                Ok(None) => return Err(PeerExportError::NoResponse),
                Err(e) => return Err(PeerExportError::Malformed(e)),
            }
        }
        let finished = match self.dec.decode(&self.raw, &mut self.decoded) {
            Ok(ChunkStatus::Done { .. }) => true,
            Ok(ChunkStatus::NeedMore { .. }) => false,
            Err(e) => return Err(PeerExportError::Chunked(e)),
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
                return Err(PeerExportError::UnexpectedLine);
            }
            Exporter::push_entry(count, out, entry);
        }
        if self.decoded.len() > self.max_line {
            return Err(PeerExportError::LineTooLong { max: self.max_line });
        }
        if finished {
            return Ok(true);
        }
        if n == 0 {
            return Err(PeerExportError::ClosedEarly);
        }
        Ok(false)
    }
}
