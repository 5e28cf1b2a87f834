//! The `POST /admin/import` document parser on arbitrary bytes: never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(n) = dcache::fuzz_api::import_document(data) {
        assert!(n <= data.len(), "{n} entries from {} bytes", data.len());
    }
});
