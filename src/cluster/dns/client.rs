//! The blocking DNS client: [`lookup`] asks one server for a name's A and AAAA records over UDP
//! (TCP when the answer is truncated); [`discover`] turns a `cluster.discovery` source into seed
//! addresses. It runs on the prober thread, where blocking for up to a timeout is fine.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use super::{encode_query, parse_answer, ResolvConf, WireError, QTYPE_A, QTYPE_AAAA, RESOLV_CONF};
use crate::config::Discovery;

/// The DNS port, for the nameserver of /etc/resolv.conf.
pub const DEFAULT_DNS_PORT: u16 = 53;
/// Sends of each query over UDP: one retry covers a lost datagram, more only delay the answer
/// "the resolver is down" that the caller is waiting for.
const UDP_ATTEMPTS: u32 = 2;
/// Receive buffer for UDP answers. Servers keep answers to queries without EDNS0 within 512
/// bytes (RFC 1035 section 4.2.1) and set TC beyond; the margin tolerates ones that do not.
const UDP_BUFFER_BYTES: usize = 4096;

/// Why discovery found no addresses. Each message names the DNS name and the server asked.
#[derive(Debug)]
pub enum DnsError {
    /// No server configured and none in /etc/resolv.conf.
    NoResolver { name: String, reason: String },
    /// A socket error talking to the server (ICMP port unreachable arrives as "refused").
    Io {
        name: String,
        resolver: SocketAddr,
        error: std::io::Error,
    },
    /// No answer within the timeout, after the retry.
    Timeout {
        name: String,
        resolver: SocketAddr,
        waited: Duration,
    },
    /// The name does not exist (NXDOMAIN), e.g. a Service not created yet.
    NotFound { name: String, resolver: SocketAddr },
    /// The server answered with an error, or with bytes that are not a valid answer.
    Answer {
        name: String,
        resolver: SocketAddr,
        error: WireError,
    },
}

impl fmt::Display for DnsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DnsError::NoResolver { name, reason } => write!(
                f,
                "cannot look up {name:?}: no DNS server ({reason}); set cluster.discovery_resolver"
            ),
            DnsError::Io {
                name,
                resolver,
                error,
            } if error.kind() == ErrorKind::ConnectionRefused => write!(
                f,
                "DNS lookup of {name:?} at {resolver} failed: no DNS server listens there \
                 (connection refused)"
            ),
            DnsError::Io {
                name,
                resolver,
                error,
            } => write!(f, "DNS lookup of {name:?} at {resolver} failed: {error}"),
            DnsError::Timeout {
                name,
                resolver,
                waited,
            } => write!(
                f,
                "DNS lookup of {name:?} at {resolver} timed out: no answer in {} ms ({UDP_ATTEMPTS} tries)",
                waited.as_millis()
            ),
            DnsError::NotFound { name, resolver } => {
                write!(f, "DNS name {name:?} does not exist (NXDOMAIN from {resolver})")
            }
            DnsError::Answer {
                name,
                resolver,
                error,
            } => write!(f, "DNS lookup of {name:?} at {resolver}: {error}"),
        }
    }
}

impl std::error::Error for DnsError {}

