//! Fuzz the parsers of dpkg's query tools and of `systemctl show` (`pw_inventory::dpkg_query`):
//! `dpkg-query -W` states, `dpkg --verify`, `dpkg-query -L` (systemd units), `dpkg --audit`,
//! `/run/reboot-required.pkgs`. None panics; their outputs keep their promises.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pw_inventory::dpkg_query::{
    parse_audit, parse_package_states, parse_reboot_packages, parse_systemctl_show, parse_verify,
    systemd_units,
};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (states, problems) = parse_package_states(text);
    assert!(states.len() + problems.len() <= text.lines().count());
    assert!(parse_verify(text).iter().all(|p| p.starts_with('/')));
    assert!(systemd_units(text).iter().all(|u| u.ends_with(".service")));
    assert!(parse_systemctl_show(text).iter().all(|u| !u.id.is_empty()));
    assert!(parse_audit(text).iter().all(|p| !p.is_empty()));
    let packages = parse_reboot_packages(text);
    let mut unique = packages.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), packages.len());
});
