//! Downgrade plans (issue 13, docs/downgrade.md): `{"updates": {"downgrade": {PKG: VERSION}}}`.
//! Each host's changes come from its reported inventory (the package must be installed at a
//! higher version), and the advisories each target brings back are computed by pw-scan's
//! `downgrade_check` — the same check as `patchwarden downgrade check` — against the
//! controller's feeds (or the embedded snapshot), ranked with the host's priority policy. The
//! T0/T1 ones become the approval gate `reintroduced`: approving then needs an explicit risk
//! acceptance (pw-planner's transition).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use jiff::Timestamp;
use pw_model::{InstalledPackage, OsRelease, PackageName, Tier};
use pw_protocol::PlanReintroduced;
use pw_scan::{DowngradeTarget, Intelligence, ScanContext};
use pw_store::{HostRow, Store};

use super::select::Basis;
use crate::Refusal;

/// The request's own checks: at least one package, valid names, non-empty versions (each is
/// validated against the host's version scheme when the plan is built), and a local archive
/// that is a plain absolute directory path (pw-model's rule; the agent checks it again).
pub fn check_request(
    downgrade: &BTreeMap<String, String>,
    archive: Option<&str>,
) -> Result<(), String> {
    if let Some(problem) = archive.and_then(pw_model::archive_path_problem) {
        return Err(format!("updates.archive: {problem}"));
    }
    if downgrade.is_empty() {
        return Err("updates.downgrade: name at least one PACKAGE: VERSION".into());
    }
    for (name, version) in downgrade {
        PackageName::parse(name).map_err(|e| format!("updates.downgrade.{name}: {e}"))?;
        if version.trim().is_empty() {
            return Err(format!("updates.downgrade.{name}: give the exact version"));
        }
    }
    Ok(())
}

/// Loaded intelligence per release, for the hosts of one plan.
#[derive(Default)]
pub struct Intel {
    loaded: HashMap<OsRelease, Arc<Intelligence>>,
}

impl Intel {
    async fn for_release(
        &mut self,
        store: &Store,
        os: &OsRelease,
    ) -> anyhow::Result<Arc<Intelligence>> {
        if let Some(found) = self.loaded.get(os) {
            return Ok(found.clone());
        }
        let stored = pw_feeds::load_from_open_store(store, os).await?;
        let owned = os.clone();
        let built = tokio::task::spawn_blocking(move || -> anyhow::Result<Intelligence> {
            let mut parsed = match stored {
                Some(parsed) => parsed,
                None => pw_feeds::snapshot_for(&owned)?,
            };
            let advisories = parsed.advisories();
            Ok(Intelligence::new(
                advisories,
                parsed.kev.as_ref(),
                &parsed.epss,
            ))
        })
        .await
        .map_err(|e| anyhow::anyhow!("loading advisories panicked: {e}"))??;
        let built = Arc::new(built);
        self.loaded.insert(os.clone(), built.clone());
        Ok(built)
    }
}

/// One host's downgrade: its changes and the advisories they bring back.
pub async fn plan_host(
    store: &Store,
    intel: &mut Intel,
    host: &HostRow,
    downgrade: &BTreeMap<String, String>,
    now: Timestamp,
) -> Result<(Vec<Basis>, Vec<PlanReintroduced>), Refusal> {
    let name = &host.hostname;
    let os: OsRelease = host
        .os
        .as_deref()
        .unwrap_or_default()
        .parse()
        .map_err(|e| Refusal::NothingToPlan(format!("host {name}: unknown release: {e}")))?;
    let Some(inventory) = store.inventory(&host.id).await? else {
        return Err(Refusal::NothingToPlan(format!(
            "host {name} ({}) has not reported its installed packages; nothing can be downgraded",
            host.id
        )));
    };
    let packages: Vec<InstalledPackage> = inventory.packages;
    let scheme = os.scheme();
    let mut targets = Vec::new();
    for (package, version) in downgrade {
        let binary = PackageName::parse(package)
            .map_err(|e| Refusal::InvalidRequest(format!("updates.downgrade.{package}: {e}")))?;
        targets.push(
            DowngradeTarget::new(binary, version, scheme).map_err(|e| {
                Refusal::InvalidRequest(format!("updates.downgrade.{package}: {e}"))
            })?,
        );
    }
    let intelligence = intel.for_release(store, &os).await?;
    let (policy, group) = crate::fleet::ranking_policy(store, &host.id, now).await?;
    let context = ScanContext {
        policy: &policy,
        group: group.as_deref(),
        first_seen: None,
        now,
    };
    let mut matcher = intelligence.matcher(&os, false);
    let check = intelligence
        .downgrade_check(&mut matcher, scheme, &packages, &targets, &context)
        .map_err(|errors| {
            let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
            Refusal::InvalidRequest(format!("host {name}: {}", list.join("; ")))
        })?;
    let basis = check
        .changes
        .iter()
        .map(|c| Basis {
            package: c.binary.clone(),
            from: Some(c.installed.clone()),
            to: c.target.clone(),
            suite: None,
            reason: "downgrade".into(),
        })
        .collect::<Vec<_>>();
    let reintroduced = check
        .reintroduced
        .into_iter()
        .map(|r| PlanReintroduced {
            host: host.id.clone(),
            hostname: host.hostname.clone(),
            binary: r.binary,
            installed: r.installed,
            target: r.target,
            package: r.package,
            package_version: r.package_version,
            advisory: r.advisory,
            aliases: r.aliases,
            tier: r.tier.to_string(),
            fixed: r.fixed,
        })
        .collect();
    Ok((basis, reintroduced))
}

/// The gate's list: the T0/T1 advisories brought back, `hostname: binary target advisory (T1)`.
pub fn gate(reintroduced: &[PlanReintroduced]) -> Vec<String> {
    reintroduced
        .iter()
        .filter(|r| r.tier.parse::<Tier>().is_ok_and(|tier| tier <= Tier::T1))
        .map(|r| {
            format!(
                "{}: {} {} {} ({})",
                r.hostname, r.binary, r.target, r.advisory, r.tier
            )
        })
        .collect()
}

/// Why a host's installed versions no longer match a downgrade's basis (empty: they do).
pub fn drift(hostname: &str, basis: &[Basis], packages: &[InstalledPackage]) -> Vec<String> {
    basis
        .iter()
        .filter_map(|change| {
            let now = packages.iter().find(|p| p.name == change.package);
            match (now, &change.from) {
                (None, _) => Some(format!(
                    "{hostname}: {} is no longer installed",
                    change.package
                )),
                (Some(p), Some(from)) if p.version != *from => Some(format!(
                    "{hostname}: {} is installed at {} now, the plan was built on {from}",
                    change.package, p.version
                )),
                _ => None,
            }
        })
        .collect()
}
