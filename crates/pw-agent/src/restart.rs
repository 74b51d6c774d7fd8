//! "Patched means patched" on the agent: the restart facts pw-host collects, in their wire form
//! (sent with every inventory and with a verified change's report), and the two commands that
//! clear them — `restart_services` (`systemctl restart`, then the facts again) and `reboot` (the
//! configured argv, asked for only after its result is journaled and reported). Blocking: call
//! from `spawn_blocking`.

use std::path::Path;

use jiff::Timestamp;
use pw_host::Runner;
use pw_host::restart::{self, RestartFacts};
use pw_protocol::{
    AuditProblem, BootMark, CommandResult, CommandStatus, InstalledKernel, RestartReport,
    RestartStatus, StaleProcess,
};

/// Where the kernel's process files are.
pub const PROC_ROOT: &str = "/proc";

/// The reboot command used when none is configured.
pub const DEFAULT_REBOOT_COMMAND: [&str; 2] = ["systemctl", "reboot"];

/// This machine's restart facts, in wire form.
pub fn collect_status(runner: &dyn Runner) -> RestartStatus {
    to_wire(
        restart::collect(runner, Path::new(PROC_ROOT)),
        Timestamp::now(),
    )
}

/// pw-host's facts as the wire type.
pub fn to_wire(facts: RestartFacts, collected_at: Timestamp) -> RestartStatus {
    let (running_kernel, newest_kernel) = match facts.kernel {
        Some(kernel) => (
            Some(kernel.running),
            kernel.newest.map(|k| InstalledKernel {
                package: k.package,
                version: k.version,
                release: k.release,
            }),
        ),
        None => (None, None),
    };
    RestartStatus {
        collected_at,
        boot: facts.boot.map(|b| BootMark {
            boot_id: b.boot_id,
            init_started: b.init_started,
        }),
        running_kernel,
        newest_kernel,
        reboot_flag: facts.reboot_flag.is_some(),
        reboot_flag_packages: facts.reboot_flag.unwrap_or_default(),
        stale_processes: facts
            .stale
            .into_iter()
            .map(|p| StaleProcess {
                pid: p.pid,
                command: p.command,
                unit: p.unit,
                deleted: p.deleted,
            })
            .collect(),
        dpkg_audit: facts.dpkg_audit.map(|audit| {
            audit
                .problems
                .into_iter()
                .map(|p| AuditProblem {
                    summary: p.summary,
                    packages: p.packages,
                })
                .collect()
        }),
        problems: facts.problems,
    }
}

/// `restart_services`: restarts `units` and reads the facts again.
pub fn restart_services(runner: &dyn Runner, units: &[String]) -> CommandResult {
    let outcome = restart::restart_units(runner, units);
    let status = collect_status(runner);
    let (command_status, message, restarted) = match outcome {
        Ok(_) => (
            CommandStatus::Succeeded,
            format!("restarted {}", units.join(", ")),
            units.to_vec(),
        ),
        Err(error) => (CommandStatus::Failed, format!("{error:#}"), Vec::new()),
    };
    result(command_status, message, restarted, status)
}

/// `reboot`, first half: the facts with the boot mark the reboot must change. The reboot itself
/// ([`request_reboot`]) is asked for once this result is journaled and reported.
pub fn before_reboot(runner: &dyn Runner) -> CommandResult {
    let status = collect_status(runner);
    if status.boot.is_none() {
        let message = format!(
            "cannot read the boot id, so a reboot could not be proven: {}",
            status.problems.join("; ")
        );
        return result(CommandStatus::Failed, message, Vec::new(), status);
    }
    let message = "reboot requested; the controller waits for a new boot".to_owned();
    result(CommandStatus::Succeeded, message, Vec::new(), status)
}

/// `reboot`, second half: runs the reboot command. Its failure is logged: the controller's
/// reboot timeout then fails the host.
pub fn request_reboot(runner: &dyn Runner, argv: &[String]) {
    match restart::reboot(runner, argv) {
        Ok(_) => tracing::warn!(command = argv.join(" "), "reboot requested"),
        Err(error) => tracing::error!(error = format!("{error:#}"), "the reboot command failed"),
    }
}

fn result(
    status: CommandStatus,
    message: String,
    restarted: Vec<String>,
    after: RestartStatus,
) -> CommandResult {
    CommandResult {
        checks: None,
        restart: Some(Box::new(RestartReport {
            restarted,
            status: after,
        })),
        ..crate::runner::done(status, message)
    }
}
