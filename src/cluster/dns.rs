//! A minimal DNS client for `cluster.discovery` (`dns:<name>:<port>`): the prober resolves a
//! name (a Kubernetes headless Service) into the addresses of the pods behind it, each a seed
//! for finding and joining the cluster.
//!
//! Only what discovery needs: A and AAAA queries with recursion desired, answers over UDP with
//! one retry and, when an answer comes back truncated (TC, more than ~28 A records do not fit in
//! 512 bytes), the same query again over TCP. The system resolver (`getaddrinfo`) is not used:
//! it cannot be pointed at another server, gives no timeout, and hides NXDOMAIN vs. no records.
//!
//! This file is the wire format, pure functions over bytes: [`encode_query`] and
//! [`parse_answer`], which checks the id, QR, opcode and RCODE, skips the question, follows
//! compression pointers a bounded number of times and collects the A/AAAA records of any owner
//! name (so CNAME chains work). Every read is bounds-checked: hostile bytes give an error, never
//! a panic (a fuzz target and a proptest check it). The blocking client is in `dns/client.rs`,
//! the /etc/resolv.conf reader in `dns/resolv_conf.rs`.

mod client;
mod resolv_conf;

pub use client::{discover, lookup, DnsError, DEFAULT_DNS_PORT};
pub use resolv_conf::{ResolvConf, RESOLV_CONF};

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::config::{MAX_DNS_LABEL_BYTES, MAX_DNS_NAME_BYTES};

/// Record type of an IPv4 address (RFC 1035).
pub const QTYPE_A: u16 = 1;
/// Record type of an IPv6 address (RFC 3596).
pub const QTYPE_AAAA: u16 = 28;
/// The Internet class; records of other classes are skipped.
const CLASS_IN: u16 = 1;
/// Fixed header: id, flags, four section counts.
const HEADER_BYTES: usize = 12;
/// Flag bits of the header's second word (RFC 1035 section 4.1.1).
const FLAG_QR: u16 = 0x8000;
const FLAG_TC: u16 = 0x0200;
const FLAG_RD: u16 = 0x0100;
const OPCODE_MASK: u16 = 0x7800;
const RCODE_MASK: u16 = 0x000f;
const RCODE_NXDOMAIN: u16 = 3;
/// A name on the wire is at most 255 bytes (RFC 1035 section 3.1), labels and length bytes.
const MAX_WIRE_NAME_BYTES: usize = 255;
/// Compression pointers followed for one name. A legitimate name needs one or two (a pointer to
/// the question, which may itself end in a pointer); 32 is generous and stops pointer loops.
const MAX_POINTER_HOPS: usize = 32;
/// Addresses collected from one answer. More seeds than the cluster's member ceiling (1024) are
/// of no use, and the bound keeps a hostile answer from making us allocate for 4000 records.
pub const MAX_ADDRESSES: usize = 1024;

/// Why an answer (or a name to ask about) was refused. `Copy` with static reasons: it is
/// returned on hostile input, which must not cost allocations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireError {
    /// The message ends before a field it announces.
    Short,
    /// The id is not the query's: a late answer to an earlier query, or not ours.
    IdMismatch,
    /// QR is clear or the opcode is not a standard query: not an answer to our query.
    NotAnAnswer,
    /// TC: the answer did not fit (ask again over TCP).
    Truncated,
    /// RCODE 3: the name does not exist.
    NxDomain,
    /// Another non-zero RCODE (2 server failure, 4 not implemented, 5 refused, ...).
    Rcode(u8),
    /// Structurally invalid: the reason names what.
    Malformed(&'static str),
    /// The name cannot be asked for (empty label, too long, a character DNS names do not hold).
    BadName(&'static str),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Short => f.write_str("the answer is cut short"),
            WireError::IdMismatch => f.write_str("the answer's id is not the query's"),
            WireError::NotAnAnswer => f.write_str("the message is not an answer to a query"),
            WireError::Truncated => f.write_str("the answer is truncated (TC)"),
            WireError::NxDomain => f.write_str("the name does not exist (NXDOMAIN)"),
            WireError::Rcode(2) => f.write_str("the server failed (SERVFAIL)"),
            WireError::Rcode(5) => f.write_str("the server refused the query (REFUSED)"),
            WireError::Rcode(code) => write!(f, "the server answered RCODE {code}"),
            WireError::Malformed(why) => write!(f, "malformed answer: {why}"),
            WireError::BadName(why) => write!(f, "invalid name: {why}"),
        }
    }
}

impl std::error::Error for WireError {}

