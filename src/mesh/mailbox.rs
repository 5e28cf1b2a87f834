//! One core's inbound mailbox: an MPSC queue plus the lock-free sleep/wake handshake.
//!
//! The receiver (the owning core) drains the queue; only when it finds it empty does it park:
//! it registers its waker, sets `asleep`, issues a SeqCst fence and looks at the queue once more.
//! A sender pushes, issues a SeqCst fence and looks at `asleep`; only if it is set (and this
//! sender is the one that clears it) does it take the lock and wake the receiver. The two fences
//! make this a Dekker handshake: of "receiver re-checks the queue" and "sender checks `asleep`",
//! at least one sees the other side's write, so a message is never left behind with the receiver
//! asleep and no wake-up on its way. A busy core is never woken, and a burst of messages to a
//! sleeping core costs one wake-up.
//!
//! A mailbox may be *watched* (`idle_poll: always`): a poller thread on the receiver's CPU
//! stamps `beat` each round and wakes the receiver itself when it finds it parked with mail
//! ([`Mailbox::wake_if_mail`]). While the stamp is fresh a sender leaves the wake-up to it: a
//! wake-up from the receiver's own CPU needs no inter-processor interrupt, which is most of what
//! a cross-CPU wake-up costs on a VM (37 µs against 9 µs a round trip, `bench/hop.rs`). A
//! retiring watcher clears `beat`, fences and looks once more (the same handshake as above,
//! with `beat` in the place of `asleep`), so a message is never left to a watcher that is gone.
//!
//! Every synchronization primitive comes from [`sync`], which is loom's under `--cfg loom`: the
//! `loom_tests` module below model-checks the handshake (run it with
//! `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test --release --lib mesh::mailbox`).

use std::task::{Context, Poll, Waker};

use sync::{fence, AtomicBool, AtomicU64, Mutex, Ordering, Queue};

use super::watch;

/// The primitives of the handshake: std and crossbeam normally, loom's under `--cfg loom`.
mod sync {
    #[cfg(not(loom))]
    pub(super) use std::sync::{
        atomic::{fence, AtomicBool, AtomicU64, Ordering},
        Mutex,
    };

    #[cfg(loom)]
    pub(super) use loom::sync::{
        atomic::{fence, AtomicBool, AtomicU64, Ordering},
        Mutex,
    };

    /// The lock-free MPSC queue of the real build.
    #[cfg(not(loom))]
    pub(super) type Queue<M> = crossbeam::queue::SegQueue<M>;

    #[cfg(loom)]
    pub(super) use loom_queue::Queue;

    /// Stand-in for `SegQueue` under loom (crossbeam's queue is not loom-aware).
    ///
    /// The items live in a loom `Mutex<VecDeque>`, but `pop` decides "empty" from a separate
    /// counter, as `SegQueue::pop` decides it from its tail index: otherwise the mutex's own
    /// acquire/release ordering would stand in for the mailbox's fences and the model would
    /// pass even without them. Unlike the real `pop`, this one has no fence of its own, so the
    /// model proves the mailbox's fences are enough by themselves.
    #[cfg(loom)]
    mod loom_queue {
        use loom::sync::atomic::{AtomicUsize, Ordering};
        use loom::sync::Mutex;
        use std::collections::VecDeque;

        pub(in super::super) struct Queue<M> {
            items: Mutex<VecDeque<M>>,
            /// Pushed minus popped; published after the item is in `items`.
            len: AtomicUsize,
        }

        impl<M> Queue<M> {
            pub(in super::super) fn new() -> Self {
                Queue {
                    items: Mutex::new(VecDeque::new()),
                    len: AtomicUsize::new(0),
                }
            }

            pub(in super::super) fn push(&self, m: M) {
                self.items.lock().expect("queue lock").push_back(m);
                self.len.fetch_add(1, Ordering::Release);
            }

            /// Single consumer, like the mailbox's receiver.
            pub(in super::super) fn is_empty(&self) -> bool {
                self.len.load(Ordering::Acquire) == 0
            }

