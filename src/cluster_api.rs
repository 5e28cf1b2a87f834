//! `/admin/cluster`, `/admin/export` and `/admin/import`: the node's view of the cluster and the
//! backup format. The export document is one JSON object whose entries are separated by newlines;
//! values are stored minified, so removing every CR/LF (as `curl -d @file` does) leaves the same
//! document.

use crate::admin::{self, LocalScan, EXPORT_FORMAT, EXPORT_VERSION};
use crate::api::{self, Reply as R};
use crate::http::response::{json_escape, CONTENT_JSON};
use crate::worker::Worker;

/// `GET /admin/cluster`.
pub async fn cluster_info(w: &Worker, out: &mut Vec<u8>, r: R) {
    let (entries, bytes) = admin::totals(w).await;
    let cfg = w.cfg();
    let mut b = Vec::with_capacity(512);
    b.extend_from_slice(b"{\"node_id\":\"");
    json_escape(&mut b, cfg.node_id.as_bytes());
    b.extend_from_slice(b"\",\"address\":\"");
    json_escape(&mut b, w.shared.local_addr.to_string().as_bytes());
    b.extend_from_slice(
        format!(
            "\",\"threads\":{},\"entries\":{entries},\"bytes\":{bytes},\"nodes\":[",
            w.shared.mesh.cores()
        )
        .as_bytes(),
    );
    for (i, (id, addr)) in cfg.cluster_nodes.iter().enumerate() {
        if i > 0 {
            b.push(b',');
        }
        b.extend_from_slice(b"{\"id\":\"");
        json_escape(&mut b, id.as_bytes());
        b.extend_from_slice(b"\",\"address\":\"");
        json_escape(&mut b, addr.as_bytes());
        b.extend_from_slice(b"\"}");
    }
    b.extend_from_slice(b"]}");
    api::send(w, out, r, 200, CONTENT_JSON, &b, &[]);
}

/// `POST /admin/import`: restore an export document.
pub async fn import(w: &Worker, out: &mut Vec<u8>, r: R, body: &[u8]) {
    let plan = match admin::parse_import(body, w.cfg().max_key_bytes, w.cfg().max_value_bytes) {
        Ok(p) => p,
        Err(msg) => return api::error(w, out, r, 400, &msg, None, &[]),
    };
    let total = plan.entries.len();
    let (stored, rejected) = admin::load_local(w, plan.entries).await;
    let body = format!("{{\"imported\":{stored},\"rejected\":{rejected},\"total\":{total}}}");
    api::send(w, out, r, 200, CONTENT_JSON, body.as_bytes(), &[]);
}

enum Phase {
    Start,
    Entries,
    Done,
}

/// Produces the export document piece by piece.
pub struct Exporter {
    scan: LocalScan,
    phase: Phase,
    count: u64,
}

impl Exporter {
    pub fn new(_w: &Worker) -> Self {
        Exporter {
            scan: LocalScan::default(),
            phase: Phase::Start,
            count: 0,
        }
    }

    /// Append the next piece to `out`; false when the document is complete.
    pub async fn next(&mut self, w: &Worker, out: &mut Vec<u8>) -> bool {
        match self.phase {
            Phase::Start => {
                out.extend_from_slice(format!("{{\"format\":\"{EXPORT_FORMAT}\",\"version\":{EXPORT_VERSION},\"node_id\":\"").as_bytes());
                json_escape(out, w.cfg().node_id.as_bytes());
                out.extend_from_slice(b"\",\"exported_at\":\"");
                out.extend_from_slice(
                    crate::log::timestamp(std::time::SystemTime::now()).as_bytes(),
                );
                out.extend_from_slice(b"\",\"entries\":[");
                self.phase = Phase::Entries;
                true
            }
            Phase::Entries => {
                match self.scan.next_page(w).await {
                    Some(page) => {
                        for e in &page {
                            if self.count > 0 {
                                out.push(b',');
                            }
                            out.push(b'\n');
                            admin::write_entry(out, e);
                            self.count += 1;
                        }
                    }
                    None => {
                        out.extend_from_slice(
                            format!("\n],\"count\":{}}}\n", self.count).as_bytes(),
                        );
                        self.phase = Phase::Done;
                        return false;
                    }
                }
                true
            }
            Phase::Done => false,
        }
    }
}
