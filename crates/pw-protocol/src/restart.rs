//! "Patched means patched" (DESIGN.md §9.5): what a host still needs after its changes, as its
//! agent found it — sent with every inventory and with the guard's report of a change — and the
//! two commands that clear it (`restart_services`, `reboot`).

use jiff::Timestamp;

/// Which boot the host is in: the kernel's boot id (`/proc/sys/kernel/random/boot_id`) and the
/// start of PID 1 in clock ticks after boot (`/proc/1/stat`). A reboot changes the boot id; in a
/// container, which shares its host's kernel, a container restart changes only `init_started`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct BootMark {
    pub boot_id: String,
    pub init_started: u64,
}

/// A process that still runs replaced code.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StaleProcess {
    pub pid: u32,
    pub command: String,
    /// Its systemd service unit (`nginx.service`); `None` outside one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Deleted libraries (or executable) it maps.
    pub deleted: Vec<String>,
}

/// The newest installed kernel image.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InstalledKernel {
    pub package: String,
    pub version: String,
    /// The release it runs as (`uname -r`).
    pub release: String,
}

/// One `dpkg --audit` problem.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuditProblem {
    pub summary: String,
    pub packages: Vec<String>,
}

/// What the host still needs, as facts; [`RestartStatus::state`] says what they mean.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RestartStatus {
    pub collected_at: Timestamp,
    /// `None` when it could not be read (see `problems`).
    #[serde(default)]
    pub boot: Option<BootMark>,
    /// `uname -r`.
    #[serde(default)]
    pub running_kernel: Option<String>,
    /// `None`: no kernel package installed (a container) or not read.
    #[serde(default)]
    pub newest_kernel: Option<InstalledKernel>,
    /// `/run/reboot-required` exists.
    #[serde(default)]
    pub reboot_flag: bool,
    /// `/run/reboot-required.pkgs`: the packages that asked.
    #[serde(default)]
    pub reboot_flag_packages: Vec<String>,
    #[serde(default)]
    pub stale_processes: Vec<StaleProcess>,
    /// `dpkg --audit`; `None` when not run.
    #[serde(default)]
    pub dpkg_audit: Option<Vec<AuditProblem>>,
    /// What could not be read.
    #[serde(default)]
    pub problems: Vec<String>,
}

/// What [`RestartStatus`] means: `reboot` and `restart` are `required` or `not_required`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RestartState {
    /// `required` / `not_required`.
    pub reboot: String,
    /// Why: the newer kernel, the reboot flag with the packages that set it.
    pub reboot_reasons: Vec<String>,
    /// `required` / `not_required`: a service unit runs replaced code.
    pub restart: String,
    /// The units to restart, sorted.
    pub units: Vec<String>,
    /// Processes running replaced code outside any service unit (`sleep[4242]`): listed, not
    /// restarted by patchwarden.
    pub processes_without_unit: Vec<String>,
    /// `dpkg --audit` found nothing (`None`: not run).
    pub dpkg_clean: Option<bool>,
}

impl RestartStatus {
    /// Why the host needs a reboot; empty when it does not.
    pub fn reboot_reasons(&self) -> Vec<String> {
        let mut reasons = Vec::new();
        if let (Some(running), Some(newest)) = (&self.running_kernel, &self.newest_kernel)
            && newest.release != *running
        {
            reasons.push(format!(
                "kernel {} ({} {}) is installed, {running} runs",
                newest.release, newest.package, newest.version
            ));
        }
        if self.reboot_flag {
            let by = if self.reboot_flag_packages.is_empty() {
                String::new()
            } else {
                format!(" (by {})", self.reboot_flag_packages.join(", "))
            };
            reasons.push(format!("/run/reboot-required{by}"));
        }
        reasons
    }

    /// The service units running replaced code, sorted, once each.
    pub fn units_to_restart(&self) -> Vec<String> {
        let mut units: Vec<String> = self
            .stale_processes
            .iter()
            .filter_map(|p| p.unit.clone())
            .collect();
        units.sort();
        units.dedup();
        units
    }

