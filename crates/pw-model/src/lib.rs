//! Shared vocabulary of patchwarden: operating-system releases, package names, priority tiers.
//! Pure: no I/O, no clock, no async runtime.

mod finding;
mod inventory;
mod os;
mod package;
mod tier;

pub use finding::Finding;
pub use inventory::InstalledPackage;
pub use os::{OsFamily, OsRelease, OsReleaseError};
pub use package::{PackageName, PackageNameError};
pub use tier::Tier;
