//! The trust counters: refused credentials, ignored forwarding headers, TLS handshakes, and every
//! bound that turns load away (per-address connections, the peer reserve, core and peer queues,
//! imports). Each is a per-core `Cell` like the other counters, indexed by [`Trust`], so a new
//! one is a variant, a name and a help line here, and nothing else.

use std::cell::Cell;

/// One trust counter. The discriminant indexes [`TrustCounters`] and [`TRUST_FAMILIES`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Trust {
    /// 401: no token, or one no class knows.
    Unauthorized,
    /// 403: a valid token of a class that may not do this.
    Forbidden,
    /// `X-Cache-Forwarded` / `X-Cache-Version` sent without the cluster secret: ignored.
    MarkersIgnored,
    /// TLS handshakes completed on the listener.
    TlsHandshakes,
    /// TLS handshakes that failed (bad certificate, plain HTTP on the TLS port, timeout).
    TlsHandshakeFailures,
    /// Connections refused at `limits.max_connections_per_ip`.
    PerIpRejected,
    /// Peer connections admitted from the reserve beyond `max_connections`.
    PeerReserveAdmitted,
    /// Cross-core messages refused because the target core's mailbox was full.
    CoreQueueFull,
    /// Forwards refused because the queue to their peer was full.
    PeerQueueFull,
    /// Queued forwards dropped unsent because their waiter had gone.
    ForwardsAbandoned,
    /// Imports refused because another one was running.
    ImportsBusy,
    /// Connections closed because their client left while forwarded answers were pending.
    ClientGone,
}

pub(crate) const TRUST_COUNT: usize = Trust::ClientGone as usize + 1;

/// (name, help) of each counter, in [`Trust`] order (the exposition order).
pub(super) const TRUST_FAMILIES: [(&str, &str); TRUST_COUNT] = [
    (
        "cache_auth_unauthorized_total",
        "Requests answered 401: no bearer token, or one no token class accepts.",
    ),
    (
        "cache_auth_forbidden_total",
        "Requests answered 403: a valid token whose class may not use this route or method.",
    ),
    (
        "cache_forwarding_headers_ignored_total",
        "Requests that carried X-Cache-Forwarded or X-Cache-Version without the cluster secret (served as client requests).",
    ),
    (
        "cache_tls_handshakes_total",
        "TLS handshakes completed on the listener.",
    ),
    (
        "cache_tls_handshake_failures_total",
        "TLS handshakes that failed (bad or missing certificate, plain HTTP to the TLS port, timeout).",
    ),
    (
        "cache_connections_per_ip_rejected_total",
        "Connections refused with 503 at limits.max_connections_per_ip.",
    ),
    (
        "cache_peer_reserve_admitted_total",
        "Peer connections admitted from limits.reserved_peer_connections beyond max_connections.",
    ),
    (
        "cache_core_queue_full_total",
        "Requests answered 503 because a core's mailbox was full.",
    ),
    (
        "cache_peer_queue_full_total",
        "Forwards answered 503 because the queue to their peer was full.",
    ),
    (
        "cache_forwards_abandoned_total",
        "Queued forwards dropped unsent because the client had given up on them.",
    ),
    (
        "cache_imports_busy_total",
        "Imports answered 503 because another import was running on this node.",
    ),
    (
        "cache_client_gone_total",
        "Connections closed because the client left while forwarded answers were pending (their queued forwards dropped).",
    ),
];

/// One core's trust counters.
pub(crate) struct TrustCounters([Cell<u64>; TRUST_COUNT]);

impl Default for TrustCounters {
    fn default() -> Self {
        TrustCounters(std::array::from_fn(|_| Cell::new(0)))
    }
}

impl TrustCounters {
    /// Count one event.
    #[inline]
    pub(crate) fn inc(&self, t: Trust) {
        super::inc(&self.0[t as usize]);
    }

    #[cfg(test)]
    pub(crate) fn get(&self, t: Trust) -> u64 {
        self.0[t as usize].get()
    }

    pub(super) fn snapshot(&self) -> [u64; TRUST_COUNT] {
        std::array::from_fn(|i| self.0[i].get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_counter_has_a_distinct_family_name() {
        let mut names: Vec<&str> = TRUST_FAMILIES.iter().map(|f| f.0).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), TRUST_COUNT);
        assert!(names
            .iter()
            .all(|n| n.starts_with("cache_") && n.ends_with("_total")));
    }

    #[test]
    fn counts_by_variant() {
        let t = TrustCounters::default();
        t.inc(Trust::Forbidden);
        t.inc(Trust::Forbidden);
        t.inc(Trust::ImportsBusy);
        assert_eq!(t.get(Trust::Forbidden), 2);
        assert_eq!(t.snapshot()[Trust::ImportsBusy as usize], 1);
        assert_eq!(t.get(Trust::Unauthorized), 0);
    }
}
