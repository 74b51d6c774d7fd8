//! End-to-end tests on real Debian 12 containers built by the test bed, with real apt against the
//! fake repository. They fail (never skip) when docker or mmdebstrap is missing.

mod apt_e2e;
mod faults;
mod protection;
mod protection_pg;
mod support;
mod testbed;
