//! Per-core table of calls waiting for a reply from another core (see [`super`]).

use std::cell::RefCell;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};

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

    /// Whether the caller of slot `id` has gone (its ticket was dropped before a reply); if so,
    /// free the slot now, as its reply would have: the call will never be answered. Lets a
    /// sender drop work nobody waits for before doing it (a queued forward whose client left).
    pub fn release_if_abandoned(&self, id: u32) -> bool {
        let mut slots = self.slots.borrow_mut();
        match slots.get_mut(id as usize) {
            Some(slot @ Slot::Abandoned) => {
                *slot = Slot::Free;
                self.free.borrow_mut().push(id);
                true
            }
            _ => false,
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

    #[test]
    fn an_abandoned_call_is_released_without_its_reply() {
        let table: Rc<Pending<u8>> = Rc::new(Pending::default());
        let waiting = table.reserve();
        let gone = table.reserve();
        let gone_id = gone.id();
        assert!(
            !table.release_if_abandoned(waiting.id()),
            "its caller waits"
        );
        drop(gone);
        assert!(table.release_if_abandoned(gone_id));
        assert_eq!(table.in_use(), 1);
        // Released once: the slot is free (or reused), not abandoned any more.
        assert!(!table.release_if_abandoned(gone_id));
        assert_eq!(table.reserve().id(), gone_id, "the freed slot is reused");
        drop(waiting);
    }
}
