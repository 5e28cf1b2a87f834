//! A yield that lets every other ready task of the core run first.
//!
//! monoio 0.2 puts a task that wakes itself while it is being polled at the *front* of the run
//! queue (`Harness::poll` → `yield_now` → `push_front`); only a wake from somewhere else puts it
//! at the back. A task that spins by waking itself therefore runs again before any other ready
//! task, for as long as it spins: a connection woken by the reply it waited for (delivered by
//! the spinning mailbox task itself) waited out the whole spin window, about 50 µs with
//! `idle_poll: always` (measured: reply delivered, response flushed 56 µs later).
//!
//! [`Relay::yield_back`] hands the caller's waker to a relay task, which wakes it from its own
//! poll, so the caller goes to the back of the queue, behind everything that became ready
//! meanwhile. No allocation per yield (waker clones only count references).

use std::cell::RefCell;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};

#[derive(Default)]
struct State {
    /// Tasks to wake on the relay's next poll.
    waiting: Vec<Waker>,
    /// The relay task's waker, while it waits for work.
    relay: Option<Waker>,
}

/// One core's relay; create it on the core's runtime (it spawns the relay task there).
pub struct Relay {
    state: Rc<RefCell<State>>,
}

impl Relay {
    /// Spawn the relay task on the current monoio runtime. The task lives as long as the
    /// runtime and costs nothing while no one yields.
    pub fn spawn() -> Relay {
        let state = Rc::new(RefCell::new(State::default()));
        let inner = Rc::clone(&state);
        monoio::spawn(async move {
            poll_fn(|cx| {
                let mut waiting = {
                    let mut s = inner.borrow_mut();
                    s.relay = Some(cx.waker().clone());
                    std::mem::take(&mut s.waiting)
                };
                // Each woken task is not running now, so it goes to the back of the queue.
                for w in waiting.drain(..) {
                    w.wake();
                }
                // Give the (empty) buffer back so the next yield does not allocate.
                let mut s = inner.borrow_mut();
                if s.waiting.is_empty() {
                    s.waiting = waiting;
                }
                Poll::<()>::Pending
            })
            .await
        });
        Relay { state }
    }

    /// Pending once, then ready, with the caller re-queued behind every task ready now.
    pub async fn yield_back(&self) {
        let mut queued = false;
        poll_fn(|cx| {
            if queued {
                return Poll::Ready(());
            }
            queued = true;
            let relay = {
                let mut s = self.state.borrow_mut();
                s.waiting.push(cx.waker().clone());
                s.relay.take()
            };
            // Not yet polled once (just spawned) or already woken: it will see us anyway.
            if let Some(r) = relay {
                r.wake();
            }
            Poll::Pending
        })
        .await
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::future::Future;

    /// On a monoio runtime, a spawned task (as the node's mailbox task is) spins with
    /// `spin_once` until another task, made ready before the spin started, has run; returns how
    /// many spins that took (1000 at most).
    fn spins_before_other_task_ran<F, Fut>(spin_once: F) -> usize
    where
        F: Fn(Rc<Relay>) -> Fut + 'static,
        Fut: Future<Output = ()>,
    {
        let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            monoio::spawn(async move {
                let relay = Rc::new(Relay::spawn());
                let other_ran = Rc::new(Cell::new(false));
                let flag = Rc::clone(&other_ran);
                monoio::spawn(async move { flag.set(true) });
                let mut spins = 0;
                while !other_ran.get() && spins < 1000 {
                    spin_once(Rc::clone(&relay)).await;
                    spins += 1;
                }
                spins
            })
            .await
        })
    }

    /// A task that spins with `yield_back` lets a task woken meanwhile run before its next
    /// turn; with a self-wake (monoio's `push_front`) the other task would wait out the spin.
    #[test]
    fn a_yielding_spinner_lets_other_ready_tasks_run() {
        let spins = spins_before_other_task_ran(|relay| async move { relay.yield_back().await });
        assert!(spins <= 2, "the other task ran only after {spins} spins");
    }

    /// The same spin by self-waking starves the other task for the whole spin: the behaviour
    /// of monoio this module works around (if monoio changes it, this test says so).
    #[test]
    fn a_self_waking_spinner_runs_before_other_ready_tasks() {
        let spins = spins_before_other_task_ran(|_| {
            let mut woke = false;
            poll_fn(move |cx| {
                if woke {
                    return Poll::Ready(());
                }
                woke = true;
                cx.waker().wake_by_ref();
                Poll::Pending
            })
        });
        assert!(
            spins > 2,
            "monoio ran the other task after {spins} self-wakes"
        );
    }
}
