//! Unit tests for `respond_memo.rs`: an answer from the memo is byte for byte the answer the
//! encoder writes, whatever changed between two reads, and answers it must not keep are not.

use super::*;
use crate::http::response::{format_http_date, DateCache};
use crate::metrics::CoreMetrics;
use crate::server::request_id::IdFields;
use crate::server::respond::caching::tests::meta_with as meta;
use crate::server::respond::Responder;
use crate::storage::value::encode_raw;

/// One read as `Responder::value` takes it.
#[derive(Clone)]
struct Read {
    m: Meta,
    key: Vec<u8>,
    stored: Vec<u8>,
    ttl_ms: Option<u64>,
    version: u64,
}

/// What `r` answers to `read`, with the `Date` pinned to `secs`.
fn answer(r: &Responder, read: &Read, secs: u64) -> Vec<u8> {
    *r.date.borrow_mut() = DateCache::at(secs);
    r.pin_date(None);
    let mut out = b"earlier".to_vec();
    let (k, s) = (&read.key[..], &read.stored[..]);
    r.value(&mut out, read.m, k, s, read.ttl_ms, read.version);
    r.unpin_date();
    out
}

/// The encoder's answer, from a responder that never saw another read.
fn encoded(read: &Read, secs: u64) -> Vec<u8> {
    answer(
        &Responder::new("n1", CoreMetrics::new(0), 0, "no-cache"),
        read,
        secs,
    )
}

fn reads() -> Vec<Read> {
    let base = Read {
        m: meta(ConnHeader::Default, false),
        key: b"user:1".to_vec(),
        stored: br#"{"name":"a"}"#.to_vec(),
        ttl_ms: None,
        version: 0x0123_4567_89ab_0001,
    };
    let with = |f: &dyn Fn(&mut Read)| {
        let mut r = base.clone();
        f(&mut r);
        r
    };
    vec![
        base.clone(),
        // The same version with other bytes (an LWW tie), another key, another version.
        with(&|r| r.stored = br#"{"name":"b"}"#.to_vec()),
        with(&|r| r.key = b"user:2".to_vec()),
        with(&|r| r.version += 1),
        // Seconds left that move within one `Date` second, for max-age and "ttl" apart.
        with(&|r| r.ttl_ms = Some(5_000)),
        with(&|r| r.ttl_ms = Some(4_999)),
        with(&|r| r.ttl_ms = Some(4_001)),
        with(&|r| r.m = meta(ConnHeader::Close, false)),
        with(&|r| r.m = meta(ConnHeader::KeepAlive, false)),
        with(&|r| r.m = meta(ConnHeader::Default, true)),
        with(&|r| {
            r.stored.clear();
            encode_raw(b"text/plain", b"raw bytes", &mut r.stored);
        }),
        with(&|r| r.key = b"k\"escaped\n".to_vec()),
        // Not kept: unversioned, too long.
        with(&|r| r.version = 0),
        with(&|r| r.stored = format!("\"{}\"", "x".repeat(2000)).into_bytes()),
    ]
}

#[test]
fn every_answer_is_the_encoders_whatever_changed_since_the_last() {
    let r = Responder::new("n1", CoreMetrics::new(0), 0, "no-cache");
    let reads = reads();
    // Every read after every other, then twice more (kept at the second read of its version,
    // from the memo at the third where kept), in two `Date` seconds and back.
    for secs in [1_700_000_000, 1_700_000_001, 1_700_000_000] {
        for a in &reads {
            for b in &reads {
                for (i, read) in [a, b, b, b].into_iter().enumerate() {
                    let got = answer(&r, read, secs);
                    let want = encoded(read, secs);
                    assert_eq!(
                        String::from_utf8_lossy(&got),
                        String::from_utf8_lossy(&want)
                    );
                    let (k, st) = (&read.key[..], &read.stored[..]);
                    let Some(ask) = Ask::new(read.m, k, st, read.ttl_ms, read.version) else {
                        continue;
                    };
                    if i == 3 {
                        // A kind the memo keeps is in it: the next same read is a hit.
                        let date = format_http_date(secs);
                        let memo = r.memo.borrow();
                        let kept = memo.get(&ask, &date).map(<[u8]>::to_vec);
                        let long = got.len() - b"earlier".len() > MAX_ANSWER;
                        assert_eq!(kept.as_deref(), (!long).then_some(&got[7..]));
                    }
                }
            }
        }
    }
}

#[test]
fn a_kept_answer_is_reused_only_for_the_same_date() {
    let mut memo = AnswerMemo::default();
    let m = meta(ConnHeader::Default, false);
    let ask = Ask::new(m, b"k", b"1", None, 9).expect("kept kind");
    let (d1, d2) = (format_http_date(1), format_http_date(2));
    assert_eq!(memo.get(&ask, &d1), None);
    // Kept the second time the version is asked for, not the first.
    assert!(!memo.worth_keeping(&ask));
    assert!(memo.worth_keeping(&ask));
    memo.keep(&ask, &d1, b"answer");
    assert_eq!(memo.get(&ask, &d1), Some(&b"answer"[..]));
    assert_eq!(memo.get(&ask, &d2), None);
}

#[test]
fn heads_ids_unversioned_values_and_large_answers_are_not_kept() {
    let m = meta(ConnHeader::Default, false);
    assert!(Ask::new(meta(ConnHeader::Default, true), b"k", b"1", None, 9).is_none());
    let ids = Responder::new("n1", CoreMetrics::new(0), 0, "no-cache").ids;
    let own = IdFields {
        own: Some(b"5"),
        passed_on: None,
        trace: None,
    };
    let echoed = Meta {
        request_id: ids.register(own).0,
        ..m
    };
    assert!(Ask::new(echoed, b"k", b"1", None, 9).is_none());
    assert!(Ask::new(m, b"k", b"1", None, 0).is_none());
    assert!(Ask::new(m, &[b'k'; MAX_KEY + 1], b"1", None, 9).is_none());
    assert!(Ask::new(m, b"k", &[b'1'; MAX_STORED + 1], None, 9).is_none());
    let mut memo = AnswerMemo::default();
    let ask = Ask::new(m, b"k", b"1", None, 9).expect("kept kind");
    let d = format_http_date(1);
    memo.keep(&ask, &d, &[b'a'; MAX_ANSWER + 1]);
    assert_eq!(memo.get(&ask, &d), None);
}

/// The inline comparison of keys agrees with `==` at every length and every differing byte.
#[test]
fn same_bytes_is_slice_equality() {
    for len in 0..=40usize {
        let a: Vec<u8> = (0..len as u8).map(|i| i.wrapping_mul(37)).collect();
        assert!(super::same_bytes(&a, &a.clone()), "len {len}");
        for at in 0..len {
            let mut b = a.clone();
            b[at] ^= 0x20;
            assert!(!super::same_bytes(&a, &b), "len {len}, byte {at}");
        }
        let mut longer = a.clone();
        longer.push(0);
        assert!(
            !super::same_bytes(&a, &longer),
            "len {len} against {}",
            len + 1
        );
    }
}