    /// The meaning of the facts.
    pub fn state(&self) -> RestartState {
        let required = |yes: bool| if yes { "required" } else { "not_required" }.to_owned();
        let reboot_reasons = self.reboot_reasons();
        let units = self.units_to_restart();
        RestartState {
            reboot: required(!reboot_reasons.is_empty()),
            reboot_reasons,
            restart: required(!units.is_empty()),
            units,
            processes_without_unit: self
                .stale_processes
                .iter()
                .filter(|p| p.unit.is_none())
                .map(|p| format!("{}[{}]", p.command, p.pid))
                .collect(),
            dpkg_clean: self.dpkg_audit.as_ref().map(Vec::is_empty),
        }
    }
}

/// What the agent did with `restart_services` or `reboot`, sent with the command result.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RestartReport {
    /// The units restarted (`restart_services`), or none (`reboot`).
    pub restarted: Vec<String>,
    /// `restart_services`: what the host needs after the restart. `reboot`: before the reboot
    /// was asked for (its boot mark is the one the reboot must change).
    pub status: RestartStatus,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status() -> RestartStatus {
        RestartStatus {
            collected_at: "2026-12-04T03:00:00Z".parse().unwrap(),
            boot: None,
            running_kernel: Some("6.1.0-50-amd64".into()),
            newest_kernel: Some(InstalledKernel {
                package: "linux-image-6.1.0-57-amd64".into(),
                version: "6.1.192-3".into(),
                release: "6.1.0-57-amd64".into(),
            }),
            reboot_flag: true,
            reboot_flag_packages: vec!["linux-image-6.1.0-57-amd64".into()],
            stale_processes: vec![
                StaleProcess {
                    pid: 2,
                    command: "nginx".into(),
                    unit: Some("nginx.service".into()),
                    deleted: vec!["/usr/lib/x86_64-linux-gnu/libssl.so.3".into()],
                },
                StaleProcess {
                    pid: 3,
                    command: "nginx".into(),
                    unit: Some("nginx.service".into()),
                    deleted: vec!["/usr/lib/x86_64-linux-gnu/libssl.so.3".into()],
                },
                StaleProcess {
                    pid: 9,
                    command: "sleep".into(),
                    unit: None,
                    deleted: vec!["/tmp/x.so".into()],
                },
            ],
            dpkg_audit: Some(vec![]),
            problems: vec![],
        }
    }

    #[test]
    fn the_state_says_what_the_facts_mean() {
        let state = status().state();
        assert_eq!(state.reboot, "required");
        assert_eq!(
            state.reboot_reasons,
            [
                "kernel 6.1.0-57-amd64 (linux-image-6.1.0-57-amd64 6.1.192-3) is installed, 6.1.0-50-amd64 runs",
                "/run/reboot-required (by linux-image-6.1.0-57-amd64)"
            ]
        );
        assert_eq!(
            (state.restart.as_str(), state.units.clone()),
            ("required", vec!["nginx.service".to_owned()])
        );
        assert_eq!(state.processes_without_unit, ["sleep[9]"]);
        assert_eq!(state.dpkg_clean, Some(true));
        let mut clean = status();
        clean.running_kernel = Some("6.1.0-57-amd64".into());
        clean.reboot_flag = false;
        clean.stale_processes.clear();
        let state = clean.state();
        assert_eq!(
            (state.reboot.as_str(), state.restart.as_str()),
            ("not_required", "not_required")
        );
        assert!(state.reboot_reasons.is_empty());
    }

    #[test]
    fn older_agents_fields_default() {
        let status: RestartStatus =
            serde_json::from_str(r#"{"collected_at":"2026-12-04T03:00:00Z"}"#).unwrap();
        assert_eq!(status.state().reboot, "not_required");
        assert_eq!(status.state().dpkg_clean, None);
    }
}
