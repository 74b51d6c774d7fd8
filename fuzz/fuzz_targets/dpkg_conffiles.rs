//! Fuzz the conffiles projection of the dpkg status reader: never panics, every conffile path is
//! absolute, every problem has a line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pw_inventory::parse_dpkg_conffiles;

fuzz_target!(|data: &[u8]| {
    let conffiles = parse_dpkg_conffiles(data);
    for files in conffiles.packages.values() {
        assert!(!files.is_empty());
        assert!(files.iter().all(|f| f.path.starts_with('/')));
    }
    for problem in &conffiles.problems {
        assert!(problem.line().is_some_and(|line| line >= 1));
    }
});
