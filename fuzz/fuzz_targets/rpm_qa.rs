//! Fuzz the rpm -qa parser: never panics, and every package it returns round-trips.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pw_inventory::{format_rpm_qa_line, parse_rpm_qa};

fuzz_target!(|data: &[u8]| {
    let inventory = parse_rpm_qa(data);
    for package in &inventory.packages {
        let again = parse_rpm_qa(format_rpm_qa_line(package).as_bytes());
        assert_eq!(again.packages.as_slice(), std::slice::from_ref(package));
    }
});
