//! The rules behind each of the five risks (docs/planning.md "Risk checklist"): which facts of
//! the evidence, policy and estimates make a risk ok, warn or block.

use std::collections::{BTreeMap, BTreeSet};

use super::{GroupView, Level, RiskFact, evidence_sets, fact, list};
use crate::duration::format_duration;
use crate::knowledge;
use crate::policy::Policy;

pub(super) fn compatibility(view: &GroupView<'_>, out: &mut Vec<RiskFact>) {
    let (sets, _) = evidence_sets(view);
    let mut unsimulated = 0usize;
    for host in &view.hosts {
        if host.evidence.and_then(|e| e.simulation.as_ref()).is_none() {
            unsimulated += 1;
        }
    }
    for (evidence, hosts) in &sets {
        let Some(simulation) = &evidence.simulation else {
            continue;
        };
        let scope = format!("{} host(s)", hosts.len());
        for error in &simulation.errors {
            fact(
                out,
                Level::Block,
                format!("apt-get -s refused ({scope}): {error}"),
            );
        }
        let removed = simulation.removed_packages();
        if !removed.is_empty() {
            fact(
                out,
                Level::Block,
                format!("the change removes {} ({scope})", list(&removed)),
            );
        }
        let installs = simulation.installs();
        let kernels: Vec<&str> = installs
            .keys()
            .copied()
            .filter(|p| knowledge::is_kernel(p))
            .collect();
        if !kernels.is_empty() {
            fact(
                out,
                Level::Warn,
                format!("kernel change: {} ({scope})", list(&kernels)),
            );
        }
        let new: Vec<&str> = simulation
            .new_packages()
            .into_iter()
            .filter(|p| !knowledge::is_kernel(p))
            .collect();
        if !new.is_empty() {
            fact(
                out,
                Level::Warn,
                format!(
                    "{} new package(s) installed: {} ({scope})",
                    new.len(),
                    list(&new)
                ),
            );
        }
        let planned: BTreeMap<&str, &str> = hosts
            .iter()
            .flat_map(|h| h.changes.iter())
            .map(|c| (c.package.as_str(), c.to.as_str()))
            .collect();
        let mut mismatched = Vec::new();
        for (package, version) in &planned {
            match installs.get(package) {
                Some(simulated) if simulated == version => {}
                Some(simulated) => {
                    mismatched.push(format!("{package} (plan {version}, apt {simulated})"))
                }
                None if simulation.errors.is_empty() => {
                    mismatched.push(format!("{package} (not in the simulation)"))
                }
                None => {}
            }
        }
        if !mismatched.is_empty() {
            fact(
                out,
                Level::Warn,
                format!("simulation differs from the plan: {}", list(&mismatched)),
            );
        }
        let extra: Vec<&str> = installs
            .keys()
            .copied()
            .filter(|p| {
                !planned.contains_key(p) && simulation.upgrades().iter().any(|(u, _, _)| u == p)
            })
            .collect();
        if !extra.is_empty() {
            fact(
                out,
                Level::Ok,
                format!("dependencies upgraded along: {}", list(&extra)),
            );
        }
        if simulation.errors.is_empty()
            && removed.is_empty()
            && kernels.is_empty()
            && new.is_empty()
        {
            fact(
                out,
                Level::Ok,
                format!(
                    "apt-get -s: {} upgrade(s), nothing removed or new ({scope})",
                    simulation.upgrades().len()
                ),
            );
        }
    }
    if unsimulated > 0 {
        let kernels: BTreeSet<&str> = view
            .hosts
            .iter()
            .filter(|h| h.evidence.and_then(|e| e.simulation.as_ref()).is_none())
            .flat_map(|h| h.changes.iter())
            .filter(|c| knowledge::is_kernel(&c.package))
            .map(|c| c.package.as_str())
            .collect();
        if !kernels.is_empty() {
            let kernels: Vec<&str> = kernels.into_iter().collect();
            fact(
                out,
                Level::Warn,
                format!("kernel change: {}", list(&kernels)),
            );
        }
        fact(
            out,
            Level::Warn,
            format!("no dependency simulation (apt-get -s install …) for {unsimulated} host(s)"),
        );
    }
}

