//! Leases on hot keys read through other nodes (issue 13): the owner's side (grants, and what a
//! write waits for) and the node-wide state both sides share ([`Leases`], in `NodeShared`).
//!
//! A node N that reads a hot key K through its owner C asks for a lease with the forward
//! (`?lease=<N's index>`, honoured only on a request a peer forwarded). C records the grant in a
//! node-wide stripe (`until[stripe(K)][N] = max(.., now + copy_ttl + slack)`) BEFORE it reads
//! the value, and marks its answer `X-Cache-Lease`. N noted `asked_at` BEFORE it sent the forward
//! and serves the answer as a copy (`remote.rs`) until `asked_at + copy_ttl` at most, only while
//! N still routes K to C, and only while no invalidation of K at a newer version arrived.
//!
//! Why no read started after an acknowledged write returns an older value (or 404) from a copy:
//!
//! * **Writes C coordinates** (PUT, DELETE, incr, conditional writes, and replica copies C takes
//!   from a stand-in): after the write applied on C's shard, and before the 2xx, [`after_write`]
//!   looks at K's stripe. A grant whose read returned an older value was recorded before that
//!   read, which ran on K's core before the write did (one core orders both); the write's reply
//!   travelled to the checking core after that, so the check sees the grant. For every holder
//!   with an unexpired lease, C sends `POST /internal/invalidate` (K, the write's version) and
//!   waits for its 2xx or for the lease's end, whichever comes first. A holder that answered
//!   2xx has raised its version floor for K (node-wide, before answering): from then on it
//!   serves and installs no copy older than the write. A holder that did not answer (paused,
//!   dead, cut off) stops serving the copy at `asked_at + copy_ttl`, which is no later than C's
//!   `grant + copy_ttl + slack` (the holder asked before C granted; both count on monotonic
//!   clocks), and C waited until then. Versions decide, not arrival: a fill that was read before
//!   the write carries an older version than the floor and is refused, whenever it lands.
//! * **Writes another node coordinates** (a stand-in, or the key's next replica while the owner
//!   is down, leaving or unreachable from the coordinator): only the owner grants, so every copy
//!   is one of C's, and such a write is acknowledged no earlier than `copy_ttl + slack` after it
//!   applied. If C takes the write's replica copy, C's own check above invalidates. If C is
//!   stopped or dead, its last grant came before the coordinator stopped routing to it, hence
//!   before the write: every copy has ended by the acknowledgement. (A C that is cut off from the
//!   coordinator yet reachable by readers keeps answering forwarded reads with its old value
//!   anyway; copies add nothing to that.)
//! * **A restarted owner** knows nothing of the leases its previous process granted: it
//!   acknowledges no write before `copy_ttl + slack` after it started.
//! * **Batch writes, flush and import** on a node wait until the node's latest lease has
//!   ended ([`wait_all`]) instead of invalidating key by key.
//!
//! A holder never grants, and the owner grants only while it coordinates K itself (its own
//! state `up`; a node catching up or leaving answers forwards 421 and grants nothing).

use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::time::{Duration, Instant};

use crate::cluster::Outgoing;
use crate::config::HotKeysConfig;
use crate::http::Method;
use crate::server::core::Core;

/// Stripes of the lease and floor tables: keys share a stripe by hash. A shared stripe only
/// costs a needless invalidation or a refused copy, never a stale read; 4096 keeps that rare
/// for the few dozen hot keys a node has, in 4096 × members × 8 bytes.
pub(crate) const STRIPES: usize = 4096;
/// Added to the owner's idea of a lease's end: the holder's and the owner's monotonic clocks
/// tick at the same rate within far less than this over one `copy_ttl` (≤ 1 s).
pub(crate) const SLACK_MS: u64 = 5;
/// The path of the invalidation a holder gets.
pub(crate) const INVALIDATE_PATH: &[u8] = b"/internal/invalidate";

/// Fixed seeds: the stripe of a key only has to agree inside one process.
const STRIPE_SEEDS: [u64; 4] = [
    0x452821e6_38d01377,
    0xbe5466cf_34e90c6c,
    0xc0ac29b7_c97c50dd,
    0x3f84d5b5_b5470917,
];

/// The node-wide lease state: grants made here (owner side) and version floors of
/// invalidations received here (holder side). Lock-free; every core reads and writes it.
pub(crate) struct Leases {
    enabled: bool,
    ttl_ms: u64,
    members: usize,
    base: Instant,
    /// `until[stripe * members + holder]`: end of the latest lease granted to `holder` for a
    /// key of the stripe, in [`Leases::now_ms`] (0 = none).
    until: Box<[AtomicU64]>,
    /// End of the latest lease granted for any key.
    latest: AtomicU64,
    /// Per stripe: the highest version an invalidation named.
    floors: Box<[AtomicU64]>,
    hasher: ahash::RandomState,
}