            pub(in super::super) fn pop(&self) -> Option<M> {
                if self.len.load(Ordering::Acquire) == 0 {
                    return None;
                }
                let m = self.items.lock().expect("queue lock").pop_front();
                assert!(m.is_some(), "counted item missing from the queue");
                self.len.fetch_sub(1, Ordering::Relaxed);
                m
            }
        }
    }
}

/// The inbound side of one core.
pub(super) struct Mailbox<M> {
    queue: Queue<M>,
    /// Set by the receiver just before it parks; cleared by the first sender that sees it.
    asleep: AtomicBool,
    /// Taken only on the sleep/wake transition, never per message.
    waker: Mutex<Option<Waker>>,
    /// When the poller watching this mailbox last went round ([`watch::now`]); 0: no watcher.
    /// Written only while the receiver's CPU has nothing else to run, so not while it is busy.
    beat: AtomicU64,
}

impl<M> Mailbox<M> {
    pub(super) fn new() -> Self {
        Mailbox {
            queue: Queue::new(),
            asleep: AtomicBool::new(false),
            waker: Mutex::new(None),
            beat: AtomicU64::new(0),
        }
    }

    /// Queue `msg` and wake the receiver if (and only if) it is parked, unless a watcher that
    /// went round lately will. Any thread.
    pub(super) fn send(&self, msg: M) {
        self.queue.push(msg);
        // Pairs with the fence in `poll_recv`: either the receiver sees our message when it
        // re-checks the queue, or we see its `asleep` flag here (Dekker-style store/load ordering).
        // And with the fence in `unwatch`: either the retiring watcher sees our message, or we
        // see its cleared `beat`.
        fence(Ordering::SeqCst);
        if self.asleep.load(Ordering::Relaxed) && !self.watched() {
            self.wake_if_asleep();
        }
    }

    /// A watcher went round within [`watch::FRESH`]: it will find the message within a round.
    fn watched(&self) -> bool {
        let beat = self.beat.load(Ordering::Relaxed);
        beat != 0 && watch::is_fresh(beat)
    }

    /// A watcher's round: stamp the mailbox, and wake the receiver if it parked with mail
    /// (a sender may have left the wake-up to us). The watcher's thread only.
    pub(super) fn watch_round(&self, now: u64) {
        self.beat.store(now, Ordering::Relaxed);
        self.wake_if_mail();
    }

    /// The watcher stops: from now on senders wake the receiver themselves. A message whose
    /// sender still saw the old stamp is found by the look after the fence.
    pub(super) fn unwatch(&self) {
        self.beat.store(0, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        self.wake_if_mail();
    }

    /// Wake the receiver if it is parked and its queue is not empty. Any thread.
    pub(super) fn wake_if_mail(&self) {
        if self.asleep.load(Ordering::Relaxed) && !self.queue.is_empty() {
            self.wake_if_asleep();
        }
    }

    /// Wake the receiver if it is parked, with nothing queued: its next poll re-reads its spin
    /// deadline. For the owning core, which runs the receiver itself (a local wake-up).
    pub(super) fn nudge(&self) {
        self.wake_if_asleep();
    }

    fn wake_if_asleep(&self) {
        // A CAS, not a swap: it writes only when it wins. A swap that reads `false` still
        // writes, and loom may order that write before the receiver's next `asleep = true`
        // even though it read an older value (tokio-rs/loom#254): a false lost wake-up.
        if self.asleep.load(Ordering::Relaxed)
            && self
                .asleep
                .compare_exchange(true, false, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            let waker = match self.waker.lock() {
                Ok(mut w) => w.take(),
                Err(poisoned) => poisoned.into_inner().take(),
            };
            if let Some(w) = waker {
                w.wake();
            }
        }
    }

    /// Non-blocking pop. Only the owning core may call this.
    pub(super) fn try_recv(&self) -> Option<M> {
        self.queue.pop()
    }

    /// A message if there is one; otherwise park (register `cx`'s waker, set `asleep`, fence,
    /// re-check) and return `Pending`: a later `send` wakes the waker. Only the owning core.
    pub(super) fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<M> {
        match self.poll_recv_or_spin(cx, || false) {
            Poll::Ready(Some(m)) => Poll::Ready(m),
            // `spin` said no, so the receiver parked instead.
            _ => Poll::Pending,
        }
    }

    /// [`Mailbox::poll_recv`], except that while `spin()` says so an empty queue does not park
    /// the receiver: `Ready(None)` tells it to yield and poll again (`Mesh::recv_spinning`),
    /// without setting `asleep`, so no sender pays for a wake-up meanwhile. `spin` is asked
    /// only when the queue is empty.
    pub(super) fn poll_recv_or_spin(
        &self,
        cx: &mut Context<'_>,
        spin: impl FnOnce() -> bool,
    ) -> Poll<Option<M>> {
        if let Some(m) = self.queue.pop() {
            return Poll::Ready(Some(m));
        }
        if spin() {
            return Poll::Ready(None);
        }
        {
            let mut slot = match self.waker.lock() {
                Ok(w) => w,
                Err(poisoned) => poisoned.into_inner(),
            };
            match slot.as_ref() {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => *slot = Some(cx.waker().clone()),
            }
        }
        self.asleep.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        if let Some(m) = self.queue.pop() {
            self.asleep.store(false, Ordering::Relaxed);
            return Poll::Ready(Some(m));
        }
        Poll::Pending
    }
}

/// Model checks of the handshake: every interleaving (and every value a relaxed load may read)
/// of one parking receiver against one or two senders.
#[cfg(all(test, loom))]
mod loom_tests {
    use super::Mailbox;
    use loom::sync::{Arc, Condvar, Mutex};
    use loom::thread;
    use std::task::{Context, Poll, Wake, Waker};

