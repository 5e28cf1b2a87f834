use super::*;

const GET: &[u8] = b"GET /api/v1/cache/k1 HTTP/1.1\r\nHost: 127.0.0.1:8001\r\n\r\n";
const PUT: &[u8] = b"PUT /api/v1/cache/k1 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc";

fn memo() -> HeadMemo {
    HeadMemo::new(Limits::default())
}

fn parsed(buf: &[u8]) -> Result<Parsed<Head>, ParseError> {
    parse_head(buf, &Limits::default())
}

#[test]
fn the_same_head_again_is_the_kept_one() {
    let mut m = memo();
    assert_eq!(m.parse(GET), parsed(GET));
    assert_eq!(m.bytes, GET, "a complete head is kept with its bytes");
    // Pipelined: the head again, then the start of another request.
    let two = [GET, &PUT[..10]].concat();
    assert_eq!(m.parse(&two), parsed(&two));
    assert_eq!(m.parse(&two), parsed(GET));
}

#[test]
fn another_head_is_parsed_and_kept_in_its_place() {
    let mut m = memo();
    m.parse(GET).unwrap();
    assert_eq!(m.parse(PUT), parsed(PUT));
    assert_eq!(
        m.bytes,
        &PUT[..PUT.len() - 3],
        "the new head, without its body"
    );
    // One byte changed in the kept head's place (the key): not the kept answer.
    let other = GET
        .to_vec()
        .into_iter()
        .map(|b| if b == b'1' { b'2' } else { b })
        .collect::<Vec<_>>();
    assert_eq!(m.parse(&other), parsed(&other));
    assert_ne!(parsed(&other), parsed(GET));
}

#[test]
fn a_partial_head_or_an_error_is_parsed_every_time() {
    let mut m = memo();
    m.parse(GET).unwrap();
    // A prefix of the kept head is still partial.
    assert_eq!(m.parse(&GET[..GET.len() - 1]), Ok(Parsed::Partial));
    assert_eq!(m.bytes, GET, "a partial head keeps nothing");
    let bad = b"GET /x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n";
    assert!(m.parse(bad).is_err());
    assert_eq!(m.parse(bad), parsed(bad));
    assert_eq!(m.bytes, GET, "an error keeps nothing");
}

#[test]
fn a_long_head_is_parsed_but_not_kept() {
    let mut m = memo();
    m.parse(GET).unwrap();
    let long = format!(
        "GET /api/v1/cache/k HTTP/1.1\r\nHost: a\r\nX-Pad: {}\r\n\r\n",
        "p".repeat(MAX_KEPT_HEAD)
    );
    assert_eq!(m.parse(long.as_bytes()), parsed(long.as_bytes()));
    assert_eq!(m.bytes, GET, "the last short head stays");
}

#[test]
fn the_memo_parses_under_its_own_limits() {
    let tight = Limits {
        max_target_bytes: 8,
        ..Limits::default()
    };
    let mut m = HeadMemo::new(tight);
    assert_eq!(m.parse(GET), parse_head(GET, &tight));
    assert!(
        m.parse(GET).is_err(),
        "a target over the limit is 414 every time"
    );
}

#[test]
fn forget_gives_the_memory_back() {
    let mut m = memo();
    m.parse(GET).unwrap();
    m.forget();
    assert_eq!(m.bytes.capacity(), 0);
    assert!(m.head.is_none());
    assert_eq!(m.parse(GET), parsed(GET));
}

/// A head in `0..n` of its own path: every one differs from the last.
fn get_of(i: usize) -> Vec<u8> {
    format!("GET /api/v1/cache/k{i} HTTP/1.1\r\nHost: a\r\n\r\n").into_bytes()
}

#[test]
fn after_a_run_of_different_heads_the_memo_rests_then_looks_again() {
    let mut m = memo();
    for i in 0..MISSES_BEFORE_REST as usize + 1 {
        m.parse(&get_of(i)).unwrap();
    }
    // Resting: a head is parsed (rightly) but neither compared nor kept.
    let kept = m.bytes.clone();
    let same = get_of(1000);
    assert_eq!(m.parse(&same), parsed(&same));
    assert_eq!(m.bytes, kept, "kept while resting");
    // Within a rest period the memo looks again: the repeated head is kept, then matched.
    let mut tries = 0;
    while m.misses != 0 {
        assert_eq!(m.parse(&same), parsed(&same));
        tries += 1;
        assert!(
            tries <= REST_PERIOD + 1,
            "the memo never looked again ({tries} tries)"
        );
    }
    assert_eq!(m.bytes, same);
}

/// `answered` tells what the last parse did to the kept head: the node keeps the kept head's
/// route beside it and must never pair one head's route with another head.
#[test]
fn answered_follows_the_kept_head() {
    let mut m = memo();
    assert_eq!(m.answered(), Answered::Parsed, "before any parse");
    m.parse(GET).unwrap();
    assert_eq!(m.answered(), Answered::Stored);
    m.parse(GET).unwrap();
    assert_eq!(m.answered(), Answered::Kept);
    m.parse(PUT).unwrap();
    assert_eq!(
        m.answered(),
        Answered::Stored,
        "another head takes the place"
    );
    // Partial, an error, a head too long to keep: parsed, the kept head unchanged.
    assert_eq!(m.parse(&PUT[..12]), Ok(Parsed::Partial));
    assert_eq!(m.answered(), Answered::Parsed);
    assert!(m.parse(b"GET /\x01 HTTP/1.1\r\n\r\n").is_err());
    assert_eq!(m.answered(), Answered::Parsed);
    let long = format!(
        "GET /x HTTP/1.1\r\nHost: a\r\nX-Pad: {}\r\n\r\n",
        "p".repeat(MAX_KEPT_HEAD)
    );
    m.parse(long.as_bytes()).unwrap();
    assert_eq!(m.answered(), Answered::Parsed, "too long to keep");
    m.parse(PUT).unwrap();
    assert_eq!(
        m.answered(),
        Answered::Kept,
        "the last kept head is still kept"
    );
    // Resting after a run of different heads: complete heads parsed, not kept.
    for i in 0..MISSES_BEFORE_REST as usize + 1 {
        m.parse(&get_of(i)).unwrap();
    }
    let other = get_of(1000);
    m.parse(&other).unwrap();
    assert_eq!(m.answered(), Answered::Parsed, "resting: not kept");
    m.forget();
    m.parse(GET).unwrap();
    assert_ne!(m.answered(), Answered::Kept, "nothing is kept after forget");
}
