//! Unit tests for `dns.rs`: the query's exact bytes, answers as real servers shape them
//! (compression, CNAME chains, other record types), every refusal, and a proptest that no input
//! makes the parser panic.

use super::*;
use proptest::prelude::*;

/// An answer to `query` (its header and question copied) with `flags` and these records, each
/// owned by a pointer to the question's name (offset 12), as servers compress them.
fn answer(query: &[u8], flags: u16, records: &[(u16, &[u8])]) -> Vec<u8> {
    let mut out = query.to_vec();
    out[2..4].copy_from_slice(&flags.to_be_bytes());
    out[6..8].copy_from_slice(&(records.len() as u16).to_be_bytes());
    for (rtype, rdata) in records {
        record(&mut out, &[0xc0, 12], *rtype, rdata);
    }
    out
}

fn record(out: &mut Vec<u8>, owner: &[u8], rtype: u16, rdata: &[u8]) {
    out.extend_from_slice(owner);
    out.extend_from_slice(&rtype.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    out.extend_from_slice(&300u32.to_be_bytes()); // TTL
    out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    out.extend_from_slice(rdata);
}

const OK: u16 = FLAG_QR | FLAG_RD | 0x0080; // QR, RD, RA

fn query(id: u16) -> Vec<u8> {
    encode_query(id, "cache-node.test", QTYPE_A).expect("valid name")
}

#[test]
fn query_bytes_are_exact() {
    let q = encode_query(0xbeef, "cache-node.test.", QTYPE_AAAA).expect("valid");
    let mut want = vec![0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    want.extend_from_slice(b"\x0acache-node\x04test\x00");
    want.extend_from_slice(&[0, 28, 0, 1]);
    assert_eq!(q, want);
}

#[test]
fn bad_names_are_not_encoded() {
    let long_label = "a".repeat(64);
    let long_name = ["a"; 128].join(".");
    for name in ["", ".", "a..b", "bad name", "a/b", &long_label, &long_name] {
        let err = encode_query(1, name, QTYPE_A).expect_err(name);
        assert!(matches!(err, WireError::BadName(_)), "{name}: {err}");
    }
}

#[test]
fn collects_a_and_aaaa_records_in_order() {
    let q = query(7);
    let v6: [u8; 16] = "fd00::11".parse::<Ipv6Addr>().unwrap().octets();
    let msg = answer(
        &q,
        OK,
        &[
            (QTYPE_A, &[10, 0, 0, 1]),
            (QTYPE_AAAA, &v6),
            (QTYPE_A, &[10, 0, 0, 2]),
        ],
    );
    let want: Vec<IpAddr> = vec![
        "10.0.0.1".parse().unwrap(),
        "fd00::11".parse().unwrap(),
        "10.0.0.2".parse().unwrap(),
    ];
    assert_eq!(parse_answer(7, &msg), Ok(want));
    // NOERROR with no records: the name exists without addresses of that type.
    assert_eq!(parse_answer(7, &answer(&q, OK, &[])), Ok(vec![]));
}

#[test]
fn follows_a_cname_chain_and_skips_other_records() {
    let q = query(9);
    let mut msg = answer(&q, OK, &[]);
    let cname_at = msg.len() + 12; // the CNAME's rdata: after owner(2) + fixed(10)
    record(&mut msg, &[0xc0, 12], 5, b"\x04real\xc0\x17"); // real.<"test" at offset 23>
    record(&mut msg, &[0xc0, cname_at as u8], 16, b"\x05hello"); // TXT: skipped
    record(&mut msg, &[0xc0, cname_at as u8], QTYPE_A, &[192, 0, 2, 5]);
    let mut other_class = Vec::new();
    record(&mut other_class, &[0], QTYPE_A, &[192, 0, 2, 6]);
    other_class[4] = 3; // class CH: ignored
    msg.extend_from_slice(&other_class);
    msg[7] = 4; // four answers
    assert_eq!(
        parse_answer(9, &msg),
        Ok(vec!["192.0.2.5".parse::<IpAddr>().unwrap()])
    );
}

#[test]
fn header_errors() {
    let q = query(1);
    let good = answer(&q, OK, &[(QTYPE_A, &[1, 2, 3, 4])]);
    assert_eq!(parse_answer(1, &good[..11]), Err(WireError::Short));
    assert_eq!(parse_answer(2, &good), Err(WireError::IdMismatch));
    assert_eq!(
        parse_answer(1, &q),
        Err(WireError::NotAnAnswer),
        "our own query"
    );
    let with = |flags: u16| answer(&q, flags, &[(QTYPE_A, &[1, 2, 3, 4])]);
    assert_eq!(
        parse_answer(1, &with(OK | 0x2800)),
        Err(WireError::NotAnAnswer)
    );
    assert_eq!(
        parse_answer(1, &with(OK | FLAG_TC)),
        Err(WireError::Truncated)
    );
    assert_eq!(parse_answer(1, &with(OK | 3)), Err(WireError::NxDomain));
    assert_eq!(parse_answer(1, &with(OK | 2)), Err(WireError::Rcode(2)));
    assert_eq!(parse_answer(1, &with(OK | 5)), Err(WireError::Rcode(5)));
    assert_eq!(
        WireError::Rcode(5).to_string(),
        "the server refused the query (REFUSED)"
    );
}

#[test]
fn structural_errors() {
    let q = query(1);
    let good = answer(&q, OK, &[(QTYPE_A, &[1, 2, 3, 4])]);
    // Every strict prefix past the header announces more than it holds.
    for cut in HEADER_BYTES..good.len() {
        assert_eq!(
            parse_answer(1, &good[..cut]),
            Err(WireError::Short),
            "cut {cut}"
        );
    }
    let short_a = answer(&q, OK, &[(QTYPE_A, &[1, 2, 3])]);
    let err = parse_answer(1, &short_a).unwrap_err();
    assert_eq!(err, WireError::Malformed("an A record is not 4 bytes"));
    let bad_aaaa = answer(&q, OK, &[(QTYPE_AAAA, &[0; 4])]);
    assert!(matches!(
        parse_answer(1, &bad_aaaa),
        Err(WireError::Malformed(_))
    ));
    // A pointer to itself, and two pointing at each other.
    for owner in [[0xc0, 33], [0xc0, 35]] {
        let mut msg = answer(&q, OK, &[]);
        assert_eq!(msg.len(), 33);
        msg[7] = 1;
        msg.extend_from_slice(&owner); // at 33
        msg.extend_from_slice(&[0xc0, 33]); // at 35
        let err = parse_answer(1, &msg).unwrap_err();
        assert!(err.to_string().contains("compression pointers"), "{err}");
    }
    // Reserved label types (0x40, 0x80) and a pointer past the end.
    for owner in [[0x40, 1], [0x80, 1]] {
        let mut msg = answer(&q, OK, &[]);
        msg[7] = 1;
        msg.extend_from_slice(&owner);
        assert!(matches!(
            parse_answer(1, &msg),
            Err(WireError::Malformed(_))
        ));
    }
    let mut msg = answer(&q, OK, &[]);
    msg[7] = 1;
    msg.extend_from_slice(&[0xff, 0xff]);
    assert_eq!(parse_answer(1, &msg), Err(WireError::Short));
}

#[test]
fn overlong_names_are_refused() {
    // 5 labels of 63 bytes = 320 bytes > 255, without any pointer.
    let mut msg = answer(&query(1), OK, &[]);
    msg[7] = 1;
    for _ in 0..5 {
        msg.push(63);
        msg.extend_from_slice(&[b'a'; 63]);
    }
    msg.push(0);
    let err = parse_answer(1, &msg).unwrap_err();
    assert_eq!(err, WireError::Malformed("a name is longer than 255 bytes"));
}

#[test]
fn addresses_are_capped() {
    let q = query(1);
    let records: Vec<(u16, &[u8])> = vec![(QTYPE_A, &[10, 0, 0, 1]); MAX_ADDRESSES + 5];
    let msg = answer(&q, OK, &records);
    assert_eq!(parse_answer(1, &msg).map(|a| a.len()), Ok(MAX_ADDRESSES));
}

proptest! {
    /// Arbitrary bytes, with the header made plausible half of the time so the parser gets past
    /// it: never a panic, and never more addresses than records announced.
    #[test]
    fn parse_answer_never_panics(mut bytes in proptest::collection::vec(any::<u8>(), 0..600), plausible: bool) {
        if plausible && bytes.len() >= HEADER_BYTES {
            bytes[..4].copy_from_slice(&[0, 1, 0x81, 0x80]);
        }
        if let Ok(addrs) = parse_answer(1, &bytes) {
            let announced = bytes.get(6..8).map_or(0, |b| usize::from(u16::from_be_bytes([b[0], b[1]])));
            prop_assert!(addrs.len() <= announced);
        }
    }

    /// Valid answers with byte flips: never a panic; unflipped, the addresses come back.
    #[test]
    fn mutated_answers_never_panic(
        ips in proptest::collection::vec(any::<[u8; 4]>(), 0..40),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8),
    ) {
        let records: Vec<(u16, &[u8])> = ips.iter().map(|ip| (QTYPE_A, &ip[..])).collect();
        let mut msg = answer(&query(3), OK, &records);
        let want: Vec<IpAddr> = ips.iter().map(|ip| IpAddr::from(*ip)).collect();
        prop_assert_eq!(parse_answer(3, &msg), Ok(want));
        for (at, value) in flips {
            let len = msg.len();
            msg[at % len] = value;
        }
        let _ = parse_answer(3, &msg);
    }
}

#[test]
fn errors_name_the_name_and_the_resolver() {
    let resolver: std::net::SocketAddr = "10.96.0.10:53".parse().unwrap();
    let name = || "cache-node.test".to_owned();
    let errors = [
        DnsError::Io {
            name: name(),
            resolver,
            error: std::io::ErrorKind::ConnectionRefused.into(),
        },
        DnsError::Timeout {
            name: name(),
            resolver,
            waited: std::time::Duration::from_millis(500),
        },
        DnsError::NotFound {
            name: name(),
            resolver,
        },
        DnsError::Answer {
            name: name(),
            resolver,
            error: WireError::Rcode(2),
        },
    ];
    for e in errors {
        let shown = e.to_string();
        assert!(
            shown.contains("\"cache-node.test\"") && shown.contains("10.96.0.10:53"),
            "{shown}"
        );
    }
    let none = DnsError::NoResolver {
        name: name(),
        reason: "/etc/resolv.conf has no nameserver".into(),
    };
    let shown = none.to_string();
    assert!(
        shown.contains("cache-node.test") && shown.contains("cluster.discovery_resolver"),
        "{shown}"
    );
}
