//! Graceful shutdown on one core: a flag plus the wakers of every connection parked on a read.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::task::{Poll, Waker};

/// Wakes every connection of this core when shutdown begins (idle keep-alive reads are cancelled).
#[derive(Default)]
pub(crate) struct ShutdownSignal {
    fired: Cell<bool>,
    wakers: RefCell<Vec<Option<Waker>>>,
    free: RefCell<Vec<usize>>,
}

impl ShutdownSignal {
    pub(crate) fn fired(&self) -> bool {
        self.fired.get()
    }

    pub(crate) fn fire(&self) {
        self.fired.set(true);
        let wakers: Vec<Waker> = self
            .wakers
            .borrow_mut()
            .iter_mut()
            .filter_map(Option::take)
            .collect();
        for w in wakers {
            w.wake();
        }
    }

    /// Register a listener slot (one per connection, reused across its reads).
    pub(crate) fn register(&self) -> usize {
        match self.free.borrow_mut().pop() {
            Some(i) => i,
            None => {
                let mut w = self.wakers.borrow_mut();
                w.push(None);
                w.len() - 1
            }
        }
    }

    pub(crate) fn unregister(&self, slot: usize) {
        if let Some(w) = self.wakers.borrow_mut().get_mut(slot) {
            *w = None;
        }
        self.free.borrow_mut().push(slot);
    }

    /// Resolves when shutdown fires.
    pub(crate) async fn wait(&self, slot: usize) {
        poll_fn(|cx| {
            if self.fired.get() {
                return Poll::Ready(());
            }
            let mut w = self.wakers.borrow_mut();
            if let Some(entry) = w.get_mut(slot) {
                match entry {
                    Some(old) if old.will_wake(cx.waker()) => {}
                    _ => *entry = Some(cx.waker().clone()),
                }
            }
            Poll::Pending
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fire_wakes_registered_waiters_and_slots_are_reused() {
        let s = ShutdownSignal::default();
        let a = s.register();
        let b = s.register();
        assert_ne!(a, b);
        s.unregister(a);
        assert_eq!(s.register(), a);
        let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let wait = s.wait(b);
            let fire = async { s.fire() };
            let (_, ()) = futures_join(wait, fire).await;
        });
        assert!(s.fired());
    }

    async fn futures_join<A: std::future::Future, B: std::future::Future>(
        a: A,
        b: B,
    ) -> (A::Output, B::Output) {
        let mut a = std::pin::pin!(a);
        let mut b = std::pin::pin!(b);
        let (mut ra, mut rb) = (None, None);
        poll_fn(|cx| {
            if ra.is_none() {
                if let Poll::Ready(v) = a.as_mut().poll(cx) {
                    ra = Some(v);
                }
            }
            if rb.is_none() {
                if let Poll::Ready(v) = b.as_mut().poll(cx) {
                    rb = Some(v);
                }
            }
            if ra.is_some() && rb.is_some() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
        (ra.expect("a"), rb.expect("b"))
    }
}
