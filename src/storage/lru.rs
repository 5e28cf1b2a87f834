//! Slab-backed, index-linked LRU list: the storage layer's per-entry memory.
//!
//! Each slot holds one cache entry (key and value in one boxed allocation, key first), the version
//! of the write that filled it, and its list links. A slot is either a value or a tombstone (the
//! key alone, recording "deleted at this version" for last-writer-wins). Links are `u32` slot
//! indices rather than pointers, so a slot costs 48 bytes and the list needs no `unsafe`. Freed slots are threaded onto a free list through `next` and reused
//! before the slab grows, so steady-state churn allocates only each entry's own data.
//! The slab never shrinks (only [`LruSlab::clear`] empties it): a cache runs near its limits,
//! and keeping slot indices stable is what lets scan and sweep cursors resume by index.
//! Same shape as pingora-lru `linked_list.rs` and quick-cache `linked_slab.rs`.

use std::num::NonZeroU64;

/// "No slot": the end of the LRU list or of the free list.
pub const NIL: u32 = u32::MAX;

/// Written into `prev` of a free slot, so free slots are recognisable without an extra field.
const FREE: u32 = u32::MAX - 1;

/// Most slots one slab can hold: every index must stay below the `FREE` and [`NIL`] markers.
pub const MAX_SLOTS: usize = (u32::MAX - 1) as usize;

/// Longest key a slot can describe: the key length is stored as a `u32` to keep slots small.
pub const MAX_KEY_LEN: usize = u32::MAX as usize;

/// One slot: a live entry (value or tombstone), or a free slot (then `prev == FREE` and `data` is
/// empty, which does not allocate).
///
/// Layout: 16 (`data`) + 8 (`expires_at`) + 8 (`version`) + 3 x 4 (`key_len`, `prev`, `next`) + 1
/// (`tomb`) = 45, padded to 48; the flag lives in what was padding (a test checks the size).
#[derive(Debug)]
pub struct Entry {
    /// Key bytes followed by value bytes: one allocation per entry, and keys are not stored twice.
    data: Box<[u8]>,
    /// Absolute deadline in ms; `None` means no TTL. `NonZeroU64` keeps the `Option` at 8 bytes.
    expires_at: Option<NonZeroU64>,
    /// Version of the write that filled the slot (0 = unversioned); see `storage::lww`.
    version: u64,
    /// Invariant: `key_len as usize <= data.len()`.
    key_len: u32,
    /// Towards the MRU end (or [`FREE`] for a free slot).
    prev: u32,
    /// Towards the LRU end; for a free slot, the next free slot.
    next: u32,
    /// A tombstone: the key was deleted at `version`. Invariant: a tombstone has an empty value.
    tomb: bool,
}

impl Entry {
    fn free(next: u32) -> Entry {
        Entry {
            data: Box::default(),
            expires_at: None,
            version: 0,
            key_len: 0,
            prev: FREE,
            next,
            tomb: false,
        }
    }

    fn is_free(&self) -> bool {
        self.prev == FREE
    }

    pub fn key(&self) -> &[u8] {
        // Slicing cannot fail: `key_len <= data.len()` is established by `build_data`.
        &self.data[..self.key_len as usize]
    }

    pub fn value(&self) -> &[u8] {
        &self.data[self.key_len as usize..]
    }

    /// Key plus value length: what the entry's own allocation holds.
    pub fn data_len(&self) -> usize {
        self.data.len()
    }

    pub fn expires_at(&self) -> Option<NonZeroU64> {
        self.expires_at
    }

    /// Version of the write that filled the slot (0 = unversioned).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// True for a tombstone (no value; "deleted at `version`").
    pub fn is_tomb(&self) -> bool {
        self.tomb
    }

    /// An entry is dead from its deadline on (`now_ms >= deadline`).
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expires_at.is_some_and(|d| now_ms >= d.get())
    }

    /// Milliseconds left before the deadline; `None` when the entry has no TTL.
    /// Only meaningful for an entry that is not expired (otherwise 0).
    pub fn remaining_ttl(&self, now_ms: u64) -> Option<u64> {
        self.expires_at.map(|d| d.get().saturating_sub(now_ms))
    }
}

