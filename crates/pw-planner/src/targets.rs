//! Exact target versions per host and the time a host change is expected to take.
//!
//! A host's targets come from its findings: for each binary package, the highest `fixed` version
//! among the in-scope findings (so one install fixes all of them), unless the fleet file names an
//! explicit version. Findings without a fix are not planned (they are counted in the summary).
//! Versions are compared with the host's package manager rules (pw-version).

use pw_model::{Finding, OsRelease, Tier};
use pw_version::Scheme;
use serde::{Deserialize, Serialize};

use crate::fleet::{Host, Scope};
use crate::knowledge;
use crate::policy::Policy;

/// One package change on one host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackageChange {
    /// The binary package.
    pub package: String,
    /// The installed version, recorded for the rollback; `None` when only an explicit target
    /// names the package (the agent records it in its `protecting` step).
    pub from: Option<String>,
    /// The exact target version.
    pub to: String,
    /// Advisories fixed by this change, sorted.
    pub advisories: Vec<String>,
    /// The most urgent tier among them (`None` for explicit targets without findings).
    pub tier: Option<Tier>,
    pub reboot: bool,
    pub restarts: Vec<String>,
}

/// Estimated durations of one host change, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct HostEstimate {
    pub apply_seconds: u64,
    pub rollback_seconds: u64,
    /// Time the host's services are expected to be unavailable (restarts and reboot).
    pub downtime_seconds: u64,
    pub reboot: bool,
}

/// Computes a host's package changes; problems (bad versions, bad OS) are returned as text.
pub fn host_changes(
    host: &Host,
    scope: &Scope,
    policy: &Policy,
) -> Result<Vec<PackageChange>, String> {
    let os = OsRelease::parse(&host.os).map_err(|e| e.to_string())?;
    changes_with_scheme(host, os.scheme(), scope, policy)
}

/// [`host_changes`] for a host whose OS was already parsed (plans cache it per OS string).
pub fn changes_with_scheme(
    host: &Host,
    scheme: Scheme,
    scope: &Scope,
    policy: &Policy,
) -> Result<Vec<PackageChange>, String> {
    // Findings of the host grouped by binary package: a sort of a few references, no map.
    let mut relevant: Vec<&Finding> = host
        .findings
        .iter()
        .filter(|f| f.fixed.is_some() && scope.admits_tier(f.tier))
        .collect();
    relevant.sort_by(|a, b| a.binary.cmp(&b.binary));
    let mut changes = Vec::new();
    for findings in relevant.chunk_by(|a, b| a.binary == b.binary) {
        let package = findings[0].binary.as_str();
        let mut target: Option<&str> = None;
        for finding in findings {
            let Some(fixed) = finding.fixed.as_deref() else {
                continue;
            };
            scheme
                .validate(fixed)
                .map_err(|e| format!("finding {} on {package}: {e}", finding.advisory))?;
            if target.is_none_or(|t| scheme.compare_unchecked(fixed, t).is_gt()) {
                target = Some(fixed);
            }
        }
        let installed = findings[0].installed.as_str();
        let explicit = host.targets.get(package).map(String::as_str);
        let Some(to) = explicit.or(target) else {
            continue;
        };
        if let Some(explicit) = explicit {
            scheme
                .validate(explicit)
                .map_err(|e| format!("target of {package}: {e}"))?;
        }
        if scheme.validate(installed).is_ok() && scheme.compare_unchecked(to, installed).is_eq() {
            continue;
        }
        let mut advisories: Vec<String> = Vec::with_capacity(findings.len());
        for finding in findings {
            if !advisories.contains(&finding.advisory) {
                advisories.push(finding.advisory.clone());
            }
        }
        advisories.sort();
        changes.push(change(
            policy,
            package,
            Some(installed.to_owned()),
            to,
            advisories,
            findings.iter().map(|f| f.tier).min(),
        ));
    }
    for (package, version) in &host.targets {
        if relevant.iter().any(|f| f.binary == *package) {
            continue;
        }
        scheme
            .validate(version)
            .map_err(|e| format!("target of {package}: {e}"))?;
        let from = host.installed.get(package).cloned();
        changes.push(change(policy, package, from, version, Vec::new(), None));
    }
    changes.sort_by(|a, b| a.package.cmp(&b.package));
    Ok(changes)
}

fn change(
    policy: &Policy,
    package: &str,
    from: Option<String>,
    to: &str,
    advisories: Vec<String>,
    tier: Option<Tier>,
) -> PackageChange {
    let overrides = policy.package_estimate(package);
    PackageChange {
        package: package.to_owned(),
        from,
        to: to.to_owned(),
        advisories,
        tier,
        reboot: overrides
            .and_then(|o| o.reboot)
            .unwrap_or_else(|| knowledge::needs_reboot(package)),
        restarts: overrides
            .and_then(|o| o.restarts.clone())
            .unwrap_or_else(|| knowledge::restarts(package)),
    }
}

/// The estimate of a change to explicit `(package, version)` targets without findings (any
/// rollout's hosts, for the controller's window gate): [`estimate`] over them.
pub fn estimate_targets<'a>(
    targets: impl IntoIterator<Item = (&'a str, &'a str)>,
    policy: &Policy,
) -> HostEstimate {
    let changes: Vec<PackageChange> = targets
        .into_iter()
        .map(|(package, to)| change(policy, package, None, to, Vec::new(), None))
        .collect();
    estimate(&changes, policy)
}

