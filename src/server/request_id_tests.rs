use super::*;
use crate::server::trace::parse_traceparent;

const TRACEPARENT: &[u8] = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn table() -> Rc<RequestIds> {
    Rc::new(RequestIds::default())
}

fn echo_of(ids: &RequestIds, id: RequestId) -> Option<Vec<u8>> {
    let ctx = ids.get(id);
    let mut num = itoa::Buffer::new();
    echoed(id, ctx.as_deref(), &mut num).map(<[u8]>::to_vec)
}

#[test]
fn numeric_ids_are_canonical_decimal_u64s() {
    assert_eq!(numeric_id(b"7"), 7);
    assert_eq!(numeric_id(b"9223372036854775807"), i64::MAX as u64);
    // Would not echo byte for byte, or too large for the inline form: kept as text.
    for text in [
        &b"0"[..],
        b"007",
        b"9223372036854775808",
        b"18446744073709551615",
        b"18446744073709551616",
        b"99999999999999999999",
        b"+7",
        b"7a",
        b"",
    ] {
        assert_eq!(numeric_id(text), 0, "{:?}", String::from_utf8_lossy(text));
    }
}

#[test]
fn no_id_and_numeric_ids_take_no_slot() {
    let ids = table();
    let (none, held) = ids.register(IdFields::default());
    assert!(held.is_none());
    assert_eq!(none, RequestId::NONE);
    assert_eq!(echo_of(&ids, none), None);
    let (n, held) = ids.register(IdFields {
        own: Some(b"12345"),
        ..IdFields::default()
    });
    assert!(held.is_none());
    assert_eq!(n.numeric(), Some(12345));
    assert_eq!(echo_of(&ids, n).as_deref(), Some(&b"12345"[..]));
    assert_eq!(ids.in_use(), 0);
    // The largest number is text, echoed all the same.
    let (big, _held) = ids.register(IdFields {
        own: Some(b"18446744073709551615"),
        ..IdFields::default()
    });
    assert_eq!(big.numeric(), None);
    assert_eq!(
        echo_of(&ids, big).as_deref(),
        Some(&b"18446744073709551615"[..])
    );
}

#[test]
fn text_ids_are_echoed_exactly_and_released_with_their_hold() {
    let ids = table();
    let uuid = b"3f1c2a9e-8d4b-4c1e-9f7a-0b6d5e4c3b2a";
    let (a, held_a) = ids.register(IdFields {
        own: Some(uuid),
        ..IdFields::default()
    });
    let long = [b'~'; 256];
    let (b, held_b) = ids.register(IdFields {
        own: Some(&long),
        ..IdFields::default()
    });
    assert_eq!(ids.in_use(), 2);
    assert_eq!(echo_of(&ids, a).as_deref(), Some(&uuid[..]));
    assert_eq!(echo_of(&ids, b).as_deref(), Some(&long[..]));
    drop(held_a);
    assert_eq!(ids.in_use(), 1);
    // A stale handle echoes nothing, even once its slot is taken by another request.
    let (c, _held_c) = ids.register(IdFields {
        own: Some(b"007"),
        ..IdFields::default()
    });
    assert_eq!(echo_of(&ids, a), None);
    assert_eq!(echo_of(&ids, c).as_deref(), Some(&b"007"[..]));
    drop(held_b);
    assert_eq!(echo_of(&ids, b), None);
}

#[test]
fn a_passed_on_client_id_is_logged_not_echoed() {
    let ids = table();
    let (id, _held) = ids.register(IdFields {
        own: Some(b"72057594037927937"),
        passed_on: Some(b"client-abc"),
        trace: parse_traceparent(TRACEPARENT),
    });
    // The peer matches its answer by the numeric id it sent (kept in the slot beside the rest).
    assert!(id.has_context() && id.numeric().is_none());
    assert_eq!(
        echo_of(&ids, id).as_deref(),
        Some(&b"72057594037927937"[..])
    );
    let ctx = ids.get(id);
    let mut num = itoa::Buffer::new();
    let (request, trace) = log_fields(id, ctx.as_deref(), &mut num);
    assert!(
        matches!(request, Value::Bytes(b"client-abc")),
        "{request:?}"
    );
    assert!(
        matches!(trace, Value::Str("4bf92f3577b34da6a3ce929d0e0e4736")),
        "{trace:?}"
    );
    // A passed-on id that is not a well-formed request id is dropped.
    let (bad, held) = ids.register(IdFields {
        own: Some(b"5"),
        passed_on: Some(b"a b"),
        trace: None,
    });
    assert!(held.is_none());
    assert_eq!(bad.numeric(), Some(5));
}

#[test]
fn numeric_ids_are_logged_as_strings() {
    let ids = table();
    let (id, _) = ids.register(IdFields {
        own: Some(b"42"),
        ..IdFields::default()
    });
    let mut num = itoa::Buffer::new();
    let (request, trace) = log_fields(id, None, &mut num);
    assert!(matches!(request, Value::Str("42")), "{request:?}");
    assert!(matches!(trace, Value::None));
    // A number with a trace: both from the slot.
    let (id, _held) = ids.register(IdFields {
        own: Some(b"43"),
        trace: parse_traceparent(TRACEPARENT),
        ..IdFields::default()
    });
    let ctx = ids.get(id);
    let mut num = itoa::Buffer::new();
    let (request, trace) = log_fields(id, ctx.as_deref(), &mut num);
    assert!(matches!(request, Value::Str("43")), "{request:?}");
    assert!(matches!(trace, Value::Str(_)), "{trace:?}");
    drop(ctx);
    let mut num = itoa::Buffer::new();
    let (none, _) = log_fields(RequestId::NONE, None, &mut num);
    assert!(matches!(none, Value::None));
}

#[test]
fn a_burst_gives_its_memory_back_once_every_slot_is_free() {
    let ids = table();
    let held: Vec<HeldId> = (0..MAX_SPARE_SLOTS + 10)
        .map(|i| {
            let text = format!("id-{i}");
            ids.register(IdFields {
                own: Some(text.as_bytes()),
                ..IdFields::default()
            })
            .1
            .expect("a text id takes a slot")
        })
        .collect();
    let last = held.last().expect("held").id;
    drop(held);
    assert_eq!(ids.in_use(), 0);
    assert!(ids.inner.borrow().slots.len() <= MAX_SPARE_SLOTS);
    assert_eq!(echo_of(&ids, last), None);
    // And it still works.
    let (id, _held) = ids.register(IdFields {
        own: Some(b"again"),
        ..IdFields::default()
    });
    assert_eq!(echo_of(&ids, id).as_deref(), Some(&b"again"[..]));
}

proptest::proptest! {
    /// Any well-formed id comes back byte for byte, numeric or not.
    #[test]
    fn every_well_formed_id_echoes_as_sent(id in "[!-~]{1,256}") {
        let ids = table();
        let (rid, _held) = ids.register(IdFields {
            own: Some(id.as_bytes()),
            ..IdFields::default()
        });
        proptest::prop_assert_eq!(echo_of(&ids, rid), Some(id.into_bytes()));
    }
}