    /// Preemption bounds: each test then takes seconds in release mode, and each still finds
    /// a lost wake-up when either fence, the re-check or the waker registration is broken
    /// (the watched model: when the retiring watcher's fence or last look is missing; tried;
    /// its three threads take minutes at a bound of 4, seconds at 3).
    const PREEMPTIONS_ONE_SENDER: usize = 6;
    const PREEMPTIONS_TWO_SENDERS: usize = 4;
    const PREEMPTIONS_WATCHED: usize = 3;

    /// What the receiver is waiting for: a wake-up (counted) or the end of a sender.
    #[derive(Default)]
    struct Events {
        wakes: usize,
        senders_done: usize,
    }

    /// The receiver's parking spot; its waker counts wake-ups. Loom primitives throughout, so
    /// loom sees the causality and reports a receiver left waiting forever as a deadlock.
    struct Parker {
        events: Mutex<Events>,
        cv: Condvar,
    }

    impl Parker {
        fn signal(&self, f: impl FnOnce(&mut Events)) {
            f(&mut self.events.lock().expect("events"));
            self.cv.notify_all();
        }
    }

    impl Wake for Parker {
        fn wake(self: std::sync::Arc<Self>) {
            self.signal(|e| e.wakes += 1);
        }
    }

    /// `senders` threads each send `per_sender` distinct messages while this thread receives
    /// through `poll_recv` (the poll path of `Mesh::recv`), parking whenever it returns `Pending`
    /// until a wake-up arrives or every sender has finished. Checks: no lost wake-up (parked,
    /// every sender done, no wake-up pending, yet a message in the queue), every message
    /// received exactly once, and never more wake-ups than messages.
    fn receiver_against(senders: usize, per_sender: usize) {
        receiver_spinning_against(senders, per_sender, 0);
    }

    /// [`receiver_against`] with a receiver that, like the node's mailbox loop right after
    /// activity, spins (`poll_recv_or_spin` without parking) on its first `spins` empty polls.
    fn receiver_spinning_against(senders: usize, per_sender: usize, spins: usize) {
        receive_all(
            Arc::new(Mailbox::<usize>::new()),
            senders,
            per_sender,
            spins,
            false,
        );
    }

    /// One sender against a receiver whose mailbox a watcher stamped: under loom every stamp
    /// is fresh, so the sender leaves each wake-up to the watcher, which goes round once and
    /// retires meanwhile. Its last look after clearing the stamp (or its round) must deliver.
    fn watched_receiver_against(per_sender: usize) {
        let mb = Arc::new(Mailbox::<usize>::new());
        mb.watch_round(1);
        receive_all(mb, 1, per_sender, 0, true);
    }

