//! Catch-up before serving, and the stall detector that asks for it.
//!
//! A node coordinates nothing while it may have missed writes: at start, and after the process
//! was stopped long enough for peers to give up on it (SIGSTOP, a VM pause). Its own state is
//! then `syncing` (health 503, peers route its keys to their other replicas, but still send it
//! copies of new writes), and one task on core 0 asks every peer for its hints, then compares
//! repair digests and fetches the buckets that differ (`handlers/sync.rs` serves both). When
//! every reachable peer was handled the node is `up` again. A peer that cannot be reached is
//! skipped: it coordinated nothing the node missed while it was down itself.
//!
//! The stall detector: each core notes when it last ran (`Core::last_beat`, refreshed by a
//! 50 ms tick, by every closure it runs and by every batch of requests). A gap longer than
//! [`stall_threshold`] means the whole process stood still; before answering anything else the
//! core marks the node syncing, so a paused node never serves a read from its stale copy.

use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::core::Core;
use super::handlers::sync::{digests, parse_digests};
use crate::cluster::{MemberState, Outgoing};
use crate::http::Method;

/// How often each core proves it runs (cheap: one timer per core).
pub(crate) const STALL_TICK: Duration = Duration::from_millis(50);
/// Below this a gap is scheduling noise, not a stop (4 ticks).
const STALL_FLOOR: Duration = Duration::from_millis(200);
/// Buckets asked for in one fetch: keeps each answer a fraction of the data.
const FETCH_BUCKETS: usize = 64;
/// A catch-up call may take this many `cluster.request_timeout`s (its answer can be megabytes);
/// a peer that does not answer within it (stopped?) is skipped as unreachable.
const SYNC_CALL_TIMEOUTS: u32 = 4;
/// How often a starting catch-up checks whether the first probe round ended.
const RESOLVE_POLL: Duration = Duration::from_millis(20);
/// Pause before a sync round is retried after a peer failed mid-way.
const RETRY_PAUSE: Duration = Duration::from_millis(200);

/// Catch-up progress, shared by every core (for health, `/admin/cluster` and metrics).
#[derive(Default)]
pub(crate) struct SyncState {
    running: AtomicBool,
    /// Bumped by every request to sync: a round that ends with another value starts over.
    generation: AtomicU64,
    pub syncs: AtomicU64,
    pub stalls: AtomicU64,
    pub peers_done: AtomicU64,
    pub hints_received: AtomicU64,
    pub keys_repaired: AtomicU64,
    pub bytes_repaired: AtomicU64,
    pub last_duration_ms: AtomicU64,
    pub last_finished_unix_ms: AtomicU64,
}

/// A gap that means the process stood still: half of the shortest time in which a peer acts on
/// our silence (a request timing out, or `fail_after` probes failing), never below the floor.
pub(crate) fn stall_threshold(cfg: &crate::config::Config) -> Duration {
    let c = &cfg.cluster;
    let probes = c.probe_interval * c.fail_after;
    (c.request_timeout.min(probes) / 2).max(STALL_FLOOR)
}

/// Note that core `c` runs at `now`; a long gap since the last note starts a catch-up.
#[inline]
pub(crate) fn check_stall(c: &Rc<Core>, now: Instant) {
    let last = c.last_beat.replace(now);
    // The floor first, as a comparison of instants (a subtraction's carries cost twice as
    // much): the threshold is never below it, and a busy core's gaps (every round of answers
    // checks) are microseconds, so the rest is rarely needed.
    if last
        .checked_add(STALL_FLOOR)
        .is_some_and(|floor| now <= floor)
    {
        return;
    }
    let gap = now.saturating_duration_since(last);
    if gap > STALL_FLOOR && gap > stall_threshold(c.cfg()) && !c.node.cluster.is_standalone() {
        c.node.sync.stalls.fetch_add(1, Ordering::Relaxed);
        crate::warn!(
            "core {}: the process stood still for {} ms (stopped or starved); catching up from peers before serving its keys again",
            c.exec.core,
            gap.as_millis()
        );
        request(c);
    }
}

