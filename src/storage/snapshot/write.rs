//! Saving: [`SnapshotWriter`] streams records into a temporary file and publishes it atomically.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use xxhash_rust::xxh64::Xxh64;

use super::error::{io_err, too_large, SnapshotError};
use super::{
    RecordRef, SaveStats, END_MARKER, FLAG_EXPIRY, FLAG_TOMB, FORMAT_VERSION, MAGIC, MAX_KEY_LEN,
    MAX_VALUE_LEN, WRITE_BUFFER_BYTES,
};

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
    /// [`load`](super::load) would refuse the whole file, so it is better to fail the save loudly.
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
