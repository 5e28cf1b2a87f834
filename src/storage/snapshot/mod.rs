//! Warm-restart snapshots: the file format one core's keys are saved in on shutdown and loaded
//! from at start. Pure I/O: this module knows records and files, not shards or cores.
//!
//! # Format (version 1, all integers little-endian)
//!
//! ```text
//! header   magic "DCSNAP01" | u32 format version = 1 | u16 node-id length | node-id bytes
//!          | u64 unix ms written
//! record*  u8 flags (bit0 tombstone, bit1 has expiry, other bits 0) | u64 version
//!          | [u64 expires-at unix ms, if bit1] | u32 key length | u32 value length | key | value
//! trailer  u8 0xFF end marker | u64 record count | u64 xxh64 (seed 0) of every byte before it
//! ```
//!
//! The end marker cannot be mistaken for flags (it sets unknown bits), the count catches a
//! trailer glued onto the wrong body, and the checksum covers everything, so a file is loaded
//! whole or refused whole: a cache may always start empty, but must never serve a torn value.
//! Files are written to `<name>.tmp`, fsynced, renamed into place and the directory fsynced, so a
//! crash mid-save leaves the previous snapshot (or none), never half of one.
//!
//! Loading reads the file with one `fs::read` and hands out [`Bytes`] slices of that buffer
//! (no per-record copy). Every length is checked against the bytes that remain before it is
//! used, so a corrupt or hostile file is refused with an error, never a panic or an allocation
//! sized by a field. The node id in the header stops a node from loading keys it does not own
//! after a data directory is copied or a config is mixed up.

mod error;
mod read;
mod write;

pub use error::{ErrorKind, SnapshotError};
pub use read::load;
pub use write::SnapshotWriter;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use error::io_err;

/// First bytes of every snapshot; the trailing "01" is part of the magic, not the version.
pub const MAGIC: &[u8; 8] = b"DCSNAP01";
/// The layout described above. A reader refuses any other value rather than guess.
pub const FORMAT_VERSION: u32 = 1;
/// Longest key a snapshot may hold: above the config's `MAX_KEY_BYTES_CEILING` (65,535), so
/// every key a node can store fits; a longer length field means a corrupt file.
pub const MAX_KEY_LEN: usize = 64 * 1024;
/// Largest value a snapshot may hold: twice the config's `MAX_VALUE_BYTES_CEILING` (512 MiB), so
/// every storable value fits, while a corrupt length cannot claim gigabytes.
pub const MAX_VALUE_LEN: usize = 1 << 30;
/// Writes go through a buffer this large: a few hundred syscalls per GiB, small next to a shard.
const WRITE_BUFFER_BYTES: usize = 1 << 20;

const FLAG_TOMB: u8 = 1;
const FLAG_EXPIRY: u8 = 2;
const END_MARKER: u8 = 0xFF;
/// Smallest possible record (flags, version, two lengths): bounds how many records a file can
/// hold, so the record vector is never sized by the (untrusted) count field alone.
const MIN_RECORD_BYTES: usize = 1 + 8 + 4 + 4;
/// End marker, record count and checksum.
const TRAILER_BYTES: usize = 1 + 8 + 8;
const FILE_PREFIX: &str = "shard-";
const FILE_SUFFIX: &str = ".snap";

/// One loaded record; `key` and `value` share the file's buffer.
///
/// Holding any of them keeps the whole file buffer alive, which is fine for a load that copies
/// each entry into its shard and then drops the [`Loaded`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub key: Bytes,
    pub value: Bytes,
    pub expires_at_unix_ms: Option<u64>,
    pub version: u64,
    pub tomb: bool,
}

/// A record to save, borrowing the shard's bytes so saving copies nothing but into the buffer.
#[derive(Clone, Copy, Debug)]
pub struct RecordRef<'a> {
    pub key: &'a [u8],
    pub value: &'a [u8],
    pub expires_at_unix_ms: Option<u64>,
    pub version: u64,
    pub tomb: bool,
}

/// What [`SnapshotWriter::finish`] wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SaveStats {
    pub records: u64,
    /// The whole file, header and trailer included.
    pub bytes: u64,
}

/// What [`load`] found: the live records, in file order.
#[derive(Debug)]
pub struct Loaded {
    pub records: Vec<Record>,
    /// Records skipped because their expiry had passed.
    pub expired: u64,
    /// Size of the file.
    pub bytes: u64,
    pub written_unix_ms: u64,
}

/// The name of core `core`'s snapshot file: `shard-<core>.snap`.
pub fn file_name(core: usize) -> String {
    format!("{FILE_PREFIX}{core}{FILE_SUFFIX}")
}

/// The core a file name belongs to, if it is exactly what [`file_name`] produces (so
/// `shard-01.snap`, `shard-1.snap.tmp` and `shard-+1.snap` are not snapshots).
fn core_of(name: &str) -> Option<usize> {
    let digits = name.strip_prefix(FILE_PREFIX)?.strip_suffix(FILE_SUFFIX)?;
    let core: usize = digits.parse().ok()?;
    (file_name(core) == name).then_some(core)
}

/// Every snapshot file in `dir`, sorted by core number, whatever core count wrote them (the
/// caller re-routes keys if the count changed). A missing directory holds no snapshots.
pub fn list(dir: &Path) -> Result<Vec<PathBuf>, SnapshotError> {
    let entries = match fs::read_dir(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        other => other.map_err(io_err("list", dir))?,
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io_err("list", dir))?;
        if let Some(core) = entry.file_name().to_str().and_then(core_of) {
            found.push((core, entry.path()));
        }
    }
    found.sort_unstable();
    Ok(found.into_iter().map(|(_, path)| path).collect())
}

#[cfg(test)]
mod tests;
