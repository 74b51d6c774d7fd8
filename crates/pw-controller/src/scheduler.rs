//! The rollout scheduler: as soon as it is woken (an agent reported a command result, a rollout
//! was created: [`Controller::wake_scheduler`]) and at the latest every second (for timeouts),
//! it loads the active rollouts, maps finished agent
//! `apply_change` results to pw-rollout events, fires due timeouts, asks `pw_rollout::decide`
//! which hosts to claim (canaries first, within the budget) and release, and writes each host
//! transition — with the agent command it emits, fleet-wide blocks and its audit record — in
//! one transaction *before* the command can be delivered. Command ids are deterministic
//! (`rollout:host:step:attempt`), so a restarted controller repeats nothing: the insert is a
//! no-op and the agent's journal answers a known id with its recorded result.
//!
//! The agent's guard does record → protect → install → verify → roll back in one command, so
//! one `apply_change` result becomes a sequence of events (`VersionsRecorded`, `ProtectionDone`
//! or `ProtectionFailed`, `ApplySucceeded`, `HealthCheckPassed`…, `VerificationPeriodElapsed` at
//! the end of the period — the guard vouches for it — or `AgentReportedRollback`), or a single
//! `NotStarted` when the agent refused it or failed before touching anything. Replaying the
//! sequence after a crash skips the events the state already moved past.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use jiff::Timestamp;
use pw_protocol::{ChangeOutcome, ChangeReport, Command as AgentCommand};
use pw_protocol::{PackagePin, ProtectionStep, RollbackReason, VersionSeen};
use pw_rollout::{
    Action, Block, BlockList, Event, ExactVersion, Gates, HostChange, HostId, HostState, Policy,
    Recorded, RollbackCause, RolloutControl, RolloutId, RolloutPlan, RolloutStatus, StateName,
    slots_by_group,
};
use pw_store::{BlockedRow, HostTransition, RolloutRow, TransitionCommand};
use tokio::sync::watch;

use crate::Controller;
use crate::recipe::Recipe;

/// Runs the scheduler until shutdown: a pass when woken, and one every second for timeouts.
pub async fn run(state: Controller, mut shutdown: watch::Receiver<bool>) {
    let mut interval = tokio::time::interval(Duration::from_secs(1));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let wake = state.scheduler_wake();
    loop {
        let trigger = tokio::select! {
            _ = interval.tick() => "interval",
            _ = wake.notified() => "woken",
            _ = shutdown.changed() => return,
        };
        state.observer().scheduler_pass(trigger);
        if let Err(error) = tick(&state).await {
            tracing::warn!(
                error = format!("{error:#}"),
                "rollout scheduler tick failed"
            );
        }
    }
}

/// One pass over every active rollout at the controller's time. The disruption budget is per
/// group across rollouts: each rollout is driven with the slots the others hold
/// (`Gates::busy_elsewhere`), updated after each one's claims.
pub async fn tick(state: &Controller) -> anyhow::Result<()> {
    let now = state.now();
    let rollouts = state.store.active_rollouts().await?;
    let mut active = rollouts.len();
    let mut slots: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for rollout in &rollouts {
        match held_slots(state, rollout).await {
            Ok(held) => {
                slots.insert(rollout.id.clone(), held);
            }
            Err(error) => {
                tracing::warn!(rollout = %rollout.id, error = format!("{error:#}"), "reading rollout slots failed");
            }
        }
    }
    for rollout in &rollouts {
        let mut elsewhere: BTreeMap<String, usize> = BTreeMap::new();
        for (id, held) in &slots {
            if *id != rollout.id {
                for (group, n) in held {
                    *elsewhere.entry(group.clone()).or_insert(0) += n;
                }
            }
        }
        match drive(state, rollout, elsewhere, now).await {
            Ok(Driven { held, settled }) => {
                slots.insert(rollout.id.clone(), held);
                active -= usize::from(settled);
            }
            Err(error) => {
                tracing::warn!(rollout = %rollout.id, error = format!("{error:#}"), "rollout step failed");
            }
        }
    }
    state.observer().active_rollouts(active);
    Ok(())
}

/// What one pass over a rollout left.
struct Driven {
    /// Budget slots its hosts hold, per group.
    held: BTreeMap<String, usize>,
    /// It ended (completed, or stopped with every started host finished).
    settled: bool,
}

