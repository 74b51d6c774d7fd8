//! Fuzz pw-advisory's OSV reader (single record, array, JSONL): never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = pw_advisory::parse_osv_bytes(data);
});
