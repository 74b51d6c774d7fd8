//! Test support shared by the workspace's test trees (crates/patchwarden/tests,
//! crates/pw-server/tests/it, crates/pw-controller/tests): one home for each helper that more
//! than one of them needs. A dev-dependency only: no crate links it into a binary
//! (crates/patchwarden/tests/architecture.rs checks that).
//!
//! It is test code and does real I/O: real sockets, files, clocks and processes. It holds no
//! mocks: the clock is one the test moves, the webhook receiver a real HTTP server.

pub mod agent;
pub mod clock;
pub mod fixtures;
pub mod http;
pub mod pdf;
pub mod poll;
pub mod webhook;

pub use clock::{ManualClock, at};
pub use poll::{wait_until, wait_until_blocking};