pub(super) fn service(view: &GroupView<'_>, policy: &Policy, out: &mut Vec<RiskFact>) {
    let group = view.group;
    let rebooting: Vec<&str> = view
        .hosts
        .iter()
        .filter(|h| h.estimate.reboot)
        .map(|h| h.host.id.as_str())
        .collect();
    if !rebooting.is_empty() {
        let causes: BTreeSet<&str> = view
            .hosts
            .iter()
            .flat_map(|h| h.changes.iter())
            .filter(|c| c.reboot)
            .map(|c| c.package.as_str())
            .collect();
        let causes: Vec<&str> = causes.into_iter().collect();
        fact(
            out,
            Level::Warn,
            format!(
                "{} host(s) need a reboot (caused by {})",
                rebooting.len(),
                list(&causes)
            ),
        );
    }
    let services: BTreeSet<&str> = view
        .hosts
        .iter()
        .flat_map(|h| h.changes.iter())
        .flat_map(|c| c.restarts.iter())
        .map(String::as_str)
        .collect();
    if !services.is_empty() {
        let names: Vec<&str> = services.iter().copied().collect();
        fact(
            out,
            Level::Warn,
            format!("services restarted: {}", list(&names)),
        );
    }
    if let Some(rto) = group.rto_seconds {
        let over: Vec<String> = view
            .hosts
            .iter()
            .filter(|h| h.estimate.downtime_seconds > rto || h.estimate.rollback_seconds > rto)
            .map(|h| {
                format!(
                    "{} (downtime {}, rollback {})",
                    h.host.id,
                    format_duration(h.estimate.downtime_seconds),
                    format_duration(h.estimate.rollback_seconds)
                )
            })
            .collect();
        if over.is_empty() {
            fact(
                out,
                Level::Ok,
                format!(
                    "every host's downtime and rollback fit the RTO of {}",
                    format_duration(rto)
                ),
            );
        } else {
            fact(
                out,
                Level::Block,
                format!(
                    "{} host(s) exceed the RTO of {}: {}",
                    over.len(),
                    format_duration(rto),
                    list(&over)
                ),
            );
        }
    }
    if view.fleet_size == 1 && group.is_production() {
        fact(
            out,
            Level::Warn,
            "single point of failure: the group has one host, its service is down during the change",
        );
    } else if view.budget >= view.fleet_size && view.fleet_size > 1 {
        fact(
            out,
            Level::Warn,
            format!(
                "the disruption budget ({}) lets every host of the group change at once",
                view.budget
            ),
        );
    }
    if group.health_checks.is_empty() {
        fact(
            out,
            Level::Warn,
            "no health checks configured: failures are only detected by the package manager",
        );
    } else {
        let kinds: Vec<String> = group
            .health_checks
            .iter()
            .map(|name| match policy.health_checks.get(name) {
                Some(check) => format!("{name} ({:?})", check.kind).to_lowercase(),
                None => name.clone(),
            })
            .collect();
        fact(
            out,
            Level::Ok,
            format!("health checks gate every batch: {}", list(&kinds)),
        );
    }
    if rebooting.is_empty() && services.is_empty() {
        fact(out, Level::Ok, "no service restart or reboot expected");
    }
}

pub(super) fn performance(view: &GroupView<'_>, out: &mut Vec<RiskFact>) {
    match &view.group.benchmark_hook {
        Some(hook) => fact(
            out,
            Level::Ok,
            format!("before/after benchmark hook: {hook}"),
        ),
        None if view.group.is_production() => fact(
            out,
            Level::Warn,
            "no before/after benchmark hook: a performance regression would go unnoticed",
        ),
        None => fact(out, Level::Ok, "no benchmark hook (not a production group)"),
    }
}

pub(super) fn config(view: &GroupView<'_>, out: &mut Vec<RiskFact>) {
    let (sets, without) = evidence_sets(view);
    let mut unknown = without;
    for (evidence, hosts) in &sets {
        let Some(conffiles) = &evidence.conffiles else {
            unknown += hosts.len();
            continue;
        };
        let mut packages: BTreeSet<&str> = hosts
            .iter()
            .flat_map(|h| h.changes.iter())
            .map(|c| c.package.as_str())
            .collect();
        if let Some(simulation) = &evidence.simulation {
            packages.extend(simulation.upgrades().into_iter().map(|(p, _, _)| p));
        }
        let touched: Vec<(&str, &str)> = packages
            .iter()
            .flat_map(|p| {
                conffiles
                    .get(*p)
                    .into_iter()
                    .flatten()
                    .filter(|c| !c.obsolete)
                    .map(move |c| (*p, c.path.as_str()))
            })
            .collect();
        if touched.is_empty() {
            fact(
                out,
                Level::Ok,
                format!(
                    "no conffiles in the changed packages ({} host(s))",
                    hosts.len()
                ),
            );
            continue;
        }
        match &evidence.modified_conffiles {
            Some(modified) => {
                let local: Vec<String> = touched
                    .iter()
                    .filter(|(_, path)| modified.contains(*path))
                    .map(|(package, path)| format!("{path} ({package})"))
                    .collect();
                if local.is_empty() {
                    fact(
                        out,
                        Level::Ok,
                        format!(
                            "{} conffile(s) touched, none modified locally",
                            touched.len()
                        ),
                    );
                } else {
                    fact(
                        out,
                        Level::Warn,
                        format!(
                            "locally modified conffiles in changed packages: {}; apt keeps the local file (--force-confold) and leaves the new default as .dpkg-dist: review after the change",
                            list(&local)
                        ),
                    );
                }
            }
            None => {
                let paths: Vec<String> = touched
                    .iter()
                    .map(|(p, path)| format!("{path} ({p})"))
                    .collect();
                fact(
                    out,
                    Level::Warn,
                    format!(
                        "conffiles touched, local modifications unknown (no dpkg --verify): {}",
                        list(&paths)
                    ),
                );
            }
        }
    }
    if unknown > 0 {
        fact(
            out,
            Level::Warn,
            format!("conffiles unknown for {unknown} host(s) (no dpkg status supplied)"),
        );
    }
}

