//! The gates of one scheduler pass, computed at the pass's `now` from the live fleet document
//! (docs/design/rollout-engine.md "Window and health gates"):
//!
//! - each host's fleet group (the document's resolution; an ungrouped host keeps its batch's
//!   group; a host matching several groups at once is held in a `conflict: …` group that is
//!   closed until the document is fixed);
//! - each group's window gate from its windows and blackouts (pw-fleet → pw-calendar) with the
//!   slot's rollback buffer (pw-planner's capacity); a group without windows is not gated;
//! - each host's apply estimate from the document's estimates (pw-planner's `estimate`);
//! - each group's health gate: red while a host of the group last ended `failed` in a way that
//!   pages a human (the engine's judgement of its agent's last guarded change report), and
//!   while one of the group's `promql` checks fails (`promql.rs`; only groups with hosts in
//!   an active rollout are queried) — a failing PromQL check is also one of the group's
//!   `failing` checks, which stop its hosts in flight (`pw_rollout::gate_halts`);
//! - a T0 emergency start of the rollout (its control) bypasses the window gate.
//!
//! Without a fleet document nothing is gated (as before the document existed).

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::Timestamp;
use pw_fleet::FleetDocument;
use pw_planner::policy::HealthCheckKind;
use pw_rollout::{
    FailingCheck, Gates, HealthGate, HostChange, HostId, RolloutControl, RolloutPlan, WindowGate,
};
use pw_store::RolloutRow;

use crate::Controller;
use crate::fleet_groups::{CONFLICT, Grouped, HostGroups};
use crate::scheduler::Parsed;

/// What every rollout of a pass shares: read once per pass.
pub(crate) struct PassGates {
    document: Option<Arc<FleetDocument>>,
    /// Each enrolled host's fleet group (`fleet_groups.rs`; `None`: in no group).
    groups: Arc<HostGroups>,
    /// Red signals per fleet group.
    red: BTreeMap<String, Vec<String>>,
    /// The group's own checks failing now (PromQL), per fleet group.
    failing: BTreeMap<String, Vec<FailingCheck>>,
    now: Timestamp,
}

impl PassGates {
    /// Reads the document, the hosts' groups and the hosts whose last rollout failed, and
    /// evaluates the PromQL gates of the groups the active `rollouts` touch.
    pub(crate) async fn load(
        state: &Controller,
        now: Timestamp,
        rollouts: &[RolloutRow],
    ) -> anyhow::Result<PassGates> {
        let Some(fleet) = state.fleet_groups.groups(&state.store).await? else {
            return Ok(PassGates {
                document: None,
                groups: Arc::default(),
                red: BTreeMap::new(),
                failing: BTreeMap::new(),
                now,
            });
        };
        let mut red: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (host_id, text) in state.store.hosts_failed_last().await? {
            let change: HostChange = match pw_rollout::from_json(&text) {
                Ok(change) => change,
                Err(error) => {
                    tracing::warn!(host = host_id, %error, "stored host state unreadable");
                    continue;
                }
            };
            let Some(signal) = HealthGate::signal(&change.host, &change.state) else {
                continue;
            };
            if let Some(Some(Grouped::Member(group))) = fleet.groups.get(&host_id) {
                red.entry(group.clone()).or_default().push(signal);
            }
        }
        let mut gates = PassGates {
            document: Some(fleet.document),
            groups: fleet.groups,
            red,
            failing: BTreeMap::new(),
            now,
        };
        gates.promql_gates(state, rollouts).await;
        Ok(gates)
    }

    /// Turns red the groups (of hosts in `rollouts`) whose PromQL checks fail now.
    async fn promql_gates(&mut self, state: &Controller, rollouts: &[RolloutRow]) {
        let Some(document) = &self.document else {
            return;
        };
        let mut groups = std::collections::BTreeSet::new();
        for row in rollouts {
            // The plan as the scheduler keeps it parsed (`scheduler_load.rs`).
            let Ok(parsed) = state.host_states.plan(&row.id) else {
                continue;
            };
            if let Some(hosts) = self.host_gates(&parsed) {
                groups.extend(hosts.fleet_groups.iter().map(|(group, _)| group.clone()));
            }
        }
        let policy = &document.policy;
        for group in groups {
            let Some(group_policy) = policy.groups.get(&group) else {
                continue;
            };
            for name in &group_policy.health_checks {
                let Some(check) = policy.health_checks.get(name) else {
                    continue;
                };
                if check.kind != HealthCheckKind::Promql {
                    continue;
                }
                let evaluation = state.promql().evaluate(name, check, self.now).await;
                if let Err(why) = evaluation.outcome {
                    let detail = format!(
                        "promql check {name} ({}) failed at {}: {why}",
                        check.target, evaluation.at
                    );
                    self.red
                        .entry(group.clone())
                        .or_default()
                        .push(detail.clone());
                    self.failing
                        .entry(group.clone())
                        .or_default()
                        .push(FailingCheck {
                            check: name.clone(),
                            detail,
                        });
                }
            }
        }
    }

