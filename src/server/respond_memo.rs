//! A value's answer encoded once and sent again while nothing in it changed (issue 13): a hot
//! key read over and over gets the same bytes every time within a `Date` second, so its 200 is
//! copied from the last one instead of formatted again (the envelope, the caching headers, the
//! head: most of a pipelined GET hit's user time after the parser).
//!
//! The memo changes only how an answer is produced, never what it says: every read still looks
//! the key up in its shard and is counted, and a slot is reused only when everything the
//! answer's bytes depend on is the same: the key, the stored bytes (compared, not trusted to
//! the version: two writes at one version can differ, see `storage::lww`), the version
//! (`ETag`, `Last-Modified`), the `Date` text, the seconds left (`max-age`, `"ttl"`) and the
//! connection header. A unit test holds hits to the encoder's bytes.
//!
//! Per core (the responder's), direct-mapped by version: a lookup is one slot and no hashing of
//! the key; a newer answer takes the slot of an older one. An answer is kept the second time
//! its version is asked for while the slot remembers it, not the first: a read of a cold key
//! (uniform keys over a large key space) then costs one store of its version, not a copy of its
//! answer that nobody would reuse (measured: +200 instructions per such GET when every answer
//! was copied).

use crate::http::response::ConnHeader;

use super::caching::HTTP_DATE_BYTES;
use super::Meta;
use crate::server::request_id::RequestId;

/// Slots per core. A power of two (the index is the top bits of a multiplied version): enough
/// for the hot keys of a core, and at most `MEMO_SLOTS * (MAX_KEY + MAX_STORED + MAX_ANSWER)`
/// bytes of memory (~580 KiB per core, outside `max_memory`) however the keys change.
const MEMO_SLOTS: usize = 256;
const SLOT_BITS: u32 = MEMO_SLOTS.trailing_zeros();
/// Only small answers are kept: a large value's answer is dominated by copying its bytes, which
/// the memo would not save (it copies them too) and whose slot would hold a lot of memory.
const MAX_ANSWER: usize = 1024;
/// Keys and stored values longer than this cannot make an answer of at most [`MAX_ANSWER`]
/// bytes with its head (or are rare): not looked up at all.
const MAX_KEY: usize = 256;
const MAX_STORED: usize = MAX_ANSWER;

/// What a value answer's bytes depend on, beside the `Date` (compared at the slot).
#[derive(Clone, Copy)]
pub(super) struct Ask<'a> {
    key: &'a [u8],
    stored: &'a [u8],
    version: u64,
    /// `(max-age, "ttl")` seconds: `ms / 1000` and `ms.div_ceil(1000)`, both of which can move
    /// within one `Date` second.
    ttls: Option<(u64, u64)>,
    conn: ConnHeader,
}

impl<'a> Ask<'a> {
    /// `None` when the answer is not one the memo keeps: a HEAD (no body to reuse), an echoed
    /// request id (unique per request), an unversioned value (no caching headers to save), a
    /// long key or value.
    #[inline]
    pub(super) fn new(
        r: Meta,
        key: &'a [u8],
        stored: &'a [u8],
        ttl_ms: Option<u64>,
        version: u64,
    ) -> Option<Ask<'a>> {
        let plain = !r.head_only && r.request_id == RequestId::NONE && version != 0;
        (plain && key.len() <= MAX_KEY && stored.len() <= MAX_STORED).then(|| Ask {
            key,
            stored,
            version,
            ttls: ttl_ms.map(|ms| (ms / 1000, ms.div_ceil(1000))),
            conn: r.conn,
        })
    }

    #[inline]
    fn index(&self) -> usize {
        // Fibonacci hashing: versions of one node differ in their low bits; the product's top
        // bits spread them over the slots.
        (self.version.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - SLOT_BITS)) as usize
    }
}

/// One kept answer and what it was encoded from.
#[derive(Default)]
struct Slot {
    /// 0: empty (an [`Ask`] never has version 0).
    version: u64,
    /// The version last asked for here without its answer being kept (see the module).
    asked: u64,
    ttls: Option<(u64, u64)>,
    conn: Option<ConnHeader>,
    date: [u8; HTTP_DATE_BYTES],
    key: Vec<u8>,
    stored: Vec<u8>,
    answer: Vec<u8>,
}

impl Slot {
    #[inline]
    fn answers(&self, ask: &Ask<'_>, date: &[u8]) -> bool {
        // The date as an array: compared inline, where a slice comparison calls `memcmp`.
        let Ok(date) = <&[u8; HTTP_DATE_BYTES]>::try_from(date) else {
            return false;
        };
        self.version == ask.version
            && self.ttls == ask.ttls
            && self.conn == Some(ask.conn)
            && self.date == *date
            && same_bytes(&self.key, ask.key)
            && self.stored == ask.stored
    }
}

/// `a == b`, with a short slice (a usual key) compared inline eight bytes at a time: for a few
/// bytes the call to `memcmp` that `==` makes costs more than the comparison.
#[inline(always)]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    /// Longest slice compared inline: two overlapping eight-byte words cover it.
    const INLINE_MAX: usize = 16;
    if a.len() != b.len() {
        return false;
    }
    if a.len() > INLINE_MAX {
        return a == b;
    }
    if let (Some(a0), Some(b0), Some(a1), Some(b1)) = (
        a.first_chunk::<8>(),
        b.first_chunk::<8>(),
        a.last_chunk::<8>(),
        b.last_chunk::<8>(),
    ) {
        return a0 == b0 && a1 == b1;
    }
    a.iter().zip(b).all(|(x, y)| x == y)
}

/// A core's kept answers.
pub(super) struct AnswerMemo {
    slots: Box<[Slot]>,
}

impl Default for AnswerMemo {
    fn default() -> Self {
        AnswerMemo {
            slots: (0..MEMO_SLOTS).map(|_| Slot::default()).collect(),
        }
    }
}

impl AnswerMemo {
    /// The kept answer to `ask` with `date`, if there is one.
    #[inline]
    pub(super) fn get(&self, ask: &Ask<'_>, date: &[u8]) -> Option<&[u8]> {
        let slot = self.slots.get(ask.index())?;
        slot.answers(ask, date).then_some(&slot.answer[..])
    }

    /// Whether the answer to `ask`, not kept, should be: its version was asked for before
    /// (and is noted now otherwise).
    #[inline]
    pub(super) fn worth_keeping(&mut self, ask: &Ask<'_>) -> bool {
        let Some(slot) = self.slots.get_mut(ask.index()) else {
            return false;
        };
        let again = slot.asked == ask.version;
        slot.asked = ask.version;
        again
    }

    /// Keep `answer`, encoded for `ask` with `date` (an answer over [`MAX_ANSWER`] is not kept).
    /// The slot's buffers are reused: no allocation once they have grown.
    pub(super) fn keep(&mut self, ask: &Ask<'_>, date: &[u8], answer: &[u8]) {
        if answer.len() > MAX_ANSWER || date.len() != HTTP_DATE_BYTES {
            return;
        }
        let Some(slot) = self.slots.get_mut(ask.index()) else {
            return;
        };
        slot.version = ask.version;
        slot.ttls = ask.ttls;
        slot.conn = Some(ask.conn);
        slot.date.copy_from_slice(date);
        refill(&mut slot.key, ask.key);
        refill(&mut slot.stored, ask.stored);
        refill(&mut slot.answer, answer);
    }
}

fn refill(v: &mut Vec<u8>, bytes: &[u8]) {
    v.clear();
    v.extend_from_slice(bytes);
}

#[cfg(test)]
#[path = "respond_memo_tests.rs"]
mod tests;
