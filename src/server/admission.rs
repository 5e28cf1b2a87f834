//! Admission of accepted connections: the node-wide count against `limits.max_connections`, the
//! reserve kept for the other nodes (`limits.reserved_peer_connections`), the per-client-address
//! count (`limits.max_connections_per_ip`) and the admin listener's own bound.
//!
//! Whether a connection comes from another node is known only from its first request. So a
//! connection beyond `max_connections`, or beyond the per-address limit, is admitted *on
//! probation* while the reserve has room: it is served only if its first request, sent within
//! [`PROBATION_WAIT`], is a peer's (the connection checks it); otherwise it gets the 503 of the
//! limit it exceeded. Peers are thereby exempt from both limits, including in a local cluster
//! where they share 127.0.0.1 with the clients; at most `reserved_peer_connections` connections
//! wait on probation at a time, so one address cannot park more than that many beyond its limit.
//!
//! Every count taken here is given back by [`Held`]'s drop, on every path (served, refused, a
//! failed TLS handshake, a panic unwinding the task).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::shared::NodeShared;

/// How long a connection on probation may take to send its first request. Peers write their
/// request right after connecting (probes, forwards, catch-up), so a second is ample; a client
/// that only opened a socket leaves the reserve for the peers after it.
pub(crate) const PROBATION_WAIT: Duration = Duration::from_secs(1);

/// Connections open at once on `admin_address`: operators, scrapers and scripts. Counted apart
/// from `max_connections` so a flood on the public address cannot lock the operator out.
pub(crate) const ADMIN_MAX_CONNECTIONS: usize = 256;

/// Shards of the per-address map: accepts and closes on different cores rarely share a lock.
const PER_IP_SHARDS: usize = 16;

/// Which listener accepted the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Listener {
    /// `address`: clients and peers.
    Main,
    /// `admin_address`: `/admin/*` (and everything else) for operators.
    Admin,
}

/// The bound a connection ran into; names the 503 it gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Limit {
    MaxConnections,
    PerIp,
    AdminConnections,
}

impl Limit {
    /// The 503 message: what was exceeded, and the setting to look at.
    pub(crate) fn message(self, ip: IpAddr) -> String {
        match self {
            Limit::MaxConnections => "too many connections (limits.max_connections)".to_string(),
            Limit::PerIp => {
                format!("too many connections from {ip} (limits.max_connections_per_ip)")
            }
            Limit::AdminConnections => format!(
                "too many connections on admin_address (at most {ADMIN_MAX_CONNECTIONS} at a time)"
            ),
        }
    }
}

/// Open connections per client address, node-wide (every core's accepts share it).
pub(crate) struct PerIp {
    shards: [Mutex<HashMap<IpAddr, u32>>; PER_IP_SHARDS],
}

impl Default for PerIp {
    fn default() -> PerIp {
        PerIp {
            shards: std::array::from_fn(|_| Mutex::new(HashMap::new())),
        }
    }
}

impl PerIp {
    fn shard(&self, ip: &IpAddr) -> &Mutex<HashMap<IpAddr, u32>> {
        let i = match ip {
            IpAddr::V4(a) => u32::from(*a) as usize,
            IpAddr::V6(a) => u128::from(*a) as usize,
        };
        &self.shards[i % PER_IP_SHARDS]
    }

    /// Count one more connection from `ip`; the count including it.
    pub(crate) fn acquire(&self, ip: IpAddr) -> u32 {
        let mut map = self.shard(&ip).lock().unwrap_or_else(|p| p.into_inner());
        let n = map.entry(ip).or_insert(0);
        *n += 1;
        *n
    }

    /// One connection from `ip` closed; an address with none open leaves the map.
    pub(crate) fn release(&self, ip: IpAddr) {
        let mut map = self.shard(&ip).lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = map.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&ip);
            }
        }
    }

    /// Open connections from `ip`.
    #[cfg(test)]
    pub(crate) fn count(&self, ip: IpAddr) -> u32 {
        let map = self.shard(&ip).lock().unwrap_or_else(|p| p.into_inner());
        map.get(&ip).copied().unwrap_or(0)
    }
}

