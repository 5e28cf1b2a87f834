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

use std::fmt;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use xxhash_rust::xxh64::{xxh64, Xxh64};

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

/// Why a snapshot could not be saved or loaded: the file, and what was wrong with it.
///
/// A struct rather than one enum with a path in every variant: every error names its file, and
/// callers that care about the cause match on [`ErrorKind`]. Only startup and shutdown meet it, so
/// it owns its path and strings (the hot path's errors are `Copy`; this one need not be).
#[derive(Debug)]
pub struct SnapshotError {
    pub path: PathBuf,
    pub kind: ErrorKind,
}

/// What was wrong with a snapshot file; offsets are bytes from the start of the file.
#[derive(Debug)]
pub enum ErrorKind {
    /// `op` is what failed: create, write, fsync, rename, fsync directory, read or list.
    Io { op: &'static str, source: io::Error },
    /// The file does not start with [`MAGIC`].
    NotASnapshot,
    /// A format version this build cannot read.
    UnsupportedVersion(u32),
    /// The file holds another node's keys.
    WrongNode {
        written_by: String,
        this_node: String,
    },
    /// `what` at `offset` needs `needed` bytes, but the file ends at `file_len`.
    Truncated {
        offset: u64,
        what: &'static str,
        needed: u64,
        file_len: u64,
    },
    /// `stored` is the checksum in the file, `computed` the checksum of its contents.
    ChecksumMismatch { stored: u64, computed: u64 },
    /// A key, value or node id of `len` bytes, over its limit `max`.
    TooLarge {
        offset: u64,
        what: &'static str,
        len: u64,
        max: u64,
    },
    /// Structure that this writer never produces (behind a valid checksum: a foreign writer).
    Corrupt { offset: u64, what: &'static str },
}

impl fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "snapshot {}: ", self.path.display())?;
        match &self.kind {
            ErrorKind::Io { op, source } => write!(f, "{op} failed: {source}"),
            ErrorKind::NotASnapshot => f.write_str("not a cache snapshot (bad magic)"),
            ErrorKind::UnsupportedVersion(v) => {
                write!(f, "unsupported format version {v} (this build reads {FORMAT_VERSION})")
            }
            ErrorKind::WrongNode { written_by, this_node } => write!(
                f,
                "written by node {written_by:?}, this is node {this_node:?}; \
                 refusing to load another node's keys"
            ),
            ErrorKind::Truncated { offset, what, needed, file_len } => write!(
                f,
                "truncated at offset {offset}: {what} needs {needed} bytes, the file ends at {file_len}"
            ),
            ErrorKind::ChecksumMismatch { stored, computed } => {
                write!(f, "checksum mismatch: expected {stored:016x}, got {computed:016x}")
            }
            ErrorKind::TooLarge { offset, what, len, max } => {
                write!(f, "{what} of {len} bytes at offset {offset} is over the limit of {max}")
            }
            ErrorKind::Corrupt { offset, what } => write!(f, "corrupt at offset {offset}: {what}"),
        }
    }
}

impl std::error::Error for SnapshotError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ErrorKind::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

fn fail(path: &Path, kind: ErrorKind) -> SnapshotError {
    let path = path.to_owned();
    SnapshotError { path, kind }
}

