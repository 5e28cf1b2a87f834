//! `parse_response_head` on arbitrary bytes: the usual-answer path (`response_common.rs`)
//! gives the full parser's result and shows `on_header` the same fields in the same order, for
//! a GET and for a HEAD request; never a panic.
#![no_main]

use dcache_http::{parse_response_head, parse_response_head_full};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for to_head in [false, true] {
        let (mut fast, mut full) = (Vec::new(), Vec::new());
        let a = parse_response_head(data, to_head, |n, v| fast.push((n.to_owned(), v.to_vec())));
        let b = parse_response_head_full(data, to_head, |n, v| full.push((n.to_owned(), v.to_vec())));
        assert_eq!(a, b);
        assert_eq!(fast, full);
    }
});
