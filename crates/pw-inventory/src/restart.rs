//! What a host still needs after a change ("patched means patched", DESIGN.md §9.5), from the
//! kernel's and dpkg's own files: the running kernel against the newest installed `linux-image`
//! package, processes that still map a deleted (replaced) shared library and the systemd unit
//! each runs in, like needrestart. One parser per input; `/run/reboot-required.pkgs` and
//! `dpkg --audit` are read by [`crate::dpkg_query`].
//!
//! Quirks honoured here (captured input in `tests/data/restart/`, PROVENANCE.md):
//! - `/proc/sys/kernel/osrelease` (= `uname -r`) is the release the kernel package is named
//!   after: `6.1.0-18-amd64` runs from `linux-image-6.1.0-18-amd64`. Meta packages
//!   (`linux-image-amd64`, `linux-image-cloud-amd64`) do not start with a digit and name no
//!   release; Debian's `-unsigned` builds and Ubuntu's `linux-image-unsigned-…` install the same
//!   release; `-dbg`/`-dbgsym` packages ship no kernel. Newest = highest package version
//!   (dpkg order). Containers run the host's kernel and install none: no verdict.
//! - `/proc/PID/maps` ends a mapping's path with ` (deleted)` when the file was unlinked — what
//!   dpkg does when it replaces a library (it renames the new file over the old one). Anonymous
//!   shared memory (`/memfd:…`, `/dev/shm/…`, `/SYSV…`, `/drm…`) also shows as deleted and is
//!   no replaced file.
//! - `/proc/PID/cgroup` has one `ID:CONTROLLERS:PATH` line per hierarchy; the unit is the last
//!   `*.service` component of the unified (`0::`) or `name=systemd` path
//!   (`/system.slice/cron.service`). Processes of user sessions (`session-2.scope`), of
//!   containers (`docker-….scope`) or without systemd (`/`) have no service unit.

use pw_version::compare_dpkg;

use crate::dpkg_query::PackageState;

/// `/proc/sys/kernel/osrelease` or `uname -r` output: the first line, trimmed; `None` when
/// empty.
pub fn parse_kernel_release(text: &str) -> Option<String> {
    let line = text.lines().next()?.trim();
    (!line.is_empty()).then(|| line.to_owned())
}

/// The kernel release a package installs (`linux-image-6.1.0-18-amd64` → `6.1.0-18-amd64`), or
/// `None` for meta, debug and non-kernel packages.
pub fn kernel_release_of(package: &str) -> Option<&str> {
    let rest = package.strip_prefix("linux-image-")?;
    let rest = rest.strip_prefix("unsigned-").unwrap_or(rest);
    let rest = rest.strip_suffix("-unsigned").unwrap_or(rest);
    let is_debug = rest.ends_with("-dbg") || rest.ends_with("-dbgsym");
    (rest.starts_with(|c: char| c.is_ascii_digit()) && !is_debug).then_some(rest)
}

/// An installed kernel image package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledKernel {
    pub package: String,
    pub version: String,
    /// What `uname -r` says when it runs.
    pub release: String,
}

/// The running kernel against the newest installed one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelStatus {
    pub running: String,
    /// `None` when no kernel package is installed (a container).
    pub newest: Option<InstalledKernel>,
}

impl KernelStatus {
    /// A newer kernel is installed than the one running: only a reboot loads it.
    pub fn needs_reboot(&self) -> bool {
        self.newest
            .as_ref()
            .is_some_and(|newest| newest.release != self.running)
    }
}

/// The newest kernel image among `states` (`dpkg-query -W` of `linux-image-*`, parsed by
/// [`crate::dpkg_query::parse_package_states`]) compared with the `running` release. Packages
/// whose files are not on disk (`rc`, `un`) do not count.
pub fn kernel_status(running: &str, states: &[PackageState]) -> KernelStatus {
    let newest = states
        .iter()
        .filter(|s| s.is_present())
        .filter_map(|s| {
            kernel_release_of(s.package.as_str()).map(|release| InstalledKernel {
                package: s.package.to_string(),
                version: s.version.clone(),
                release: release.to_owned(),
            })
        })
        .max_by(|a, b| {
            compare_dpkg(&a.version, &b.version).then_with(|| a.release.cmp(&b.release))
        });
    KernelStatus {
        running: running.to_owned(),
        newest,
    }
}

/// Deleted mappings that are anonymous memory, not files a package replaced.
const NOT_FILES: [&str; 5] = ["/memfd:", "/dev/", "/SYSV", "/drm", "/run/"];

/// The unlinked files a process maps (`/proc/PID/maps`), in first-seen order without repeats.
/// Lines that are not mappings are skipped.
pub fn parse_deleted_mappings(maps: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in maps.lines() {
        let Some(path) = mapped_path(line) else {
            continue;
        };
        let Some(path) = path.strip_suffix(" (deleted)") else {
            continue;
        };
        if NOT_FILES.iter().any(|prefix| path.starts_with(prefix)) {
            continue;
        }
        if !out.iter().any(|seen| seen == path) {
            out.push(path.to_owned());
        }
    }
    out
}

/// The path field of a maps line: after five whitespace-separated fields (address, perms,
/// offset, device, inode), starting with `/`.
fn mapped_path(line: &str) -> Option<&str> {
    let mut rest = line;
    for _ in 0..5 {
        rest = rest.trim_start();
        let end = rest.find(char::is_whitespace)?;
        rest = &rest[end..];
    }
    let path = rest.trim_start();
    path.starts_with('/').then_some(path)
}

/// A shared object by its file name: `libssl.so.3`, `libc.so.6`, `pam_unix.so`.
pub fn is_shared_library(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.ends_with(".so") || name.contains(".so.")
}

/// The systemd service unit a process runs in, from `/proc/PID/cgroup`: the last `*.service`
/// component of the unified (`0::`) path, else of the `name=systemd` one.
pub fn parse_cgroup_unit(text: &str) -> Option<String> {
    let mut unified = None;
    let mut named = None;
    for line in text.lines() {
        let mut fields = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        if id == "0" && controllers.is_empty() {
            unified = Some(path);
        } else if controllers == "name=systemd" {
            named = Some(path);
        }
    }
    [unified, named]
        .into_iter()
        .flatten()
        .find_map(service_in_path)
}

fn service_in_path(path: &str) -> Option<String> {
    path.trim_end()
        .rsplit('/')
        .find(|part| part.ends_with(".service") && part.len() > ".service".len())
        .map(str::to_owned)
}

#[cfg(test)]
#[path = "restart_tests.rs"]
mod tests;
