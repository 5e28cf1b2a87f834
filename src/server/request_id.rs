//! Request ids and trace context: the `X-Request-Id` an answer echoes, and the `request_id` and
//! `trace_id` of the log lines a request causes.
//!
//! A client may send any well-formed `X-Request-Id` (visible ASCII, at most 256 bytes, checked
//! by the parser), and every answer to that request echoes it exactly as sent: local,
//! cross-core, forwarded, failed over, replicated, errors, admin. An answer is often encoded
//! long after the request's bytes left the read buffer (another core's reply, a peer's answer),
//! and what travels with it is [`Meta`](super::respond::Meta), a small `Copy` value copied
//! several times per request. So [`RequestId`] is 16 bytes:
//!
//! - no id, or a canonical decimal one below 2^63 (what peers send to match pipelined answers,
//!   and many clients): the number itself, no table, nothing allocated;
//! - anything else (a UUID, a passed-on client id, a `traceparent`): a handle into this core's
//!   [`RequestIds`] table, whose slot holds the text (and the number, if any). The connection
//!   keeps a [`HeldId`] for each slot until every answer of its current batch is written (or it
//!   closes), so a slot never outlives its request and never leaks. Slots and their buffers are
//!   reused: past warm-up a text id costs a copy of its bytes, no allocation. A handle whose
//!   slot was released and reused finds another generation and echoes nothing rather than
//!   another request's id.
//!
//! Both fit one `u64` (the top bit tells a handle from a number), so `Meta` stays 16 bytes.
//! The alternative, the id inline in `Meta` (256 bytes), would make every copy of every
//! request's `Meta` 17 times larger whether it has an id or not.

use std::cell::{Ref, RefCell};
use std::rc::Rc;

use super::trace::TraceId;
use crate::log::Value;

/// Most decimal digits of a `u64` (`18446744073709551615`).
const MAX_U64_DIGITS: usize = 20;
/// Free slots whose buffers a table keeps after a burst: enough for any usual concurrency of
/// requests with text ids on one core; a burst beyond it gives its memory back once it is over.
const MAX_SPARE_SLOTS: usize = 1024;

/// A request's id and trace context, as [`Meta`](super::respond::Meta) and `Req` carry them:
/// 0 = none; top bit clear = a canonical decimal `X-Request-Id`; top bit set = a handle into
/// this core's [`RequestIds`] (slot in bits 32..63, generation in bits 0..32).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RequestId(u64);

/// The bit that marks a [`RequestId`] as a table handle.
const HANDLE_BIT: u64 = 1 << 63;
/// The largest id kept as a number: below [`HANDLE_BIT`] (a larger one is kept as text).
const MAX_INLINE_NUMBER: u64 = HANDLE_BIT - 1;

impl RequestId {
    /// No id and no trace context.
    pub(crate) const NONE: RequestId = RequestId(0);

    /// The number the request's id is, when it is one and no table slot was needed.
    pub(crate) fn numeric(&self) -> Option<u64> {
        (self.0 != 0 && !self.has_context()).then_some(self.0)
    }

    /// Whether the table holds something of this request (a text id, a passed-on client id or
    /// a trace id).
    pub(crate) fn has_context(&self) -> bool {
        self.0 & HANDLE_BIT != 0
    }

    fn handle(slot: u32, gen: u32) -> RequestId {
        RequestId(HANDLE_BIT | (u64::from(slot) << 32) | u64::from(gen))
    }

    /// (slot, generation) of a handle.
    fn slot(&self) -> Option<(usize, u32)> {
        self.has_context()
            .then_some((((self.0 & !HANDLE_BIT) >> 32) as usize, self.0 as u32))
    }
}

