//! Fuzz the `apt-cache policy` and `apt-cache madison` parsers: never panic, and every
//! downloadable version is answered as downloadable.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pw_inventory::apt::Availability;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut availability = Availability::default();
    availability.add_policy(text);
    availability.add_madison(text);
    for (package, versions) in &availability.packages {
        for version in &versions.downloadable {
            assert_eq!(availability.can_download(package, version), Some(true));
        }
    }
});