/// Builds the one allocation holding `key` then the value (`head` then `body`, see
/// `storage::lww::Write`); `None` if the key is too long to describe. An empty `head` (every
/// value but a raw PUT's) costs one branch: the value is still one copy.
fn build_data(key: &[u8], head: &[u8], body: &[u8]) -> Option<(Box<[u8]>, u32)> {
    let key_len = u32::try_from(key.len()).ok()?;
    let mut data = Vec::with_capacity(key.len() + head.len() + body.len());
    data.extend_from_slice(key);
    if !head.is_empty() {
        data.extend_from_slice(head);
    }
    data.extend_from_slice(body);
    // Exact capacity, so this does not reallocate.
    Some((data.into_boxed_slice(), key_len))
}

/// The slab plus the doubly linked LRU list threaded through it (head = MRU, tail = LRU).
#[derive(Debug)]
pub struct LruSlab {
    slots: Vec<Entry>,
    head: u32,
    tail: u32,
    free_head: u32,
    len: usize,
}

impl Default for LruSlab {
    fn default() -> Self {
        LruSlab::with_capacity(0)
    }
}

impl LruSlab {
    /// `capacity` slots are reserved up front; the slab grows beyond it on demand.
    pub fn with_capacity(capacity: usize) -> LruSlab {
        LruSlab {
            slots: Vec::with_capacity(capacity.min(MAX_SLOTS)),
            head: NIL,
            tail: NIL,
            free_head: NIL,
            len: 0,
        }
    }

    /// Live entries.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Slots ever allocated (live + free): the range that index-based cursors walk.
    pub fn slot_count(&self) -> usize {
        self.slots.len()
    }

    /// The live entry in slot `idx`, or `None` for a free or out-of-range slot.
    pub fn get(&self, idx: usize) -> Option<&Entry> {
        self.slots.get(idx).filter(|e| !e.is_free())
    }

    /// Least recently used live slot.
    pub fn lru(&self) -> Option<u32> {
        (self.tail != NIL).then_some(self.tail)
    }

    /// Most recently used live slot.
    pub fn mru(&self) -> Option<u32> {
        (self.head != NIL).then_some(self.head)
    }

    /// Stores a new entry at the MRU end and returns its slot, reusing a free slot if there is one.
    /// Its value is `head` then `body` (two parts, so a raw PUT's body is copied only here).
    /// A tombstone (`tomb`) takes an empty value. `None` when the key is longer than
    /// [`MAX_KEY_LEN`] or the slab already holds [`MAX_SLOTS`].
    pub fn push_front(
        &mut self,
        key: &[u8],
        head: &[u8],
        body: &[u8],
        expires_at: Option<NonZeroU64>,
        version: u64,
        tomb: bool,
    ) -> Option<u32> {
        debug_assert!(
            !tomb || head.len() + body.len() == 0,
            "a tombstone has no value"
        );
        let (data, key_len) = build_data(key, head, body)?;
        let entry = Entry {
            data,
            expires_at,
            version,
            key_len,
            prev: NIL,
            next: NIL,
            tomb,
        };
        let idx = if self.free_head != NIL {
            let idx = self.free_head;
            self.free_head = self.slots[idx as usize].next;
            self.slots[idx as usize] = entry;
            idx
        } else {
            if self.slots.len() >= MAX_SLOTS {
                return None;
            }
            // Cannot truncate: `len < MAX_SLOTS <= u32::MAX`.
            let idx = self.slots.len() as u32;
            self.slots.push(entry);
            idx
        };
        self.link_front(idx);
        self.len += 1;
        Some(idx)
    }

    /// Replaces the value, deadline, version and kind of live slot `idx` (the key stays), so a
    /// value can become a tombstone and back. The new value is `head` then `body` (see
    /// [`LruSlab::push_front`]). Reuses the allocation when the size is unchanged.
    /// Returns the previous data length, or `None` if `idx` is not live.
    pub fn replace_value(
        &mut self,
        idx: u32,
        head: &[u8],
        body: &[u8],
        expires_at: Option<NonZeroU64>,
        version: u64,
        tomb: bool,
    ) -> Option<usize> {
        debug_assert!(
            !tomb || head.len() + body.len() == 0,
            "a tombstone has no value"
        );
        let entry = self.slots.get_mut(idx as usize).filter(|e| !e.is_free())?;
        let old_len = entry.data.len();
        let key_len = entry.key_len as usize;
        if old_len == key_len + head.len() + body.len() {
            let value = &mut entry.data[key_len..];
            if head.is_empty() {
                // Every value but a raw PUT's: one copy, as before two-part values.
                value.copy_from_slice(body);
            } else {
                let (old_head, old_body) = value.split_at_mut(head.len());
                old_head.copy_from_slice(head);
                old_body.copy_from_slice(body);
            }
        } else {
            let (data, _) = build_data(&entry.data[..key_len], head, body)?;
            entry.data = data;
        }
        entry.expires_at = expires_at;
        entry.version = version;
        entry.tomb = tomb;
        Some(old_len)
    }