impl Leases {
    pub(crate) fn new(cfg: &HotKeysConfig, members: usize) -> Leases {
        let on = cfg.enabled && members > 1;
        let n = if on { STRIPES } else { 0 };
        let [a, b, c, d] = STRIPE_SEEDS;
        Leases {
            enabled: on,
            ttl_ms: cfg.copy_ttl.as_millis() as u64,
            members,
            base: Instant::now(),
            until: (0..n * members).map(|_| AtomicU64::new(0)).collect(),
            latest: AtomicU64::new(0),
            floors: (0..n).map(|_| AtomicU64::new(0)).collect(),
            hasher: ahash::RandomState::with_seeds(a, b, c, d),
        }
    }

    /// Copies on other nodes are on (hot keys enabled, more than one member).
    #[inline]
    pub(crate) fn enabled(&self) -> bool {
        self.enabled
    }

    /// Milliseconds on this process's monotonic clock (never 0).
    #[inline]
    pub(crate) fn now_ms(&self) -> u64 {
        self.base.elapsed().as_millis() as u64 + 1
    }

    pub(crate) fn ttl_ms(&self) -> u64 {
        self.ttl_ms
    }

    fn stripe(&self, key: &[u8]) -> usize {
        (self.hasher.hash_one(key) as usize) % STRIPES
    }

    /// Owner: record a lease of `key` for `holder`, before the value is read.
    pub(crate) fn grant(&self, holder: usize, key: &[u8]) {
        let until = self.now_ms() + self.ttl_ms + SLACK_MS;
        self.until[self.stripe(key) * self.members + holder].fetch_max(until, SeqCst);
        self.latest.fetch_max(until, SeqCst);
    }

    /// Owner: the holders of an unexpired lease on `key`'s stripe, with its end.
    fn live(&self, key: &[u8], now: u64) -> impl Iterator<Item = (usize, u64)> + '_ {
        let s = self.stripe(key) * self.members;
        (0..self.members).filter_map(move |h| {
            let u = self.until[s + h].load(SeqCst);
            (u > now).then_some((h, u))
        })
    }

    /// Holder: an invalidation of `key` at `version` arrived.
    pub(crate) fn raise_floor(&self, key: &[u8], version: u64) {
        self.floors[self.stripe(key)].fetch_max(version, SeqCst);
    }

    /// Holder: the lowest version a copy of `key` may have to be served or installed.
    #[inline]
    pub(crate) fn floor(&self, key: &[u8]) -> u64 {
        self.floors[self.stripe(key)].load(SeqCst)
    }

    /// When this process may acknowledge its first write: the leases its previous incarnation
    /// granted have ended by then.
    fn fresh_until(&self) -> u64 {
        1 + self.ttl_ms + SLACK_MS
    }
}

/// How the write being acknowledged reached this node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WriteFrom {
    /// This node coordinated it (a client's write).
    Coordinated,
    /// A replica copy from its coordinator (`X-Cache-Version`).
    Copy,
}

/// Whether this node granted every lease on `key` that may still run: it owns the key, and no
/// membership change is moving it (its previous owner may have granted some).
fn owns_leases(cl: &crate::cluster::Cluster, key: &[u8]) -> bool {
    let t = cl.topology();
    t.ring.owner(key) == cl.me && t.previous_prefs(key).is_none()
}

/// Whether leases are on here: a write must then be checked with [`must_wait`] once it
/// applied (false on a single node or with `hot_keys.enabled: false`).
#[inline]
pub(crate) fn watching(c: &Core) -> bool {
    c.node.leases.enabled()
}

/// Whether the 2xx of a write of `key` that applied on this node must wait for
/// [`after_write`]: a few loads, nothing allocated (the usual answer is no).
pub(crate) fn must_wait(c: &Core, key: &[u8], from: WriteFrom) -> bool {
    let l = &c.node.leases;
    if !l.enabled() {
        return false;
    }
    let cl = &c.node.cluster;
    if !owns_leases(cl, key) {
        return from == WriteFrom::Coordinated;
    }
    let now = l.now_ms();
    now < l.fresh_until() || l.live(key, now).next().is_some()
}

