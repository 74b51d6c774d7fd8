//! What this host still needs after a change (DESIGN.md §9.5 "patched means patched"): the
//! running kernel against the newest installed one, the reboot flag dpkg's maintainer scripts
//! leave, processes still mapping replaced (deleted) libraries with their systemd unit, like
//! needrestart, and `dpkg --audit`. Parsing is pw-inventory's ([`pw_inventory::restart`],
//! [`pw_inventory::dpkg_query`]); commands are argv through a [`Runner`]; `/proc` is read
//! directly under `proc_root` (the agent's own machine: `/proc`).
//!
//! Also the two acts that clear the state: `systemctl restart UNIT…` ([`restart_units`]) and a
//! reboot ([`reboot`], the configured argv), and the boot identity that proves a reboot
//! happened ([`boot_identity`]). In a container, whose kernel (and boot id) is the host's, the
//! start time of PID 1 tells a restarted container apart.

use std::path::Path;

use anyhow::{Context, bail};
use pw_inventory::dpkg_query::{
    DPKG_QUERY_FORMAT, DpkgAudit, parse_dpkg_audit, parse_package_states,
};
use pw_inventory::restart::{
    KernelStatus, is_shared_library, kernel_status, parse_cgroup_unit, parse_deleted_mappings,
    parse_kernel_release,
};

use crate::apt::{QUERY_TIMEOUT, reboot_required};
use crate::runner::{CommandOutput, Invocation, Runner};

/// Everything [`collect`] found; each part `None` when it could not be read (see `problems`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestartFacts {
    pub boot: Option<BootIdentity>,
    pub kernel: Option<KernelStatus>,
    /// `Some(packages that asked)` when `/run/reboot-required` exists.
    pub reboot_flag: Option<Vec<String>>,
    /// Processes mapping a deleted library or running a deleted executable.
    pub stale: Vec<StaleProcess>,
    pub dpkg_audit: Option<DpkgAudit>,
    pub problems: Vec<String>,
}

/// A process that still runs replaced code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleProcess {
    pub pid: u32,
    /// `/proc/PID/comm`.
    pub command: String,
    /// Its systemd service unit; `None` outside one (user sessions, no systemd).
    pub unit: Option<String>,
    /// The deleted libraries (and executable) it maps.
    pub deleted: Vec<String>,
}

/// Which boot this is: the kernel's boot id, and when PID 1 started (clock ticks after boot,
/// `/proc/1/stat` field 22) — the same boot id with another PID 1 start is a restarted container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootIdentity {
    pub boot_id: String,
    pub init_started: u64,
}

/// The kernel's boot id, changed by every boot.
pub const BOOT_ID_PATH: &str = "sys/kernel/random/boot_id";

/// Reads the boot identity under `proc_root`.
pub fn boot_identity(proc_root: &Path) -> anyhow::Result<BootIdentity> {
    let path = proc_root.join(BOOT_ID_PATH);
    let boot_id = std::fs::read_to_string(&path)
        .with_context(|| format!("reading {}", path.display()))?
        .trim()
        .to_owned();
    let stat_path = proc_root.join("1/stat");
    let stat = std::fs::read_to_string(&stat_path)
        .with_context(|| format!("reading {}", stat_path.display()))?;
    // `pid (comm) state ppid …`: comm may hold spaces and parentheses; fields restart after
    // the last `)`. starttime is field 22, the 20th after comm.
    let after_comm = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let Some(init_started) = after_comm
        .split_whitespace()
        .nth(19)
        .and_then(|f| f.parse().ok())
    else {
        bail!("{} has no start time field", stat_path.display());
    };
    Ok(BootIdentity {
        boot_id,
        init_started,
    })
}

/// Collects the restart facts. Never fails: what cannot be read is a problem.
pub fn collect(runner: &dyn Runner, proc_root: &Path) -> RestartFacts {
    let mut out = RestartFacts::default();
    match boot_identity(proc_root) {
        Ok(boot) => out.boot = Some(boot),
        Err(error) => out.problems.push(format!("boot id: {error:#}")),
    }
    match kernel(runner, proc_root) {
        Ok(kernel) => out.kernel = Some(kernel),
        Err(error) => out.problems.push(format!("kernel: {error:#}")),
    }
    match reboot_required(runner) {
        Ok(flag) => out.reboot_flag = flag,
        Err(error) => out.problems.push(format!("reboot flag: {error:#}")),
    }
    out.stale = stale_processes(proc_root);
    match runner.run(&Invocation::new("dpkg", ["--audit"]).timeout(QUERY_TIMEOUT)) {
        Ok(output) if output.success() => {
            out.dpkg_audit = Some(parse_dpkg_audit(&output.stdout_text()));
        }
        Ok(output) => out.problems.push(format!(
            "dpkg --audit exited {:?}: {}",
            output.code,
            output.tail(5)
        )),
        Err(error) => out.problems.push(format!("dpkg --audit: {error:#}")),
    }
    out
}

