//! Deadlines without a timer each: a per-core coarse clock.
//!
//! monoio's timer (`Sleep`) takes 640 bytes of the future that waits on it, and a wheel entry
//! made and removed each time: a few hundred instructions, and the future that holds it copied
//! wherever it moves. A connection pays that twice per round of answers (the wait for the next
//! request, the write), a forward once more (the wait for its answer). Those deadlines (the
//! keep-alive timeout, the buffer release, the end of a probation, the write timeout, a
//! forward's `request_timeout`) are a quarter of a second or more and need no precision, so they
//! are slots in one per-core list instead, which a single task checks every [`TICK`]: a
//! [`Deadline`] is an index, fires at most a tick late and never early. (A request's own read
//! deadline, in the middle of a head or body, keeps the runtime's timer: that path is rare.)
//!
//! A connection waits on a deadline twice per round of answers, so it keeps one slot for its
//! whole life ([`DeadlineSlot`]) and arms it for each wait: no slot taken and given back, and
//! no waker cloned and dropped, per wait (~200 of the ~3,900 instructions of an unpipelined GET
//! hit's round took the one-shot way).

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// How often the per-core task looks for deadlines that passed: idle timeouts are seconds, the
/// probation a second, so 50 ms late is nothing; a scan of 20,000 slots costs ~50 µs.
pub(crate) const TICK: Duration = Duration::from_millis(50);

struct Slot {
    at: Instant,
    /// Waited on: a [`Deadline`], or an [`Armed`] wait of a [`DeadlineSlot`]. The tick looks at
    /// armed slots only, and stops when none is.
    armed: bool,
    fired: bool,
    waker: Option<Waker>,
}

#[derive(Default)]
struct Clock {
    slots: RefCell<Vec<Option<Slot>>>,
    free: RefCell<Vec<usize>>,
    /// The checking task runs (it stops when no slot is in use).
    ticking: Cell<bool>,
}

thread_local! {
    /// This core's deadlines (one worker thread per core, one runtime each). Shared with the
    /// [`DeadlineSlot`]s, which reach it without a thread-local lookup per wait.
    static CLOCK: Rc<Clock> = Rc::default();
}

/// Resolves once `at` has passed (checked every [`TICK`]); frees its slot when dropped.
pub(crate) struct Deadline {
    slot: usize,
}

impl Deadline {
    pub(crate) fn at(at: Instant) -> Deadline {
        let slot = CLOCK.with(|k| {
            let slot = k.take(Some(at));
            k.start_ticking();
            slot
        });
        Deadline { slot }
    }
}

impl Clock {
    /// A free slot, armed for `at` or not armed.
    fn take(&self, at: Option<Instant>) -> usize {
        let entry = Some(Slot {
            at: at.unwrap_or_else(Instant::now),
            armed: at.is_some(),
            fired: false,
            waker: None,
        });
        let mut slots = self.slots.borrow_mut();
        match self.free.borrow_mut().pop() {
            Some(i) => {
                slots[i] = entry;
                i
            }
            None => {
                slots.push(entry);
                slots.len() - 1
            }
        }
    }

    /// A slot was armed: make sure the checking task runs.
    #[inline]
    fn start_ticking(&self) {
        if !self.ticking.replace(true) {
            monoio::spawn(tick());
        }
    }

    fn give_back(&self, slot: usize) {
        self.slots.borrow_mut()[slot] = None;
        self.free.borrow_mut().push(slot);
    }

    /// Ready once `slot` has fired; otherwise the waker is kept (cloned only when the waiting
    /// task changed).
    #[inline]
    fn poll_slot(&self, slot: usize, cx: &mut Context<'_>) -> Poll<()> {
        let mut slots = self.slots.borrow_mut();
        let Some(slot) = slots.get_mut(slot).and_then(Option::as_mut) else {
            return Poll::Ready(());
        };
        if slot.fired {
            return Poll::Ready(());
        }
        match &slot.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => slot.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl Future for Deadline {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        CLOCK.with(|k| k.poll_slot(self.slot, cx))
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        // The thread-local is gone only when the worker thread exits (nothing waits then).
        let _ = CLOCK.try_with(|k| k.give_back(self.slot));
    }
}

/// A slot kept by its owner (a connection) for its whole life and armed for one wait at a time
/// ([`DeadlineSlot::arm`]); given back when dropped.
pub(crate) struct DeadlineSlot {
    clock: Rc<Clock>,
    slot: usize,
}

impl DeadlineSlot {
    pub(crate) fn new() -> DeadlineSlot {
        let clock = CLOCK.with(Rc::clone);
        let slot = clock.take(None);
        DeadlineSlot { clock, slot }
    }

