//! Fuzz the priority policy reader: never panics; a policy it accepts classifies without panic
//! and keeps its deadline order.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pw_priority::{CvssScore, CvssVersion, Evidence, PriorityPolicy};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match PriorityPolicy::from_toml_str(text) {
        Ok(policy) => {
            for rules in std::iter::once(&policy.rules).chain(policy.groups.values()) {
                assert!(rules.t0.deadline <= rules.t1.deadline);
                assert!(rules.t1.deadline <= rules.t3.deadline);
            }
            let evidence = Evidence {
                cves: vec!["CVE-2024-6387".into()],
                cvss: vec![CvssScore {
                    score: 8.1,
                    version: CvssVersion::V3_1,
                }],
                distro_severity: Some("Important".into()),
                ..Evidence::default()
            };
            let _ = policy.classify(&evidence);
            for group in policy.groups.keys() {
                let _ = policy.classify_for_group(group, &evidence);
            }
        }
        Err(errors) => assert!(!errors.0.is_empty()),
    }
});