fn too_large(
    path: &Path,
    offset: u64,
    what: &'static str,
    len: usize,
    max: usize,
) -> SnapshotError {
    let (len, max) = (len as u64, max as u64);
    fail(
        path,
        ErrorKind::TooLarge {
            offset,
            what,
            len,
            max,
        },
    )
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> SnapshotError + 'a {
    move |source| fail(path, ErrorKind::Io { op, source })
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

/// Removes the `.tmp` file when dropped unless [`TmpFile::keep`] was called, so a failed or
/// abandoned save leaves nothing behind.
struct TmpFile {
    path: PathBuf,
    armed: bool,
}

impl TmpFile {
    fn keep(&mut self) {
        self.armed = false;
    }
}

impl Drop for TmpFile {
    fn drop(&mut self) {
        if self.armed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Streams records into `<dir>/<name>.tmp`, hashing as it goes; [`SnapshotWriter::finish`]
/// publishes the file atomically. Dropping an unfinished writer deletes the temporary file.
pub struct SnapshotWriter {
    // Field order is drop order: the buffer is flushed and the file closed before it is removed.
    out: BufWriter<File>,
    tmp: TmpFile,
    hasher: Xxh64,
    bytes: u64,
    records: u64,
    dir: PathBuf,
    path: PathBuf,
}

impl SnapshotWriter {
    /// Start a snapshot of `node_id`'s keys; an existing `.tmp` from a crashed save is replaced.
    /// The directory must exist.
    pub fn create(
        dir: &Path,
        name: &str,
        node_id: &str,
        now_unix_ms: u64,
    ) -> Result<SnapshotWriter, SnapshotError> {
        let path = dir.join(name);
        let Ok(id_len) = u16::try_from(node_id.len()) else {
            let max = usize::from(u16::MAX);
            return Err(too_large(&path, 14, "node id", node_id.len(), max));
        };
        let tmp_path = dir.join(format!("{name}.tmp"));
        // `File::create` truncates: a `.tmp` left by a crashed save is simply overwritten.
        let file = File::create(&tmp_path).map_err(io_err("create", &tmp_path))?;
        let tmp = TmpFile {
            path: tmp_path,
            armed: true,
        };
        let mut w = SnapshotWriter {
            out: BufWriter::with_capacity(WRITE_BUFFER_BYTES, file),
            tmp,
            hasher: Xxh64::new(0),
            bytes: 0,
            records: 0,
            dir: dir.to_owned(),
            path,
        };
        w.write(MAGIC)?;
        w.write(&FORMAT_VERSION.to_le_bytes())?;
        w.write(&id_len.to_le_bytes())?;
        w.write(node_id.as_bytes())?;
        w.write(&now_unix_ms.to_le_bytes())?;
        Ok(w)
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), SnapshotError> {
        self.hasher.update(bytes);
        self.out
            .write_all(bytes)
            .map_err(io_err("write", &self.tmp.path))?;
        self.bytes += bytes.len() as u64;
        Ok(())
    }

    fn check_len(&self, what: &'static str, len: usize, max: usize) -> Result<(), SnapshotError> {
        if len <= max {
            return Ok(());
        }
        Err(too_large(&self.tmp.path, self.bytes, what, len, max))
    }

    /// Append one record. Refuses keys over [`MAX_KEY_LEN`] and values over [`MAX_VALUE_LEN`]:
    /// [`load`] would refuse the whole file, so it is better to fail the save loudly.
    pub fn push(&mut self, r: &RecordRef<'_>) -> Result<(), SnapshotError> {
        self.check_len("key", r.key.len(), MAX_KEY_LEN)?;
        self.check_len("value", r.value.len(), MAX_VALUE_LEN)?;
        // The fixed part goes into one stack buffer: one hasher update and one copy per record.
        let mut head = [0u8; 1 + 8 + 8 + 4 + 4];
        let mut n = 0;
        let mut put = |bytes: &[u8]| {
            head[n..n + bytes.len()].copy_from_slice(bytes);
            n += bytes.len();
        };
        let has_expiry = r.expires_at_unix_ms.is_some();
        put(&[(FLAG_TOMB * u8::from(r.tomb)) | (FLAG_EXPIRY * u8::from(has_expiry))]);
        put(&r.version.to_le_bytes());
        if let Some(at) = r.expires_at_unix_ms {
            put(&at.to_le_bytes());
        }
        // Both lengths fit a u32: they are at most MAX_KEY_LEN and MAX_VALUE_LEN.
        put(&(r.key.len() as u32).to_le_bytes());
        put(&(r.value.len() as u32).to_le_bytes());
        self.write(&head[..n])?;
        self.write(r.key)?;
        self.write(r.value)?;
        self.records += 1;
        Ok(())
    }

    /// Write the trailer, fsync the file, rename it to `<dir>/<name>` and fsync the directory
    /// (without that last step the rename itself may not survive a power cut).
    pub fn finish(mut self) -> Result<SaveStats, SnapshotError> {
        self.write(&[END_MARKER])?;
        self.write(&self.records.to_le_bytes())?;
        let checksum = self.hasher.digest().to_le_bytes();
        self.out
            .write_all(&checksum)
            .map_err(io_err("write", &self.tmp.path))?;
        let (records, bytes) = (self.records, self.bytes + 8);
        let file = self.out.into_inner().map_err(|e| e.into_error());
        let file = file.map_err(io_err("write", &self.tmp.path))?;
        file.sync_all().map_err(io_err("fsync", &self.tmp.path))?;
        drop(file);
        fs::rename(&self.tmp.path, &self.path).map_err(io_err("rename", &self.tmp.path))?;
        self.tmp.keep();
        let dir = File::open(&self.dir).and_then(|d| d.sync_all());
        dir.map_err(io_err("fsync directory", &self.dir))?;
        Ok(SaveStats { records, bytes })
    }
}

/// Reads fields front to back, turning every overrun into [`ErrorKind::Truncated`].
#[derive(Clone, Copy)]
struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
    path: &'a Path,
}

impl Cursor<'_> {
    fn truncated(&self, needed: usize, what: &'static str) -> SnapshotError {
        let (offset, needed, file_len) = (self.pos as u64, needed as u64, self.data.len() as u64);
        fail(
            self.path,
            ErrorKind::Truncated {
                offset,
                what,
                needed,
                file_len,
            },
        )
    }

    fn corrupt(&self, offset: usize, what: &'static str) -> SnapshotError {
        let offset = offset as u64;
        fail(self.path, ErrorKind::Corrupt { offset, what })
    }

    fn range(&mut self, n: usize, what: &'static str) -> Result<Range<usize>, SnapshotError> {
        if n > self.data.len() - self.pos {
            return Err(self.truncated(n, what));
        }
        self.pos += n;
        Ok(self.pos - n..self.pos)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], SnapshotError> {
        let range = self.range(N, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(&self.data[range]);
        Ok(out)
    }

    fn u64(&mut self, what: &'static str) -> Result<u64, SnapshotError> {
        self.array(what).map(u64::from_le_bytes)
    }

    /// A `u32` length at the cursor, refused if over `max` (before anything is sliced by it).
    fn length(&mut self, what: &'static str, max: usize) -> Result<usize, SnapshotError> {
        let offset = self.pos as u64;
        let len = u32::from_le_bytes(self.array(what)?) as usize;
        if len > max {
            return Err(too_large(self.path, offset, what, len, max));
        }
        Ok(len)
    }
}

/// A parsed record as offsets into the file, so the loader can slice its `Bytes` without copying.
struct RawRecord {
    key: Range<usize>,
    value: Range<usize>,
    expires_at_unix_ms: Option<u64>,
    version: u64,
    tomb: bool,
}

/// Parse the header; returns the writer's node id and the time it was written.
fn read_header<'a>(cur: &mut Cursor<'a>) -> Result<(&'a [u8], u64), SnapshotError> {
    let prefix = cur.data.len().min(MAGIC.len());
    if cur.data[..prefix] != MAGIC[..prefix] {
        return Err(fail(cur.path, ErrorKind::NotASnapshot));
    }
    cur.range(MAGIC.len(), "magic")?;
    let found = u32::from_le_bytes(cur.array("format version")?);
    if found != FORMAT_VERSION {
        return Err(fail(cur.path, ErrorKind::UnsupportedVersion(found)));
    }
    let id_len = u16::from_le_bytes(cur.array("node id length")?);
    let node_id = cur.range(usize::from(id_len), "node id")?;
    Ok((&cur.data[node_id], cur.u64("write time")?))
}

/// Parse every record, the trailer and the end of the file, calling `each` per record.
fn read_records(
    cur: &mut Cursor<'_>,
    mut each: impl FnMut(RawRecord),
) -> Result<(), SnapshotError> {
    let mut records = 0u64;
    loop {
        let at = cur.pos;
        let [flags] = cur.array("record flags")?;
        if flags == END_MARKER {
            break;
        }
        if flags & !(FLAG_TOMB | FLAG_EXPIRY) != 0 {
            return Err(cur.corrupt(at, "unknown record flags"));
        }
        let version = cur.u64("record version")?;
        let expiry = (flags & FLAG_EXPIRY != 0)
            .then(|| cur.u64("expiry time"))
            .transpose()?;
        let key_len = cur.length("key length", MAX_KEY_LEN)?;
        let value_len = cur.length("value length", MAX_VALUE_LEN)?;
        let key = cur.range(key_len, "key")?;
        let value = cur.range(value_len, "value")?;
        let tomb = flags & FLAG_TOMB != 0;
        each(RawRecord {
            key,
            value,
            expires_at_unix_ms: expiry,
            version,
            tomb,
        });
        records += 1;
    }
    let at = cur.pos;
    if cur.u64("record count")? != records {
        return Err(cur.corrupt(at, "record count does not match the records"));
    }
    cur.range(8, "checksum")?;
    if cur.pos != cur.data.len() {
        return Err(cur.corrupt(cur.pos, "bytes after the checksum"));
    }
    Ok(())
}

/// Check the trailing xxh64 against the rest of the file, before any record is trusted. On a
/// mismatch, a dry parse looks for a truncation, which tells an operator more than a checksum.
fn verify_checksum(body: Cursor<'_>) -> Result<(), SnapshotError> {
    let data = body.data;
    let Some(split) = data.len().checked_sub(8).filter(|&split| split >= body.pos) else {
        return Err(body.truncated(TRAILER_BYTES, "trailer"));
    };
    let stored = u64::from_le_bytes(data[split..].try_into().unwrap_or_default());
    let computed = xxh64(&data[..split], 0);
    if stored == computed {
        return Ok(());
    }
    let mut dry = body;
    match read_records(&mut dry, |_| ()) {
        Err(e) if matches!(e.kind, ErrorKind::Truncated { .. }) => Err(e),
        _ => Err(fail(
            body.path,
            ErrorKind::ChecksumMismatch { stored, computed },
        )),
    }
}

/// Read and verify the whole snapshot at `path`, written by `node_id`, dropping records whose
/// expiry is at or before `now_unix_ms`. Any flaw refuses the whole file.
pub fn load(path: &Path, node_id: &str, now_unix_ms: u64) -> Result<Loaded, SnapshotError> {
    let buf = Bytes::from(fs::read(path).map_err(io_err("read", path))?);
    let mut cur = Cursor {
        data: &buf,
        pos: 0,
        path,
    };
    let (written_by, written_unix_ms) = read_header(&mut cur)?;
    verify_checksum(cur)?;
    if written_by != node_id.as_bytes() {
        let written_by = String::from_utf8_lossy(written_by).into_owned();
        let this_node = node_id.to_owned();
        return Err(fail(
            path,
            ErrorKind::WrongNode {
                written_by,
                this_node,
            },
        ));
    }
    let mut records = Vec::with_capacity(record_capacity(&buf, cur.pos));
    let mut expired = 0;
    read_records(&mut cur, |r| {
        if r.expires_at_unix_ms.is_some_and(|at| at <= now_unix_ms) {
            expired += 1;
            return;
        }
        records.push(Record {
            key: buf.slice(r.key),
            value: buf.slice(r.value),
            expires_at_unix_ms: r.expires_at_unix_ms,
            version: r.version,
            tomb: r.tomb,
        });
    })?;
    let bytes = buf.len() as u64;
    Ok(Loaded {
        records,
        expired,
        bytes,
        written_unix_ms,
    })
}

/// How many records to reserve room for: the trailer's count, which is checksummed but not
/// trusted (anyone can compute an xxh64), capped by how many records fit in the bytes after the
/// header. So the vector is at most ~6x the file (a 96-byte `Record` per 17-byte empty record).
fn record_capacity(file: &[u8], body_start: usize) -> usize {
    let count = file
        .len()
        .checked_sub(16)
        .and_then(|at| file.get(at..at + 8));
    let count = count.map_or(0, |c| u64::from_le_bytes(c.try_into().unwrap_or_default()));
    let room = file.len().saturating_sub(body_start) / MIN_RECORD_BYTES;
    usize::try_from(count).unwrap_or(usize::MAX).min(room)
}

#[cfg(test)]
#[path = "snapshot_tests.rs"]
mod tests;