/// CPU time this thread has run (`CLOCK_THREAD_CPUTIME_ID`): work done, as opposed to wall
/// time, which also passes while the process is stopped.
pub(crate) fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec the call writes; the clock id is a constant.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// The tick that keeps `last_beat` fresh on an idle core.
pub(crate) async fn stall_loop(c: Rc<Core>) {
    loop {
        monoio::time::sleep(STALL_TICK).await;
        check_stall(&c, Instant::now());
    }
}

/// Mark this node syncing now and make sure a catch-up round runs (on this core).
pub(crate) fn request(c: &Rc<Core>) {
    let cl = &c.node.cluster;
    if cl.is_standalone() || cl.own_state() == MemberState::Draining {
        return;
    }
    cl.set_state(cl.me, MemberState::Syncing);
    c.node.sync.generation.fetch_add(1, Ordering::AcqRel);
    if !c.node.sync.running.swap(true, Ordering::AcqRel) {
        monoio::spawn(run(Rc::clone(c)));
    }
}

/// How often a serving node compares its keys with each up peer (hints, then digests) while it
/// keeps serving: repairs what no restart or pause would (hints dropped at their bound, a peer
/// that was cut off rather than stopped). Cheap when nothing differs: one digest pass per peer.
pub(crate) const ANTI_ENTROPY_INTERVAL: Duration = Duration::from_secs(60);

/// Background anti-entropy (core 0): every [`ANTI_ENTROPY_INTERVAL`], while this node is up and
/// no catch-up runs, sync with each up peer without leaving the serving state.
pub(crate) async fn anti_entropy_loop(c: Rc<Core>) {
    let cl = &c.node.cluster;
    if cl.is_standalone() {
        return;
    }
    loop {
        monoio::time::sleep(ANTI_ENTROPY_INTERVAL).await;
        for peer in cl.peers() {
            let busy = c.node.sync.running.load(Ordering::Acquire);
            if peer == cl.me || busy || cl.own_state() != MemberState::Up || !cl.routable(peer) {
                continue;
            }
            if let Err(SyncError::Failed(e)) = sync_with(&c, peer, false).await {
                crate::info!(peer = cl.member(peer).id; "anti-entropy with node {} failed: {e}; next round in {} s", cl.member(peer).id, ANTI_ENTROPY_INTERVAL.as_secs());
            }
        }
    }
}

/// Catch up from every peer until a whole round ran without a new request, then serve.
async fn run(c: Rc<Core>) {
    let s = &c.node.sync;
    let cl = &c.node.cluster;
    loop {
        let generation = s.generation.load(Ordering::Acquire);
        let epoch = cl.epoch();
        let started = Instant::now();
        let complete = round(&c).await;
        if !complete {
            monoio::time::sleep(RETRY_PAUSE).await;
            continue;
        }
        // Whom to ask is the cluster's membership, not this node's config: serve only once the
        // first probe round told it (a restarted node may find the cluster grew while it was
        // away), and ask again if it changed during the round.
        while !cl.resolved.load(Ordering::Acquire) {
            monoio::time::sleep(RESOLVE_POLL).await;
        }
        if s.generation.load(Ordering::Acquire) != generation || cl.epoch() != epoch {
            continue;
        }
        s.running.store(false, Ordering::Release);
        // A drain that began meanwhile keeps its state.
        let _ = cl.transition(cl.me, MemberState::Syncing, MemberState::Up);
        if s.generation.load(Ordering::Acquire) != generation {
            // A stall (on another core) raced the end of this round: catch up again.
            request(&c);
        }
        s.syncs.fetch_add(1, Ordering::Relaxed);
        s.last_duration_ms
            .store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
        s.last_finished_unix_ms
            .store(crate::cluster::unix_ms(), Ordering::Relaxed);
        crate::info!(
            "caught up from peers in {} ms ({} hints, {} keys repaired so far); serving",
            started.elapsed().as_millis(),
            s.hints_received.load(Ordering::Relaxed),
            s.keys_repaired.load(Ordering::Relaxed)
        );
        // After the state says up, so a probe answered meanwhile cannot contradict it.
        announce_ready(&c).await;
        return;
    }
}

