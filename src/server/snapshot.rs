//! Warm restart: each core writes its shard to `data_dir` when the node stops (after draining),
//! and the node loads the files before it serves again (then catches up from its peers, which
//! brings whatever was written while it was away).
//!
//! Files are consumed: they are deleted once read, so a later crash (kill -9, no snapshot) can
//! never bring back this old state. A snapshot older than `tombstone_ttl` is refused: peers may
//! have forgotten a delete of one of its keys since, and loading it would undo that delete. A
//! corrupt or foreign file is refused with a message naming it, and the node starts empty (its
//! peers still hold every key it replicates).

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::core::Core;
use super::shared::CoreHash;
use crate::cluster::unix_ms;
use crate::config::Config;
use crate::storage::snapshot::{self, RecordRef, SnapshotWriter};
use crate::storage::Entry;

/// Entries copied out of the shard per page while saving.
const SAVE_PAGE: usize = 4096;

/// Write this core's shard to `data_dir` (the core serves nothing any more).
pub(crate) fn save(c: &Core) {
    let cfg = c.cfg();
    let dir = Path::new(&cfg.data_dir);
    let started = Instant::now();
    match write(c, dir) {
        Ok((records, bytes)) => {
            let secs = started.elapsed().as_secs_f64().max(1e-6);
            crate::info!(
                "core {}: saved {records} entries ({:.1} MB) to {} in {:.0} ms ({:.0} entries/s, {:.1} MB/s)",
                c.exec.core,
                bytes as f64 / 1e6,
                dir.join(snapshot::file_name(c.exec.core)).display(),
                secs * 1000.0,
                records as f64 / secs,
                bytes as f64 / 1e6 / secs
            );
        }
        Err(e) => crate::error!(
            "core {}: could not save its snapshot to {}: {e}; its keys are still on their other replicas",
            c.exec.core,
            dir.display()
        ),
    }
}

fn write(c: &Core, dir: &Path) -> Result<(u64, u64), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let now_ms = c.exec.now_ms();
    let now_unix = unix_ms();
    let name = snapshot::file_name(c.exec.core);
    let mut w = SnapshotWriter::create(dir, &name, &c.cfg().node_id, now_unix)
        .map_err(|e| e.to_string())?;
    let shard = c.exec.shard.borrow();
    let mut cursor = Some(0);
    while let Some(at) = cursor {
        let page = shard.page_all(at, SAVE_PAGE, now_ms);
        for e in &page.entries {
            let r = RecordRef {
                key: &e.key,
                value: &e.value,
                expires_at_unix_ms: e.ttl_ms.map(|t| now_unix + t),
                version: e.version,
                tomb: e.tomb,
            };
            w.push(&r).map_err(|e| e.to_string())?;
        }
        cursor = page.next;
    }
    let stats = w.finish().map_err(|e| e.to_string())?;
    Ok((stats.records, stats.bytes))
}

/// Read every snapshot in `data_dir` into per-core entry lists (this node's core layout, which
/// may differ from the one that wrote them), then delete the files. Empty when there are none,
/// or when any is refused (said in the log).
pub(crate) fn load(cfg: &Config, placement: &CoreHash) -> Vec<Vec<Entry>> {
    let mut per_core: Vec<Vec<Entry>> = (0..placement.cores()).map(|_| Vec::new()).collect();
    if cfg.data_dir.is_empty() {
        return per_core;
    }
    let dir = Path::new(&cfg.data_dir);
    let files = match snapshot::list(dir) {
        Ok(f) => f,
        Err(e) => {
            crate::warn!(
                "warm restart: cannot list {}: {e}; starting empty",
                dir.display()
            );
            return per_core;
        }
    };
    if files.is_empty() {
        return per_core;
    }
    let started = Instant::now();
    match read_all(cfg, &files, placement, &mut per_core) {
        Ok((records, bytes)) => {
            let secs = started.elapsed().as_secs_f64().max(1e-6);
            crate::info!(
                "warm restart: loaded {records} entries ({:.1} MB) from {} files in {} in {:.0} ms ({:.0} entries/s, {:.1} MB/s){}",
                bytes as f64 / 1e6,
                files.len(),
                dir.display(),
                secs * 1000.0,
                records as f64 / secs,
                bytes as f64 / 1e6 / secs,
                if cfg.cluster_nodes.len() > 1 {
                    "; catching up from peers next"
                } else {
                    ""
                }
            );
        }
        Err(e) => {
            crate::error!("warm restart: {e}; starting empty (peers hold every replicated key)");
            per_core.iter_mut().for_each(Vec::clear);
        }
    }
    for f in &files {
        if let Err(e) = std::fs::remove_file(f) {
            crate::warn!(
                "warm restart: cannot remove {} after loading it: {e}",
                f.display()
            );
        }
    }
    per_core
}

fn read_all(
    cfg: &Config,
    files: &[PathBuf],
    placement: &CoreHash,
    per_core: &mut [Vec<Entry>],
) -> Result<(u64, u64), String> {
    let now = unix_ms();
    let max_age = cfg.tombstone_ttl.as_millis() as u64;
    let (mut records, mut bytes) = (0u64, 0u64);
    for path in files {
        let loaded = snapshot::load(path, &cfg.node_id, now).map_err(|e| e.to_string())?;
        let age = now.saturating_sub(loaded.written_unix_ms);
        if age > max_age {
            return Err(format!(
                "{} was written {} s ago, longer than tombstone_ttl ({} s): peers may have forgotten deletes it predates",
                path.display(),
                age / 1000,
                max_age / 1000
            ));
        }
        bytes += loaded.bytes;
        for r in loaded.records {
            records += 1;
            let ttl_ms = r.expires_at_unix_ms.map(|at| at.saturating_sub(now).max(1));
            per_core[placement.core_of(&r.key)].push(Entry {
                key: r.key,
                value: r.value,
                ttl_ms,
                version: r.version,
                tomb: r.tomb,
            });
        }
    }
    Ok((records, bytes))
}