/// The seeds of a discovery source: every address `d.name` resolves to (A and AAAA, sorted,
/// without duplicates), each with `d.port`. `resolver` `None` means /etc/resolv.conf's first
/// nameserver (port 53) and its search list (so `cache-node` finds the Service of the pod's own
/// namespace); an explicit resolver is asked for the name as written. `timeout` bounds each
/// name tried.
pub fn discover(
    d: &Discovery,
    resolver: Option<SocketAddr>,
    timeout: Duration,
) -> Result<Vec<SocketAddr>, DnsError> {
    let (server, candidates) = match resolver {
        Some(server) => (server, vec![d.name.trim_end_matches('.').to_owned()]),
        None => {
            let no_resolver = |reason: String| DnsError::NoResolver {
                name: d.name.clone(),
                reason,
            };
            let conf =
                ResolvConf::load().map_err(|e| no_resolver(format!("{RESOLV_CONF}: {e}")))?;
            let Some(ip) = conf.nameserver else {
                return Err(no_resolver(format!("{RESOLV_CONF} has no nameserver")));
            };
            (
                SocketAddr::new(ip, DEFAULT_DNS_PORT),
                conf.candidates(&d.name),
            )
        }
    };
    // A name that exists without addresses (NODATA) is an empty list; only when every
    // candidate is NXDOMAIN does the name not exist.
    let mut exists = false;
    for name in candidates {
        match lookup(&name, server, timeout) {
            Ok(ips) if !ips.is_empty() => return Ok(seeds(ips, d.port)),
            Ok(_) => exists = true,
            Err(DnsError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    if exists {
        return Ok(Vec::new());
    }
    Err(DnsError::NotFound {
        name: d.name.clone(),
        resolver: server,
    })
}

fn seeds(mut ips: Vec<IpAddr>, port: u16) -> Vec<SocketAddr> {
    ips.sort();
    ips.dedup();
    ips.into_iter()
        .map(|ip| SocketAddr::new(ip, port))
        .collect()
}

/// One query in flight: its id and bytes, and its outcome once answered.
struct Pending {
    id: u16,
    query: Vec<u8>,
    outcome: Option<Result<Vec<IpAddr>, WireError>>,
}

/// The A and AAAA addresses of `name` (as written: no search list) according to `resolver`.
/// Both queries go out at once; each attempt waits `timeout / 2`, so the whole lookup (retry
/// and a TCP fallback included) stays within about `timeout`. NXDOMAIN is [`DnsError::NotFound`]; a name with no address
/// records is an empty list. When only one of the two types gets an answer, its addresses are
/// the result (some servers fail AAAA queries they do not support).
pub fn lookup(
    name: &str,
    resolver: SocketAddr,
    timeout: Duration,
) -> Result<Vec<IpAddr>, DnsError> {
    let fail = |error: WireError| DnsError::Answer {
        name: name.to_owned(),
        resolver,
        error,
    };
    let io = |error: std::io::Error| DnsError::Io {
        name: name.to_owned(),
        resolver,
        error,
    };
    let first = random_id();
    let mut pending = Vec::with_capacity(2);
    for (i, qtype) in [QTYPE_A, QTYPE_AAAA].into_iter().enumerate() {
        let id = first.wrapping_add(i as u16);
        let query = encode_query(id, name, qtype).map_err(fail)?;
        pending.push(Pending {
            id,
            query,
            outcome: None,
        });
    }
    let local: IpAddr = match resolver {
        SocketAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        SocketAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let socket = UdpSocket::bind((local, 0)).map_err(io)?;
    // Connected: the kernel drops datagrams from anyone but the resolver.
    socket.connect(resolver).map_err(io)?;
    let started = Instant::now();
    let per_attempt = (timeout / UDP_ATTEMPTS).max(Duration::from_millis(1));
    let mut buf = vec![0u8; UDP_BUFFER_BYTES];
    for _ in 0..UDP_ATTEMPTS {
        for p in pending.iter().filter(|p| p.outcome.is_none()) {
            socket.send(&p.query).map_err(io)?;
        }
        let deadline = Instant::now() + per_attempt;
        while pending.iter().any(|p| p.outcome.is_none()) {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                break;
            };
            socket
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .map_err(io)?;
            let n = match socket.recv(&mut buf) {
                Ok(n) => n,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(io(e)),
            };
            let answer = &buf[..n];
            let Some(p) = pending
                .iter_mut()
                .find(|p| p.outcome.is_none() && answer.get(..2) == Some(&p.id.to_be_bytes()[..]))
            else {
                continue; // a second answer to a query sent twice, or noise
            };
            p.outcome = Some(match parse_answer(p.id, answer) {
                Err(WireError::Truncated) => {
                    let left = timeout.saturating_sub(started.elapsed());
                    let left = left.max(Duration::from_millis(1));
                    tcp_query(resolver, &p.query, p.id, left).map_err(io)?
                }
                other => other,
            });
            if matches!(p.outcome, Some(Err(WireError::NxDomain))) {
                return Err(DnsError::NotFound {
                    name: name.to_owned(),
                    resolver,
                });
            }
        }
    }
    combine(name, resolver, timeout, pending)
}

/// Merges the outcomes of the A and AAAA queries (see [`lookup`]).
fn combine(
    name: &str,
    resolver: SocketAddr,
    timeout: Duration,
    pending: Vec<Pending>,
) -> Result<Vec<IpAddr>, DnsError> {
    let mut addrs = Vec::new();
    let (mut answered, mut error) = (false, None);
    for p in pending {
        match p.outcome {
            Some(Ok(found)) => {
                answered = true;
                addrs.extend(found);
            }
            Some(Err(e)) => {
                error.get_or_insert(e);
            }
            None => {}
        }
    }
    match (answered, error) {
        (true, _) => Ok(addrs),
        (false, Some(error)) => Err(DnsError::Answer {
            name: name.to_owned(),
            resolver,
            error,
        }),
        (false, None) => Err(DnsError::Timeout {
            name: name.to_owned(),
            resolver,
            waited: timeout,
        }),
    }
}

/// Asks `query` again over TCP (RFC 7766: a two-byte length before each message), for an
/// answer that did not fit a datagram. The outer error is the connection's, the inner the
/// answer's.
fn tcp_query(
    resolver: SocketAddr,
    query: &[u8],
    id: u16,
    timeout: Duration,
) -> std::io::Result<Result<Vec<IpAddr>, WireError>> {
    let mut stream = TcpStream::connect_timeout(&resolver, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let mut framed = Vec::with_capacity(2 + query.len());
    framed.extend_from_slice(&(query.len() as u16).to_be_bytes());
    framed.extend_from_slice(query);
    stream.write_all(&framed)?;
    let mut len = [0u8; 2];
    stream.read_exact(&mut len)?;
    // At most 64 KiB, the largest DNS message there is.
    let mut answer = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut answer)?;
    Ok(match parse_answer(id, &answer) {
        Err(WireError::Truncated) => Err(WireError::Malformed("truncated over TCP")),
        other => other,
    })
}

/// A query id that an off-path sender cannot guess in advance: std's per-process random hash
/// keys mixed with the clock (no dependency for 16 bits).
fn random_id() -> u16 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    RandomState::new().hash_one(nanos) as u16
}
