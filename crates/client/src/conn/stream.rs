//! What a [`Conn`](super::Conn) talks over: the node's address split into scheme and
//! `host:port` ([`Target`]), and a plain or TLS socket ([`Stream`]).

use std::io::{self, Read, Write};
use std::net::TcpStream;

use crate::tls::TlsStream;

/// A node address as given (`host:port`, `http://host:port` or `https://host:port`, a trailing
/// `/` ignored) split for connecting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// `https://`: TLS.
    pub tls: bool,
    /// `host:port`: what is resolved and sent as `Host`.
    pub authority: String,
}

impl Target {
    pub fn parse(addr: &str) -> Target {
        let addr = addr.trim();
        let (tls, rest) = if let Some(rest) = strip_scheme(addr, "https://") {
            (true, rest)
        } else {
            (false, strip_scheme(addr, "http://").unwrap_or(addr))
        };
        Target {
            tls,
            authority: rest.trim_end_matches('/').to_string(),
        }
    }

    /// The host part of the authority (an IPv6 literal keeps its brackets).
    pub fn host(&self) -> &str {
        match self.authority.rsplit_once(':') {
            Some((host, port)) if !port.contains(']') => host,
            _ => &self.authority,
        }
    }
}

/// `addr` without `scheme` (compared case-insensitively), if it starts with it.
fn strip_scheme<'a>(addr: &'a str, scheme: &str) -> Option<&'a str> {
    let head = addr.get(..scheme.len())?;
    head.eq_ignore_ascii_case(scheme)
        .then(|| &addr[scheme.len()..])
}

/// An open connection to a node. Plain sockets stay a bare `TcpStream` (no TLS code on their
/// path but this one branch).
pub(super) enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_are_recognised_and_stripped() {
        let t = Target::parse("https://node1.example:8001/");
        assert_eq!(
            (t.tls, t.authority.as_str(), t.host()),
            (true, "node1.example:8001", "node1.example")
        );
        let t = Target::parse("HTTP://127.0.0.1:8001");
        assert_eq!((t.tls, t.authority.as_str()), (false, "127.0.0.1:8001"));
        let t = Target::parse("localhost:8001");
        assert_eq!(
            (t.tls, t.authority.as_str(), t.host()),
            (false, "localhost:8001", "localhost")
        );
        let t = Target::parse("https://[::1]:8001");
        assert_eq!((t.tls, t.host()), (true, "[::1]"));
    }
}
