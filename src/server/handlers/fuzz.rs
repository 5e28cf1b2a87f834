//! The cache API's small parsers on arbitrary bytes, for the `cache_api` fuzz target
//! (`dcache::fuzz_api::cache_api`): each must answer, never panic, whatever a client sends.

use crate::storage::value::Stored;

/// Run the parser `which` selects (modulo their number) on `data`; whether it accepted the
/// input, so the target can check that the decision is stable.
pub(crate) fn cache_api(which: u8, data: &[u8]) -> bool {
    match which % 6 {
        0 => crate::server::conditions::parse(Some(data), None).is_ok(),
        1 => crate::server::conditions::parse(None, Some(data)).is_ok(),
        2 => {
            let valid = crate::server::trace::parse_traceparent(data).is_some();
            // A valid traceparent is at least version-traceid-parentid-flags: 55 bytes.
            assert!(!valid || data.len() >= 55, "{} bytes accepted", data.len());
            valid
        }
        3 => super::batch::fuzz_parse(data) > 0,
        4 => super::incr::parse_body(data).is_ok(),
        _ => {
            let s = Stored::decode(data);
            assert!(s.payload_len() <= data.len());
            matches!(s, Stored::Raw { .. })
        }
    }
}
