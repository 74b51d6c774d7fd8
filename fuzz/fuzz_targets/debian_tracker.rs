//! Fuzz the Debian Security Tracker JSON reader (`pw_advisory::parse_debian_tracker`): no panic;
//! every record it makes is one source package × CVE, dated as asked, named by a CVE id.
#![no_main]

use jiff::Timestamp;
use libfuzzer_sys::fuzz_target;
use pw_advisory::parse_debian_tracker;

fuzz_target!(|data: &[u8]| {
    let modified: Timestamp = "2026-12-01T00:00:00Z".parse().unwrap();
    let Ok(parsed) = parse_debian_tracker(data, modified) else {
        return;
    };
    for record in &parsed.records {
        assert_eq!(record.modified.as_deref(), Some("2026-12-01T00:00:00Z"), "{}", record.id);
        assert!(record.id.contains("CVE-"), "{}", record.id);
    }
});
