//! Fuzz the CISA KEV catalog parser (`pw_advisory::parse_kev`): no panic; every entry read has a
//! CVE id and its ransomware use reads back from its own text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pw_advisory::{RansomwareUse, parse_kev};

fuzz_target!(|data: &[u8]| {
    let Ok(parsed) = parse_kev(data) else {
        return;
    };
    for entry in &parsed.catalog.entries {
        assert!(pw_advisory::is_cve_id(&entry.cve_id), "{}", entry.cve_id);
        let use_ = &entry.known_ransomware_campaign_use;
        assert_eq!(&RansomwareUse::parse(Some(use_.as_str())), use_);
        if let Some(due) = entry.due_date {
            let _ = due.since(entry.date_added);
        }
    }
});
