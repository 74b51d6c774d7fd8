//! The synthetic fleet shared by the benchmarks (`fleet-bench`) and the load generator
//! (`pw-loadgen`): real Debian package lists, perturbed per host.

pub mod fleet;
