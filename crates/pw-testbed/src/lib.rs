//! patchwarden's end-to-end test bed (dev tooling, not shipped): real Debian 12 "hosts" as Docker
//! containers running real apt/dpkg against a local apt repository of FAKE packages.
//!
//! - [`image`]: a Debian 12 rootfs built with `mmdebstrap` from this machine's Debian sources,
//!   `docker import`ed as a local image tagged with its content hash (no registry involved);
//! - [`repo`]: the fake packages (`pw-demo` 1.0-1…1.0-4, `pw-demo-kernel`), built with
//!   `dpkg-deb --build` from trees written here, indexed with `apt-ftparchive` into three suites;
//! - [`docker`]: networks and host containers with exec/pause/kill/disconnect helpers, removed on
//!   drop (also on panic) and labelled so leftovers of killed runs are swept;
//! - [`fleet`]: N hosts on a fresh network with the repo configured, ready for apt;
//! - [`postgres`]: a throwaway PostgreSQL server (initdb + pg_ctl in a temporary directory) for
//!   the tests that run the store and the controller on PostgreSQL.
//!
//! Everything built is cached outside the clone, in `$PW_TESTBED_DIR` or
//! `/var/cache/patchwarden-testbed` ([`testbed_dir`]), so a machine builds the image once.
//! External commands run with argv (never a shell) through `pw_host::Runner`.

pub mod docker;
pub mod fleet;
pub mod image;
mod lock;
pub mod postgres;
pub mod repo;
mod rootfs;

use std::path::PathBuf;

pub use docker::{DockerExecRunner, Host, Init, Mount, Network};
pub use fleet::{Fleet, Testbed};
pub use image::{Image, ImageVariant};
pub use repo::{Suite, TestRepo};
pub use rootfs::Rootfs;

/// Environment variable naming the cache directory.
pub const TESTBED_DIR_ENV: &str = "PW_TESTBED_DIR";
/// The cache directory when [`TESTBED_DIR_ENV`] is not set.
pub const DEFAULT_TESTBED_DIR: &str = "/var/cache/patchwarden-testbed";

/// Where the rootfs tarball and the repository are cached.
pub fn testbed_dir() -> PathBuf {
    std::env::var_os(TESTBED_DIR_ENV)
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from(DEFAULT_TESTBED_DIR), PathBuf::from)
}