    /// A wait that resolves once `at` has passed, like [`Deadline::at`]; the slot is disarmed
    /// when the wait is dropped. The `&mut` keeps one wait per slot at a time.
    #[inline]
    pub(crate) fn arm(&mut self, at: Instant) -> Armed<'_> {
        if let Some(Some(slot)) = self.clock.slots.borrow_mut().get_mut(self.slot) {
            slot.at = at;
            slot.armed = true;
            slot.fired = false;
        }
        self.clock.start_ticking();
        Armed { owner: self }
    }
}

impl Drop for DeadlineSlot {
    fn drop(&mut self) {
        self.clock.give_back(self.slot);
    }
}

/// One armed wait of a [`DeadlineSlot`].
pub(crate) struct Armed<'a> {
    owner: &'a mut DeadlineSlot,
}

impl Future for Armed<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.owner.clock.poll_slot(self.owner.slot, cx)
    }
}

impl Drop for Armed<'_> {
    #[inline]
    fn drop(&mut self) {
        // Disarmed, its waker kept: the owner's next wait is most likely from the same task.
        let owner = &self.owner;
        if let Some(Some(slot)) = owner.clock.slots.borrow_mut().get_mut(owner.slot) {
            slot.armed = false;
        }
    }
}

/// Fire the deadlines that passed, every [`TICK`], while any slot is armed.
async fn tick() {
    loop {
        monoio::time::sleep(TICK).await;
        let now = Instant::now();
        let mut wake = Vec::new();
        let busy = CLOCK.with(|k| {
            let mut slots = k.slots.borrow_mut();
            let mut busy = false;
            for slot in slots.iter_mut().flatten().filter(|s| s.armed) {
                busy = true;
                if !slot.fired && slot.at <= now {
                    slot.fired = true;
                    wake.extend(slot.waker.take());
                }
            }
            if !busy {
                k.ticking.set(false);
            }
            busy
        });
        // Woken outside the borrow: a woken task may register or drop a deadline.
        for w in wake {
            w.wake();
        }
        if !busy {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(f: impl Future<Output = ()>) {
        monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .expect("runtime")
            .block_on(f);
    }

    #[test]
    fn fires_after_its_time_never_before_and_frees_its_slot() {
        run(async {
            let start = Instant::now();
            Deadline::at(start + Duration::from_millis(120)).await;
            let took = start.elapsed();
            assert!(took >= Duration::from_millis(120), "{took:?}");
            assert!(took < Duration::from_millis(120) + 20 * TICK, "{took:?}");
            let early = Deadline::at(start);
            let late = Deadline::at(start + Duration::from_secs(3600));
            early.await;
            drop(late);
            CLOCK.with(|k| {
                assert!(k.slots.borrow().iter().all(Option::is_none));
                assert_eq!(k.free.borrow().len(), k.slots.borrow().len());
            });
            // With nothing left to watch the checking task stops.
            monoio::time::sleep(3 * TICK).await;
            assert!(!CLOCK.with(|k| k.ticking.get()));
        });
    }

    #[test]
    fn a_kept_slot_fires_each_armed_wait_and_idles_when_disarmed() {
        run(async {
            let mut slot = DeadlineSlot::new();
            for wait_ms in [60, 10] {
                let start = Instant::now();
                slot.arm(start + Duration::from_millis(wait_ms)).await;
                let took = start.elapsed();
                assert!(took >= Duration::from_millis(wait_ms), "{took:?}");
                assert!(
                    took < Duration::from_millis(wait_ms) + 20 * TICK,
                    "{took:?}"
                );
            }
            // A wait dropped before its time disarms the slot: the checking task stops although
            // the slot is still held.
            drop(slot.arm(Instant::now() + Duration::from_secs(3600)));
            monoio::time::sleep(3 * TICK).await;
            assert!(!CLOCK.with(|k| k.ticking.get()));
            // Armed again, it fires again (and the task starts again).
            let start = Instant::now();
            slot.arm(start).await;
            assert!(CLOCK.with(|k| k.ticking.get()));
            drop(slot);
            CLOCK.with(|k| {
                assert!(k.slots.borrow().iter().all(Option::is_none));
                assert_eq!(k.free.borrow().len(), k.slots.borrow().len());
            });
        });
    }
}
