//! Cross-core messaging: one inbound mailbox per core, wired once at start-up.
//!
//! Only the core that owns a shard touches it, so work for another core travels as an owned message
//! (`Bytes` key and value, an op code, and a reply slot number). A mailbox is a lock-free MPSC queue
//! plus an `asleep` flag: a sender wakes the receiving core only when that core has gone to sleep
//! after draining its queue, so a busy core is never woken and a burst of messages costs one wake-up
//! (pelikan's `needs_wake`, glommio's "create channels early"). Replies come back the same way, as
//! messages to the caller's mailbox, and land in that core's [`Pending`] table, which wakes the
//! waiting connection task locally. No `Arc` or allocation per call beyond the queue's own blocks.
//!
//! Layout: [`mailbox`] holds the queue and the sleep/wake handshake (model-checked with loom),
//! `pending` the reply-slot table, `msg` what travels, [`oneshot`] the cold-path answers.

use std::future::poll_fn;

mod mailbox;
mod msg;
pub mod oneshot;
mod pending;

use mailbox::Mailbox;
pub use msg::{Msg, Task};
pub use pending::{Pending, Ticket};

/// All mailboxes of a node: `Arc<Mesh<M>>` is shared by every worker thread.
pub struct Mesh<M> {
    boxes: Box<[Mailbox<M>]>,
}

impl<M: Send> Mesh<M> {
    pub fn new(cores: usize) -> Self {
        let boxes = (0..cores).map(|_| Mailbox::new()).collect();
        Mesh { boxes }
    }

    pub fn cores(&self) -> usize {
        self.boxes.len()
    }

    /// Queue `msg` for core `dst` and wake it if (and only if) it is parked.
    pub fn send(&self, dst: usize, msg: M) {
        self.boxes[dst].send(msg);
    }

    /// Non-blocking pop for the owning core.
    pub fn try_recv(&self, me: usize) -> Option<M> {
        self.boxes[me].try_recv()
    }

    /// Wait until core `me`'s mailbox has a message and return it. Only core `me` may call this.
    pub async fn recv(&self, me: usize) -> M {
        let mb = &self.boxes[me];
        poll_fn(|cx| mb.poll_recv(cx)).await
    }
}

// Real threads and a real runtime: loom's primitives only work inside `loom::model`.
#[cfg(all(test, not(loom)))]
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
}
