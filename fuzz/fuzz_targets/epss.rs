//! Fuzz the FIRST EPSS CSV parser (`pw_advisory::parse_epss_csv`): no panic; every score read
//! is a probability and a percentile in 0..=1 for a CVE id; problems carry their line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pw_advisory::parse_epss_csv;

fuzz_target!(|data: &[u8]| {
    let Ok(parsed) = parse_epss_csv(data) else {
        return;
    };
    for score in &parsed.scores.scores {
        assert!((0.0..=1.0).contains(&score.epss), "{score:?}");
        assert!((0.0..=1.0).contains(&score.percentile), "{score:?}");
        assert!(pw_advisory::is_cve_id(&score.cve), "{score:?}");
    }
});