/// The node-wide connection counts (in `NodeShared`).
#[derive(Default)]
pub(crate) struct Counts {
    /// Open connections on `address`, probation included.
    pub open: AtomicUsize,
    /// Of those, the ones waiting on probation for their first request.
    pub probation: AtomicUsize,
    /// Open connections on `admin_address`.
    pub admin: AtomicUsize,
    pub per_ip: PerIp,
}

/// The counts one connection holds; dropping it gives them back.
pub(crate) struct Held {
    node: Arc<NodeShared>,
    listener: Listener,
    /// Counted in [`PerIp`] (only while a per-address limit is configured).
    ip: Option<IpAddr>,
    /// Counted in [`Counts::probation`].
    pending: bool,
}

impl Held {
    /// The probation is over (the first request was a peer's, or the 503 is on its way).
    pub(crate) fn settle(&mut self) {
        if std::mem::take(&mut self.pending) {
            self.node.conns.probation.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.settle();
        let counts = &self.node.conns;
        match self.listener {
            Listener::Main => counts.open.fetch_sub(1, Ordering::Relaxed),
            Listener::Admin => counts.admin.fetch_sub(1, Ordering::Relaxed),
        };
        if let Some(ip) = self.ip {
            counts.per_ip.release(ip);
        }
    }
}

/// A connection to serve.
pub(crate) struct Admitted {
    pub listener: Listener,
    /// `Some(limit)`: beyond `limit`, served only if its first request is a peer's.
    pub probation: Option<Limit>,
    pub ip: IpAddr,
    pub held: Held,
}

/// A connection that gets the 503 of `limit` at once.
pub(crate) struct Refused {
    pub limit: Limit,
    pub ip: IpAddr,
    /// Released once the 503 is written.
    pub held: Held,
}

pub(crate) enum Admission {
    Serve(Admitted),
    Refuse(Refused),
}

/// Count a connection refused at `limit` (at once, or after a probation that did not end in a
/// peer's request).
pub(crate) fn count_refused(m: &crate::metrics::CoreMetrics, limit: Limit) {
    match limit {
        Limit::PerIp => m.trust.inc(crate::metrics::Trust::PerIpRejected),
        Limit::MaxConnections | Limit::AdminConnections => {
            crate::metrics::inc(&m.connections_rejected)
        }
    }
}

/// What the limits say about one more connection (pure, see the tests).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    Serve,
    Probation(Limit),
    Refuse(Limit),
}

/// The limits in force, from the config.
#[derive(Clone, Copy, Debug)]
struct Limits {
    max: usize,
    reserve: usize,
    per_ip: usize,
}

/// `open` and `from_ip` count the new connection too; `waiting` is the probation count before it.
fn verdict(l: Limits, open: usize, from_ip: usize, waiting: usize) -> Verdict {
    let over_ip = l.per_ip > 0 && from_ip > l.per_ip;
    let over_max = open > l.max;
    if !over_ip && !over_max {
        return Verdict::Serve;
    }
    // The per-address limit is the more specific reason for this client.
    let limit = if over_ip {
        Limit::PerIp
    } else {
        Limit::MaxConnections
    };
    if open <= l.max + l.reserve && waiting < l.reserve {
        Verdict::Probation(limit)
    } else {
        Verdict::Refuse(limit)
    }
}

