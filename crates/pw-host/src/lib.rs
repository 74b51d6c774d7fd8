//! Agent side of patchwarden (edge crate: file system and processes, std only, no async).
//!
//! This machine's OS release and installed packages, and inventory files collected from other
//! machines (parsing lives in the pure `pw-inventory`); apt/dpkg changes and queries ([`apt`]) and
//! health checks ([`health`], log lines in [`logcheck`]), and read-only evidence for change plans
//! ([`evidence`]), and what the host still needs after a change — restarts, a reboot
//! ([`restart`]); protection providers — file and PostgreSQL backups verified by a restore,
//! qemu-img snapshots, pause/resume and snapshot hooks ([`protection`]). Commands are argv only, never a shell, and go through a
//! [`Runner`] so the same code drives this machine or a test container.

pub mod apt;
pub mod changelogs;
pub mod evidence;
pub mod health;
mod inventory;
pub mod logcheck;
pub mod permissions;
pub mod protection;
pub mod restart;
pub mod runner;

pub use inventory::{
    DPKG_STATUS_PATH, HostInventory, OS_RELEASE_PATHS, RPM_TIMEOUT, read_dpkg_status_file,
    read_local_inventory, read_local_os, read_os_release_file, read_rpm_qa_file, run_rpm_qa,
    run_rpm_qa_with,
};
pub use runner::{CommandOutput, Invocation, LocalRunner, Runner};