    /// `senders` threads each send `per_sender` distinct messages to `mb` (plus, with
    /// `watcher`, a thread that goes round once and retires) while this thread receives; the
    /// checks of [`receiver_against`].
    fn receive_all(
        mb: Arc<Mailbox<usize>>,
        senders: usize,
        per_sender: usize,
        spins: usize,
        watcher: bool,
    ) {
        let total = senders * per_sender;
        let parker = std::sync::Arc::new(Parker {
            events: Mutex::new(Events::default()),
            cv: Condvar::new(),
        });
        let mut handles: Vec<_> = (0..senders)
            .map(|s| {
                let mb = Arc::clone(&mb);
                let parker = std::sync::Arc::clone(&parker);
                thread::spawn(move || {
                    for i in 0..per_sender {
                        mb.send(s * per_sender + i);
                    }
                    parker.signal(|e| e.senders_done += 1);
                })
            })
            .collect();
        if watcher {
            let mb = Arc::clone(&mb);
            let parker = std::sync::Arc::clone(&parker);
            handles.push(thread::spawn(move || {
                mb.watch_round(2);
                mb.unwatch();
                parker.signal(|e| e.senders_done += 1);
            }));
        }
        let senders = handles.len();

        let waker = Waker::from(std::sync::Arc::clone(&parker));
        let mut cx = Context::from_waker(&waker);
        let mut got = Vec::with_capacity(total);
        let mut seen_wakes = 0;
        let mut spins_left = spins;
        'recv: while got.len() < total {
            let spin = || {
                let go = spins_left > 0;
                spins_left = spins_left.saturating_sub(1);
                go
            };
            match mb.poll_recv_or_spin(&mut cx, spin) {
                Poll::Ready(Some(m)) => {
                    got.push(m);
                    continue;
                }
                // Spinning: poll again at once, as `Mesh::recv_spinning` does after its yield.
                Poll::Ready(None) => continue,
                Poll::Pending => {}
            }
            // Parked.
            let mut events = parker.events.lock().expect("events");
            loop {
                if events.wakes > seen_wakes {
                    seen_wakes = events.wakes;
                    continue 'recv;
                }
                if events.senders_done == senders {
                    // Every send happened before this point; none woke us since we parked.
                    drop(events);
                    let left = mb.try_recv();
                    assert!(
                        left.is_none(),
                        "lost wake-up: message {left:?} queued, receiver asleep, no wake-up pending"
                    );
                    break 'recv;
                }
                events = parker.cv.wait(events).expect("events");
            }
        }
        for h in handles {
            h.join().expect("sender");
        }
        assert_eq!(mb.try_recv(), None, "a message was left in the queue");
        got.sort_unstable();
        assert_eq!(
            got,
            (0..total).collect::<Vec<_>>(),
            "each message exactly once"
        );
        let wakes = parker.events.lock().expect("events").wakes;
        // A spin never wakes anyone: the receiver polls again by itself. Senders wake at most
        // once per message; a watcher at most once per look (its round and its retiring look),
        // and one look may race the receiver taking the message itself.
        let looks = if watcher { 2 } else { 0 };
        assert!(
            wakes <= total + looks,
            "{wakes} wake-ups for {total} messages ({spins} spins, {looks} watcher looks)"
        );
    }

    /// Explore every interleaving with at most `preemptions` forced thread switches (the full
    /// space of the two-sender model takes hours); `LOOM_MAX_PREEMPTIONS` overrides the bound.
    fn model(preemptions: usize, f: impl Fn() + Sync + Send + 'static) {
        let mut builder = loom::model::Builder::new();
        if std::env::var_os("LOOM_MAX_PREEMPTIONS").is_none() {
            builder.preemption_bound = Some(preemptions);
        }
        builder.check(f);
    }

    #[test]
    fn one_sender_two_messages() {
        model(PREEMPTIONS_ONE_SENDER, || receiver_against(1, 2));
    }

