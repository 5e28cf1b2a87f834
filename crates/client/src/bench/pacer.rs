//! Open-loop pacing for one generator thread: wakes each connection task at its request's due
//! time, to within microseconds.
//!
//! monoio's timer has 1 ms granularity and, more to the point, timers are only fired when the
//! runtime parks: while any task keeps yielding, sleeping tasks oversleep. So connection tasks do
//! not sleep on timers themselves. They register `(due, waker)` here, and one ticker task per
//! thread wakes them: it sleeps on the timer while the earliest due time is more than
//! [`SPIN_WINDOW`] away (so an idle generator parks), and spins inside that window. A
//! registration earlier than the ticker's planned wake-up kicks it. Core-local: `Rc` and
//! `RefCell`, no locks.
//!
//! Spinning must not starve the other tasks: a monoio task that wakes *itself* while being polled
//! is put at the front of the run queue, so a plain yield loop would run forever ahead of the
//! connection tasks it just woke. The ticker instead bounces off a tiny echo task (`Bounce`):
//! each wakes the other from its own poll, which queues at the back, so every runnable task and
//! the driver's I/O poll get their turn between two spins.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// Inside this window before the earliest due time the ticker yield-spins instead of sleeping.
pub const SPIN_WINDOW: Duration = Duration::from_millis(2);

#[derive(Default)]
struct Inner {
    waiters: Vec<(Instant, Waker)>,
    ticker: Option<Waker>,
    /// When the ticker will look at the waiters next; `None`: not before it is kicked.
    ticker_next: Option<Instant>,
    kicked: bool,
    /// Connection tasks still running; the ticker ends with the last one.
    live: usize,
    /// The spinning ticker, waiting for the echo task to wake it.
    bounced: Option<Waker>,
    /// The echo task, waiting for the ticker to bounce off it.
    echo: Option<Waker>,
}

#[derive(Default)]
pub struct Pacer {
    inner: RefCell<Inner>,
}

impl Pacer {
    pub fn conn_started(&self) {
        self.inner.borrow_mut().live += 1;
    }

    pub fn conn_finished(&self) {
        let mut i = self.inner.borrow_mut();
        i.live -= 1;
        Self::kick(&mut i);
    }

    fn kick(i: &mut Inner) {
        i.kicked = true;
        if let Some(w) = i.ticker.take() {
            w.wake();
        }
    }

    /// Resolves at `due` (at once when it has passed).
    pub fn until(self: &Rc<Self>, due: Instant) -> Until {
        Until {
            pacer: Rc::clone(self),
            due,
        }
    }

    /// The ticker task: run it once per thread, next to the connection tasks (it spawns its
    /// echo task itself).
    pub async fn run(self: Rc<Self>) {
        monoio::spawn(Echo {
            pacer: Rc::clone(&self),
        });
        loop {
            let now = Instant::now();
            let earliest = {
                let mut i = self.inner.borrow_mut();
                if i.live == 0 {
                    if let Some(e) = i.echo.take() {
                        e.wake();
                    }
                    return;
                }
                let mut earliest: Option<Instant> = None;
                i.waiters.retain(|(due, w)| {
                    if *due <= now {
                        w.wake_by_ref();
                        false
                    } else {
                        earliest = Some(earliest.map_or(*due, |e| e.min(*due)));
                        true
                    }
                });
                i.ticker_next = earliest.map(|e| now.max(e - SPIN_WINDOW.min(e - now)));
                earliest
            };
            match earliest {
                Some(e) if e - now <= SPIN_WINDOW => Bounce::new(&self).await,
                Some(e) => {
                    let sleep = monoio::time::sleep(e - now - SPIN_WINDOW);
                    Kickable::new(&self, Some(Box::pin(sleep))).await
                }
                None => Kickable::new(&self, None).await,
            }
        }
    }
}

/// A connection task's wait for its due time.
pub struct Until {
    pacer: Rc<Pacer>,
    due: Instant,
}

