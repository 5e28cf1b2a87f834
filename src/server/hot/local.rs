//! Read copies of hot keys on the requesting core (issue 13): a GET arriving on core A for a
//! key core B owns costs a round trip through both mailboxes; for a key hot on A, A keeps the
//! value B answered and serves the next reads itself, validated without any message.
//!
//! A copy is filled from B's answer to a GET that A sent while the key was hot on A, tagged
//! with the key's stripe word that A read **before** sending it ([`Stripes::watch`]). B's shard
//! bumps that word after every mutation of the key and before the mutation's reply leaves B, so
//! a copy whose word is unchanged still holds what B holds (the proof is in
//! `storage::stripes`). A copy is served only while, at the read:
//!
//! * its stripe word is still its tag (nothing of its stripe was written since the fetch),
//! * `hot_keys.copy_ttl` has not passed since the fetch was sent (a copy is a short-lived cache:
//!   the bound on how long it may outlive an eviction on B, and on how long its memory is held),
//! * the value's own TTL has not passed: its deadline is taken as (fetch sent + TTL left at B's
//!   read), never later than B's own deadline, and
//! * this node coordinates the key: the copy is looked up only on the path where a direct read
//!   of B is made (after placement), so whatever stops direct reads stops copies too.
//!
//! The answer is encoded from the copy exactly as from B's reply (`Responder::value`: body,
//! ETag and Last-Modified from the version, Cache-Control max-age from the TTL left, the raw
//! content type from the stored head). Conditional GETs never use copies.
//!
//! The table is small and fixed: at most [`slots_for`]`(top_k)` copies in a two-way
//! set-associative array indexed by the key's stripe hash, plus a per-core byte budget
//! ([`COPY_BYTES_PER_CORE`]). A hit allocates nothing (the value is encoded from the copy's
//! `Bytes`, or its `Bytes` handles are cloned when earlier answers of the pipeline are pending).

use std::cell::{Cell, RefCell};

use bytes::Bytes;

use crate::config::HotKeysConfig;
use crate::storage::stripes::{Stripes, Tag};

/// Bytes of values one core's copies may hold. Copies are extra memory beside the shards (not
/// counted in `max_memory`): 8 MiB per core holds the whole head of a skewed load of small values
/// and a few large ones; a fill that would pass it is skipped (the read is simply not copied).
pub(crate) const COPY_BYTES_PER_CORE: usize = 8 << 20;

/// Copy slots for `top_k` tracked keys: twice as many (the keys hot on this core are at most
/// `top_k`, and two-way sets then rarely push one hot key out for another), a power of two.
pub(crate) fn slots_for(top_k: usize) -> usize {
    (top_k.max(1) * 2).next_power_of_two()
}

/// What a GET sent to the owner for a copy remembers until its answer: the stripe word read
/// before it was sent, and when it was sent (node TTL clock).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Fill {
    tag: Tag,
    at_ms: u64,
}

struct Copy {
    key: Bytes,
    /// The stored form, as the owner's reply carried it.
    value: Bytes,
    version: u64,
    tag: Tag,
    /// The value's deadline, estimated from the fetch's start (`None`: no TTL).
    expires_ms: Option<u64>,
    /// `copy_ttl` after the fetch was sent.
    until_ms: u64,
}

impl Copy {
    fn valid(&self, stripes: &Stripes, now_ms: u64) -> bool {
        now_ms < self.until_ms
            && self.expires_ms.is_none_or(|e| now_ms < e)
            && stripes.is_current(self.tag)
    }
}

/// A valid copy, as its answer needs it.
pub(crate) struct Hit<'a> {
    pub key: &'a Bytes,
    pub value: &'a Bytes,
    /// TTL left now (`None`: no TTL).
    pub ttl_ms: Option<u64>,
    pub version: u64,
}

/// A key read on this core that another core owns: what [`LocalCopies::lookup`] found.
pub(crate) enum Lookup<R> {
    /// A valid copy answered (what the closure returned).
    Hit(R),
    /// No valid copy; the key's stripe hash, for [`LocalCopies::watch`].
    Miss(u64),
}

/// This core's copies of hot keys that other cores own.
pub(crate) struct LocalCopies {
    slots: RefCell<Box<[Option<Copy>]>>,
    mask: usize,
    /// Copies held; 0 lets a read skip hashing.
    held: Cell<usize>,
    /// Value bytes held (see [`COPY_BYTES_PER_CORE`]).
    bytes: Cell<usize>,
    copy_ttl_ms: u64,
}