/// Estimates a host change: overhead + per-package apply (rollback) times + one reboot when any
/// package needs it. Downtime counts the apply time of packages that restart services plus the
/// reboot.
pub fn estimate(changes: &[PackageChange], policy: &Policy) -> HostEstimate {
    let estimates = &policy.estimates;
    let mut apply = estimates.host_overhead_seconds;
    let mut rollback = estimates.host_overhead_seconds;
    let mut downtime = 0u64;
    let mut reboot = false;
    for change in changes {
        let overrides = policy.package_estimate(&change.package);
        let package_apply = overrides
            .and_then(|o| o.apply_seconds)
            .unwrap_or(estimates.apply_seconds);
        apply = apply.saturating_add(package_apply);
        rollback = rollback.saturating_add(
            overrides
                .and_then(|o| o.rollback_seconds)
                .unwrap_or(estimates.rollback_seconds),
        );
        if !change.restarts.is_empty() {
            downtime = downtime.saturating_add(package_apply);
        }
        reboot |= change.reboot;
    }
    if reboot {
        apply = apply.saturating_add(estimates.reboot_seconds);
        rollback = rollback.saturating_add(estimates.reboot_seconds);
        downtime = downtime.saturating_add(estimates.reboot_seconds);
    }
    HostEstimate {
        apply_seconds: apply,
        rollback_seconds: rollback,
        downtime_seconds: downtime,
        reboot,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn finding(
        binary: &str,
        installed: &str,
        fixed: Option<&str>,
        tier: Tier,
        id: &str,
    ) -> Finding {
        Finding {
            binary: binary.into(),
            installed: installed.into(),
            package: binary.into(),
            package_version: installed.into(),
            advisory: id.into(),
            aliases: vec![],
            fixed: fixed.map(Into::into),
            tier,
            deadline: None,
            reasons: vec![],
            summary: String::new(),
            published: None,
            cvss: None,
            epss: None,
            kev: false,
        }
    }

    fn host(findings: Vec<Finding>) -> Host {
        Host {
            id: "h1".into(),
            hostname: "h1".into(),
            group: "g".into(),
            environment: None,
            labels: BTreeMap::new(),
            os: "debian:12".into(),
            findings,
            targets: BTreeMap::new(),
            installed: BTreeMap::new(),
        }
    }

    fn policy() -> Policy {
        crate::policy::parse_policy(
            "[estimates]\napply = \"2m\"\nrollback = \"3m\"\nreboot = \"10m\"\nhost_overhead = \"1m\"\n[estimates.packages.openssl]\napply = \"5m\"\n[groups.g]\nenvironment = \"staging\"\nowners = [\"o\"]\nwindows = [{}]\n",
        )
        .unwrap()
    }

    #[test]
    fn takes_the_highest_fix_and_skips_unfixed() {
        let h = host(vec![
            finding(
                "openssl",
                "3.0.11-1~deb12u1",
                Some("3.0.13-1~deb12u1"),
                Tier::T1,
                "DSA-2",
            ),
            finding(
                "openssl",
                "3.0.11-1~deb12u1",
                Some("3.0.11-1~deb12u2"),
                Tier::T0,
                "DSA-1",
            ),
            finding("bash", "5.2.15-2+b8", None, Tier::T3, "CVE-x"),
        ]);
        let changes = host_changes(&h, &Scope::default(), &policy()).unwrap();
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].to, "3.0.13-1~deb12u1");
        assert_eq!(changes[0].advisories, ["DSA-1", "DSA-2"]);
        assert_eq!(changes[0].tier, Some(Tier::T0));
        let scope = Scope {
            max_tier: Some(Tier::T0),
            ..Scope::default()
        };
        assert_eq!(
            host_changes(&h, &scope, &policy()).unwrap()[0].to,
            "3.0.11-1~deb12u2"
        );
    }

    #[test]
    fn explicit_targets_override_and_add() {
        let mut h = host(vec![finding(
            "openssl",
            "3.0.11-1~deb12u1",
            Some("3.0.13-1~deb12u1"),
            Tier::T1,
            "DSA-2",
        )]);
        h.targets
            .insert("openssl".into(), "3.0.17-1~deb12u2".into());
        h.targets
            .insert("linux-image-amd64".into(), "6.1.140-1".into());
        let changes = host_changes(&h, &Scope::default(), &policy()).unwrap();
        assert_eq!(changes[0].package, "linux-image-amd64");
        assert_eq!(
            (changes[0].from.as_deref(), changes[0].reboot),
            (None, true)
        );
        assert_eq!(changes[1].to, "3.0.17-1~deb12u2");
        let e = estimate(&changes, &policy());
        // overhead 1m + openssl 5m + kernel 2m + reboot 10m
        assert_eq!(e.apply_seconds, 60 + 300 + 120 + 600);
        assert_eq!(e.rollback_seconds, 60 + 180 + 180 + 600);
        assert_eq!(e.downtime_seconds, 600);
        assert!(e.reboot);
    }

    #[test]
    fn reports_bad_versions_and_os() {
        let h = host(vec![finding("a", "1.0", Some("1.0 beta"), Tier::T1, "X-1")]);
        assert!(
            host_changes(&h, &Scope::default(), &policy())
                .unwrap_err()
                .contains("X-1")
        );
        let mut h = host(vec![]);
        h.os = "windows:11".into();
        assert!(
            host_changes(&h, &Scope::default(), &policy())
                .unwrap_err()
                .contains("windows")
        );
    }
}