/// Tell every peer this node serves again (best effort: their probes say it too, a round later).
/// The push carries the version of the state it announces, so a peer that processes an older
/// probe answer after it keeps the newer state (`cluster::report`).
async fn announce_ready(c: &Rc<Core>) {
    let cl = &c.node.cluster;
    // The version first, then the state: an `Up` read after it is that version's or newer.
    let v = cl.own_version();
    if cl.own_state() != MemberState::Up {
        // Syncing again or draining already: that newer state is what peers must hear.
        return;
    }
    let extra = format!("&incarnation={:016x}&seq={}", v.incarnation, v.seq);
    for peer in cl.peers().into_iter().filter(|&p| cl.takes_writes(p)) {
        // Errors are fine: the peer's prober reads the same fact from this node's health.
        let _ = call(c, peer, b"/internal/cluster/ready", &extra, None).await;
    }
}

/// One pass over every peer; false when a reachable peer failed part-way (retry the round).
async fn round(c: &Rc<Core>) -> bool {
    let cl = &c.node.cluster;
    c.node.sync.peers_done.store(0, Ordering::Relaxed);
    for peer in cl.peers() {
        match sync_with(c, peer, true).await {
            Ok(()) => {}
            Err(SyncError::Unreachable(e)) => {
                crate::info!(
                    peer = cl.member(peer).id;
                    "catch-up: node {} is unreachable ({e}); skipped",
                    cl.member(peer).id
                );
            }
            Err(SyncError::Failed(e)) => {
                crate::warn!(
                    peer = cl.member(peer).id;
                    "catch-up from node {} failed: {e}; retrying",
                    cl.member(peer).id
                );
                return false;
            }
        }
        c.node.sync.peers_done.fetch_add(1, Ordering::Relaxed);
    }
    true
}

enum SyncError {
    /// The peer is not there (nothing to learn from it).
    Unreachable(String),
    /// It answered, but not usefully: try again.
    Failed(String),
}

fn peer_error(e: crate::cluster::FwdError) -> SyncError {
    use crate::cluster::FwdError;
    match e {
        FwdError::Connect(_) | FwdError::Timeout { .. } => SyncError::Unreachable(e.to_string()),
        other => SyncError::Failed(other.to_string()),
    }
}

/// Hints first, then the repair of every bucket whose digests differ. `catching_up`: this node
/// is syncing (the peer then sends it copies of new writes directly instead of hints).
async fn sync_with(c: &Rc<Core>, peer: usize, catching_up: bool) -> Result<(), SyncError> {
    let s = &c.node.sync;
    let hints = if catching_up { "&catchup=1" } else { "" };
    loop {
        let entries = call_document(c, peer, b"/internal/sync/hints", hints, None).await?;
        let n = entries.len() as u64;
        s.hints_received.fetch_add(n, Ordering::Relaxed);
        apply(c, entries).await?;
        if n == 0 {
            break;
        }
    }
    if c.node.cluster.fresh_join.load(Ordering::Acquire) {
        // A node that joined while running gets its keys from the paced move
        // (`server::migrate`): repairing them here as well would pull the same data unpaced.
        return Ok(());
    }
    let theirs = call(c, peer, b"/internal/sync/digest", "", None).await?;
    let theirs = digests_from(&theirs)?;
    let ours = digests(c, peer)
        .await
        .map_err(|e| SyncError::Failed(e.to_string()))?;
    let differ: Vec<usize> = (0..ours.len()).filter(|&b| ours[b] != theirs[b]).collect();
    for chunk in differ.chunks(FETCH_BUCKETS) {
        let body = serde_json::json!({ "buckets": chunk }).to_string();
        let entries =
            call_document(c, peer, b"/internal/sync/fetch", "", Some(body.as_bytes())).await?;
        s.keys_repaired
            .fetch_add(entries.len() as u64, Ordering::Relaxed);
        let bytes: usize = entries.iter().map(|e| e.key.len() + e.value.len()).sum();
        s.bytes_repaired.fetch_add(bytes as u64, Ordering::Relaxed);
        apply(c, entries).await?;
    }
    Ok(())
}

