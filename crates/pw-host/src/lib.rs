//! Agent side of patchwarden (edge crate: file system and processes, std only, no async).
//!
//! Today: this machine's OS release and installed packages, and inventory files collected from
//! other machines. Parsing and deciding live in the pure `pw-inventory`; this crate only reads
//! files and runs `rpm` (argv, never a shell). Apply, downgrade and health checks come later.

mod inventory;

pub use inventory::{
    DPKG_STATUS_PATH, HostInventory, OS_RELEASE_PATHS, RPM_TIMEOUT, read_dpkg_status_file,
    read_local_inventory, read_local_os, read_os_release_file, read_rpm_qa_file, run_rpm_qa,
    run_rpm_qa_with,
};