    #[test]
    fn spinning_receiver_one_sender_two_messages() {
        model(PREEMPTIONS_ONE_SENDER, || {
            receiver_spinning_against(1, 2, 2)
        });
    }

    #[test]
    fn watched_receiver_one_sender_two_messages() {
        model(PREEMPTIONS_WATCHED, || watched_receiver_against(2));
    }

    #[test]
    fn two_senders_one_message_each() {
        model(PREEMPTIONS_TWO_SENDERS, || receiver_against(2, 1));
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;
    use std::task::Wake;

    /// A waker that counts its wake-ups.
    #[derive(Default)]
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A mailbox whose receiver has parked (empty queue), and its wake-up count.
    fn parked() -> (Mailbox<u32>, Arc<Count>) {
        let mb = Mailbox::new();
        let count = Arc::new(Count::default());
        let waker = Waker::from(Arc::clone(&count));
        assert!(mb.poll_recv(&mut Context::from_waker(&waker)).is_pending());
        (mb, count)
    }

    fn wakes(c: &Count) -> usize {
        c.0.load(Ordering::SeqCst)
    }

    #[test]
    fn an_unwatched_parked_receiver_is_woken_by_its_sender() {
        let (mb, count) = parked();
        mb.send(1);
        assert_eq!(wakes(&count), 1);
        mb.send(2);
        assert_eq!(wakes(&count), 1, "one wake-up per sleep");
    }

    #[test]
    fn a_fresh_watcher_takes_the_wake_up_over_from_the_sender() {
        let (mb, count) = parked();
        mb.watch_round(watch::now());
        mb.send(1);
        assert_eq!(
            wakes(&count),
            0,
            "the sender left the wake-up to the watcher"
        );
        mb.watch_round(watch::now());
        assert_eq!(
            wakes(&count),
            1,
            "the watcher's next round woke the receiver"
        );
        mb.watch_round(watch::now());
        assert_eq!(wakes(&count), 1, "and only once");
        assert_eq!(mb.try_recv(), Some(1));
    }

    #[test]
    fn a_watcher_wakes_nobody_without_mail() {
        let (mb, count) = parked();
        mb.watch_round(watch::now());
        mb.watch_round(watch::now());
        mb.unwatch();
        assert_eq!(wakes(&count), 0);
    }

    #[test]
    fn a_stale_watcher_leaves_the_wake_up_to_the_sender() {
        let (mb, count) = parked();
        // A stamp older than FRESH: another thread has kept the watcher off its CPU.
        let fresh = watch::FRESH.as_nanos() as u64;
        // The clock's origin is its first reading: make stamps older than FRESH possible.
        let _ = watch::now();
        std::thread::sleep(watch::FRESH * 2);
        mb.watch_round(watch::now().saturating_sub(fresh + 1).max(1));
        mb.send(1);
        assert_eq!(wakes(&count), 1, "the sender woke the receiver itself");
    }

    #[test]
    fn a_retiring_watcher_delivers_what_was_left_to_it_and_hands_back() {
        let (mb, count) = parked();
        mb.watch_round(watch::now());
        mb.send(1);
        assert_eq!(wakes(&count), 0);
        mb.unwatch();
        assert_eq!(
            wakes(&count),
            1,
            "the retiring watcher's last look woke the receiver"
        );
        assert_eq!(mb.try_recv(), Some(1));
        // Park again: with no watcher the sender wakes the receiver itself.
        let waker = Waker::from(Arc::clone(&count));
        assert!(mb.poll_recv(&mut Context::from_waker(&waker)).is_pending());
        mb.send(2);
        assert_eq!(wakes(&count), 2);
    }

    #[test]
    fn a_busy_receiver_is_never_woken() {
        let mb: Mailbox<u32> = Mailbox::new();
        mb.watch_round(watch::now());
        mb.send(1);
        mb.wake_if_mail();
        mb.unwatch();
        assert_eq!(
            mb.try_recv(),
            Some(1),
            "not asleep: nothing to wake, the message waits"
        );
    }
}
