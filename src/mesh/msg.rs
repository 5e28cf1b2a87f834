//! What travels between cores: typed key calls on the hot path, closures on the cold path.
//!
//! The hot path (one key operation) is a plain enum variant with a reply slot: a [`KeyOp`] goes
//! out and exactly a [`KeyReply`] comes back into the caller's `Pending<KeyReply>` table, so no
//! "unexpected reply" case exists. Everything else (admin fan-out, scans, imports, shutdown,
//! ring changes) is rare: it travels as a boxed closure that runs on the owning core against that
//! core's context `C` and hands back a typed value through a [`oneshot`](super::oneshot)
//! (Dragonfly's `EngineShardSet::Await(sid, f)`).

use super::CallKey;
use crate::storage::{KeyOp, KeyReply};

/// A closure run on the receiving core with that core's context.
pub type Task<C> = Box<dyn FnOnce(&C) + Send>;

/// A message in a core's mailbox.
pub enum Msg<C> {
    /// Execute `op` on the receiving core's shard; answer into slot `slot` of core `from`.
    Key {
        from: u16,
        slot: u32,
        op: KeyOp,
        key: CallKey,
    },
    /// The answer to a [`Msg::Key`] this core sent, from core `from` (which returns the call's
    /// credit toward `from`, see [`super::Calls`]).
    KeyDone {
        from: u16,
        slot: u32,
        reply: KeyReply,
    },
    /// Run a closure on the receiving core (cold path).
    Run(Task<C>),
}
