//! The typed execute step of a shard: what a request wants done to a key, and the answer.
//!
//! A key operation crosses cores as owned data (`Bytes` key and value plus an op); the shard never
//! lends a reference out (Dragonfly's "must be copied explicitly"). These functions run only on
//! the core that owns the shard they receive, so every name here says it executes on the shard.

use bytes::Bytes;

use super::{PutOutcome, Shard};

/// What a request wants done to one key.
#[derive(Debug)]
pub enum KeyOp {
    Get,
    Put { value: Bytes, ttl_ms: Option<u64> },
    Delete,
}

/// The owning core's answer for a key operation.
#[derive(Debug, PartialEq, Eq)]
pub enum KeyReply {
    Value {
        value: Bytes,
        ttl_ms: Option<u64>,
    },
    Miss,
    Stored {
        created: bool,
    },
    /// The entry cannot fit in this shard's byte limit even when empty.
    TooLarge,
    Deleted(bool),
}

/// One live entry, copied out of a shard (export, hand-over) or into one (import).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: Bytes,
    pub value: Bytes,
    pub ttl_ms: Option<u64>,
}

/// What a bulk load did: entries stored and entries refused (too large, or present with
/// `only_missing`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Loaded {
    pub stored: u64,
    pub rejected: u64,
}

impl std::ops::AddAssign for Loaded {
    fn add_assign(&mut self, o: Loaded) {
        self.stored += o.stored;
        self.rejected += o.rejected;
    }
}

/// One page of a scan: the entries and where to resume (`None` = the shard is done).
#[derive(Debug, Default)]
pub struct Page {
    pub entries: Vec<Entry>,
    pub next: Option<usize>,
}

impl Shard {
    /// Execute a key operation on this shard.
    pub fn execute(&mut self, op: KeyOp, key: &[u8], now_ms: u64) -> KeyReply {
        match op {
            KeyOp::Get => match self.get(key, now_ms) {
                Some((v, ttl_ms)) => KeyReply::Value {
                    value: Bytes::copy_from_slice(v),
                    ttl_ms,
                },
                None => KeyReply::Miss,
            },
            KeyOp::Put { value, ttl_ms } => self.execute_put(key, &value, ttl_ms, now_ms),
            KeyOp::Delete => KeyReply::Deleted(self.delete(key, now_ms)),
        }
    }

    /// Store a value borrowed from the caller (the local PUT path copies nothing before this).
    pub fn execute_put(
        &mut self,
        key: &[u8],
        value: &[u8],
        ttl_ms: Option<u64>,
        now_ms: u64,
    ) -> KeyReply {
        match self.put(key, value, ttl_ms, now_ms) {
            PutOutcome::Created => KeyReply::Stored { created: true },
            PutOutcome::Replaced => KeyReply::Stored { created: false },
            PutOutcome::TooLarge => KeyReply::TooLarge,
        }
    }

    /// Copy up to `max` live entries starting at `cursor`.
    pub fn page(&self, cursor: usize, max: usize, now_ms: u64) -> Page {
        let mut entries = Vec::with_capacity(max.min(1024));
        let next = self.scan(cursor, max, now_ms, |k, v, ttl_ms| {
            entries.push(Entry {
                key: Bytes::copy_from_slice(k),
                value: Bytes::copy_from_slice(v),
                ttl_ms,
            })
        });
        Page { entries, next }
    }

    /// Store many entries (import, hand-over); `only_missing` keeps entries already present.
    pub fn load(&mut self, entries: Vec<Entry>, only_missing: bool, now_ms: u64) -> Loaded {
        let mut done = Loaded::default();
        for e in entries {
            if only_missing && self.get(&e.key, now_ms).is_some() {
                done.rejected += 1;
                continue;
            }
            match self.execute_put(&e.key, &e.value, e.ttl_ms, now_ms) {
                KeyReply::Stored { .. } => done.stored += 1,
                _ => done.rejected += 1,
            }
        }
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::ShardLimits;

    fn shard() -> Shard {
        Shard::new(ShardLimits {
            max_entries: 100,
            max_bytes: 0,
        })
    }

    #[test]
    fn execute_get_put_delete() {
        let mut s = shard();
        assert_eq!(s.execute(KeyOp::Get, b"k", 0), KeyReply::Miss);
        let put = |v: &'static [u8]| KeyOp::Put {
            value: Bytes::from_static(v),
            ttl_ms: Some(1000),
        };
        assert_eq!(
            s.execute(put(b"1"), b"k", 0),
            KeyReply::Stored { created: true }
        );
        assert_eq!(
            s.execute(put(b"2"), b"k", 0),
            KeyReply::Stored { created: false }
        );
        assert_eq!(
            s.execute(KeyOp::Get, b"k", 400),
            KeyReply::Value {
                value: Bytes::from_static(b"2"),
                ttl_ms: Some(600)
            }
        );
        assert_eq!(s.execute(KeyOp::Get, b"k", 1000), KeyReply::Miss);
        assert_eq!(s.execute(KeyOp::Delete, b"k", 0), KeyReply::Deleted(false));
    }

    #[test]
    fn load_only_missing_keeps_present_entries_and_page_reads_them_back() {
        let mut s = shard();
        let e = |k: &'static [u8], v: &'static [u8]| Entry {
            key: Bytes::from_static(k),
            value: Bytes::from_static(v),
            ttl_ms: None,
        };
        assert_eq!(
            s.load(vec![e(b"a", b"1")], false, 0),
            Loaded {
                stored: 1,
                rejected: 0
            }
        );
        let got = s.load(vec![e(b"a", b"2"), e(b"b", b"3")], true, 0);
        assert_eq!(
            got,
            Loaded {
                stored: 1,
                rejected: 1
            }
        );
        let mut all = Vec::new();
        let mut cursor = Some(0);
        while let Some(c) = cursor {
            let p = s.page(c, 1, 0);
            all.extend(p.entries);
            cursor = p.next;
        }
        all.sort_by(|x, y| x.key.cmp(&y.key));
        assert_eq!(all, vec![e(b"a", b"1"), e(b"b", b"3")]);
    }
}
