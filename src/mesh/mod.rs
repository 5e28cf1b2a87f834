//! Cross-core messaging: one inbound mailbox per core, wired once at start-up.
//!
//! Only the core that owns a shard touches it, so work for another core travels as an owned
//! message: the key (inline when short, [`CallKey`]), an op code with any `Bytes` value, and a
//! reply slot number. A mailbox is a lock-free MPSC queue plus an `asleep` flag: a sender wakes
//! the receiving core only when that core has gone to sleep after draining its queue, so a busy
//! core is never woken and a burst of messages costs one wake-up (pelikan's `needs_wake`,
//! glommio's "create channels early"). Replies come back the same way, as messages to the
//! caller's mailbox, and land in that core's [`Pending`] table, which wakes the waiting
//! connection task locally. A call with a short key allocates nothing beyond the queue's own
//! blocks.
//!
//! Bounded for requests only: a core may have at most its share of `limits.max_queued_per_core`
//! key calls outstanding at each other core ([`Calls`], core-local credits; a full destination
//! is a typed [`Full`] the server answers 503), while replies, shutdown and ring-change closures
//! are never refused. Admin closures are not counted: a connection runs one at a time.
//!
//! A core that has just handled messages polls its mailbox a little longer before it parks
//! ([`SPIN_AFTER_ACTIVITY`], [`Mesh::recv_spinning`]): waking a parked core is what a lone
//! cross-core call costs.
//!
//! Layout: [`mailbox`] holds the queue and the sleep/wake handshake (model-checked with loom),
//! `pending` the reply-slot table, `calls` the per-destination credits, `msg` what travels,
//! `key` a call's key, [`oneshot`] the cold-path answers, `relay` the yield a spinning receiver
//! uses (behind the core's other ready tasks), [`watch`] the stamps of the `idle_poll: always`
//! pollers that wake a parked core from its own CPU.

use std::cell::Cell;
use std::future::poll_fn;
use std::time::{Duration, Instant};

mod calls;
mod key;
mod mailbox;
mod msg;
pub mod oneshot;
mod pending;
mod relay;
pub mod watch;

pub use calls::{Calls, Full};
pub use key::CallKey;
use mailbox::Mailbox;
pub use msg::{Msg, Task};
pub use pending::{Pending, Ticket};
pub use relay::Relay;

/// How long a core keeps polling its mailbox after it last handled a message, before it parks.
///
/// A parked core is woken through its runtime, and on the VMs measured the time goes to waking
/// the idle vCPU, not to the mechanism: a `Mesh` round trip between two parked cores costs
/// 46 µs, as does a plain futex ping-pong between two threads (`bench/hop.rs`), and a futex, an
/// eventfd and a message through io_uring (`IORING_OP_MSG_RING`) wake a sleeping thread in the
/// same time and CPU to within the runs' spread (`bench/wake.rs`, four runs: 41-65 µs a round
/// trip back to back, 66-160 µs after 1 ms idle, 29-42 µs of CPU each; the message was never
/// the cheaper one). Only not parking helps: a core that
/// keeps polling for a few µs after handling messages takes the next message (or the reply to
/// its own call) without a wake-up, and its sender skips the wake-up too; a busy round trip
/// drops to about 1 µs. Spinning yields to every other task and to the I/O driver on each
/// round ([`Relay`]), so it delays no other task; it costs CPU only right after activity,
/// none on an idle core. 5 µs covers a reply from an awake core
/// (about 1 µs); a 15 or 50 µs window cost up to 1.3x the CPU per request on two cores shared
/// with the load generator, 5 µs no measurable CPU (measured when the spin still woke itself,
/// which ran it ahead of the core's other tasks).
pub const SPIN_AFTER_ACTIVITY: Duration = Duration::from_micros(5);

