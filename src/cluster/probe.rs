//! The prober: one plain thread per node that checks every peer's `/internal/cluster/health` on
//! an interval and flips its `alive` flag after `fail_after` consecutive failures or
//! `recover_after` successes. A round that flipped a flag calls the `on_change` callback the node
//! wired in (which tells every core), so this layer knows nothing of cores or mailboxes. It also resolves peer names (DNS may block; cores never do it),
//! so a peer whose address changes (a restarted container) is found again.
//!
//! Blocking sockets with timeouts are the simplest correct tool here: a handful of peers, one
//! request each per second, off the cores that serve clients.

mod error;

pub use error::{HealthError, ProbeError};
// The drain notice lives in `cluster::leave`; re-exported where the node has always found it.
pub use super::leave::notify_leaving;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::leave::authorization_line;
use super::{unix_ms, Claim, Cluster, ConnectError, Member, MemberState, StateVersion};
use crate::auth::Keyring;
use crate::config::ClusterConfig;
use crate::http::parse_response_head;
use crate::{info, warn};

/// Largest probe response read; a health document is a few hundred bytes.
const MAX_PROBE_RESPONSE: usize = 16 * 1024;
/// How often the prober checks for shutdown while waiting for the next round.
const SLEEP_SLICE: Duration = Duration::from_millis(20);

/// Resolve `host:port` to every address it has (IPv4 and IPv6). Empty on failure.
pub fn resolve(addr: &str) -> Vec<SocketAddr> {
    addr.to_socket_addrs()
        .map(|it| it.collect())
        .unwrap_or_default()
}

/// What a healthy peer reported.
struct Report {
    entries: u64,
    bytes: u64,
    ring_version: u64,
    /// What the member says it is doing (`healthy`, `syncing`, `draining`).
    status: MemberState,
    /// Its incarnation (0 from a node that predates incarnations).
    incarnation: u64,
    /// How many times its state had changed when it answered (0 from a node that predates it).
    state_seq: u64,
    /// Its membership epoch and document hash (`u64::MAX`: a node that predates them), and
    /// the last epoch whose keys it finished moving.
    epoch: u64,
    doc_hash: u64,
    migrated: u64,
}