/// What a request carries beyond a numeric id, in its table slot.
#[derive(Debug, Default)]
pub(crate) struct Context {
    /// The request's own `X-Request-Id` when it is a number (0 = not): echoed.
    numeric: u64,
    /// The id as the client sent it: this request's own `X-Request-Id` (when not numeric), or
    /// the client's id a peer passed on (`X-Cache-Client-Request-Id`); empty = none.
    id: Vec<u8>,
    /// `id` is this request's own `X-Request-Id` and is echoed (a passed-on one is only logged:
    /// the peer matches its answer by the numeric id it sent).
    echo: bool,
    trace: Option<TraceId>,
}

impl Context {
    /// The id as sent, if any (own or passed on).
    pub(crate) fn id(&self) -> Option<&[u8]> {
        (!self.id.is_empty()).then_some(&self.id[..])
    }

    /// The text id this request's answer echoes.
    fn echoed_text(&self) -> Option<&[u8]> {
        self.id().filter(|_| self.echo)
    }

    pub(crate) fn trace(&self) -> Option<&TraceId> {
        self.trace.as_ref()
    }
}

/// One slot of the table.
#[derive(Default)]
struct Slot {
    /// The generation of the request holding it; 0 while free.
    gen: u32,
    ctx: Context,
}

/// This core's request contexts that do not fit a [`RequestId`] (see the module doc).
#[derive(Default)]
pub(crate) struct RequestIds {
    inner: RefCell<Table>,
}

#[derive(Default)]
struct Table {
    slots: Vec<Slot>,
    free: Vec<u32>,
    /// The last generation given out (0 is never given: it means "no slot").
    last_gen: u32,
}

/// A slot of [`RequestIds`] held for a request until its answer is written; released on drop.
pub(crate) struct HeldId {
    ids: Rc<RequestIds>,
    id: RequestId,
}

impl Drop for HeldId {
    fn drop(&mut self) {
        self.ids.release(self.id);
    }
}

/// The parts of a request that make its [`RequestId`], borrowed from the request's head.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct IdFields<'a> {
    /// `X-Request-Id` as sent.
    pub own: Option<&'a [u8]>,
    /// The client's id a peer passed on with a forward or copy (`X-Cache-Client-Request-Id`).
    pub passed_on: Option<&'a [u8]>,
    /// The trace id of a valid `traceparent`.
    pub trace: Option<TraceId>,
}

impl RequestIds {
    /// The [`RequestId`] of a request with `f`, and the slot the caller must hold until every
    /// answer to it is written (`None` when it needs none: no id, or a numeric one alone).
    #[inline]
    pub(crate) fn register(self: &Rc<Self>, f: IdFields<'_>) -> (RequestId, Option<HeldId>) {
        let numeric = f.own.map_or(0, numeric_id);
        let own_text = f.own.filter(|_| numeric == 0);
        let text = own_text.or(f.passed_on.filter(|v| is_request_id(v)));
        if text.is_none() && f.trace.is_none() {
            return (RequestId(numeric), None);
        }
        let ctx = Context {
            numeric,
            id: Vec::new(),
            echo: own_text.is_some(),
            trace: f.trace,
        };
        let id = self.take(ctx, text.unwrap_or_default());
        let held = HeldId {
            ids: Rc::clone(self),
            id,
        };
        (id, Some(held))
    }

    /// A slot for `ctx` with id `text` (copied into the slot's own buffer, reused).
    #[cold]
    fn take(&self, ctx: Context, text: &[u8]) -> RequestId {
        let mut t = self.inner.borrow_mut();
        t.last_gen = t.last_gen.wrapping_add(1).max(1);
        let gen = t.last_gen;
        let slot = match t.free.pop() {
            Some(s) => s,
            None => {
                t.slots.push(Slot::default());
                (t.slots.len() - 1) as u32
            }
        };
        let s = &mut t.slots[slot as usize];
        s.gen = gen;
        let mut id = std::mem::take(&mut s.ctx.id);
        id.clear();
        id.extend_from_slice(text);
        s.ctx = Context { id, ..ctx };
        RequestId::handle(slot, gen)
    }