fn digests_from(body: &[u8]) -> Result<Vec<u64>, SyncError> {
    let v: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| SyncError::Failed(format!("digest answer: {e}")))?;
    v.get("digests")
        .and_then(|d| d.as_str())
        .and_then(|d| parse_digests(d.as_bytes()))
        .ok_or_else(|| SyncError::Failed("digest answer without valid digests".to_string()))
}

async fn apply(c: &Rc<Core>, entries: Vec<crate::storage::Entry>) -> Result<(), SyncError> {
    if entries.is_empty() {
        return Ok(());
    }
    super::handlers::import::apply_local(c, entries)
        .await
        .map(|_| ())
        .map_err(|e| SyncError::Failed(e.to_string()))
}

/// POST to a peer's catch-up route; the answer body on 200.
async fn call(
    c: &Rc<Core>,
    peer: usize,
    path: &[u8],
    query_extra: &str,
    body: Option<&[u8]>,
) -> Result<Vec<u8>, SyncError> {
    let query = format!("node={}{query_extra}", c.node.cluster.self_id());
    let req = Outgoing {
        method: Method::Post,
        path,
        query: Some(query.as_bytes()),
        body: Some(body.unwrap_or_default()),
        version: None,
        content_type: None,
        headers: b"",
    };
    let cfg = c.cfg();
    // Catch-up documents can be large: the import limit bounds them, grown by a third for raw
    // values, which travel as base64 (4 bytes for every 3).
    let max = (cfg.limits.max_import_bytes + cfg.max_value_bytes).saturating_mul(4) / 3;
    let a = c
        .peers
        .call_sized(
            peer,
            &req,
            cfg.cluster.request_timeout * SYNC_CALL_TIMEOUTS,
            max,
        )
        .await
        .map_err(peer_error)?;
    if a.status != 200 {
        let text = String::from_utf8_lossy(a.body()).into_owned();
        return Err(SyncError::Failed(format!("answered {}: {text}", a.status)));
    }
    Ok(a.body().to_vec())
}

/// [`call`] whose answer is an import document of versioned entries.
async fn call_document(
    c: &Rc<Core>,
    peer: usize,
    path: &[u8],
    query_extra: &str,
    body: Option<&[u8]>,
) -> Result<Vec<crate::storage::Entry>, SyncError> {
    let doc = call(c, peer, path, query_extra, body).await?;
    let cfg = c.cfg();
    super::document::parse_import(&doc, cfg.max_key_bytes, cfg.max_value_bytes)
        .map(|p| p.entries)
        .map_err(|e| SyncError::Failed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(extra: &str) -> crate::config::Config {
        let yaml = format!("node_id: a\naddress: \"127.0.0.1:0\"\ncache_size: 10\n{extra}");
        crate::config::Config::from_yaml_str(&yaml, "<test>").expect("config")
    }

    #[test]
    fn a_stall_is_half_the_shortest_time_a_peer_acts_on_silence_never_below_the_floor() {
        // Defaults: request_timeout 2 s, probes 3 x 1 s: half of 2 s.
        assert_eq!(stall_threshold(&cfg("")), Duration::from_secs(1));
        let fast = "cluster:\n  probe_interval: 200ms\n  probe_timeout: 100ms\n  fail_after: 2\n  request_timeout: 1s\n";
        // Probes give up after 400 ms: half of that is the 200 ms floor.
        assert_eq!(stall_threshold(&cfg(fast)), STALL_FLOOR);
        let slow = "cluster:\n  probe_interval: 5s\n  fail_after: 3\n  request_timeout: 30s\n";
        assert_eq!(stall_threshold(&cfg(slow)), Duration::from_millis(7500));
    }
}
