//! The plain model `model_tests.rs` checks a shard against: a `VecDeque` LRU (front = LRU,
//! back = MRU) of items with deadlines, versions and tombstones, searched linearly.

use std::collections::VecDeque;

use crate::storage::shard::Wrote;
use crate::storage::{KeyReply, PutOutcome, ShardLimits, ShardStats, ENTRY_OVERHEAD_BYTES};

#[derive(Clone, Debug)]
pub(super) struct Item {
    pub(super) key: Vec<u8>,
    pub(super) value: Vec<u8>,
    pub(super) deadline: Option<u64>,
    pub(super) version: u64,
    pub(super) tomb: bool,
}

/// What `page_all` reports per slot: key, value, remaining TTL, version, tombstone.
type Slot = (Vec<u8>, Vec<u8>, Option<u64>, u64, bool);

impl Item {
    pub(super) fn expired(&self, now: u64) -> bool {
        self.deadline.is_some_and(|d| now >= d)
    }
    fn size(&self) -> u64 {
        (self.key.len() + self.value.len()) as u64 + ENTRY_OVERHEAD_BYTES
    }
    /// The last-writer-wins order, stated directly.
    fn lww(&self) -> (u64, u8, &[u8]) {
        (self.version, u8::from(self.tomb), &self.value)
    }
    fn slot(&self, now: u64) -> Slot {
        let ttl = if self.tomb {
            None
        } else {
            self.deadline.map(|d| d - now)
        };
        (
            self.key.clone(),
            self.value.clone(),
            ttl,
            self.version,
            self.tomb,
        )
    }
}

pub(super) fn reply_of(w: Wrote) -> KeyReply {
    match w {
        Wrote::Created | Wrote::Replaced { was_value: false } => KeyReply::Stored { created: true },
        Wrote::Replaced { was_value: true } => KeyReply::Stored { created: false },
        Wrote::Superseded => KeyReply::Superseded,
        Wrote::TooLarge => KeyReply::TooLarge,
    }
}

pub(super) struct Model {
    pub(super) items: VecDeque<Item>,
    pub(super) limits: ShardLimits,
    pub(super) stats: ShardStats,
}

impl Model {
    fn pos(&self, key: &[u8]) -> Option<usize> {
        self.items.iter().position(|i| i.key == key)
    }

    pub(super) fn bytes(&self) -> u64 {
        self.items.iter().map(Item::size).sum()
    }

    fn take(&mut self, pos: usize) -> Option<Item> {
        self.items.remove(pos)
    }

    fn evict_front(&mut self, now: u64) {
        if let Some(item) = self.items.pop_front() {
            if item.expired(now) {
                self.stats.expirations += 1;
            } else {
                self.stats.evictions += 1;
            }
        }
    }

    pub(super) fn get(&mut self, key: &[u8], now: u64) -> Option<(Vec<u8>, Option<u64>)> {
        let Some(pos) = self.pos(key) else {
            self.stats.misses += 1;
            return None;
        };
        if self.items[pos].tomb && !self.items[pos].expired(now) {
            self.stats.misses += 1;
            return None;
        }
        let item = self.take(pos)?;
        if item.expired(now) {
            self.stats.expirations += 1;
            self.stats.misses += 1;
            return None;
        }
        self.stats.hits += 1;
        let out = (item.value.clone(), item.deadline.map(|d| d - now));
        self.items.push_back(item);
        Some(out)
    }

    pub(super) fn put(&mut self, item: Item, now: u64) -> PutOutcome {
        match self.write(item, false, now) {
            Wrote::Replaced { was_value: true } => PutOutcome::Replaced,
            Wrote::Created | Wrote::Replaced { .. } => PutOutcome::Created,
            Wrote::TooLarge | Wrote::Superseded => PutOutcome::TooLarge,
        }
    }

