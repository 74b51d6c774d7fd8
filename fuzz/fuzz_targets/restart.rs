//! Fuzz the restart and reboot parsers (`pw_inventory::restart`, `parse_dpkg_audit`):
//! `/proc/PID/maps`, `/proc/PID/cgroup`, `/proc/sys/kernel/osrelease`, kernel package names,
//! `dpkg --audit`. None panics; their outputs keep their promises.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pw_inventory::dpkg_query::parse_dpkg_audit;
use pw_inventory::restart::{
    kernel_release_of, parse_cgroup_unit, parse_deleted_mappings, parse_kernel_release,
};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let deleted = parse_deleted_mappings(text);
    assert!(deleted.iter().all(|p| p.starts_with('/')));
    assert!(deleted.len() <= text.lines().count());
    if let Some(unit) = parse_cgroup_unit(text) {
        assert!(unit.ends_with(".service") && !unit.contains('/'));
    }
    if let Some(release) = parse_kernel_release(text) {
        assert!(!release.is_empty() && !release.contains('\n'));
    }
    if let Some(release) = kernel_release_of(text) {
        assert!(release.starts_with(|c: char| c.is_ascii_digit()));
    }
    let audit = parse_dpkg_audit(text);
    assert!(audit.problems.len() <= text.split("\n\n").count());
});
