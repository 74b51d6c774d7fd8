//! Which changes a live plan makes on one host (pure): the upgrades the host's package manager
//! offers (its stored `pending_updates`) chosen by the request's `updates`, plus what the
//! dependency simulation for exactly those targets says they pull in; and, for a stored plan,
//! whether the live versions still match what it was built on.

use std::collections::{BTreeMap, BTreeSet};

use pw_inventory::apt::{Action, AptOrigin, Simulation};
use pw_model::PackageName;
use pw_protocol::{PackagePin, UpdateKind, UpdateSelector};
use pw_store::PendingRow;
use serde::{Deserialize, Serialize};

/// One change a plan makes on a host, with the live versions it was planned on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Basis {
    pub package: String,
    /// Installed when planned (`None`: a new package pulled in).
    pub from: Option<String>,
    /// The version the package manager offered.
    pub to: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suite: Option<String>,
    /// `security`, `update`, `requested`, `pulled_in` or `downgrade`.
    pub reason: String,
}

impl Basis {
    /// A target the request chose (not pulled in by another).
    pub fn is_chosen(&self) -> bool {
        self.reason != "pulled_in"
    }
}

/// Whether an offered upgrade comes from a security archive (pw-inventory's one rule).
pub fn is_security(update: &PendingRow) -> bool {
    AptOrigin {
        label: update.origin.clone(),
        release: String::new(),
        suite: update.suite.clone(),
    }
    .is_security()
}

/// Checks the request's package names (`updates.packages[i]: …`).
pub fn check_selector(selector: &UpdateSelector) -> Result<(), String> {
    if let UpdateSelector::Downgrade { downgrade, archive } = selector {
        return super::downgrade::check_request(downgrade, archive.as_deref());
    }
    if let UpdateSelector::Packages { packages } = selector {
        if packages.is_empty() {
            return Err("updates.packages: name at least one package".into());
        }
        for (index, name) in packages.iter().enumerate() {
            PackageName::parse(name).map_err(|e| format!("updates.packages[{index}]: {e}"))?;
        }
    }
    Ok(())
}

/// The offered upgrades the selector chooses on one host, sorted by package.
pub fn chosen(pending: &[PendingRow], selector: &UpdateSelector) -> Vec<Basis> {
    let mut out: Vec<Basis> = pending
        .iter()
        .filter_map(|update| {
            let security = is_security(update);
            let reason = match selector {
                UpdateSelector::Kind(UpdateKind::Security) if security => "security",
                UpdateSelector::Kind(UpdateKind::Security) => return None,
                UpdateSelector::Kind(UpdateKind::All) if security => "security",
                UpdateSelector::Kind(UpdateKind::All) => "update",
                UpdateSelector::Packages { packages } if packages.contains(&update.package) => {
                    "requested"
                }
                UpdateSelector::Packages { .. } | UpdateSelector::Downgrade { .. } => {
                    return None;
                }
            };
            Some(Basis {
                package: update.package.clone(),
                from: Some(update.from_version.clone()),
                to: update.to_version.clone(),
                suite: Some(update.suite.clone()),
                reason: reason.to_owned(),
            })
        })
        .collect();
    out.sort_by(|a, b| a.package.cmp(&b.package));
    out.dedup_by(|a, b| a.package == b.package);
    out
}

/// What the simulation for exactly the chosen targets installs besides them (dependencies the
/// upgrade pulls in), added as `pulled_in` changes.
pub fn pulled_in(chosen: &[Basis], simulation: &Simulation) -> Vec<Basis> {
    let named: BTreeSet<&str> = chosen.iter().map(|b| b.package.as_str()).collect();
    let mut out = Vec::new();
    for action in &simulation.actions {
        if let Action::Install {
            package,
            version,
            from,
            ..
        } = action
            && !named.contains(package.as_str())
        {
            out.push(Basis {
                package: package.clone(),
                from: from.clone(),
                to: version.clone(),
                suite: None,
                reason: "pulled_in".into(),
            });
        }
    }
    out.sort_by(|a, b| a.package.cmp(&b.package));
    out.dedup_by(|a, b| a.package == b.package);
    out
}

/// The chosen targets as the agent's pins (the evidence request and its lookup key).
pub fn pins(basis: &[Basis]) -> Vec<PackagePin> {
    basis
        .iter()
        .filter(|b| b.is_chosen())
        .map(|b| PackagePin {
            name: b.package.clone(),
            version: b.to.clone(),
        })
        .collect()
}