    fn release(&self, id: RequestId) {
        let Some((slot, gen)) = id.slot() else {
            return;
        };
        let mut t = self.inner.borrow_mut();
        let Some(s) = t.slots.get_mut(slot).filter(|s| s.gen == gen) else {
            return;
        };
        s.gen = 0;
        t.free.push(slot as u32);
        if t.free.len() == t.slots.len() && t.slots.len() > MAX_SPARE_SLOTS {
            // Every slot is free again after a burst: give its memory back.
            t.slots.truncate(MAX_SPARE_SLOTS);
            t.slots.shrink_to_fit();
            t.free.clear();
            t.free.extend((0..MAX_SPARE_SLOTS as u32).rev());
            t.free.shrink_to_fit();
        }
    }

    /// The context of `id` while its slot is held by it (`None` when it has none).
    #[inline]
    pub(crate) fn get(&self, id: RequestId) -> Option<Ref<'_, Context>> {
        let (slot, gen) = id.slot()?;
        Ref::filter_map(self.inner.borrow(), |t| {
            t.slots.get(slot).filter(|s| s.gen == gen).map(|s| &s.ctx)
        })
        .ok()
    }

    /// Slots in use (for tests and the table's own bound).
    #[cfg(test)]
    fn in_use(&self) -> usize {
        let t = self.inner.borrow();
        t.slots.len() - t.free.len()
    }
}

/// The `X-Request-Id` an answer to `id` echoes: the number (formatted into `num`) or the text
/// in its context, exactly as the client sent it.
pub(crate) fn echoed<'a>(
    id: RequestId,
    ctx: Option<&'a Context>,
    num: &'a mut itoa::Buffer,
) -> Option<&'a [u8]> {
    let n = id.numeric().or(ctx.map(|c| c.numeric).filter(|&n| n != 0));
    match n {
        Some(n) => Some(num.format(n).as_bytes()),
        None => ctx.and_then(Context::echoed_text),
    }
}

/// The `request_id` and `trace_id` fields of a log line about request `id` (`Value::None` when
/// absent): the client's id as sent (a passed-on one first: it is what the client knows), as a
/// string whatever it looks like, so a log shipper sees one type.
pub(crate) fn log_fields<'a>(
    id: RequestId,
    ctx: Option<&'a Context>,
    num: &'a mut itoa::Buffer,
) -> (Value<'a>, Value<'a>) {
    let trace = ctx
        .and_then(Context::trace)
        .map_or(Value::None, |t| Value::Str(t.as_str()));
    let n = id.numeric().or(ctx.map(|c| c.numeric).filter(|&n| n != 0));
    let request = match (ctx.and_then(Context::id), n) {
        (Some(text), _) => Value::Bytes(text),
        (None, Some(n)) => Value::Str(num.format(n)),
        (None, None) => Value::None,
    };
    (request, trace)
}

/// The numeric form of an `X-Request-Id`: canonical decimal (no sign, no leading zero) up to
/// 2^63 - 1 (what our peers send), which echoes byte for byte; anything else (`007`, `0`, a
/// UUID, a larger number) is 0 and kept as text.
pub(crate) fn numeric_id(v: &[u8]) -> u64 {
    if v.is_empty() || v.len() > MAX_U64_DIGITS || v[0] == b'0' {
        return 0;
    }
    let mut n: u64 = 0;
    for &b in v {
        if !b.is_ascii_digit() {
            return 0;
        }
        n = match n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(b - b'0')))
        {
            Some(n) => n,
            None => return 0,
        };
    }
    if n > MAX_INLINE_NUMBER {
        return 0;
    }
    n
}

/// What the parser accepts as `X-Request-Id` (visible ASCII, 1 to 256 bytes): also required of
/// a passed-on client id, which is written into log lines and copies.
pub(crate) fn is_request_id(v: &[u8]) -> bool {
    (1..=crate::http::MAX_REQUEST_ID_BYTES).contains(&v.len())
        && v.iter().all(|b| (0x21..=0x7e).contains(b))
}

#[cfg(test)]
#[path = "request_id_tests.rs"]
mod tests;
