//! A one-value channel across threads, for the typed answers of cold cross-core calls.
//!
//! One allocation per call (an `Arc`), which is fine off the hot path: key operations use the
//! per-core slot tables of [`super::Pending`] instead. Dropping the sender without sending
//! (the closure panicked, or its core stopped and dropped its queue) wakes the receiver with
//! [`Canceled`], so a waiting request never hangs on a dead core.

use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Poll, Waker};

struct State<T> {
    value: Option<T>,
    waker: Option<Waker>,
    closed: bool,
}

type Shared<T> = Arc<Mutex<State<T>>>;

/// The sending half; moved into the closure that runs on the other core.
pub struct Sender<T>(Shared<T>);

/// The receiving half; awaited on the calling core.
pub struct Receiver<T>(Shared<T>);

/// The sender went away without a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Canceled;

impl std::fmt::Display for Canceled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the core that was asked stopped before answering")
    }
}

impl std::error::Error for Canceled {}

/// A connected sender/receiver pair.
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let s = Arc::new(Mutex::new(State {
        value: None,
        waker: None,
        closed: false,
    }));
    (Sender(Arc::clone(&s)), Receiver(s))
}

fn lock<T>(s: &Shared<T>) -> MutexGuard<'_, State<T>> {
    // A panic while holding this lock leaves plain data behind; keep using it.
    s.lock().unwrap_or_else(|p| p.into_inner())
}

impl<T> Sender<T> {
    /// Deliver the value and wake the receiver.
    pub fn send(self, value: T) {
        let waker = {
            let mut st = lock(&self.0);
            st.value = Some(value);
            st.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let waker = {
            let mut st = lock(&self.0);
            st.closed = true;
            st.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> Receiver<T> {
    /// The value, or [`Canceled`] when the sender was dropped without one.
    pub async fn recv(self) -> Result<T, Canceled> {
        poll_fn(|cx| {
            let mut st = lock(&self.0);
            if let Some(v) = st.value.take() {
                return Poll::Ready(Ok(v));
            }
            if st.closed {
                return Poll::Ready(Err(Canceled));
            }
            match &st.waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => st.waker = Some(cx.waker().clone()),
            }
            Poll::Pending
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    #[test]
    fn value_crosses_threads() {
        let (tx, rx) = channel();
        let h = std::thread::spawn(move || tx.send(42u32));
        assert_eq!(block_on(rx.recv()), Ok(42));
        h.join().expect("sender thread");
    }

    #[test]
    fn dropped_sender_cancels() {
        let (tx, rx) = channel::<u8>();
        drop(tx);
        assert_eq!(block_on(rx.recv()), Err(Canceled));
    }
}
