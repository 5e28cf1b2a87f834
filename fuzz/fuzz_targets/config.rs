//! `Config::from_yaml_str` on arbitrary UTF-8: never panics (errors are fine, and must render).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match dcache::Config::from_yaml_str(text, "<fuzz>") {
        Ok(config) => {
            let _ = config.to_yaml();
            let _ = config.summary();
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
