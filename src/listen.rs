//! Claiming the listen address before the cores bind it.
//!
//! Every core binds its own `SO_REUSEPORT` listener on the node's address. Two cases:
//! - A configured port: a probe bind *without* `SO_REUSEPORT` must fail if another process (a
//!   second cache-node) holds the port, since with `SO_REUSEPORT` it would silently share it. The
//!   probe is released at once; the cores then bind the same fixed port.
//! - Port 0 (tests, tools): the kernel picks the port. Releasing a probe and binding again would
//!   let another process take the port in between, so the claim is a socket bound *with*
//!   `SO_REUSEPORT` that stays open until every core has bound its listener; nobody but this
//!   process (same user, same option) can join the port meanwhile.

use std::net::{SocketAddr, TcpListener as StdListener};
use std::os::fd::{FromRawFd, OwnedFd};

/// The address the cores bind, and the socket that holds it until they have.
pub(crate) struct Claim {
    pub addr: SocketAddr,
    _hold: Option<OwnedFd>,
}

/// How long a busy fixed port is retried before giving up. A node killed a moment ago (kill -9,
/// a crash, then an immediate restart by systemd or an operator) can still hold its listening
/// sockets after its process is reaped: the kernel tears an io_uring instance down
/// asynchronously, and a pending accept keeps its socket listening until then (a few ms, seen up
/// to a few hundred). A second live instance still fails, one second later.
const BUSY_PORT_RETRY: std::time::Duration = std::time::Duration::from_secs(1);
/// Pause between two attempts on a busy port.
const BUSY_PORT_STEP: std::time::Duration = std::time::Duration::from_millis(20);

/// Claim `addr` for this node (see the module doc).
pub(crate) fn claim(addr: SocketAddr) -> Result<Claim, String> {
    if addr.port() == 0 {
        return claim_ephemeral(addr).map_err(|e| format!("bind {addr}: {e}"));
    }
    let started = std::time::Instant::now();
    let mut bound = StdListener::bind(addr);
    while matches!(&bound, Err(e) if e.kind() == std::io::ErrorKind::AddrInUse)
        && started.elapsed() < BUSY_PORT_RETRY
    {
        std::thread::sleep(BUSY_PORT_STEP);
        bound = StdListener::bind(addr);
    }
    match bound {
        Ok(_) => Ok(Claim { addr, _hold: None }),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Err(format!(
            "bind {addr}: address already in use (another cache-node or program holds this port; see `ss -ltnp | grep :{}`)",
            addr.port()
        )),
        Err(e) => Err(format!("bind {addr}: {e}")),
    }
}

fn claim_ephemeral(addr: SocketAddr) -> std::io::Result<Claim> {
    let family = if addr.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    // SAFETY: plain socket(2) call; the result is checked before use.
    let fd = unsafe { libc::socket(family, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh socket this function owns; OwnedFd closes it on every path.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let one: libc::c_int = 1;
    // SO_REUSEPORT only: with SO_REUSEADDR too, a plain bind (std sets SO_REUSEADDR) could share
    // the port while it is not listening yet.
    // SAFETY: `one` outlives the call and the length matches its type.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_REUSEPORT,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let (storage, len) = sockaddr(addr);
    // SAFETY: `storage` holds a valid sockaddr of `len` bytes for this family.
    if unsafe { libc::bind(fd, (&storage as *const libc::sockaddr_storage).cast(), len) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // A bound socket reports its address through a std listener view of the same fd.
    // SAFETY: the fd is valid; ManuallyDrop keeps the view from closing what `owned` owns.
    let view = std::mem::ManuallyDrop::new(unsafe { StdListener::from_raw_fd(fd) });
    let bound = view.local_addr()?;
    Ok(Claim {
        addr: bound,
        _hold: Some(owned),
    })
}

fn sockaddr(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain data; all-zero is a valid (empty) value.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than sockaddr_in and suitably aligned.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin) };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: sockaddr_storage is larger than sockaddr_in6 and suitably aligned.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin6) };
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ephemeral_claim_holds_its_port_against_strangers_but_not_against_reuseport() {
        let c = claim("127.0.0.1:0".parse().expect("addr")).expect("claim");
        assert_ne!(c.addr.port(), 0);
        // A plain bind (another program, or a second node's probe) is refused while held.
        assert!(StdListener::bind(c.addr).is_err());
        // A core's SO_REUSEPORT bind joins it.
        let again = claim_ephemeral(c.addr).expect("reuseport bind on the claimed port");
        assert_eq!(again.addr, c.addr);
    }

    #[test]
    fn a_fixed_port_in_use_is_refused_with_a_hint() {
        let held = StdListener::bind("127.0.0.1:0").expect("bind");
        let err = claim(held.local_addr().expect("addr"))
            .err()
            .expect("refused");
        assert!(err.contains("address already in use"), "{err}");
    }
}
