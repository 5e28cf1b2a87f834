//! Loading: [`load`] reads a whole snapshot file, verifies it and slices its records.

use std::fs;
use std::ops::Range;
use std::path::Path;

use bytes::Bytes;
use xxhash_rust::xxh64::xxh64;

use super::error::{fail, io_err, too_large, ErrorKind, SnapshotError};
use super::{
    Loaded, Record, END_MARKER, FLAG_EXPIRY, FLAG_TOMB, FORMAT_VERSION, MAGIC, MAX_KEY_LEN,
    MAX_VALUE_LEN, MIN_RECORD_BYTES, TRAILER_BYTES,
};

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
