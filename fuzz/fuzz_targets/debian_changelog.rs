//! Fuzz the Debian changelog parser (`pw_inventory::changelog`): never panics, every entry has a
//! valid version and only valid, unique CVE ids, and an entry's ids are in its version's history.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pw_inventory::changelog::parse_debian_changelog;

fuzz_target!(|data: &[u8]| {
    let log = parse_debian_changelog(data);
    let lines = data.split(|&b| b == b'\n').count();
    assert!(log.entries.len() + log.problems.len() <= lines);
    for entry in &log.entries {
        assert!(pw_version::DebVersion::parse(&entry.version).is_ok());
        assert!(entry.cves.iter().all(|c| pw_model::is_cve_id(c)));
        let mut unique = entry.cves.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), entry.cves.len());
        let history = log.history_of(&entry.version).unwrap_or_default();
        assert!(entry.cves.iter().all(|c| history.contains(c)));
    }
});