/// With `idle_poll: always`, how long a core keeps polling after it sent a key call to another
/// core (and after it handled messages), so the reply finds it awake: the other core's wake-up
/// (by its CPU's poller, [`watch`]) takes about 10 µs here, 30-40 µs when the sender's wake-up
/// has to cross CPUs on a VM, and 50 µs covers a busy moment. The worker CPUs are the node's alone in that mode, so the spin costs no
/// one else's time.
pub const SPIN_AFTER_CALL: Duration = Duration::from_micros(50);

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

    /// [`Mesh::recv`] that, until `spin_until`, polls the mailbox between the core's other work
    /// instead of parking (see [`SPIN_AFTER_ACTIVITY`]). Only core `me` may call this.
    pub async fn recv_spinning(&self, me: usize, spin_until: Option<Instant>, relay: &Relay) -> M {
        self.recv_spinning_until(me, &Cell::new(spin_until), relay, false)
            .await
    }

    /// [`Mesh::recv_spinning`] with a deadline others on core `me` may move while it waits
    /// (a call sent with `idle_poll: always` extends it; see [`Mesh::nudge`]). Each empty poll
    /// while spinning yields through `relay`, behind every other ready task of the core and
    /// the next poll of the I/O driver, so the spin delays none of them. With `offer_cpu` it
    /// also offers the CPU to other threads (`sched_yield`) each round: for the long spins of
    /// `idle_poll: always`, which would otherwise keep a thread sharing the CPU waiting to the
    /// end of the spin (a local client: +40 µs a GET). Not for the default 5 µs spin: under load
    /// with the load generator on the same CPUs, each yield could hand it a whole time slice
    /// (p99 1.3-1.6 ms became 14-18 ms).
    pub async fn recv_spinning_until(
        &self,
        me: usize,
        spin_until: &Cell<Option<Instant>>,
        relay: &Relay,
        offer_cpu: bool,
    ) -> M {
        let mb = &self.boxes[me];
        let spin = || spin_until.get().is_some_and(|t| Instant::now() < t);
        loop {
            if let Some(m) = poll_fn(|cx| mb.poll_recv_or_spin(cx, spin)).await {
                return m;
            }
            relay.yield_back().await;
            if offer_cpu {
                std::thread::yield_now();
            }
        }
    }

    /// A watcher's round over the mailboxes of `cores` (those on the watcher's CPU): stamp each
    /// and wake those parked with mail, so that their senders need not wake them from another
    /// CPU. For the `idle_poll: always` pollers (`node::idle`).
    pub fn watch_round(&self, cores: &[usize]) {
        let now = watch::now();
        for &core in cores {
            self.boxes[core].watch_round(now);
        }
    }

    /// The watcher of `cores` stops; senders wake those cores themselves from now on, and a
    /// message left to the watcher is delivered now.
    pub fn unwatch(&self, cores: &[usize]) {
        for &core in cores {
            self.boxes[core].unwatch();
        }
    }

    /// Core `me` wakes its own receiver if it parked with mail (the backstop of a watched core:
    /// see [`watch::BACKSTOP`]). Only core `me` may call this.
    pub fn wake_if_mail(&self, me: usize) {
        self.boxes[me].wake_if_mail();
    }

    /// Core `me` wakes its own parked receiver, so that it re-reads a spin deadline just moved.
    /// A no-op when the receiver is not parked. Only core `me` may call this.
    pub fn nudge(&self, me: usize) {
        self.boxes[me].nudge();
    }
}

// Real threads and a real runtime: loom's primitives only work inside `loom::model`.
#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::storage::{KeyOp, KeyReply};
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

    type M = Msg<()>;

    fn request(
        calls: &Calls<KeyReply>,
        mesh: &Mesh<M>,
        dst: usize,
    ) -> Result<Ticket<KeyReply>, Full> {
        let t = calls.reserve(dst)?;
        let key = CallKey::new(b"k");
        let (from, slot, op) = (0, t.id(), KeyOp::Get);
        mesh.send(
            dst,
            Msg::Key {
                from,
                slot,
                op,
                key,
            },
        );
        Ok(t)
    }

    /// Core 1 answers every key call in its mailbox: (calls answered, replies taken).
    fn drain_and_answer(mesh: &Mesh<M>) -> (usize, usize) {
        let (mut calls, mut replies) = (0, 0);
        while let Some(m) = mesh.try_recv(1) {
            match m {
                Msg::Key { from, slot, .. } => {
                    let reply = KeyReply::Miss;
                    mesh.send(
                        from as usize,
                        Msg::KeyDone {
                            from: 1,
                            slot,
                            reply,
                        },
                    );
                    calls += 1;
                }
                Msg::KeyDone { .. } => replies += 1,
                Msg::Run(_) => {}
            }
        }
        (calls, replies)
    }

    #[test]
    fn requests_stop_at_the_bound_replies_never_do_and_draining_reopens() {
        let mesh: Mesh<M> = Mesh::new(2);
        let calls: Calls<KeyReply> = Calls::new(2, 3);
        // Core 1 is not draining its mailbox: the bound is reached, and the call refused.
        let tickets: Vec<_> = (0..3)
            .map(|_| request(&calls, &mesh, 1).expect("below the bound"))
            .collect();
        assert_eq!(
            request(&calls, &mesh, 1).err(),
            Some(Full { core: 1, limit: 3 })
        );
        // A reply into the full mailbox (core 0 answering a call of core 1) is still delivered.
        let reply = KeyReply::Deleted(true);
        mesh.send(
            1,
            Msg::KeyDone {
                from: 0,
                slot: 7,
                reply,
            },
        );
        // Core 1 drains: three requests answered, the reply taken.
        assert_eq!(drain_and_answer(&mesh), (3, 1));
        // Until core 0 has taken the replies, the credits are still out.
        assert!(request(&calls, &mesh, 1).is_err());
        let mut delivered = 0;
        while let Some(Msg::KeyDone { from, slot, reply }) = mesh.try_recv(0) {
            calls.complete(from as usize, slot, reply);
            delivered += 1;
        }
        assert_eq!(delivered, 3);
        drop(tickets);
        let again: Vec<_> = (0..3)
            .map(|_| request(&calls, &mesh, 1).expect("accepted again after draining"))
            .collect();
        assert_eq!(again.len(), 3);
        assert_eq!(calls.outstanding(1), 3);
    }
}