/// A standard query for `name` (a trailing dot is allowed) of type `qtype`, recursion desired.
pub fn encode_query(id: u16, name: &str, qtype: u16) -> Result<Vec<u8>, WireError> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() || name.len() > MAX_DNS_NAME_BYTES {
        return Err(WireError::BadName(
            "a name must be 1 to 253 characters long",
        ));
    }
    let mut out = Vec::with_capacity(HEADER_BYTES + name.len() + 2 + 4);
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&FLAG_RD.to_be_bytes());
    out.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]); // one question, no records
    for label in name.split('.') {
        if label.is_empty() || label.len() > MAX_DNS_LABEL_BYTES {
            return Err(WireError::BadName(
                "a label must be 1 to 63 characters long",
            ));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(WireError::BadName(
                "only letters, digits, '-' and '_' are allowed",
            ));
        }
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    Ok(out)
}

/// The addresses (A and AAAA records of any owner, in answer order, at most [`MAX_ADDRESSES`]) in
/// an answer to the query `id`. NOERROR without such records (the name exists, with no address
/// of that type) is an empty list; NXDOMAIN is [`WireError::NxDomain`].
pub fn parse_answer(id: u16, msg: &[u8]) -> Result<Vec<IpAddr>, WireError> {
    let header = msg.get(..HEADER_BYTES).ok_or(WireError::Short)?;
    let word = |i: usize| u16::from_be_bytes([header[i], header[i + 1]]);
    if word(0) != id {
        return Err(WireError::IdMismatch);
    }
    let flags = word(2);
    if flags & FLAG_QR == 0 || flags & OPCODE_MASK != 0 {
        return Err(WireError::NotAnAnswer);
    }
    if flags & FLAG_TC != 0 {
        return Err(WireError::Truncated);
    }
    match flags & RCODE_MASK {
        0 => {}
        RCODE_NXDOMAIN => return Err(WireError::NxDomain),
        code => return Err(WireError::Rcode(code as u8)),
    }
    let (questions, answers) = (word(4), word(6));
    let mut pos = HEADER_BYTES;
    for _ in 0..questions {
        pos = skip_name(msg, pos)?;
        pos = pos
            .checked_add(4)
            .filter(|&p| p <= msg.len())
            .ok_or(WireError::Short)?;
    }
    let mut addrs = Vec::new();
    for _ in 0..answers {
        pos = skip_name(msg, pos)?;
        let fixed = msg.get(pos..pos + 10).ok_or(WireError::Short)?;
        let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
        let class = u16::from_be_bytes([fixed[2], fixed[3]]);
        let len = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
        let start = pos + 10;
        let rdata = msg.get(start..start + len).ok_or(WireError::Short)?;
        pos = start + len;
        if class != CLASS_IN || addrs.len() >= MAX_ADDRESSES {
            continue;
        }
        match rtype {
            QTYPE_A => {
                let octets: [u8; 4] = rdata
                    .try_into()
                    .map_err(|_| WireError::Malformed("an A record is not 4 bytes"))?;
                addrs.push(IpAddr::V4(Ipv4Addr::from(octets)));
            }
            QTYPE_AAAA => {
                let octets: [u8; 16] = rdata
                    .try_into()
                    .map_err(|_| WireError::Malformed("an AAAA record is not 16 bytes"))?;
                addrs.push(IpAddr::V6(Ipv6Addr::from(octets)));
            }
            _ => {} // CNAME and anything else: the chain's addresses follow as their own records
        }
    }
    Ok(addrs)
}

/// Checks the name at `pos` and returns the position just after it in the message (after its
/// first compression pointer, if any). Pointers are followed at most [`MAX_POINTER_HOPS`] times
/// and the decoded name may not exceed 255 bytes, so loops and bombs end in an error.
fn skip_name(msg: &[u8], mut pos: usize) -> Result<usize, WireError> {
    let mut end = None; // where the name ends in the record, once a pointer was taken
    let (mut hops, mut name_bytes) = (0, 0);
    loop {
        let len = *msg.get(pos).ok_or(WireError::Short)?;
        match len & 0xc0 {
            0x00 if len == 0 => return Ok(end.unwrap_or(pos + 1)),
            0x00 => {
                name_bytes += 1 + usize::from(len);
                if name_bytes + 1 > MAX_WIRE_NAME_BYTES {
                    return Err(WireError::Malformed("a name is longer than 255 bytes"));
                }
                pos += 1 + usize::from(len);
            }
            0xc0 => {
                let low = *msg.get(pos + 1).ok_or(WireError::Short)?;
                hops += 1;
                if hops > MAX_POINTER_HOPS {
                    return Err(WireError::Malformed(
                        "too many compression pointers (a loop?)",
                    ));
                }
                end.get_or_insert(pos + 2);
                pos = usize::from(u16::from_be_bytes([len & 0x3f, low]));
            }
            _ => return Err(WireError::Malformed("a label has a reserved type")),
        }
    }
}

#[cfg(test)]
#[path = "dns_tests.rs"]
mod tests;
