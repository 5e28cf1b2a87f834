//! Write epochs of a node's keys, striped: how a core's short-lived read copy of a hot key owned
//! by another core learns, without a message, that the key may have been written since.
//!
//! One array of [`STRIPES`] atomic words is shared by every core of a node (an `Arc` given to each
//! [`Shard`](super::Shard)); a key maps to one word by a fixed-seed hash. A word is
//! `epoch * 2 + watched`:
//!
//! * A core about to fetch a key from its owner for a copy **watches** the key's stripe first
//!   ([`Stripes::watch`]): it makes sure the low bit is set and keeps the word as the copy's
//!   [`Tag`]. Only then does it send the read to the owner core.
//! * The owner core's shard **bumps** the key's stripe right after every mutation of the key it
//!   applied ([`Stripes::bump`]; the shard's write, delete, flush and removal paths call it) and so
//!   before any reply about that mutation leaves the core. A bump of a watched word adds 1:
//!   epoch + 1, watched bit clear. A word nobody watches is left alone, so a write of a key that
//!   no core copies costs a load and a branch (one load when no copy was ever made on the node:
//!   [`Stripes::bump`] checks `armed` first, without hashing).
//! * A copy is served only while its stripe still holds exactly its tag ([`Stripes::is_current`]).
//!
//! Words only grow (an OR of the low bit, an add), so once a word has moved past a tag it never
//! holds that tag again: a copy invalidated once stays invalid.
//!
//! # Why a served copy is never older than an acknowledged write
//!
//! Let copy C of key k carry tag T, read (watch W) on core A before the read R of k on k's owner
//! core B, and let M be a mutation of k acknowledged before a read S (on any core) that serves C.
//! All of k's mutations and reads run on B, one at a time, so R is before or after M:
//!
//! * R after M: C holds M's effect (or a later one).
//! * R before M: W happens-before R (W is sequenced before the send of R's message; the mailbox
//!   push and pop are a release/acquire pair), R is sequenced before M and M's check of the word
//!   on B. By coherence that check reads T or a later value of the word. If it reads T, the word
//!   is watched (T has its low bit set) and M bumps it; if it reads a later value, the word has
//!   already moved past T. Either way a value other than T is in the word's modification order
//!   before anything that happens after M's bump. The bump happens-before S (it is sequenced
//!   before B's reply; the reply reaches the core that acknowledges M through the mailbox; the
//!   acknowledgement reaches the client and its next request reaches S's core through the
//!   kernel's sockets), so S's load reads a value other than T and C is not served.
//!
//! So a valid copy answers what a read of k on B would answer at S (except for a key B evicted
//! since: a copy may outlive an eviction by at most `hot_keys.copy_ttl`, never a write). The
//! argument needs no ordering of the word's own operations beyond coherence; they use
//! acquire/release anyway, which costs nothing on x86. A loom model below checks it.
//!
//! Stripes are shared by many keys: a write of another key of the same stripe also invalidates
//! a copy (a spurious miss, never a wrong answer). False sharing of a cache line (eight words)
//! costs a reader a cache miss only when a watched word of the line was bumped.

use sync::{AtomicBool, AtomicU64, Ordering};

/// Words in a node's stripe array: 32 KiB, shared by every core. With the hot keys of every
/// core watched (a core's reads per second ÷ `hot_keys.min_reads_per_sec` at most: ~64 at 64k
/// reads/s and the default 1000/s), a write of a cold key lands in a watched stripe rarely
/// (64 / 4096 = 1.6 % with one such core's hot keys) and costs one atomic add when it does;
/// more stripes would only cost memory and cache. (Eight under the loom model, which tracks
/// every atomic it creates.)
pub const STRIPES: usize = if cfg!(loom) { 8 } else { 4096 };

/// The low bit of a word: a copy tagged with this word may exist.
const WATCHED: u64 = 1;

/// Fixed seeds for the stripe hash: every core of a process must agree (never leaves it).
/// Independent of the core hash and the shard index hash, so a core's keys spread over all
/// stripes.
const STRIPE_HASH_SEEDS: [u64; 4] = [
    0x6a09_e667_f3bc_c908,
    0x3c6e_f372_fe94_f82b,
    0xa54f_f53a_5f1d_36f1,
    0x510e_527f_ade6_82d1,
];

/// The atomics of the real build, loom's under `--cfg loom` (see the model at the end).
mod sync {
    #[cfg(not(loom))]
    pub(super) use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    #[cfg(loom)]
    pub(super) use loom::sync::atomic::{AtomicBool, AtomicU64, Ordering};
}

/// A node's stripes of write epochs (see the module doc).
pub struct Stripes {
    /// Set by the first [`Stripes::watch`]: until then no copy exists and a bump does nothing.
    armed: AtomicBool,
    words: Box<[AtomicU64]>,
    hasher: ahash::RandomState,
}

/// The word a copy was tagged with, and where it lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tag {
    pub stripe: u32,
    pub word: u64,
}

impl Default for Stripes {
    fn default() -> Self {
        Stripes::new()
    }
}

impl Stripes {
    pub fn new() -> Stripes {
        let [a, b, c, d] = STRIPE_HASH_SEEDS;
        Stripes {
            armed: AtomicBool::new(false),
            words: (0..STRIPES).map(|_| AtomicU64::new(0)).collect(),
            hasher: ahash::RandomState::with_seeds(a, b, c, d),
        }
    }

    /// The key's hash: its low bits pick its stripe ([`Stripes::stripe_of`]); callers may use
    /// the high bits for tables of their own.
    #[inline]
    pub fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The stripe of a key whose [`Stripes::hash`] is `hash`.
    #[inline]
    pub fn stripe_of(hash: u64) -> usize {
        (hash as usize) & (STRIPES - 1)
    }

