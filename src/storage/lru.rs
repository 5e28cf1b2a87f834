//! Slab-backed, index-linked LRU list: the storage layer's per-entry memory.
//!
//! Each slot holds one cache entry (key and value in one boxed allocation, key first) plus its
//! list links. Links are `u32` slot indices rather than pointers, so a slot costs 40 bytes and the
//! list needs no `unsafe`. Freed slots are threaded onto a free list through `next` and reused
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

/// One slot: a live entry, or a free slot (then `prev == FREE` and `data` is empty, which does
/// not allocate).
#[derive(Debug)]
pub struct Entry {
    /// Key bytes followed by value bytes: one allocation per entry, and keys are not stored twice.
    data: Box<[u8]>,
    /// Absolute deadline in ms; `None` means no TTL. `NonZeroU64` keeps the `Option` at 8 bytes.
    expires_at: Option<NonZeroU64>,
    /// Invariant: `key_len as usize <= data.len()`.
    key_len: u32,
    /// Towards the MRU end (or [`FREE`] for a free slot).
    prev: u32,
    /// Towards the LRU end; for a free slot, the next free slot.
    next: u32,
}

impl Entry {
    fn free(next: u32) -> Entry {
        Entry {
            data: Box::default(),
            expires_at: None,
            key_len: 0,
            prev: FREE,
            next,
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

/// Builds the one allocation holding `key` then `value`; `None` if the key is too long to describe.
fn build_data(key: &[u8], value: &[u8]) -> Option<(Box<[u8]>, u32)> {
    let key_len = u32::try_from(key.len()).ok()?;
    let mut data = Vec::with_capacity(key.len() + value.len());
    data.extend_from_slice(key);
    data.extend_from_slice(value);
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
    /// `None` when the key is longer than [`MAX_KEY_LEN`] or the slab already holds [`MAX_SLOTS`].
    pub fn push_front(
        &mut self,
        key: &[u8],
        value: &[u8],
        expires_at: Option<NonZeroU64>,
    ) -> Option<u32> {
        let (data, key_len) = build_data(key, value)?;
        let entry = Entry {
            data,
            expires_at,
            key_len,
            prev: NIL,
            next: NIL,
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

    /// Replaces the value and deadline of live slot `idx` (the key stays). Reuses the allocation
    /// when the size is unchanged. Returns the previous data length, or `None` if `idx` is not live.
    pub fn replace_value(
        &mut self,
        idx: u32,
        value: &[u8],
        expires_at: Option<NonZeroU64>,
    ) -> Option<usize> {
        let entry = self.slots.get_mut(idx as usize).filter(|e| !e.is_free())?;
        let old_len = entry.data.len();
        let key_len = entry.key_len as usize;
        if old_len == key_len + value.len() {
            entry.data[key_len..].copy_from_slice(value);
        } else {
            let (data, _) = build_data(&entry.data[..key_len], value)?;
            entry.data = data;
        }
        entry.expires_at = expires_at;
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
mod tests {
    use super::*;

    fn keys(slab: &LruSlab) -> Vec<Vec<u8>> {
        slab.iter_lru_to_mru()
            .map(|(_, e)| e.key().to_vec())
            .collect()
    }

    #[test]
    fn slot_is_at_most_40_bytes() {
        let size = std::mem::size_of::<Entry>();
        println!("size_of::<Entry>() = {size}");
        assert!(size <= 40, "slab entry grew to {size} bytes");
    }

    #[test]
    fn push_touch_remove_keep_lru_order() {
        let mut slab = LruSlab::default();
        let a = slab.push_front(b"a", b"1", None).unwrap();
        let b = slab.push_front(b"b", b"22", None).unwrap();
        let c = slab.push_front(b"c", b"", None).unwrap();
        assert_eq!(keys(&slab), [b"a", b"b", b"c"]);
        assert!(slab.touch(a));
        assert_eq!(keys(&slab), [b"b", b"c", b"a"]);
        assert_eq!(slab.lru(), Some(b));
        assert_eq!(slab.mru(), Some(a));
        assert_eq!(slab.remove(c).as_deref(), Some(&b"c"[..]));
        assert_eq!(keys(&slab), [b"b", b"a"]);
        assert!(!slab.touch(c), "a freed slot is not live");
        assert!(slab.remove(c).is_none());
        slab.check_invariants();
    }

    #[test]
    fn freed_slots_are_reused_before_growing() {
        let mut slab = LruSlab::with_capacity(2);
        let a = slab.push_front(b"a", b"", None).unwrap();
        let b = slab.push_front(b"b", b"", None).unwrap();
        slab.remove(a);
        slab.remove(b);
        let c = slab.push_front(b"c", b"", None).unwrap();
        let d = slab.push_front(b"d", b"", None).unwrap();
        assert_eq!((c, d), (b, a), "free list is LIFO over freed slots");
        assert_eq!(slab.slot_count(), 2);
        slab.check_invariants();
    }

    #[test]
    fn replace_value_keeps_key_and_reports_old_len() {
        let mut slab = LruSlab::default();
        let a = slab.push_front(b"key", b"abc", None).unwrap();
        assert_eq!(slab.replace_value(a, b"xyz", None), Some(6));
        assert_eq!(slab.get(a as usize).unwrap().value(), b"xyz");
        let deadline = NonZeroU64::new(10);
        assert_eq!(slab.replace_value(a, b"longer", deadline), Some(6));
        let entry = slab.get(a as usize).unwrap();
        assert_eq!((entry.key(), entry.value()), (&b"key"[..], &b"longer"[..]));
        assert!(entry.is_expired(10) && !entry.is_expired(9));
        assert_eq!(entry.remaining_ttl(4), Some(6));
        slab.check_invariants();
    }

    #[test]
    fn empty_key_and_value_are_a_live_entry() {
        let mut slab = LruSlab::default();
        let a = slab.push_front(b"", b"", None).unwrap();
        assert!(slab.get(a as usize).is_some());
        assert_eq!(slab.len(), 1);
        slab.check_invariants();
    }

    #[test]
    fn clear_forgets_all_slots() {
        let mut slab = LruSlab::default();
        slab.push_front(b"a", b"", None);
        slab.clear();
        assert!(slab.is_empty() && slab.slot_count() == 0 && slab.lru().is_none());
        slab.check_invariants();
    }
}
