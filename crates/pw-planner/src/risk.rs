//! The seed's five risks per group (compatibility, service interruption, performance, config
//! overwrite, rollback failure), each ok / warn / block with evidence. The rules are listed in
//! docs/planning.md ("Risk checklist"); the plan-level checklist is the worst level per risk with
//! the evidence of every group.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::fleet::{Evidence, Host};
use crate::policy::{GroupPolicy, Policy};
use crate::targets::{HostEstimate, PackageChange};
use rules::{compatibility, config, performance, rollback, service};

/// The seed's risks, in its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskKind {
    Compatibility,
    ServiceInterruption,
    Performance,
    ConfigOverwrite,
    RollbackFailure,
}

impl RiskKind {
    pub const ALL: [RiskKind; 5] = [
        RiskKind::Compatibility,
        RiskKind::ServiceInterruption,
        RiskKind::Performance,
        RiskKind::ConfigOverwrite,
        RiskKind::RollbackFailure,
    ];

    pub fn title(self) -> &'static str {
        match self {
            RiskKind::Compatibility => "Compatibility",
            RiskKind::ServiceInterruption => "Service interruption",
            RiskKind::Performance => "Performance",
            RiskKind::ConfigOverwrite => "Config overwrite",
            RiskKind::RollbackFailure => "Rollback failure",
        }
    }
}

/// How bad a risk is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Ok,
    Warn,
    Block,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Block => "block",
        }
    }
}

/// One line of the checklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskItem {
    pub risk: RiskKind,
    pub level: Level,
    /// Facts behind the level, worst first.
    pub evidence: Vec<RiskFact>,
}

/// One fact with the level it contributes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RiskFact {
    pub level: Level,
    pub text: String,
}

/// What the checklist needs to know about one host of a group.
#[derive(Debug, Clone, Copy)]
pub struct HostView<'a> {
    pub host: &'a Host,
    pub changes: &'a [PackageChange],
    pub estimate: HostEstimate,
    pub evidence: Option<&'a Evidence>,
}

/// One group's part of the plan.
#[derive(Debug, Clone)]
pub struct GroupView<'a> {
    pub group: &'a GroupPolicy,
    pub fleet_size: usize,
    pub budget: usize,
    pub hosts: Vec<HostView<'a>>,
    pub staging_problems: &'a [String],
}

/// At most this many evidence lines per risk and group; the rest is summarised.
const MAX_LINES: usize = 8;

/// The five items for one group.
pub fn group_checklist(view: &GroupView<'_>, policy: &Policy) -> Vec<RiskItem> {
    let mut facts: BTreeMap<RiskKind, Vec<RiskFact>> = BTreeMap::new();
    compatibility(view, facts.entry(RiskKind::Compatibility).or_default());
    service(
        view,
        policy,
        facts.entry(RiskKind::ServiceInterruption).or_default(),
    );
    performance(view, facts.entry(RiskKind::Performance).or_default());
    config(view, facts.entry(RiskKind::ConfigOverwrite).or_default());
    rollback(
        view,
        policy,
        facts.entry(RiskKind::RollbackFailure).or_default(),
    );
    RiskKind::ALL
        .iter()
        .map(|kind| item(*kind, facts.remove(kind).unwrap_or_default()))
        .collect()
}

/// Merges per-group checklists into the plan's: worst level, evidence prefixed by group.
pub fn merge(per_group: &[(String, Vec<RiskItem>)]) -> Vec<RiskItem> {
    RiskKind::ALL
        .iter()
        .map(|kind| {
            let mut evidence = Vec::new();
            for (group, items) in per_group {
                for item in items.iter().filter(|i| i.risk == *kind) {
                    evidence.extend(item.evidence.iter().map(|e| RiskFact {
                        level: e.level,
                        text: format!("{group}: {}", e.text),
                    }));
                }
            }
            item(*kind, evidence)
        })
        .collect()
}

fn item(risk: RiskKind, mut evidence: Vec<RiskFact>) -> RiskItem {
    evidence.sort_by(|a, b| b.level.cmp(&a.level).then_with(|| a.text.cmp(&b.text)));
    evidence.dedup();
    RiskItem {
        risk,
        level: evidence.iter().map(|e| e.level).max().unwrap_or(Level::Ok),
        evidence,
    }
}

fn fact(out: &mut Vec<RiskFact>, level: Level, text: impl Into<String>) {
    out.push(RiskFact {
        level,
        text: text.into(),
    });
}

/// "a, b, c and 4 more".
fn list<T: AsRef<str>>(items: &[T]) -> String {
    let shown: Vec<&str> = items.iter().take(MAX_LINES).map(AsRef::as_ref).collect();
    match items.len().saturating_sub(MAX_LINES) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

/// Distinct evidence records of the group's hosts (compared by address: hosts of a group share
/// one parsed record), with the hosts using each, and the number of hosts without evidence.
type EvidenceSets<'v> = Vec<(&'v Evidence, Vec<&'v HostView<'v>>)>;

fn evidence_sets<'v>(view: &'v GroupView<'_>) -> (EvidenceSets<'v>, usize) {
    let mut sets: EvidenceSets<'v> = Vec::new();
    let mut without = 0;
    for host in &view.hosts {
        match host.evidence {
            Some(evidence) => match sets.iter_mut().find(|(e, _)| std::ptr::eq(*e, evidence)) {
                Some((_, hosts)) => hosts.push(host),
                None => sets.push((evidence, vec![host])),
            },
            None => without += 1,
        }
    }
    (sets, without)
}

#[path = "risk_rules.rs"]
mod rules;

#[cfg(test)]
#[path = "risk_tests.rs"]
mod tests;