impl Future for Until {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.due {
            return Poll::Ready(());
        }
        let mut i = self.pacer.inner.borrow_mut();
        i.waiters.push((self.due, cx.waker().clone()));
        let late = i.ticker_next.is_none_or(|t| self.due < t + SPIN_WINDOW);
        if late {
            Pacer::kick(&mut i);
        }
        Poll::Pending
    }
}

/// The ticker's sleep: ends at the timer or when kicked, whichever comes first.
struct Kickable {
    pacer: Rc<Pacer>,
    sleep: Option<Pin<Box<monoio::time::Sleep>>>,
}

impl Kickable {
    fn new(pacer: &Rc<Pacer>, sleep: Option<Pin<Box<monoio::time::Sleep>>>) -> Kickable {
        Kickable {
            pacer: Rc::clone(pacer),
            sleep,
        }
    }
}

impl Future for Kickable {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        {
            let mut i = self.pacer.inner.borrow_mut();
            if std::mem::take(&mut i.kicked) {
                i.ticker = None;
                return Poll::Ready(());
            }
            i.ticker = Some(cx.waker().clone());
        }
        match self.sleep.as_mut() {
            Some(s) => s.as_mut().poll(cx),
            None => Poll::Pending,
        }
    }
}

/// One spin of the ticker: wake the echo task and wait for it to wake us back.
struct Bounce {
    pacer: Rc<Pacer>,
    sent: bool,
}

impl Bounce {
    fn new(pacer: &Rc<Pacer>) -> Bounce {
        Bounce {
            pacer: Rc::clone(pacer),
            sent: false,
        }
    }
}

impl Future for Bounce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.sent {
            return Poll::Ready(());
        }
        self.sent = true;
        let mut i = self.pacer.inner.borrow_mut();
        i.bounced = Some(cx.waker().clone());
        match i.echo.take() {
            Some(echo) => echo.wake(),
            // The echo task has not run yet: fall back to a plain yield this once.
            None => cx.waker().wake_by_ref(),
        }
        Poll::Pending
    }
}

/// The echo task: wakes the ticker back from its own poll; ends when the ticker does.
struct Echo {
    pacer: Rc<Pacer>,
}

impl Future for Echo {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut i = self.pacer.inner.borrow_mut();
        if let Some(t) = i.bounced.take() {
            t.wake();
        }
        if i.live == 0 {
            return Poll::Ready(());
        }
        i.echo = Some(cx.waker().clone());
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every due time is honoured (no lost wake-up) and no task runs before its due time. How
    /// late tasks run is a figure of the benchmarks (`bench/run.sh`, the open-loop row: p50 43 µs
    /// at 20k req/s), not of this test: a loaded CI machine can stall any thread for
    /// milliseconds, which made a wall-clock bound here flaky.
    #[test]
    fn every_task_wakes_never_early() {
        let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .unwrap();
        let log = rt.block_on(async {
            let pacer = Rc::new(Pacer::default());
            let start = Instant::now();
            let log: Rc<std::cell::RefCell<Vec<(Instant, Instant)>>> = Rc::default();
            let mut tasks = Vec::new();
            for t in 0..4u64 {
                pacer.conn_started();
                let p = Rc::clone(&pacer);
                let log = Rc::clone(&log);
                tasks.push(monoio::spawn(async move {
                    for k in 0..20u64 {
                        let due = start + Duration::from_micros(1700 * k + 400 * t + 3000);
                        p.until(due).await;
                        log.borrow_mut().push((due, Instant::now()));
                    }
                    p.conn_finished();
                }));
            }
            monoio::spawn(Rc::clone(&pacer).run());
            for t in tasks {
                t.await;
            }
            Rc::try_unwrap(log)
                .map(|l| l.into_inner())
                .unwrap_or_default()
        });
        assert_eq!(log.len(), 80);
        for (due, woke) in &log {
            assert!(woke >= due, "woken {:?} early", *due - *woke);
        }
        let worst = log.iter().map(|(d, w)| *w - *d).max().unwrap_or_default();
        eprintln!("pacer: worst lateness {worst:?} (informational)");
    }
}