/// Before the 2xx of a write of `key` at `version` that applied on this node: make sure no
/// copy on another node can still serve an older value (see the module doc).
pub(crate) async fn after_write(c: &Core, key: &[u8], version: u64, from: WriteFrom) {
    let l = &c.node.leases;
    if !l.enabled() {
        return;
    }
    let cl = &c.node.cluster;
    let now = l.now_ms();
    if !owns_leases(cl, key) {
        if from == WriteFrom::Coordinated {
            // A stand-in or failover coordinator: the owner's leases end within copy_ttl.
            crate::metrics::inc(&c.resp.metrics.hot_lease_waits);
            sleep_until(l, now + l.ttl_ms + SLACK_MS).await;
        }
        return;
    }
    if now < l.fresh_until() {
        sleep_until(l, l.fresh_until()).await;
    }
    let live: Vec<usize> = l.live(key, l.now_ms()).map(|(h, _)| h).collect();
    if live.is_empty() {
        return;
    }
    let mut query = [0u8; 18];
    let q = version_query(version, &mut query);
    let mut flights = Vec::with_capacity(live.len());
    for h in live {
        if h == cl.me {
            continue;
        }
        crate::metrics::inc(&c.resp.metrics.hot_invalidations_sent);
        let out = Outgoing {
            method: Method::Post,
            path: INVALIDATE_PATH,
            query: Some(q),
            body: Some(key),
            version: None,
            content_type: Some(b"application/octet-stream"),
            headers: b"",
        };
        flights.push((h, c.peers.forward(h, &out)));
    }
    for (h, f) in flights {
        // Read the lease's end again: a grant may have been extended meanwhile.
        let until = l.live(key, 0).find(|&(x, _)| x == h).map_or(0, |(_, u)| u);
        let left = until.saturating_sub(l.now_ms());
        let answered = match monoio::time::timeout(Duration::from_millis(left), f.wait()).await {
            Ok(Ok(a)) => a.status < 300,
            _ => false,
        };
        if !answered {
            crate::metrics::inc(&c.resp.metrics.hot_lease_waits);
            sleep_until(l, until).await;
        }
    }
}

/// Batch writes, flush and import: wait until every lease granted here so far has ended (and,
/// on a node that just started, those of its previous process).
pub(crate) async fn wait_all(c: &Core) {
    let l = &c.node.leases;
    if !l.enabled() {
        return;
    }
    let until = l.latest.load(SeqCst).max(l.fresh_until());
    if until > l.now_ms() {
        crate::metrics::inc(&c.resp.metrics.hot_lease_waits);
        sleep_until(l, until).await;
    }
}

/// A batch's writes (`keys`): the leases granted here have ended, and when a written key's
/// owner is not routable from here (its writes went to a stand-in or the next replica, see
/// [`after_write`]), `copy_ttl` has passed.
pub(crate) async fn wait_batch<'k>(c: &Core, keys: impl Iterator<Item = &'k [u8]>) {
    let l = &c.node.leases;
    if !l.enabled() {
        return;
    }
    let start = l.now_ms();
    let cl = &c.node.cluster;
    let mut any = false;
    let mut elsewhere = false;
    for k in keys {
        any = true;
        let owner = cl.topology().ring.owner(k);
        elsewhere |= owner != cl.me && cl.state(owner) != crate::cluster::MemberState::Up;
    }
    if !any {
        return;
    }
    wait_all(c).await;
    if elsewhere {
        crate::metrics::inc(&c.resp.metrics.hot_lease_waits);
        sleep_until(l, start + l.ttl_ms + SLACK_MS).await;
    }
}

async fn sleep_until(l: &Leases, until: u64) {
    let now = l.now_ms();
    if until > now {
        monoio::time::sleep(Duration::from_millis(until - now)).await;
    }
}

/// `v=<hex version>` in `buf`.
fn version_query(version: u64, buf: &mut [u8; 18]) -> &[u8] {
    buf[..2].copy_from_slice(b"v=");
    buf[2..].copy_from_slice(&crate::storage::version::hex(version));
    &buf[..]
}

/// The version an invalidation names (`v=<hex>`), if well-formed.
pub(crate) fn parse_version_query(query: Option<&[u8]>) -> Option<u64> {
    let hex = query?.strip_prefix(b"v=")?;
    crate::storage::version::parse_hex(hex)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leases(members: usize) -> Leases {
        Leases::new(&HotKeysConfig::default(), members)
    }

    #[test]
    fn a_grant_is_seen_by_the_check_after_a_write_until_it_ends() {
        let l = leases(3);
        let now = l.now_ms();
        assert_eq!(l.live(b"k", now).count(), 0);
        l.grant(2, b"k");
        let live: Vec<_> = l.live(b"k", now).collect();
        assert_eq!(live.len(), 1);
        assert_eq!(live[0].0, 2);
        assert!(live[0].1 >= now + l.ttl_ms() + SLACK_MS);
        assert_eq!(l.live(b"k", live[0].1).count(), 0, "ended");
    }

    #[test]
    fn floors_only_rise() {
        let l = leases(2);
        l.raise_floor(b"k", 10);
        l.raise_floor(b"k", 5);
        assert_eq!(l.floor(b"k"), 10);
    }

    #[test]
    fn one_member_or_disabled_means_off() {
        assert!(!leases(1).enabled());
        let off = HotKeysConfig {
            enabled: false,
            ..HotKeysConfig::default()
        };
        assert!(!Leases::new(&off, 3).enabled());
        assert!(leases(3).enabled());
    }

    #[test]
    fn the_version_travels_as_hex_in_the_query() {
        let mut buf = [0; 18];
        let q = version_query(0x1234_5678_9abc, &mut buf);
        assert_eq!(parse_version_query(Some(q)), Some(0x1234_5678_9abc));
        assert_eq!(parse_version_query(Some(b"x=1")), None);
        assert_eq!(parse_version_query(None), None);
    }
}