fn probe_once(
    m: &Member,
    addrs: &[SocketAddr],
    connect_timeout: Duration,
    timeout: Duration,
    authorization: &str,
    tls: Option<&crate::tls::Tls>,
) -> Result<Report, ProbeError> {
    let mut last = ProbeError::Unresolved {
        addr: m.addr.clone(),
    };
    for addr in addrs {
        match probe_addr(m, *addr, connect_timeout, timeout, authorization, tls) {
            Ok(r) => return Ok(r),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// `authorization`: the `Authorization` header line of the cluster secret, or empty; `tls`: the
/// node's TLS (the probe goes over TLS when it has one toward peers).
fn probe_addr(
    m: &Member,
    addr: SocketAddr,
    connect_timeout: Duration,
    timeout: Duration,
    authorization: &str,
    tls: Option<&crate::tls::Tls>,
) -> Result<Report, ProbeError> {
    let fail = |cause| ProbeError::Health { addr, cause };
    let ms = timeout.as_millis() as u64;
    let s = TcpStream::connect_timeout(&addr, connect_timeout).map_err(|e| {
        ProbeError::Connect(if e.kind() == ErrorKind::TimedOut {
            ConnectError::TimedOut {
                addr,
                ms: connect_timeout.as_millis() as u64,
            }
        } else {
            ConnectError::Io {
                addr,
                kind: e.kind(),
            }
        })
    })?;
    s.set_read_timeout(Some(timeout))
        .map_err(|e| fail(HealthError::Setup(e.kind())))?;
    s.set_write_timeout(Some(timeout))
        .map_err(|e| fail(HealthError::Setup(e.kind())))?;
    let mut s = super::link::secure_blocking(tls, &m.addr, addr, s).map_err(ProbeError::Connect)?;
    let req = format!(
        "GET /internal/cluster/health HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nUser-Agent: cache-node-prober\r\n{authorization}\r\n",
        m.addr
    );
    s.write_all(req.as_bytes())
        .map_err(|e| fail(HealthError::Write(e.kind())))?;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    let deadline = Instant::now() + timeout;
    loop {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if buf.len() > MAX_PROBE_RESPONSE {
                    return Err(fail(HealthError::TooLarge));
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(fail(HealthError::NoAnswer { ms }))
            }
            Err(e) => return Err(fail(HealthError::Read(e.kind()))),
        }
        if Instant::now() > deadline {
            return Err(fail(HealthError::TimedOut { ms }));
        }
    }
    let head = match parse_response_head(&buf, false, |_, _| {}) {
        Ok(Some(h)) => h,
        Ok(None) => return Err(fail(HealthError::EndedEarly)),
        Err(e) => return Err(fail(HealthError::Malformed(e))),
    };
    if head.status != 200 {
        return Err(fail(HealthError::Answered(head.status)));
    }
    let body_start = head.head_len;
    let v: serde_json::Value = serde_json::from_slice(&buf[body_start..]).map_err(|e| {
        fail(HealthError::Body {
            category: e.classify(),
            line: e.line(),
            column: e.column(),
        })
    })?;
    let num = |k: &str| v.get(k).and_then(|x| x.as_u64()).unwrap_or(0);
    let hex_field = |k: &str| {
        v.get(k)
            .and_then(|x| x.as_str())
            .and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok())
            .unwrap_or(0)
    };
    let status = v.get("status").and_then(|x| x.as_str()).unwrap_or("");
    Ok(Report {
        entries: num("entries"),
        bytes: num("bytes"),
        ring_version: hex_field("ring_version"),
        status: MemberState::from_status(status),
        incarnation: hex_field("incarnation"),
        state_seq: num("state_seq"),
        epoch: v.get("epoch").and_then(|x| x.as_u64()).unwrap_or(u64::MAX),
        doc_hash: hex_field("doc_hash"),
        migrated: num("migrated"),
    })
}

/// Start the prober thread (nothing to do for a cluster of one). It stops once `stop` is set;
/// `on_change` runs on the prober thread after every round in which a member went down or up.
/// Probes (and the catch-up requests it sends) carry the cluster secret of `keyring`.
pub fn spawn(
    cluster: Arc<Cluster>,
    cfg: ClusterConfig,
    node_id: String,
    stop: Arc<AtomicBool>,
    on_change: Box<dyn Fn() + Send>,
    keyring: Arc<Keyring>,
) -> Option<JoinHandle<()>> {
    // Also for a cluster of one: members can be added to it while it runs.
    std::thread::Builder::new()
        .name(format!("{node_id}-prober"))
        .spawn(move || {
            crate::log::set_thread_node(&node_id);
            run(&cluster, &cfg, &stop, &*on_change, &keyring)
        })
        .ok()
}

fn run(
    cl: &Cluster,
    cfg: &ClusterConfig,
    stop: &AtomicBool,
    on_change: &dyn Fn(),
    keyring: &Keyring,
) {
    while !stop.load(Ordering::Relaxed) {
        let round = Instant::now();
        // The ring in force this round (membership changes replace it).
        let ours = cl.topology().ring.version();
        let mut changed = false;
        // Once a round: a SIGHUP rotation reaches the probes within one interval.
        let auth = authorization_line(keyring.current().cluster_authorization());
        let mut answered = Vec::new();
        for idx in cl.peers() {
            let m = cl.member(idx);
            let addrs = resolve(&m.addr);
            if !addrs.is_empty() {
                if let Ok(mut g) = m.resolved.lock() {
                    *g = addrs.clone();
                }
            }
            let result = probe_once(
                m,
                &addrs,
                cfg.connect_timeout,
                cfg.probe_timeout,
                &auth,
                cl.tls.as_deref(),
            );
            m.last_probe_ms.store(unix_ms(), Ordering::Relaxed);
            if result.is_ok() {
                answered.push(idx);
            }
            changed |= record(cl, idx, result, cfg, ours, &auth);
        }
        let caller = super::agree::Caller {
            cl,
            cfg,
            auth: &auth,
        };
        if changed {
            // Counted and told with the states it reflects, before the membership calls below.
            cl.ring_changes.fetch_add(1, Ordering::Relaxed);
            on_change();
        }
        if super::agree::after_round(&caller, &answered) {
            on_change();
        }
        while round.elapsed() < cfg.probe_interval && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(SLEEP_SLICE.min(cfg.probe_interval));
        }
    }
}