    /// Reader side, before the fetch of a value to copy: mark the stripe watched and return the
    /// tag the copy is valid under. Must be sequenced before the message that asks the owner.
    pub fn watch(&self, stripe: usize) -> Tag {
        if !self.armed.load(Ordering::Acquire) {
            self.armed.store(true, Ordering::Release);
        }
        let w = &self.words[stripe];
        // Already watched: a later check on the owner reads this value or a later one, and bumps
        // it in the first case; no write needed (no cache line taken exclusive).
        let seen = w.load(Ordering::Acquire);
        let word = if seen & WATCHED != 0 {
            seen
        } else {
            w.fetch_or(WATCHED, Ordering::AcqRel) | WATCHED
        };
        Tag {
            stripe: stripe as u32,
            word,
        }
    }

    /// Whether nothing in the tag's stripe was mutated since the tag was taken.
    #[inline]
    pub fn is_current(&self, tag: Tag) -> bool {
        self.words[tag.stripe as usize].load(Ordering::Acquire) == tag.word
    }

    /// Owner side, right after a mutation of `key` was applied (before its reply leaves the
    /// core): invalidate every copy of the key's stripe.
    #[inline]
    pub fn bump(&self, key: &[u8]) {
        if self.armed.load(Ordering::Acquire) {
            self.bump_stripe(Self::stripe_of(self.hash(key)));
        }
    }

    /// [`Stripes::bump`] of a stripe known by index (a caller that hashed before the mutation).
    #[inline]
    pub fn bump_stripe(&self, stripe: usize) {
        let w = &self.words[stripe];
        if w.load(Ordering::Acquire) & WATCHED != 0 {
            // Watched → epoch + 1, unwatched. Two writers that both saw the bit add 2: the word
            // moved on either way, which is all a copy checks.
            w.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Whether any copy was ever tagged: before that, [`Stripes::bump`] and
    /// [`Stripes::stripe_index`] callers may skip their work.
    #[inline]
    pub fn armed(&self) -> bool {
        self.armed.load(Ordering::Acquire)
    }

    /// The stripe of `key` when copies may exist (`None` before the first copy): for a caller
    /// that must take the stripe before a mutation that changes the key's bytes and bump after.
    #[inline]
    pub fn stripe_index(&self, key: &[u8]) -> Option<usize> {
        self.armed().then(|| Self::stripe_of(self.hash(key)))
    }

    /// Invalidate every copy (a whole shard cleared).
    pub fn bump_all(&self) {
        if self.armed() {
            (0..STRIPES).for_each(|s| self.bump_stripe(s));
        }
    }
}

#[cfg(all(test, not(loom)))]
#[path = "stripes_tests.rs"]
mod tests;

/// Model check of the argument in the module doc: every interleaving of a copy's fill and
/// check on one core against a write of the key (and a write of another key of the stripe) on
/// others. Run with
/// `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test --release --lib storage::stripes`.
#[cfg(all(test, loom))]
mod loom_tests {
    use super::Stripes;
    use loom::sync::atomic::{AtomicBool, Ordering};
    use loom::sync::{Arc, Mutex};
    use loom::thread;

    /// The key's owner applies a write (1 → 2), bumps, then acknowledges it; another core
    /// writes another key of the same stripe. The copying core watches, reads the key under the
    /// owner's lock (what the owner's mailbox loop does, one message at a time), then checks
    /// the acknowledgement and serves its copy if still current: an acknowledged write must
    /// never be followed by the old value.
    fn fill_against_writes(bump_on_write: bool, prewatched: bool) {
        loom::model(move || {
            let stripes = Arc::new(Stripes::new());
            if prewatched {
                // An earlier copy watches the stripe: this fill's watch only loads the word.
                stripes.watch(0);
            }
            // The owner's shard (one key), touched one operation at a time as on its core.
            let shard = Arc::new(Mutex::new(1u64));
            let acked = Arc::new(AtomicBool::new(false));

            let owner = {
                let (stripes, shard, acked) = (stripes.clone(), shard.clone(), acked.clone());
                thread::spawn(move || {
                    {
                        let mut v = shard.lock().unwrap();
                        *v = 2;
                        if bump_on_write {
                            stripes.bump_stripe(0);
                        }
                    }
                    acked.store(true, Ordering::Release);
                })
            };
            let neighbour = {
                let stripes = stripes.clone();
                thread::spawn(move || stripes.bump_stripe(0))
            };

            // The copying core: watch, then fetch.
            let tag = stripes.watch(0);
            let copy = *shard.lock().unwrap();
            // A read that starts after the acknowledgement (observed with acquire, as the
            // client's next request is ordered after the answer by the kernel).
            let after_ack = acked.load(Ordering::Acquire);
            if after_ack && stripes.is_current(tag) {
                assert_eq!(
                    copy, 2,
                    "a copy served the value an acknowledged write replaced"
                );
            }
            owner.join().unwrap();
            neighbour.join().unwrap();
        });
    }

    #[test]
    fn a_copy_never_outlives_an_acknowledged_write() {
        fill_against_writes(true, false);
    }

    #[test]
    fn a_copy_of_a_watched_stripe_never_outlives_an_acknowledged_write() {
        fill_against_writes(true, true);
    }

    /// The model is not vacuous: without the bump it finds the stale copy.
    #[test]
    #[should_panic(expected = "acknowledged write")]
    fn without_the_bump_the_model_finds_the_stale_copy() {
        fill_against_writes(false, false);
    }
}
