//! Cross-core messaging: one inbound mailbox per core, wired once at start-up.
//!
//! Only the core that owns a shard touches it, so work for another core travels as an owned message
//! (`Bytes` key and value, an op code, and a reply slot number). A mailbox is a lock-free MPSC queue
//! plus an `asleep` flag: a sender wakes the receiving core only when that core has gone to sleep
//! after draining its queue, so a busy core is never woken and a burst of messages costs one wake-up
//! (pelikan's `needs_wake`, glommio's "create channels early"). Replies come back the same way, as
//! messages to the caller's mailbox, and land in that core's [`Pending`] table, which wakes the
//! waiting connection task locally. No `Arc` or allocation per call beyond the queue's own blocks.

use std::cell::RefCell;
use std::future::poll_fn;
use std::rc::Rc;
use std::sync::atomic::{fence, AtomicBool, Ordering};
use std::sync::Mutex;
use std::task::{Poll, Waker};

use crossbeam::queue::SegQueue;

/// The inbound side of one core.
struct Mailbox<M> {
    queue: SegQueue<M>,
    /// Set by the receiver just before it parks; cleared by the first sender that sees it.
    asleep: AtomicBool,
    /// Taken only on the sleep/wake transition, never per message.
    waker: Mutex<Option<Waker>>,
}

/// All mailboxes of a node: `Arc<Mesh<M>>` is shared by every worker thread.
pub struct Mesh<M> {
    boxes: Box<[Mailbox<M>]>,
}

impl<M: Send> Mesh<M> {
    pub fn new(cores: usize) -> Self {
        let boxes = (0..cores)
            .map(|_| Mailbox {
                queue: SegQueue::new(),
                asleep: AtomicBool::new(false),
                waker: Mutex::new(None),
            })
            .collect();
        Mesh { boxes }
    }

    pub fn cores(&self) -> usize {
        self.boxes.len()
    }

    /// Queue `msg` for core `dst` and wake it if (and only if) it is parked.
    pub fn send(&self, dst: usize, msg: M) {
        let mb = &self.boxes[dst];
        mb.queue.push(msg);
        // Pairs with the fence in `recv`: either the receiver sees our message when it re-checks the
        // queue, or we see its `asleep` flag here (Dekker-style store/load ordering).
        fence(Ordering::SeqCst);
        if mb.asleep.load(Ordering::Relaxed) && mb.asleep.swap(false, Ordering::AcqRel) {
            let waker = match mb.waker.lock() {
                Ok(mut w) => w.take(),
                Err(poisoned) => poisoned.into_inner().take(),
            };
            if let Some(w) = waker {
                w.wake();
            }
        }
    }

    /// Non-blocking pop for the owning core.
    pub fn try_recv(&self, me: usize) -> Option<M> {
        self.boxes[me].queue.pop()
    }

    /// Wait until core `me`'s mailbox has a message and return it. Only core `me` may call this.
    pub async fn recv(&self, me: usize) -> M {
        let mb = &self.boxes[me];
        poll_fn(|cx| {
            if let Some(m) = mb.queue.pop() {
                return Poll::Ready(m);
            }
            {
                let mut slot = match mb.waker.lock() {
                    Ok(w) => w,
                    Err(poisoned) => poisoned.into_inner(),
                };
                match slot.as_ref() {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => *slot = Some(cx.waker().clone()),
                }
            }
            mb.asleep.store(true, Ordering::SeqCst);
            fence(Ordering::SeqCst);
            if let Some(m) = mb.queue.pop() {
                mb.asleep.store(false, Ordering::Relaxed);
                return Poll::Ready(m);
            }
            Poll::Pending
        })
        .await
    }
}

enum Slot<R> {
    Free,
    Waiting(Option<Waker>),
    /// The caller went away (client disconnected); free the slot when the reply lands.
    Abandoned,
    Ready(R),
}

/// Per-core table of calls waiting for a reply from another core. Core-local: `Rc`, no locks.
pub struct Pending<R> {
    slots: RefCell<Vec<Slot<R>>>,
    free: RefCell<Vec<u32>>,
}

impl<R> Default for Pending<R> {
    fn default() -> Self {
        Pending {
            slots: RefCell::new(Vec::new()),
            free: RefCell::new(Vec::new()),
        }
    }
}