/// The running release against the installed `linux-image-*` packages.
fn kernel(runner: &dyn Runner, proc_root: &Path) -> anyhow::Result<KernelStatus> {
    let path = proc_root.join("sys/kernel/osrelease");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let Some(running) = parse_kernel_release(&text) else {
        bail!("{} is empty", path.display());
    };
    let query = Invocation::new(
        "dpkg-query",
        ["-W", "-f", DPKG_QUERY_FORMAT, "linux-image-*"],
    )
    .timeout(QUERY_TIMEOUT);
    // dpkg-query exits 1 when no package matches: no kernel installed (a container).
    let output = runner.run(&query)?;
    if output.code.is_some_and(|c| c > 1) || output.code.is_none() {
        bail!(
            "{} exited {:?}: {}",
            query.display(),
            output.code,
            output.tail(5)
        );
    }
    let (states, _) = parse_package_states(&output.stdout_text());
    Ok(kernel_status(&running, &states))
}

/// Every process under `proc_root` that maps a deleted shared library or runs a deleted
/// executable, by pid. Processes that vanish or cannot be read (not root) are skipped.
pub fn stale_processes(proc_root: &Path) -> Vec<StaleProcess> {
    let Ok(entries) = std::fs::read_dir(proc_root) else {
        return Vec::new();
    };
    let mut pids: Vec<u32> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    pids.into_iter()
        .filter_map(|pid| stale_process(&proc_root.join(pid.to_string()), pid))
        .collect()
}

fn stale_process(dir: &Path, pid: u32) -> Option<StaleProcess> {
    let maps = std::fs::read_to_string(dir.join("maps")).ok()?;
    let exe = std::fs::read_link(dir.join("exe")).ok();
    let exe = exe.as_ref().and_then(|p| p.to_str());
    let deleted: Vec<String> = parse_deleted_mappings(&maps)
        .into_iter()
        .filter(|path| is_shared_library(path) || exe == Some(&format!("{path} (deleted)")))
        .collect();
    if deleted.is_empty() {
        return None;
    }
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    Some(StaleProcess {
        pid,
        command: read("comm").trim().to_owned(),
        unit: parse_cgroup_unit(&read("cgroup")),
        deleted,
    })
}

/// systemd's own test for "booted with systemd" (`sd_booted`).
pub const SYSTEMD_RUNTIME_DIR: &str = "/run/systemd/system";

/// `systemctl restart UNIT…` (argv). Refuses invalid unit names and hosts not booted with
/// systemd.
pub fn restart_units(runner: &dyn Runner, units: &[String]) -> anyhow::Result<CommandOutput> {
    systemctl_units(runner, UnitVerb::Restart, units)
}

/// What [`systemctl_units`] does to the units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitVerb {
    Stop,
    Start,
    Restart,
}

impl UnitVerb {
    fn as_str(self) -> &'static str {
        match self {
            UnitVerb::Stop => "stop",
            UnitVerb::Start => "start",
            UnitVerb::Restart => "restart",
        }
    }
}

/// `systemctl stop|start|restart UNIT…` (argv). Refuses invalid unit names and hosts not
/// booted with systemd.
pub fn systemctl_units(
    runner: &dyn Runner,
    verb: UnitVerb,
    units: &[String],
) -> anyhow::Result<CommandOutput> {
    if let Some(bad) = units.iter().find(|u| !pw_model::is_service_unit(u)) {
        bail!("{bad:?} is not a service unit name");
    }
    if units.is_empty() {
        bail!("no unit to {}", verb.as_str());
    }
    let booted = runner
        .run(&Invocation::new("test", ["-d", SYSTEMD_RUNTIME_DIR]))
        .is_ok_and(|o| o.success());
    if !booted {
        bail!(
            "{} was not booted with systemd: {} {} by hand, or defer",
            runner.target(),
            verb.as_str(),
            units.join(", ")
        );
    }
    let args = [verb.as_str().to_owned()]
        .into_iter()
        .chain(units.iter().cloned());
    runner.run_ok(&Invocation::new("systemctl", args).timeout(QUERY_TIMEOUT))
}

/// Runs the reboot command (argv, e.g. `systemctl reboot`); its success means the reboot was
/// asked for, not that it happened (the boot identity proves that).
pub fn reboot(runner: &dyn Runner, argv: &[String]) -> anyhow::Result<CommandOutput> {
    let Some((program, args)) = argv.split_first() else {
        bail!("no reboot command configured");
    };
    runner.run_ok(&Invocation::new(program, args.iter().cloned()).timeout(QUERY_TIMEOUT))
}

#[cfg(test)]
#[path = "restart_tests.rs"]
mod tests;
