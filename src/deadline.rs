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

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// How often the per-core task looks for deadlines that passed: idle timeouts are seconds, the
/// probation a second, so 50 ms late is nothing; a scan of 20,000 slots costs ~50 µs.
pub(crate) const TICK: Duration = Duration::from_millis(50);

struct Slot {
    at: Instant,
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
    /// This core's deadlines (one worker thread per core, one runtime each).
    static CLOCK: Clock = Clock::default();
}

/// Resolves once `at` has passed (checked every [`TICK`]); frees its slot when dropped.
pub(crate) struct Deadline {
    slot: usize,
}

impl Deadline {
    pub(crate) fn at(at: Instant) -> Deadline {
        let slot = CLOCK.with(|k| {
            let entry = Some(Slot {
                at,
                fired: false,
                waker: None,
            });
            let mut slots = k.slots.borrow_mut();
            let slot = match k.free.borrow_mut().pop() {
                Some(i) => {
                    slots[i] = entry;
                    i
                }
                None => {
                    slots.push(entry);
                    slots.len() - 1
                }
            };
            if !k.ticking.replace(true) {
                monoio::spawn(tick());
            }
            slot
        });
        Deadline { slot }
    }
}

impl Future for Deadline {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        CLOCK.with(|k| {
            let mut slots = k.slots.borrow_mut();
            let Some(slot) = slots[self.slot].as_mut() else {
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
        })
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        // The thread-local is gone only when the worker thread exits (nothing waits then).
        let _ = CLOCK.try_with(|k| {
            k.slots.borrow_mut()[self.slot] = None;
            k.free.borrow_mut().push(self.slot);
        });
    }
}

/// Fire the deadlines that passed, every [`TICK`], while any slot is in use.
async fn tick() {
    loop {
        monoio::time::sleep(TICK).await;
        let now = Instant::now();
        let mut wake = Vec::new();
        let busy = CLOCK.with(|k| {
            let mut slots = k.slots.borrow_mut();
            let mut busy = false;
            for slot in slots.iter_mut().flatten() {
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
}
