//! Entries to a peer as local-scope import documents: a cluster import's batches, hint
//! deliveries and hand-overs.

use std::fmt::Write as _;
use std::time::Duration;

use super::report::read_import_answer;
use super::{ImportError, IMPORT_FORWARD_BATCH, MOVE_EPOCH_PARAM};
use crate::cluster::Outgoing;
use crate::http::Method;
use crate::server::core::Core;
use crate::server::document::{write_entry, EXPORT_FORMAT, EXPORT_VERSION};
use crate::storage::{Entry, Loaded};

/// Send entries (versions and tombstones included) to `peer` as local-scope import documents,
/// in batches, each call within `timeout`. Stops at the first batch that fails.
pub(crate) async fn send_import(
    c: &Core,
    peer: usize,
    entries: &[Entry],
    only_missing: bool,
    timeout: Duration,
) -> Result<Loaded, ImportError> {
    send_all(c, peer, entries, local_query(only_missing), timeout).await
}

/// [`send_import`] of the keys a membership change at `epoch` moves: a peer that has not
/// adopted that epoch yet refuses them (409, see `import::behind_the_move`), so a move never
/// lands while a hand-over of the older epoch may still forget the same keys there.
pub(crate) async fn send_move(
    c: &Core,
    peer: usize,
    entries: &[Entry],
    epoch: u64,
    timeout: Duration,
) -> Result<Loaded, ImportError> {
    let query = format!("scope=local&{MOVE_EPOCH_PARAM}={epoch}");
    send_all(c, peer, entries, query.as_bytes(), timeout).await
}

/// `entries` in documents of [`IMPORT_FORWARD_BATCH`], stopping at the first that fails.
async fn send_all(
    c: &Core,
    peer: usize,
    entries: &[Entry],
    query: &[u8],
    timeout: Duration,
) -> Result<Loaded, ImportError> {
    let mut done = Loaded::default();
    for batch in entries.chunks(IMPORT_FORWARD_BATCH) {
        done += send_doc(c, peer, batch, query, timeout).await?;
    }
    Ok(done)
}

/// The query of a local-scope import (`if_absent=1`: keep live values the peer has).
fn local_query(only_missing: bool) -> &'static [u8] {
    if only_missing {
        b"scope=local&if_absent=1"
    } else {
        b"scope=local"
    }
}

/// One local-scope import document to `peer`, within `timeout`.
pub(super) async fn send_batch(
    c: &Core,
    peer: usize,
    batch: &[Entry],
    only_missing: bool,
    timeout: Duration,
) -> Result<Loaded, ImportError> {
    send_doc(c, peer, batch, local_query(only_missing), timeout).await
}

/// One import document of `batch` to `peer` with `query`, within `timeout`.
async fn send_doc(
    c: &Core,
    peer: usize,
    batch: &[Entry],
    query: &[u8],
    timeout: Duration,
) -> Result<Loaded, ImportError> {
    let mut doc = Vec::with_capacity(64 * 1024);
    let _ = write!(
        ByteWriter(&mut doc),
        "{{\"format\":\"{EXPORT_FORMAT}\",\"version\":{EXPORT_VERSION},\"entries\":["
    );
    for (i, e) in batch.iter().enumerate() {
        if i > 0 {
            doc.push(b',');
        }
        write_entry(&mut doc, e);
    }
    let _ = write!(ByteWriter(&mut doc), "],\"count\":{}}}", batch.len());
    let req = Outgoing {
        method: Method::Post,
        path: b"/admin/import",
        query: Some(query),
        body: Some(&doc),
        version: None,
        content_type: None,
        headers: b"",
    };
    let a = c
        .peers
        .call(peer, &req, timeout)
        .await
        .map_err(ImportError::Peer)?;
    read_import_answer(a.status, a.body())
}

/// `write!` into a byte buffer.
struct ByteWriter<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for ByteWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}