impl LocalCopies {
    pub(crate) fn new(cfg: &HotKeysConfig) -> LocalCopies {
        let n = slots_for(cfg.top_k);
        LocalCopies {
            slots: RefCell::new((0..n).map(|_| None).collect()),
            mask: n - 1,
            held: Cell::new(0),
            bytes: Cell::new(0),
            copy_ttl_ms: cfg.copy_ttl.as_millis() as u64,
        }
    }

    /// Whether no copy is held (a read then need not look).
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.held.get() == 0
    }

    /// The two slots a key of stripe hash `hash` may use (high bits: the low ones pick stripes).
    fn set_of(&self, hash: u64) -> [usize; 2] {
        let i = (hash >> 40) as usize & self.mask;
        [i, i ^ 1]
    }

    /// Run `answer` on the valid copy of `key` (stripe hash `hash`), if there is one. An invalid
    /// copy met on the way is dropped.
    pub(crate) fn lookup<R>(
        &self,
        stripes: &Stripes,
        key: &[u8],
        hash: u64,
        now_ms: u64,
        answer: impl FnOnce(Hit<'_>) -> R,
    ) -> Lookup<R> {
        let mut slots = self.slots.borrow_mut();
        for i in self.set_of(hash) {
            let Some(copy) = slots[i].as_ref().filter(|c| c.key[..] == *key) else {
                continue;
            };
            if !copy.valid(stripes, now_ms) {
                self.take(&mut slots[i]);
                break;
            }
            return Lookup::Hit(answer(Hit {
                key: &copy.key,
                value: &copy.value,
                ttl_ms: copy.expires_ms.map(|e| e - now_ms),
                version: copy.version,
            }));
        }
        Lookup::Miss(hash)
    }

    /// Before a GET of a hot key is sent to its owner: watch the key's stripe. Sequenced before
    /// the send (the caller sends right after), as `storage::stripes` requires.
    pub(crate) fn watch(&self, stripes: &Stripes, hash: u64, now_ms: u64) -> Fill {
        Fill {
            tag: stripes.watch(Stripes::stripe_of(hash)),
            at_ms: now_ms,
        }
    }

    /// The owner answered a GET sent with `fill`: keep its value as the key's copy. True when a
    /// copy was installed (not when it would pass the byte budget, or a copy of a newer tag is
    /// held).
    pub(crate) fn fill(
        &self,
        stripes: &Stripes,
        fill: Fill,
        key: &Bytes,
        value: &Bytes,
        ttl_ms: Option<u64>,
        version: u64,
    ) -> bool {
        let hash = stripes.hash(key);
        let mut slots = self.slots.borrow_mut();
        let [a, b] = self.set_of(hash);
        let same = |i: usize| slots[i].as_ref().is_some_and(|c| c.key == *key);
        let i = if same(a) {
            a
        } else if same(b) {
            b
        } else {
            // An empty slot, else the copy whose time ends first.
            let until = |i: usize| slots[i].as_ref().map_or(0, |c| c.until_ms);
            if until(b) < until(a) {
                b
            } else {
                a
            }
        };
        if let Some(old) = &slots[i] {
            // Fills answered out of order: keep the one fetched later (a higher word).
            if old.key == *key && old.tag.word > fill.tag.word {
                return false;
            }
        }
        let freed = slots[i].as_ref().map_or(0, |c| c.value.len());
        if self.bytes.get() - freed + value.len() > COPY_BYTES_PER_CORE {
            return false;
        }
        self.take(&mut slots[i]);
        slots[i] = Some(Copy {
            key: key.clone(),
            value: value.clone(),
            version,
            tag: fill.tag,
            expires_ms: ttl_ms.map(|t| fill.at_ms.saturating_add(t)),
            until_ms: fill.at_ms.saturating_add(self.copy_ttl_ms),
        });
        self.held.set(self.held.get() + 1);
        self.bytes.set(self.bytes.get() + value.len());
        true
    }

    fn take(&self, slot: &mut Option<Copy>) {
        if let Some(c) = slot.take() {
            self.held.set(self.held.get() - 1);
            self.bytes.set(self.bytes.get() - c.value.len());
        }
    }
}

#[cfg(test)]
#[path = "local_tests.rs"]
mod tests;
