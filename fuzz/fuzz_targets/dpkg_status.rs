//! Fuzz the dpkg status parser: never panics, and every package it returns round-trips.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pw_inventory::{format_dpkg_stanza, parse_dpkg_status};

fuzz_target!(|data: &[u8]| {
    let inventory = parse_dpkg_status(data);
    for package in &inventory.packages {
        let again = parse_dpkg_status(format_dpkg_stanza(package).as_bytes());
        assert_eq!(again.packages.as_slice(), std::slice::from_ref(package));
    }
    for problem in &inventory.problems {
        assert!(problem.line().is_some_and(|line| line >= 1));
    }
});