    pub(super) fn write(&mut self, item: Item, lww: bool, now: u64) -> Wrote {
        let max_bytes = self.limits.max_bytes;
        if max_bytes != 0 && item.size() > max_bytes {
            return Wrote::TooLarge;
        }
        if let Some(pos) = self.pos(&item.key) {
            let old = &self.items[pos];
            if !old.expired(now) {
                if lww && item.lww() <= old.lww() {
                    self.stats.superseded += 1;
                    return Wrote::Superseded;
                }
                let was_value = !old.tomb;
                self.take(pos);
                self.count(&item, was_value);
                self.items.push_back(item);
                while max_bytes != 0 && self.bytes() > max_bytes && self.items.len() > 1 {
                    self.evict_front(now);
                }
                return Wrote::Replaced { was_value };
            }
            self.take(pos);
            self.stats.expirations += 1;
        }
        let max_entries = self.limits.max_entries;
        while (max_entries != 0 && self.items.len() >= max_entries)
            || (max_bytes != 0 && self.bytes() + item.size() > max_bytes)
        {
            self.evict_front(now);
        }
        self.count(&item, false);
        self.items.push_back(item);
        Wrote::Created
    }

    fn count(&mut self, item: &Item, was_value: bool) {
        if !item.tomb {
            self.stats.sets += 1;
        } else if was_value {
            self.stats.deletes += 1;
        }
    }

    pub(super) fn delete(&mut self, key: &[u8], now: u64) -> bool {
        let Some(item) = self.pos(key).and_then(|p| self.take(p)) else {
            return false;
        };
        let live = !item.expired(now) && !item.tomb;
        if live {
            self.stats.deletes += 1;
        } else if item.expired(now) {
            self.stats.expirations += 1;
        }
        live
    }

    pub(super) fn delete_versioned(&mut self, key: &[u8], version: u64, now: u64) -> KeyReply {
        let ttl = self.limits.tombstone_ttl_ms;
        let (value, deadline, tomb) = (Vec::new(), Some(now + ttl), true);
        let item = Item {
            key: key.to_vec(),
            value,
            deadline,
            version,
            tomb,
        };
        let max_bytes = self.limits.max_bytes;
        if ttl != 0 && (max_bytes == 0 || item.size() <= max_bytes) {
            return match self.write(item, true, now) {
                Wrote::Superseded => KeyReply::Superseded,
                Wrote::Replaced { was_value } => KeyReply::Deleted(was_value),
                _ => KeyReply::Deleted(false),
            };
        }
        let Some(pos) = self.pos(key) else {
            return KeyReply::Deleted(false);
        };
        let old = &self.items[pos];
        if old.expired(now) {
            self.take(pos);
            self.stats.expirations += 1;
            return KeyReply::Deleted(false);
        }
        if item.lww() <= old.lww() {
            self.stats.superseded += 1;
            return KeyReply::Superseded;
        }
        let was_value = !old.tomb;
        self.take(pos);
        self.stats.deletes += u64::from(was_value);
        KeyReply::Deleted(was_value)
    }

    pub(super) fn remove_if_version(&mut self, key: &[u8], version: u64, now: u64) -> bool {
        let Some(pos) = self.pos(key) else {
            return false;
        };
        if self.items[pos].expired(now) {
            self.take(pos);
            self.stats.expirations += 1;
            return false;
        }
        self.items[pos].version == version && self.take(pos).is_some()
    }

    pub(super) fn live_sorted(&self, now: u64) -> Vec<(Vec<u8>, Vec<u8>, Option<u64>)> {
        let mut live: Vec<_> = (self.items.iter().filter(|i| !i.expired(now) && !i.tomb))
            .map(|i| (i.key.clone(), i.value.clone(), i.deadline.map(|d| d - now)))
            .collect();
        live.sort();
        live
    }

    pub(super) fn slots_sorted(&self, now: u64) -> Vec<Slot> {
        let mut all: Vec<_> = (self.items.iter().filter(|i| !i.expired(now)))
            .map(|i| i.slot(now))
            .collect();
        all.sort();
        all
    }

    pub(super) fn retain(&mut self, now: u64, keep: impl Fn(&[u8]) -> bool) -> usize {
        let expired = self.items.iter().filter(|i| i.expired(now)).count();
        let live = |i: &Item| !i.expired(now) && !i.tomb;
        let values = self.items.iter().filter(|i| live(i)).count();
        self.items.retain(|i| !i.expired(now) && keep(&i.key));
        self.stats.expirations += expired as u64;
        values - self.items.iter().filter(|i| live(i)).count()
    }
}