    /// The gates of one rollout. `verification` gives the engine's verification period of a
    /// batch group (the window must hold it too).
    pub(crate) fn for_rollout(
        &self,
        parsed: &Parsed,
        control: &RolloutControl,
        busy_elsewhere: BTreeMap<String, usize>,
        verification: impl Fn(&str) -> u64,
    ) -> Gates {
        let mut gates = Gates {
            busy_elsewhere,
            now: Some(self.now),
            emergency: control.emergency.is_some(),
            ..Gates::default()
        };
        let (Some(document), Some(hosts)) = (&self.document, self.host_gates(parsed)) else {
            return gates;
        };
        for (group, batch_group) in &hosts.fleet_groups {
            let gate = if document.policy.groups.contains_key(group) {
                document.window_gate(group, self.now, verification(batch_group))
            } else if group.starts_with(CONFLICT) {
                Some(WindowGate::Closed {
                    next: None,
                    blackout: None,
                })
            } else {
                None
            };
            if let Some(gate) = gate {
                gates.windows.insert(group.clone(), gate);
            }
            if let Some(red) = self.red.get(group) {
                let health = HealthGate {
                    red: red.clone(),
                    failing: self.failing.get(group).cloned().unwrap_or_default(),
                };
                gates.health.insert(group.clone(), health);
            }
        }
        gates.host_groups = hosts.host_groups.clone();
        gates.apply_seconds = hosts.apply_seconds.clone();
        gates
    }

    /// What the rollout's gates hold per host under the pass's document and host groups: kept
    /// with the rollout's parsed plan while both are the same (`Arc`s the fleet's memo keeps
    /// between passes, `fleet_groups.rs`); computed again when either changes. `None` without
    /// a document.
    fn host_gates(&self, parsed: &Parsed) -> Option<Arc<HostGates>> {
        let document = self.document.as_ref()?;
        let mut kept = parsed.host_gates.lock().expect("host gates lock");
        if let Some(hosts) = kept.as_ref()
            && Arc::ptr_eq(&hosts.document, document)
            && Arc::ptr_eq(&hosts.groups, &self.groups)
        {
            return Some(hosts.clone());
        }
        let hosts = Arc::new(HostGates::compute(&parsed.plan, document, &self.groups));
        *kept = Some(hosts.clone());
        Some(hosts)
    }

    /// The names of the `promql` checks of a host's fleet group: the checks the controller
    /// evaluates for it (`Policy::gate_checks`; none without a document or group).
    pub(crate) fn gate_checks(&self, host: &HostId, batch_group: &str) -> Vec<String> {
        let Some(document) = &self.document else {
            return Vec::new();
        };
        let policy = &document.policy;
        let group = self.group_of(host, batch_group);
        let Some(group) = policy.groups.get(group) else {
            return Vec::new();
        };
        (group.health_checks.iter())
            .filter(|name| {
                (policy.health_checks.get(*name)).is_some_and(|c| c.kind == HealthCheckKind::Promql)
            })
            .cloned()
            .collect()
    }

    /// A host's fleet group and its observation policy (none without a document or group).
    pub(crate) fn observation_of(
        &self,
        host: &HostId,
        batch_group: &str,
    ) -> Option<(String, pw_planner::policy::ObservationPolicy)> {
        let document = self.document.as_ref()?;
        let group = self.group_of(host, batch_group);
        let policy = document.policy.groups.get(group)?;
        Some((group.to_owned(), policy.observation))
    }

    /// A host's fleet group: its batch's group when it is in none (or unknown).
    fn group_of<'a>(&'a self, host: &HostId, batch_group: &'a str) -> &'a str {
        group_of(&self.groups, host, batch_group)
    }
}

/// A host's fleet group among `groups`: its batch's group when it is in none (or unknown).
fn group_of<'a>(groups: &'a HostGroups, host: &HostId, batch_group: &'a str) -> &'a str {
    match groups.get(&host.0) {
        Some(Some(grouped)) => grouped.name(),
        Some(None) | None => batch_group,
    }
}

/// A rollout's gates that depend only on its plan, the fleet document and the hosts' groups,
/// not on the pass's time: each host's fleet group and apply estimate. At 10,000 hosts they
/// took ~8 ms a pass to compute (issue 15: per-batch overhead), so they are kept between
/// passes ([`PassGates::for_rollout`]).
pub(crate) struct HostGates {
    /// The document and groups they were computed under (compared by identity).
    document: Arc<FleetDocument>,
    groups: Arc<HostGroups>,
    /// Each fleet group of the rollout's hosts once, in plan order, with the batch group of
    /// its first host (whose verification period its window must hold).
    fleet_groups: Vec<(String, String)>,
    host_groups: Arc<BTreeMap<HostId, String>>,
    apply_seconds: Arc<BTreeMap<HostId, u64>>,
}

impl HostGates {
    fn compute(
        plan: &RolloutPlan,
        document: &Arc<FleetDocument>,
        groups: &Arc<HostGroups>,
    ) -> HostGates {
        let mut fleet_groups: Vec<(String, String)> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut host_groups = BTreeMap::new();
        let mut apply_seconds = BTreeMap::new();
        for batch in &plan.batches {
            for host in &batch.hosts {
                let group = group_of(groups, &host.id, &batch.group);
                if seen.insert(group) {
                    fleet_groups.push((group.to_owned(), batch.group.clone()));
                }
                let targets = host
                    .targets
                    .iter()
                    .map(|t| (t.package.as_str(), t.version.as_str()));
                let estimate = pw_planner::targets::estimate_targets(targets, &document.policy);
                apply_seconds.insert(host.id.clone(), estimate.apply_seconds);
                if group != batch.group {
                    host_groups.insert(host.id.clone(), group.to_owned());
                }
            }
        }
        HostGates {
            document: document.clone(),
            groups: groups.clone(),
            fleet_groups,
            host_groups: Arc::new(host_groups),
            apply_seconds: Arc::new(apply_seconds),
        }
    }
}