    /// Marks live slot `idx` as most recently used. Returns false if `idx` is not live.
    pub fn touch(&mut self, idx: u32) -> bool {
        if self.get(idx as usize).is_none() {
            return false;
        }
        if self.head != idx {
            self.unlink(idx);
            self.link_front(idx);
        }
        true
    }

    /// Unlinks live slot `idx`, puts it on the free list and hands back its data (the caller drops
    /// it, or reads its length for accounting). `None` if `idx` is not live.
    pub fn remove(&mut self, idx: u32) -> Option<Box<[u8]>> {
        self.get(idx as usize)?;
        self.unlink(idx);
        let old = std::mem::replace(&mut self.slots[idx as usize], Entry::free(self.free_head));
        self.free_head = idx;
        self.len -= 1;
        Some(old.data)
    }

    /// Drops every entry and forgets every slot (capacity is kept for reuse).
    pub fn clear(&mut self) {
        self.slots.clear();
        self.head = NIL;
        self.tail = NIL;
        self.free_head = NIL;
        self.len = 0;
    }

    /// Live slots from LRU to MRU (eviction order). O(len); for tests and diagnostics.
    pub fn iter_lru_to_mru(&self) -> impl Iterator<Item = (u32, &Entry)> + '_ {
        let mut cur = self.tail;
        std::iter::from_fn(move || {
            let entry = self.get(cur as usize)?;
            let idx = cur;
            cur = entry.prev;
            Some((idx, entry))
        })
    }

    fn link_front(&mut self, idx: u32) {
        let old_head = self.head;
        let entry = &mut self.slots[idx as usize];
        entry.prev = NIL;
        entry.next = old_head;
        if old_head == NIL {
            self.tail = idx;
        } else {
            self.slots[old_head as usize].prev = idx;
        }
        self.head = idx;
    }

    fn unlink(&mut self, idx: u32) {
        let Entry { prev, next, .. } = self.slots[idx as usize];
        if prev == NIL {
            self.head = next;
        } else {
            self.slots[prev as usize].next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.slots[next as usize].prev = prev;
        }
    }

    /// Panics unless: links agree both ways, the list holds exactly `len` live slots, and the free
    /// list holds every other slot exactly once.
    #[cfg(test)]
    pub fn check_invariants(&self) {
        let n = self.slots.len();
        let mut seen = vec![false; n];
        let (mut count, mut prev, mut cur) = (0usize, NIL, self.head);
        while cur != NIL {
            let entry = self
                .get(cur as usize)
                .expect("list links a free or missing slot");
            assert!(!seen[cur as usize], "cycle in LRU list at {cur}");
            seen[cur as usize] = true;
            assert_eq!(entry.prev, prev, "prev link of {cur} disagrees");
            assert!(entry.key_len as usize <= entry.data.len());
            assert!(
                !entry.tomb || entry.value().is_empty(),
                "tombstone {cur} has a value"
            );
            count += 1;
            prev = cur;
            cur = entry.next;
        }
        assert_eq!(prev, self.tail, "tail is not the last list node");
        assert_eq!(count, self.len, "len disagrees with list");
        let mut free = 0usize;
        cur = self.free_head;
        while cur != NIL {
            let entry = &self.slots[cur as usize];
            assert!(
                entry.is_free() && !seen[cur as usize],
                "free list reaches slot {cur}"
            );
            assert!(entry.data.is_empty(), "free slot {cur} keeps data");
            seen[cur as usize] = true;
            free += 1;
            cur = entry.next;
        }
        assert_eq!(count + free, n, "slots neither live nor free");
    }
}

#[cfg(test)]
#[path = "lru_tests.rs"]
mod tests;