/// Count a connection just accepted from `ip` on `listener` and decide what it gets.
pub(crate) fn admit(node: &Arc<NodeShared>, ip: IpAddr, listener: Listener) -> Admission {
    let ip = ip.to_canonical();
    let counts = &node.conns;
    let mut held = Held {
        node: Arc::clone(node),
        listener,
        ip: None,
        pending: false,
    };
    if listener == Listener::Admin {
        let open = counts.admin.fetch_add(1, Ordering::Relaxed) + 1;
        if open > ADMIN_MAX_CONNECTIONS {
            let limit = Limit::AdminConnections;
            return Admission::Refuse(Refused { limit, ip, held });
        }
        return Admission::Serve(Admitted {
            listener,
            probation: None,
            ip,
            held,
        });
    }
    let l = &node.cfg.limits;
    let limits = Limits {
        max: l.max_connections,
        reserve: l.reserved_peer_connections,
        per_ip: l.max_connections_per_ip,
    };
    let open = counts.open.fetch_add(1, Ordering::Relaxed) + 1;
    let from_ip = if limits.per_ip > 0 {
        held.ip = Some(ip);
        counts.per_ip.acquire(ip) as usize
    } else {
        0
    };
    let mut v = verdict(limits, open, from_ip, 0);
    if v != Verdict::Serve {
        held.pending = true;
        let waiting = counts.probation.fetch_add(1, Ordering::Relaxed);
        v = verdict(limits, open, from_ip, waiting);
    }
    let probation = match v {
        Verdict::Serve => None,
        Verdict::Probation(limit) => Some(limit),
        Verdict::Refuse(limit) => {
            held.settle();
            return Admission::Refuse(Refused { limit, ip, held });
        }
    };
    Admission::Serve(Admitted {
        listener,
        probation,
        ip,
        held,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: Limits = Limits {
        max: 20,
        reserve: 8,
        per_ip: 0,
    };

    #[test]
    fn below_max_is_served_beyond_it_probation_until_the_reserve_is_full() {
        assert_eq!(verdict(L, 20, 0, 0), Verdict::Serve);
        assert_eq!(
            verdict(L, 21, 0, 0),
            Verdict::Probation(Limit::MaxConnections)
        );
        assert_eq!(
            verdict(L, 28, 0, 7),
            Verdict::Probation(Limit::MaxConnections)
        );
        assert_eq!(verdict(L, 29, 0, 0), Verdict::Refuse(Limit::MaxConnections));
        // Eight connections already wait on probation: the ninth is refused at once.
        assert_eq!(verdict(L, 25, 0, 8), Verdict::Refuse(Limit::MaxConnections));
    }

    #[test]
    fn without_a_reserve_the_limit_refuses_at_once() {
        let l = Limits { reserve: 0, ..L };
        assert_eq!(verdict(l, 21, 0, 0), Verdict::Refuse(Limit::MaxConnections));
        let l = Limits {
            reserve: 0,
            per_ip: 2,
            ..L
        };
        assert_eq!(verdict(l, 3, 3, 0), Verdict::Refuse(Limit::PerIp));
    }

    #[test]
    fn the_per_address_limit_puts_the_extra_connections_on_probation() {
        let l = Limits { per_ip: 3, ..L };
        assert_eq!(verdict(l, 5, 3, 0), Verdict::Serve);
        assert_eq!(verdict(l, 5, 4, 0), Verdict::Probation(Limit::PerIp));
        // Both exceeded: the client is told about its own address's limit.
        assert_eq!(verdict(l, 21, 4, 0), Verdict::Probation(Limit::PerIp));
        assert_eq!(verdict(l, 5, 4, 8), Verdict::Refuse(Limit::PerIp));
        // The per-address probation still counts against max_connections + the reserve.
        assert_eq!(verdict(l, 29, 4, 0), Verdict::Refuse(Limit::PerIp));
    }

    #[test]
    fn per_ip_counts_come_and_go() {
        let m = PerIp::default();
        let a: IpAddr = "10.0.0.1".parse().expect("ip");
        let b: IpAddr = "::1".parse().expect("ip");
        assert_eq!(m.acquire(a), 1);
        assert_eq!(m.acquire(a), 2);
        assert_eq!(m.acquire(b), 1);
        m.release(a);
        assert_eq!(m.count(a), 1);
        m.release(a);
        m.release(b);
        assert_eq!(m.count(a), 0);
        assert!(m.shards.iter().all(|s| s.lock().expect("lock").is_empty()));
    }

    #[test]
    fn messages_name_the_setting() {
        let ip: IpAddr = "127.0.0.1".parse().expect("ip");
        assert!(Limit::PerIp
            .message(ip)
            .contains("from 127.0.0.1 (limits.max_connections_per_ip)"));
        assert!(Limit::MaxConnections
            .message(ip)
            .contains("limits.max_connections"));
        assert!(Limit::AdminConnections
            .message(ip)
            .contains("admin_address"));
    }
}
