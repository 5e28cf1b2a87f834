//! `cluster::dns::parse_answer` on arbitrary bytes: never panics, and never returns more
//! addresses than the answer announces (errors are fine, and must render).
#![no_main]

use dcache::cluster::dns::{parse_answer, MAX_ADDRESSES};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first two bytes are the id the caller expects, the rest the answer; the id is also
    // tried as the answer's own so the fuzzer gets past the id check at once.
    let Some((id, answer)) = data.split_first_chunk::<2>() else {
        return;
    };
    for id in [
        u16::from_be_bytes(*id),
        answer
            .get(..2)
            .map_or(0, |b| u16::from_be_bytes([b[0], b[1]])),
    ] {
        match parse_answer(id, answer) {
            Ok(addrs) => {
                let announced = answer
                    .get(6..8)
                    .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
                assert!(addrs.len() <= usize::from(announced).min(MAX_ADDRESSES));
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
});