pub(super) fn rollback(view: &GroupView<'_>, policy: &Policy, out: &mut Vec<RiskFact>) {
    let group = view.group;
    let restoring = group.protection.iter().any(|p| p.restores_data());
    if let Some(rpo) = group.rpo_seconds
        && rpo < policy.protection_required_below_rpo_seconds
    {
        if restoring {
            fact(
                out,
                Level::Ok,
                format!(
                    "RPO {} requires a snapshot or backup: configured",
                    format_duration(rpo)
                ),
            );
        } else {
            fact(
                out,
                Level::Block,
                format!(
                    "RPO {} is below {}: a snapshot or backup step is mandatory but none is configured",
                    format_duration(rpo),
                    format_duration(policy.protection_required_below_rpo_seconds)
                ),
            );
        }
    }
    let mut gone: BTreeMap<String, usize> = BTreeMap::new();
    let mut unlisted: BTreeMap<String, usize> = BTreeMap::new();
    let mut unknown_hosts = 0usize;
    let mut unrecorded = 0usize;
    for host in &view.hosts {
        let availability = host.evidence.and_then(|e| e.availability.as_ref());
        for change in host.changes {
            let Some(from) = &change.from else {
                unrecorded += 1;
                continue;
            };
            match availability.map(|a| a.can_download(&change.package, from)) {
                None => {}
                Some(Some(true)) => {}
                Some(Some(false)) => {
                    *gone
                        .entry(format!("{} {from}", change.package))
                        .or_default() += 1
                }
                Some(None) => *unlisted.entry(change.package.clone()).or_default() += 1,
            }
        }
        if availability.is_none() {
            unknown_hosts += 1;
        }
    }
    if !gone.is_empty() {
        let items: Vec<String> = gone
            .iter()
            .map(|(what, hosts)| format!("{what} ({hosts} host(s))"))
            .collect();
        let (level, how) = if restoring {
            (Level::Warn, "rollback relies on the snapshot/backup")
        } else {
            (
                Level::Block,
                "no package-level rollback possible and no snapshot/backup configured",
            )
        };
        fact(
            out,
            level,
            format!(
                "installed versions no longer downloadable: {}; {how}",
                list(&items)
            ),
        );
    }
    if !unlisted.is_empty() {
        let items: Vec<&str> = unlisted.keys().map(String::as_str).collect();
        fact(
            out,
            Level::Warn,
            format!("not listed in the apt-cache output: {}", list(&items)),
        );
    }
    if unknown_hosts > 0 {
        fact(
            out,
            Level::Warn,
            format!(
                "availability of the installed versions unknown for {unknown_hosts} host(s) (no apt-cache policy/madison)"
            ),
        );
    } else if gone.is_empty() && unlisted.is_empty() && !view.hosts.is_empty() {
        fact(
            out,
            Level::Ok,
            "every installed version is still downloadable for a package-level rollback",
        );
    }
    if unrecorded > 0 {
        fact(
            out,
            Level::Warn,
            format!(
                "{unrecorded} change(s) without a recorded installed version (recorded by the agent before applying)"
            ),
        );
    }
    if group.is_production() {
        match &group.staging_counterpart {
            Some(counterpart) if view.staging_problems.is_empty() => {
                fact(
                    out,
                    Level::Ok,
                    format!("same versions passed on {counterpart}, rollback drilled"),
                );
            }
            Some(_) => {
                for problem in view.staging_problems {
                    fact(out, Level::Block, problem.clone());
                }
            }
            None => fact(
                out,
                Level::Warn,
                "no staging counterpart: rollback never drilled before production",
            ),
        }
    }
}