/// The budget slots a rollout's hosts hold, per group.
async fn held_slots(
    state: &Controller,
    row: &RolloutRow,
) -> anyhow::Result<BTreeMap<String, usize>> {
    let plan: RolloutPlan = pw_rollout::from_json(&row.plan).context("stored plan")?;
    let hosts = load_hosts(state, &row.id).await?;
    Ok(slots_by_group(&plan, &states_of(&hosts)))
}

fn states_of(hosts: &BTreeMap<HostId, Loaded>) -> BTreeMap<HostId, HostState> {
    hosts
        .iter()
        .map(|(id, h)| (id.clone(), h.change.state.clone()))
        .collect()
}

/// A host's state as loaded, with its lock version.
struct Loaded {
    change: HostChange,
    version: i64,
    command_id: Option<String>,
}

struct Ctx<'a> {
    state: &'a Controller,
    rollout: RolloutId,
    policy: Policy,
    recipe: Recipe,
    /// Each host's group in the plan (its checks and verification period come from it).
    groups: BTreeMap<HostId, String>,
    protection_steps: Vec<ProtectionStep>,
}

/// One pass over a rollout.
async fn drive(
    state: &Controller,
    row: &RolloutRow,
    busy_elsewhere: BTreeMap<String, usize>,
    now: Timestamp,
) -> anyhow::Result<Driven> {
    let plan: RolloutPlan = pw_rollout::from_json(&row.plan).context("stored plan")?;
    let ctx = Ctx {
        state,
        rollout: plan.id.clone(),
        policy: pw_rollout::from_json(&row.policy).context("stored policy")?,
        recipe: Recipe::from_json(&row.checks).context("stored checks")?,
        groups: plan
            .batches
            .iter()
            .flat_map(|b| b.hosts.iter().map(|h| (h.id.clone(), b.group.clone())))
            .collect(),
        protection_steps: serde_json::from_str(&row.protection_steps)
            .context("stored protection steps")?,
    };
    let mut hosts = load_hosts(state, &row.id).await?;
    // 1. Results of finished agent commands.
    for host in hosts.values_mut() {
        let Some(command_id) = host.command_id.clone() else {
            continue;
        };
        if host.change.state.is_terminal() {
            continue;
        }
        let Some(command) = state.store.command(&command_id).await? else {
            continue;
        };
        if matches!(command.state.as_str(), "queued" | "delivered") {
            continue;
        }
        let report = match state.store.change_report(&command_id).await? {
            Some(text) => Some(serde_json::from_str(&text).context("stored change report")?),
            None => None,
        };
        let finished = Finished {
            refused: command.state == "refused",
            message: command.result_message.clone().unwrap_or_default(),
            report,
        };
        let agent = format!("agent:{}", host.change.host);
        for (event, at) in events_for(&ctx.policy, &host.change.state, &finished, now)? {
            ctx.apply(host, event, at, &agent).await?;
        }
    }
    // 2. Due timeouts.
    for host in hosts.values_mut() {
        if let Some(event) = pw_rollout::on_tick(&host.change.state, now) {
            ctx.apply(host, event, now, CONTROLLER).await?;
        }
    }
    // 3. Claims and releases.
    let blocks = block_list(state).await?;
    let control: RolloutControl = serde_json::from_str(&row.control).context("stored control")?;
    let gates = Gates {
        busy_elsewhere,
        now: Some(now),
        ..Gates::default()
    };
    let decision = pw_rollout::decide(&plan, &states_of(&hosts), &control, &blocks, &gates)?;
    for release in &decision.release {
        let Some(host) = hosts.get_mut(&release.host) else {
            continue;
        };
        // `claimed` means an `apply_change` is on its way: the guard may already be
        // installing, so the claim is kept until the agent's result arrives.
        if host.command_id.is_some() && matches!(host.change.state, HostState::Claimed { .. }) {
            continue;
        }
        ctx.apply(host, release.event(), now, CONTROLLER).await?;
    }
    for claim in &decision.claim {
        if let Some(host) = hosts.get_mut(&claim.host) {
            ctx.apply(host, claim.event(), now, CONTROLLER).await?;
        }
    }
    let status = match &decision.status {
        RolloutStatus::Running => "running",
        RolloutStatus::Paused { .. } => "paused",
        RolloutStatus::Stopped { .. } => "stopped",
        RolloutStatus::Completed => "completed",
    };
    // A stopped rollout stays active until every host that started has finished.
    let settled = hosts.values().all(|h| !h.change.state.holds_slot());
    let status = if status == "stopped" && !settled {
        "running"
    } else {
        status
    };
    let detail = serde_json::json!({
        "status": decision.status,
        "batch": decision.batch,
        "waiting": decision.waiting,
        "skipped": decision.skipped,
        "failures": decision.failures,
    });
    state
        .store
        .set_rollout_status(&row.id, status, &detail.to_string())
        .await?;
    Ok(Driven {
        held: slots_by_group(&plan, &states_of(&hosts)),
        settled: matches!(status, "completed" | "stopped"),
    })
}

