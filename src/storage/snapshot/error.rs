//! [`SnapshotError`]: which snapshot file failed, and why.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use super::FORMAT_VERSION;

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
    /// The file does not start with [`MAGIC`](super::MAGIC).
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

pub(super) fn fail(path: &Path, kind: ErrorKind) -> SnapshotError {
    let path = path.to_owned();
    SnapshotError { path, kind }
}

pub(super) fn too_large(
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

pub(super) fn io_err<'a>(
    op: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> SnapshotError + 'a {
    move |source| fail(path, ErrorKind::Io { op, source })
}
