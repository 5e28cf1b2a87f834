//! A flush on this node's cores: observe its version, then on every core (all at once) install
//! the barrier and walk the shard a page at a time, letting the core serve its connections
//! between pages.

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::cluster::Cluster;
use crate::mesh::oneshot::Canceled;
use crate::server::core::Core;

/// Slots one step of a flush examines on a core: about a millisecond of work (a million keys
/// on two cores took 125-220 ms, ~0.25-0.45 µs per slot, `tests/api_flush/large.rs`), so a
/// flush of a large shard delays the core's other requests by about that much per step,
/// however many keys it holds.
pub(crate) const FLUSH_PAGE_SLOTS: usize = 4096;

/// Which deleted keys a node counts toward a flush's total, so that the coordinator can add the
/// nodes' counts and still count each key once.
#[derive(Clone, Debug)]
pub(super) enum Counting {
    /// Every key deleted here (a node alone, or a late delivery whose count nobody adds).
    All,
    /// A key is counted by the first member of its preference list that took part (`true` in
    /// ring order); a copy held by no member that took part (a stand-in's) by whoever holds it.
    FirstOf(Arc<[bool]>),
}

impl Counting {
    fn counts(&self, cl: &Cluster, key: &[u8]) -> bool {
        match self {
            Counting::All => true,
            Counting::FirstOf(took_part) => {
                let prefs = cl.topology().prefs(key);
                let first = prefs
                    .iter()
                    .find(|&m| took_part.get(m).copied().unwrap_or(false));
                first.is_none_or(|m| m == cl.me)
            }
        }
    }
}

/// What the flush did on this node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Applied {
    /// Live keys deleted here (every copy this node held).
    pub deleted: u64,
    /// Those this node counts toward the flush's total.
    pub counted: u64,
    /// Cores whose barrier bound forced an older barrier out.
    pub barriers_dropped: u64,
    /// Cores where the flush had run already (a second delivery): nothing to do there.
    pub done_before: u64,
}

/// Apply the flush of `prefix` (empty: every key) at `version` on every core of this node.
pub(super) async fn apply_here(
    c: &Rc<Core>,
    prefix: Bytes,
    version: u64,
    counting: Counting,
) -> Result<Applied, Canceled> {
    // Every later write coordinated here orders after the flush.
    c.node.hlc.observe(version);
    let walks: Vec<_> = (0..c.exec.cores())
        .map(|core| {
            let (c, prefix, counting) = (Rc::clone(c), prefix.clone(), counting.clone());
            monoio::spawn(async move { walk_core(&c, core, prefix, version, counting).await })
        })
        .collect();
    let mut total = Applied::default();
    for w in walks {
        let a = w.await?;
        total.deleted += a.deleted;
        total.counted += a.counted;
        total.barriers_dropped += a.barriers_dropped;
        total.done_before += a.done_before;
    }
    if total.done_before < c.exec.cores() as u64 {
        crate::metrics::inc(&c.resp.metrics.flushes);
    }
    if total.barriers_dropped > 0 {
        crate::warn!(
            "flush at version {}: {} cores held {} flush barriers already and forgot the one expiring first; late copies of that flush's keys could come back",
            crate::storage::version::to_hex(version),
            total.barriers_dropped,
            crate::storage::shard::MAX_FLUSH_BARRIERS
        );
    }
    Ok(total)
}

/// The flush on core `core`: the barrier with the first page, then one page per step; nothing
/// when it ran there already.
async fn walk_core(
    c: &Rc<Core>,
    core: usize,
    prefix: Bytes,
    version: u64,
    counting: Counting,
) -> Result<Applied, Canceled> {
    let mut total = Applied::default();
    let mut cursor = Some(0);
    while let Some(at) = cursor {
        let (prefix, counting) = (prefix.clone(), counting.clone());
        let (step, dropped, done) = c
            .on_core(core, move |c| {
                let now = c.exec.now_ms();
                let mut shard = c.exec.shard.borrow_mut();
                if at == 0 && shard.flush_done(&prefix, version, now) {
                    return (Default::default(), false, true);
                }
                let dropped = at == 0 && shard.add_flush_barrier(&prefix, version, now);
                let cl = &c.node.cluster;
                let step = shard.flush_page(&prefix, version, at, FLUSH_PAGE_SLOTS, now, |k| {
                    counting.counts(cl, k)
                });
                (step, dropped, false)
            })
            .await?;
        if done {
            total.done_before = 1;
            return Ok(total);
        }
        total.deleted += step.deleted;
        total.counted += step.counted;
        total.barriers_dropped += u64::from(dropped);
        cursor = step.next;
        if cursor.is_some() {
            pause().await;
        }
    }
    Ok(total)
}

/// Let the cores' other work run between pages (a plain yield is not enough on monoio: see
/// `import::pause`).
async fn pause() {
    monoio::time::sleep(Duration::ZERO).await;
}