/// The audit actor of transitions the controller decides itself (claims, releases, timeouts).
const CONTROLLER: &str = "controller";

impl Ctx<'_> {
    /// One step of the host machine, persisted (with its command, blocks and audit record by
    /// `actor`) before anything is delivered. A rejected event changes nothing.
    async fn apply(
        &self,
        host: &mut Loaded,
        event: Event,
        at: Timestamp,
        actor: &str,
    ) -> anyhow::Result<()> {
        let decision = match pw_rollout::step(&host.change, &event, at, &self.policy) {
            Ok(decision) => decision,
            Err(rejected) => {
                tracing::debug!(host = %host.change.host, ?rejected, "event not applicable");
                return Ok(());
            }
        };
        let mut command = None;
        let mut blocks = Vec::new();
        for emitted in &decision.commands {
            match &emitted.action {
                Action::RecordVersions { .. } => {
                    let key = &emitted.key;
                    let id = format!(
                        "{}:{}:record_versions:{}",
                        key.rollout, key.host, key.attempt
                    );
                    let group = self.groups.get(&host.change.host);
                    let group = group.map_or("", String::as_str);
                    command = Some(self.apply_change(id, decision.next.targets(), group)?);
                }
                Action::BlockVersion { versions, reason } => {
                    blocks.extend(versions.iter().map(|t| BlockedRow {
                        package: t.package.to_string(),
                        version: t.version.to_string(),
                        reason: reason.clone(),
                        rollout_id: self.rollout.0.clone(),
                        host_id: host.change.host.0.clone(),
                        blocked_at: at.to_string(),
                    }));
                }
                Action::Page { reason } => {
                    tracing::error!(host = %host.change.host, reason, "rollout pages a human");
                }
                // The agent's guard installs, verifies and rolls back within `apply_change`.
                Action::Snapshot { .. }
                | Action::Install { .. }
                | Action::RunChecks { .. }
                | Action::Rollback { .. } => {}
            }
        }
        let next = HostChange {
            rollout: host.change.rollout.clone(),
            host: host.change.host.clone(),
            state: decision.next,
        };
        let state_json = pw_rollout::to_json(&next)?;
        let state_name = state_name(next.state.name());
        let transition = HostTransition {
            rollout_id: &self.rollout.0,
            host_id: &next.host.0,
            expected_version: host.version,
            state_json: &state_json,
            state_name: &state_name,
            event: serde_json::to_value(&event)?,
            command: command.clone(),
            blocks,
            actor,
        };
        if !self.state.store.transition_host(&transition).await? {
            anyhow::bail!("host {} changed under the scheduler", next.host);
        }
        let blocked = transition.blocks.len();
        self.state.observer().host_transition(&state_name, blocked);
        host.version += 1;
        if let Some(command) = command {
            host.command_id = Some(command.id);
            self.state.waiter(&next.host.0).notify_one();
        }
        host.change = next;
        Ok(())
    }

    fn apply_change(
        &self,
        id: String,
        targets: &[pw_rollout::Target],
        group: &str,
    ) -> anyhow::Result<TransitionCommand> {
        let (checks, verification_seconds) = self
            .recipe
            .for_group(group, self.policy.verification_seconds);
        let command = AgentCommand::ApplyChange {
            rollout: self.rollout.0.clone(),
            targets: targets
                .iter()
                .map(|t| PackagePin {
                    name: t.package.to_string(),
                    version: t.version.to_string(),
                })
                .collect(),
            checks,
            verification_seconds,
            protection_steps: self.protection_steps.clone(),
            plan: self.recipe.plan().cloned(),
        };
        Ok(TransitionCommand {
            id,
            kind: command.kind().to_owned(),
            payload_json: serde_json::to_string(&command)?,
        })
    }
}

/// A finished `apply_change` as the scheduler sees it.
struct Finished {
    /// The agent answered `refused`.
    refused: bool,
    message: String,
    report: Option<ChangeReport>,
}