impl<R> Pending<R> {
    /// Reserve a reply slot; the ticket frees it on drop, whatever state the call is in.
    pub fn reserve(self: &Rc<Self>) -> Ticket<R> {
        let mut slots = self.slots.borrow_mut();
        let id = match self.free.borrow_mut().pop() {
            Some(id) => {
                slots[id as usize] = Slot::Waiting(None);
                id
            }
            None => {
                slots.push(Slot::Waiting(None));
                (slots.len() - 1) as u32
            }
        };
        Ticket {
            id,
            table: Rc::clone(self),
        }
    }

    /// Deliver the reply for slot `id` (called by the mailbox task on the caller's core).
    pub fn complete(&self, id: u32, reply: R) {
        let mut slots = self.slots.borrow_mut();
        let Some(slot) = slots.get_mut(id as usize) else {
            return;
        };
        match std::mem::replace(slot, Slot::Free) {
            Slot::Waiting(waker) => {
                *slot = Slot::Ready(reply);
                drop(slots);
                if let Some(w) = waker {
                    w.wake();
                }
            }
            Slot::Abandoned => self.free.borrow_mut().push(id),
            // A reply for a slot that is not waiting cannot happen (one reply per call); keep state.
            other => *slot = other,
        }
    }

    /// Slots in use (for tests and metrics).
    pub fn in_use(&self) -> usize {
        self.slots.borrow().len() - self.free.borrow().len()
    }
}

/// A reserved reply slot. Await [`Ticket::wait`] for the reply.
pub struct Ticket<R> {
    id: u32,
    table: Rc<Pending<R>>,
}

impl<R> Ticket<R> {
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Resolve to the reply once the other core has answered.
    pub async fn wait(&mut self) -> R {
        poll_fn(|cx| {
            let mut slots = self.table.slots.borrow_mut();
            let slot = &mut slots[self.id as usize];
            match std::mem::replace(slot, Slot::Waiting(None)) {
                Slot::Ready(r) => {
                    // Consumed: the ticket's drop returns the slot to the free list.
                    *slot = Slot::Free;
                    Poll::Ready(r)
                }
                Slot::Waiting(Some(w)) if w.will_wake(cx.waker()) => {
                    *slot = Slot::Waiting(Some(w));
                    Poll::Pending
                }
                _ => {
                    *slot = Slot::Waiting(Some(cx.waker().clone()));
                    Poll::Pending
                }
            }
        })
        .await
    }
}

impl<R> Drop for Ticket<R> {
    fn drop(&mut self) {
        let mut slots = self.table.slots.borrow_mut();
        let slot = &mut slots[self.id as usize];
        if matches!(slot, Slot::Waiting(_)) {
            *slot = Slot::Abandoned;
        } else {
            *slot = Slot::Free;
            self.table.free.borrow_mut().push(self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn send_and_recv_across_threads_in_order() {
        let mesh: Arc<Mesh<u32>> = Arc::new(Mesh::new(2));
        let m2 = Arc::clone(&mesh);
        let h = std::thread::spawn(move || {
            let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let mut got = Vec::new();
                for _ in 0..10_000 {
                    got.push(m2.recv(1).await);
                }
                got
            })
        });
        for i in 0..10_000 {
            mesh.send(1, i);
        }
        let got = h.join().expect("receiver");
        assert_eq!(got, (0..10_000).collect::<Vec<_>>());
    }

    #[test]
    fn ticket_lifecycle_frees_slots() {
        let table: Rc<Pending<u8>> = Rc::new(Pending::default());
        let a = table.reserve();
        let b = table.reserve();
        assert_eq!(table.in_use(), 2);
        // Reply after the caller is gone: the slot is freed when the reply lands.
        let bid = b.id();
        drop(b);
        assert_eq!(table.in_use(), 2);
        table.complete(bid, 7);
        assert_eq!(table.in_use(), 1);
        table.complete(a.id(), 9);
        let mut a = a;
        let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .build()
            .expect("runtime");
        assert_eq!(rt.block_on(a.wait()), 9);
        drop(a);
        assert_eq!(table.in_use(), 0);
        // Freed slots are reused.
        let c = table.reserve();
        assert!(c.id() <= 1);
    }
}
