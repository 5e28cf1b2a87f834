//! The cache API's small parsers (If-Match / If-None-Match lists, traceparent, batch documents,
//! incr bodies, stored values) on arbitrary bytes: never panic, and decide the same way twice.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let first = dcache::fuzz_api::cache_api(which, rest);
    assert_eq!(first, dcache::fuzz_api::cache_api(which, rest));
});
