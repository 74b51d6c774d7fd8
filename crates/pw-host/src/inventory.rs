//! Reading inventories: the live machine (`/etc/os-release`, `/var/lib/dpkg/status`,
//! `rpm -qa --queryformat …`) and inventory files (plain or gzip), with errors naming the file and
//! the line.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use pw_inventory::{Inventory, InventoryError, RPM_QA_ARGS, parse_dpkg_status, parse_rpm_qa};
use pw_model::{InstalledPackage, OsRelease};
use pw_version::Scheme;

/// Where dpkg keeps its database of package states.
pub const DPKG_STATUS_PATH: &str = "/var/lib/dpkg/status";
/// os-release locations, in the order os-release(5) says to try them.
pub const OS_RELEASE_PATHS: [&str; 2] = ["/etc/os-release", "/usr/lib/os-release"];
/// How long `rpm -qa` may run before it is killed (a stuck rpmdb lock must not hang the agent).
pub const RPM_TIMEOUT: Duration = Duration::from_secs(120);

/// An inventory with where it came from. Problems are skipped stanzas or lines; a caller shows
/// them (see [`HostInventory::problem_messages`]) rather than failing the whole host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostInventory {
    /// The file read or the command run.
    pub origin: String,
    pub packages: Vec<InstalledPackage>,
    pub problems: Vec<InventoryError>,
}

impl HostInventory {
    /// An inventory from `origin`, or an error naming `origin` and the reason when not one
    /// package could be read from it: an empty file, a file that is not a package list, a
    /// garbled one. A host always has packages, so "0 findings on 0 packages" would be a lie.
    fn new(origin: String, inventory: Inventory, input_len: usize) -> anyhow::Result<Self> {
        if inventory.packages.is_empty() {
            let reason = if input_len == 0 {
                "it is empty".to_owned()
            } else if let Some(first) = inventory.problems.first() {
                format!(
                    "{} problem(s), the first: {first}",
                    inventory.problems.len()
                )
            } else {
                "it lists no installed package".to_owned()
            };
            bail!("no package could be read from {origin}: {reason}");
        }
        Ok(HostInventory {
            origin,
            packages: inventory.packages,
            problems: inventory.problems,
        })
    }

    /// Each problem as `origin: line N: what`.
    pub fn problem_messages(&self) -> Vec<String> {
        self.problems
            .iter()
            .map(|p| format!("{}: {p}", self.origin))
            .collect()
    }
}

/// This machine's release, from `/etc/os-release` (or `/usr/lib/os-release`).
pub fn read_local_os() -> anyhow::Result<OsRelease> {
    let path = OS_RELEASE_PATHS
        .iter()
        .map(Path::new)
        .find(|p| p.exists())
        .unwrap_or(Path::new(OS_RELEASE_PATHS[0]));
    read_os_release_file(path)
}

/// Reads an os-release file.
pub fn read_os_release_file(path: &Path) -> anyhow::Result<OsRelease> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    pw_inventory::parse_os_release(&text).with_context(|| format!("in {}", path.display()))
}

/// This machine's installed packages: the dpkg status file on Debian/Ubuntu, `rpm -qa` on
/// RPM distributions.
pub fn read_local_inventory(os: &OsRelease) -> anyhow::Result<HostInventory> {
    match os.scheme() {
        Scheme::Dpkg => read_dpkg_status_file(Path::new(DPKG_STATUS_PATH)),
        Scheme::Rpm => run_rpm_qa(),
    }
}

/// Reads a dpkg status file, gunzipping it when it starts with the gzip magic bytes.
pub fn read_dpkg_status_file(path: &Path) -> anyhow::Result<HostInventory> {
    let bytes = read_maybe_gzip(path)?;
    HostInventory::new(
        path.display().to_string(),
        parse_dpkg_status(&bytes),
        bytes.len(),
    )
}

/// Reads saved `rpm -qa` output (query format or plain NEVRA lines), plain or gzip.
pub fn read_rpm_qa_file(path: &Path) -> anyhow::Result<HostInventory> {
    let bytes = read_maybe_gzip(path)?;
    HostInventory::new(
        path.display().to_string(),
        parse_rpm_qa(&bytes),
        bytes.len(),
    )
}

/// Runs `rpm -qa --queryformat …` from `PATH` with [`RPM_TIMEOUT`].
pub fn run_rpm_qa() -> anyhow::Result<HostInventory> {
    run_rpm_qa_with(Path::new("rpm"), RPM_TIMEOUT)
}

/// Runs `program -qa --queryformat …` (argv, no shell, `LC_ALL=C`), killing it after `timeout`.
pub fn run_rpm_qa_with(program: &Path, timeout: Duration) -> anyhow::Result<HostInventory> {
    let shown = format!("{} {}", program.display(), RPM_QA_ARGS[..2].join(" "));
    let mut child = Command::new(program)
        .args(RPM_QA_ARGS)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {shown}"))?;
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child
            .try_wait()
            .with_context(|| format!("waiting for {shown}"))?
        {
            break status;
        }
        if started.elapsed() > timeout {
            // The child is ours; killing it by its handle cannot hit another process.
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "{shown} did not finish within {} s and was stopped",
                timeout.as_secs_f64()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    if !status.success() {
        bail!(
            "{shown} failed ({status}): {}",
            String::from_utf8_lossy(&stderr).trim()
        );
    }
    HostInventory::new(shown, parse_rpm_qa(&stdout), stdout.len())
}

/// Reads a pipe to its end on a thread (so a full stderr pipe cannot block the child).
fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut out = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut out);
        }
        out
    })
}

fn read_maybe_gzip(path: &Path) -> anyhow::Result<Vec<u8>> {
    let raw = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if !raw.starts_with(&[0x1f, 0x8b]) {
        return Ok(raw);
    }
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(&raw[..])
        .read_to_end(&mut out)
        .with_context(|| {
            format!(
                "decompressing {}: corrupt or truncated gzip data after {} decompressed bytes",
                path.display(),
                out.len()
            )
        })?;
    Ok(out)
}