/// Why a host's live versions no longer match the plan's basis, one sentence per change
/// (empty: they match), from the host's current offer (`pending`, as its agent last reported
/// it): each chosen upgrade must still be offered from the same installed version to the same
/// version.
pub fn drift(hostname: &str, basis: &[Basis], pending: &[PendingRow]) -> Vec<String> {
    let offered: BTreeMap<&str, &PendingRow> =
        pending.iter().map(|p| (p.package.as_str(), p)).collect();
    let mut out = Vec::new();
    for change in basis.iter().filter(|b| b.is_chosen()) {
        match offered.get(change.package.as_str()) {
            None => out.push(format!(
                "{hostname}: {} {} is no longer offered as an upgrade (installed since, removed, \
                 or withdrawn)",
                change.package, change.to
            )),
            Some(now) if Some(now.from_version.as_str()) != change.from.as_deref() => {
                out.push(format!(
                    "{hostname}: {} is installed at {} now, the plan was built on {}",
                    change.package,
                    now.from_version,
                    change.from.as_deref().unwrap_or("none")
                ));
            }
            Some(now) if now.to_version != change.to => out.push(format!(
                "{hostname}: {} is offered at {} now, the plan installs {}",
                change.package, now.to_version, change.to
            )),
            Some(_) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(package: &str, from: &str, to: &str, origin: &str, suite: &str) -> PendingRow {
        PendingRow {
            package: package.into(),
            arch: "amd64".into(),
            from_version: from.into(),
            to_version: to.into(),
            origin: origin.into(),
            suite: suite.into(),
            cves: None,
        }
    }

    fn offer() -> Vec<PendingRow> {
        vec![
            pending(
                "libssl3",
                "3.0.15-1~deb12u1",
                "3.0.17-1~deb12u2",
                "Debian-Security",
                "stable-security",
            ),
            pending(
                "tzdata",
                "2024a-0+deb12u1",
                "2025b-0+deb12u1",
                "Debian",
                "stable",
            ),
            pending(
                "openssl",
                "3.0.15-1~deb12u1",
                "3.0.17-1~deb12u2",
                "Debian",
                "bookworm-security",
            ),
        ]
    }

    fn names(basis: &[Basis]) -> Vec<(&str, &str)> {
        basis
            .iter()
            .map(|b| (b.package.as_str(), b.reason.as_str()))
            .collect()
    }

    #[test]
    fn security_takes_security_archives_only_and_all_takes_every_offer() {
        let security = chosen(&offer(), &UpdateSelector::Kind(UpdateKind::Security));
        assert_eq!(
            names(&security),
            [("libssl3", "security"), ("openssl", "security")]
        );
        assert_eq!(security[0].from.as_deref(), Some("3.0.15-1~deb12u1"));
        assert_eq!(security[0].to, "3.0.17-1~deb12u2");
        let all = chosen(&offer(), &UpdateSelector::Kind(UpdateKind::All));
        assert_eq!(
            names(&all),
            [
                ("libssl3", "security"),
                ("openssl", "security"),
                ("tzdata", "update")
            ]
        );
        let named = UpdateSelector::Packages {
            packages: vec!["tzdata".into(), "absent".into()],
        };
        assert_eq!(names(&chosen(&offer(), &named)), [("tzdata", "requested")]);
    }

    #[test]
    fn bad_package_names_are_refused_with_their_position() {
        let bad = UpdateSelector::Packages {
            packages: vec!["tzdata".into(), "<script>".into()],
        };
        let error = check_selector(&bad).unwrap_err();
        assert!(error.starts_with("updates.packages[1]: "), "{error}");
        let empty = UpdateSelector::Packages { packages: vec![] };
        assert!(check_selector(&empty).is_err());
        assert!(check_selector(&UpdateSelector::Kind(UpdateKind::All)).is_ok());
    }

    #[test]
    fn the_simulation_adds_what_the_targets_pull_in() {
        let chosen = chosen(&offer(), &UpdateSelector::Kind(UpdateKind::Security));
        let simulation = Simulation::parse(
            "Inst libssl3 [3.0.15-1~deb12u1] (3.0.17-1~deb12u2 Debian-Security:12/stable-security [amd64])\n\
             Inst openssl [3.0.15-1~deb12u1] (3.0.17-1~deb12u2 Debian-Security:12/stable-security [amd64])\n\
             Inst libfoo1 (1.2-1 Debian:12/stable [amd64])\n\
             Conf libssl3 (3.0.17-1~deb12u2 Debian-Security:12/stable-security [amd64])\n",
        );
        let extra = pulled_in(&chosen, &simulation);
        assert_eq!(names(&extra), [("libfoo1", "pulled_in")]);
        assert_eq!(extra[0].from, None);
        let mut all = chosen.clone();
        all.extend(extra);
        assert_eq!(pins(&all).len(), 2, "pulled-in packages are not pinned");
    }

    #[test]
    fn drift_names_every_version_that_moved() {
        let basis = chosen(&offer(), &UpdateSelector::Kind(UpdateKind::Security));
        assert!(drift("web1", &basis, &offer()).is_empty());

        let mut moved = offer();
        moved[0].to_version = "3.0.18-1~deb12u1".into();
        moved[2].from_version = "3.0.16-1~deb12u1".into();
        let problems = drift("web1", &basis, &moved);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("libssl3 is offered at 3.0.18-1~deb12u1 now"));
        assert!(problems[1].contains("openssl is installed at 3.0.16-1~deb12u1 now"));

        let gone: Vec<PendingRow> = offer().into_iter().skip(1).collect();
        let problems = drift("web1", &basis, &gone);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("libssl3 3.0.17-1~deb12u2 is no longer offered"));
    }
}