/// The events one finished `apply_change` stands for, each with the instant to apply it at. A
/// change the agent did not start (refused by a read-only agent, failed before recording the
/// versions, or finished without any report) ends the claim at once: `NotStarted`.
fn events_for(
    policy: &Policy,
    current: &HostState,
    finished: &Finished,
    now: Timestamp,
) -> anyhow::Result<Vec<(Event, Timestamp)>> {
    let not_started = |refused: bool, detail: &str| {
        let detail = if detail.is_empty() {
            "the agent finished the change without a report".to_owned()
        } else {
            detail.to_owned()
        };
        Ok(vec![(Event::NotStarted { refused, detail }, now)])
    };
    let report = match &finished.report {
        None => return not_started(finished.refused, &finished.message),
        Some(report) => report,
    };
    match &report.outcome {
        ChangeOutcome::Refused { detail } => return not_started(true, detail),
        ChangeOutcome::NotStarted { detail } => return not_started(false, detail),
        _ if report.recorded.is_empty() => return not_started(false, &finished.message),
        _ => {}
    }
    let installed = report.installed_at.unwrap_or(now);
    let recorded = to_recorded(&report.recorded)?;
    let finals = to_recorded(&report.final_versions)?;
    let mut events = vec![(Event::VersionsRecorded { versions: recorded }, installed)];
    if let ChangeOutcome::ProtectionFailed { step, detail } = &report.outcome {
        let detail = format!("protection step {step}: {detail}");
        events.push((Event::ProtectionFailed { detail }, now));
        return Ok(events);
    }
    if !policy.protection_steps.is_empty() {
        events.push((Event::ProtectionDone, installed));
    }
    match &report.outcome {
        ChangeOutcome::Done => {
            events.push((Event::ApplySucceeded { versions: finals }, installed));
            for check in &policy.health_checks {
                let check = check.clone();
                events.push((Event::HealthCheckPassed { check }, installed));
            }
            let until = match current {
                HostState::Verifying { until, .. } => *until,
                _ => pw_rollout::policy::after(installed, policy.verification_seconds),
            };
            events.push((Event::VerificationPeriodElapsed, now.max(until)));
        }
        ChangeOutcome::RolledBack { reason, detail } => {
            let cause = match reason {
                RollbackReason::HealthCheckFailed => RollbackCause::HealthCheckFailed {
                    check: report.failed_check.clone().unwrap_or_default(),
                    detail: detail.clone(),
                },
                RollbackReason::ApplyFailed => RollbackCause::ApplyFailed {
                    detail: detail.clone(),
                },
                RollbackReason::Interrupted => RollbackCause::ChecksMissing {
                    checks: policy.health_checks.clone(),
                },
            };
            let versions = finals;
            events.push((Event::AgentReportedRollback { versions, cause }, now));
        }
        ChangeOutcome::Failed { detail } => {
            let detail = detail.clone();
            events.push((
                Event::ApplyFailed {
                    detail: detail.clone(),
                },
                now,
            ));
            events.push((Event::RollbackFailed { detail }, now));
        }
        ChangeOutcome::Refused { .. }
        | ChangeOutcome::NotStarted { .. }
        | ChangeOutcome::ProtectionFailed { .. } => {}
    }
    Ok(events)
}

fn to_recorded(versions: &[VersionSeen]) -> anyhow::Result<Vec<Recorded>> {
    versions
        .iter()
        .map(|v| {
            Ok(Recorded {
                package: pw_model::PackageName::parse(&v.name)?,
                version: v.version.as_deref().map(ExactVersion::parse).transpose()?,
            })
        })
        .collect()
}

async fn load_hosts(state: &Controller, id: &str) -> anyhow::Result<BTreeMap<HostId, Loaded>> {
    let mut hosts = BTreeMap::new();
    for row in state.store.rollout_hosts(id).await? {
        let change: HostChange = pw_rollout::from_json(&row.state)
            .with_context(|| format!("stored state of host {}", row.host_id))?;
        hosts.insert(
            change.host.clone(),
            Loaded {
                change,
                version: row.row_version,
                command_id: row.command_id,
            },
        );
    }
    Ok(hosts)
}

/// The fleet-wide block list from the database.
pub async fn block_list(state: &Controller) -> anyhow::Result<BlockList> {
    let mut list = BlockList::new();
    for row in state.store.blocked_versions().await? {
        list.insert(Block {
            package: pw_model::PackageName::parse(&row.package)?,
            version: ExactVersion::parse(&row.version)?,
            reason: row.reason,
            rollout: RolloutId(row.rollout_id),
            host: HostId(row.host_id),
            at: row.blocked_at.parse()?,
        });
    }
    Ok(list)
}

/// A state's snake_case name.
pub fn state_name(name: StateName) -> String {
    serde_json::to_value(name)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}