/// Apply one probe result to member `idx`; true when its state flipped or it restarted.
fn record(
    cl: &Cluster,
    idx: usize,
    result: Result<Report, ProbeError>,
    cfg: &ClusterConfig,
    ours: u64,
    authorization: &str,
) -> bool {
    let m = &cl.member(idx);
    let old = cl.state(idx);
    match result {
        Ok(r) => {
            m.fails.store(0, Ordering::Relaxed);
            let oks = m.oks.fetch_add(1, Ordering::Relaxed) + 1;
            m.entries.store(r.entries, Ordering::Relaxed);
            m.bytes.store(r.bytes, Ordering::Relaxed);
            m.epoch.store(r.epoch, Ordering::Relaxed);
            m.doc_hash.store(r.doc_hash, Ordering::Relaxed);
            m.migrated.store(r.migrated, Ordering::Relaxed);
            let before = m.ring_version.swap(r.ring_version, Ordering::Relaxed);
            if r.epoch == cl.epoch() {
                // Another epoch is no skew: the membership exchange settles it (`agree`).
                log_ring_change(m, ring_change(ours, before, r.ring_version));
            }
            if let Ok(mut e) = m.last_error.lock() {
                e.clear();
            }
            let restarted = noticed_restart(m, r.incarnation);
            let new = match r.status {
                // A node that was down must answer `recover_after` probes before it is trusted.
                MemberState::Up if old == MemberState::Down && oks < cfg.recover_after => old,
                // A joiner that has not adopted the membership that added it yet.
                MemberState::Up if behind(cl, m, r.epoch) => MemberState::Syncing,
                s => s,
            };
            if old == MemberState::Down && new == MemberState::Up && !restarted {
                // Back without a restart or a stall it noticed: it may have missed writes.
                super::leave::ask_to_catch_up(cl, idx, cfg, authorization);
            }
            let version = StateVersion {
                incarnation: r.incarnation,
                seq: r.state_seq,
            };
            // Not when a newer report was applied since the probe went out (the member's own
            // "ready" push), nor over a state something else set while it was in flight.
            let flipped = cl.with_report(idx, version, Claim::AtLeast, || {
                cl.state(idx) == old && flip(cl, idx, old, new)
            });
            flipped == Some(true) || restarted
        }
        Err(e) => {
            m.oks.store(0, Ordering::Relaxed);
            let fails = m.fails.fetch_add(1, Ordering::Relaxed) + 1;
            if let Ok(mut last) = m.last_error.lock() {
                *last = e.to_string();
            }
            if old != MemberState::Down && fails >= cfg.fail_after {
                cl.last_down_ms.store(unix_ms(), Ordering::Relaxed);
                warn!("cluster: node {} ({}) is down after {fails} failed probes: {e}; its keys are served by their other replicas and its writes kept as hints", m.id, m.addr);
                return flip(cl, idx, old, MemberState::Down);
            }
            false
        }
    }
}

/// Whether member `m`, joining, reports an older membership than the one that added it.
fn behind(cl: &Cluster, m: &Member, epoch: u64) -> bool {
    let t = cl.topology();
    let joining = t
        .doc
        .member(&m.id)
        .is_some_and(|d| d.status == super::Status::Joining);
    joining && (epoch == u64::MAX || epoch < t.doc.epoch)
}

/// A member reported another incarnation than before: it restarted (however fast).
fn noticed_restart(m: &Member, incarnation: u64) -> bool {
    let before = m.incarnation.swap(incarnation, Ordering::Relaxed);
    let restarted = before != 0 && incarnation != 0 && before != incarnation;
    if restarted {
        info!(peer = m.id; "cluster: node {} ({}) restarted (incarnation {before:016x} -> {incarnation:016x})", m.id, m.addr);
    }
    restarted
}

/// Set member `idx` from `old` to `new`; true when that is a change. Logs what it means.
fn flip(cl: &Cluster, idx: usize, old: MemberState, new: MemberState) -> bool {
    if old == new {
        return false;
    }
    let m = &cl.member(idx);
    cl.set_state(idx, new);
    m.alive.store(new != MemberState::Down, Ordering::SeqCst);
    match new {
        MemberState::Up => info!("cluster: node {} ({}) is up; it serves its keys again", m.id, m.addr),
        MemberState::Syncing => info!("cluster: node {} ({}) is catching up from its peers; its keys are served by their other replicas meanwhile", m.id, m.addr),
        MemberState::Draining => info!("cluster: node {} ({}) is draining; its keys are served by their other replicas", m.id, m.addr),
        MemberState::Down => {}
    }
    true
}

/// What a peer's newly reported ring fingerprint means, compared with ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RingChange {
    /// Same as the last report: nothing to say (so a mismatch is logged once per change).
    Unchanged,
    /// The peer now builds another ring than ours: keys may be served by two owners.
    Differs { theirs: u64 },
    /// The peer's ring matches ours again after a mismatch.
    Agrees,
}

/// Compare the `before` and `now` reports of a peer (0 = never reported) with `ours`.
fn ring_change(ours: u64, before: u64, now: u64) -> RingChange {
    if now == before || now == 0 {
        RingChange::Unchanged
    } else if now != ours {
        RingChange::Differs { theirs: now }
    } else if before != 0 {
        RingChange::Agrees
    } else {
        RingChange::Unchanged
    }
}

fn log_ring_change(m: &Member, change: RingChange) {
    match change {
        RingChange::Unchanged => {}
        RingChange::Differs { theirs } => {
            // Once per change already; the limit also bounds a peer whose config flaps.
            if let Some(suppressed) = crate::log::admit(crate::log::LogKind::RingMismatch) {
                warn!(
                    peer = m.id,
                    suppressed = (suppressed > 0).then_some(suppressed);
                    "cluster: node {} ({}) reports ring {theirs:016x}, ours differs: cluster_nodes or virtual_nodes disagree between nodes, so keys may have two owners; compare `cache-node --print-config` on both",
                    m.id, m.addr
                );
            }
        }
        RingChange::Agrees => {
            info!(peer = m.id; "cluster: node {} ({}) builds the same ring as this node again", m.id, m.addr);
        }
    }
}

#[cfg(test)]
#[path = "probe_tests.rs"]
mod tests;
