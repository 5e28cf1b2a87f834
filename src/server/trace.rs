//! W3C Trace Context (`traceparent`, <https://www.w3.org/TR/trace-context/> §3.2): the node is
//! not a tracer, it passes a caller's trace on (forwards, replica copies) and writes its trace id
//! in the log lines the request causes, so a trace can be followed through the cluster.
//!
//! `traceparent: <version>-<trace-id>-<parent-id>-<flags>`, lower-case hex. A header that does
//! not follow the spec is ignored, as the spec asks of a participant that cannot parse it: never a
//! 400, not passed on, not logged. `tracestate` is not read: it carries tracers' own data, and no
//! node of ours reads it.

/// Length of a version `00` traceparent (2 + 1 + 32 + 1 + 16 + 1 + 2); later versions may only
/// append fields after a `-` at this offset (§3.2.4, "versioning of traceparent").
const TRACEPARENT_LEN: usize = 55;
/// The version the spec reserves as invalid.
const INVALID_VERSION: &[u8] = b"ff";

/// The trace id of a valid `traceparent`: its 32 lower-case hex digits, as sent.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct TraceId([u8; 32]);

impl TraceId {
    /// The 32 hex digits (always ASCII: checked when parsed).
    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// The trace id of `v` when it is a valid `traceparent`, else `None` (the header is ignored).
pub(crate) fn parse_traceparent(v: &[u8]) -> Option<TraceId> {
    if v.len() < TRACEPARENT_LEN {
        return None;
    }
    let (version, rest) = (&v[..2], &v[2..]);
    if !lower_hex(version) || version == INVALID_VERSION {
        return None;
    }
    // Version 00 is exactly 55 characters; a later version may go on after a dash.
    if let Some(&next) = v.get(TRACEPARENT_LEN) {
        if version == b"00" || next != b'-' {
            return None;
        }
    }
    let dashes = [rest[0], rest[33], rest[50]];
    let (trace, parent, flags) = (&rest[1..33], &rest[34..50], &rest[51..53]);
    let ok = dashes == [b'-'; 3]
        && lower_hex(trace)
        && lower_hex(parent)
        && lower_hex(flags)
        && !all_zero(trace)
        && !all_zero(parent);
    ok.then(|| {
        let mut id = [0; 32];
        id.copy_from_slice(trace);
        TraceId(id)
    })
}

/// Branch-free (a fold, not a search) so the compiler checks many bytes per instruction: a
/// `traceparent` on every request of a traced service costs a few dozen instructions.
fn lower_hex(v: &[u8]) -> bool {
    v.iter().fold(true, |ok, &b| {
        ok & ((b.wrapping_sub(b'0') < 10) | (b.wrapping_sub(b'a') < 6))
    })
}

fn all_zero(v: &[u8]) -> bool {
    v.iter().fold(true, |zero, &b| zero & (b == b'0'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::Strategy;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn trace(v: &str) -> Option<String> {
        parse_traceparent(v.as_bytes()).map(|t| t.as_str().to_string())
    }

    #[test]
    fn the_specs_example_gives_its_trace_id() {
        assert_eq!(
            trace(VALID).as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        // Flags other than "sampled" are carried, not judged.
        assert!(trace("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00").is_some());
        assert!(trace("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff").is_some());
    }

    #[test]
    fn malformed_headers_are_ignored() {
        for bad in [
            "",
            "00",
            // Upper-case hex.
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A",
            // All-zero ids.
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            // The forbidden version, and a version that is not hex.
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            // Wrong separators or lengths.
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-012",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 ",
        ] {
            assert_eq!(trace(bad), None, "{bad:?}");
        }
    }

    proptest::proptest! {
        /// Any header value: no panic, and what is accepted has the spec's shape.
        #[test]
        fn any_value_is_judged_without_panicking(v in proptest::prop_oneof![
            proptest::collection::vec(proptest::num::u8::ANY, 0..80),
            // Near misses: the right alphabet around the right length.
            "[0-9a-f-]{50,60}".prop_map(String::into_bytes),
        ]) {
            if let Some(t) = parse_traceparent(&v) {
                proptest::prop_assert!(v.len() >= TRACEPARENT_LEN);
                proptest::prop_assert_eq!(t.as_str().as_bytes(), &v[3..35]);
            }
        }

        /// Every well-formed version-00 header is accepted unless an id is all zeros.
        #[test]
        fn well_formed_headers_are_accepted(trace in "[0-9a-f]{32}", parent in "[0-9a-f]{16}", flags in "[0-9a-f]{2}") {
            let v = format!("00-{trace}-{parent}-{flags}");
            let zero = trace.bytes().all(|b| b == b'0') || parent.bytes().all(|b| b == b'0');
            proptest::prop_assert_eq!(parse_traceparent(v.as_bytes()).is_some(), !zero);
        }
    }

    #[test]
    fn later_versions_may_append_fields_after_a_dash() {
        let v1 = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert!(trace(v1).is_some());
        assert!(trace(&format!("{v1}-what-comes-next")).is_some());
        assert!(trace(&format!("{v1}x")).is_none());
        // Version 00 may not.
        assert!(trace(&format!("{VALID}-extra")).is_none());
    }
}
