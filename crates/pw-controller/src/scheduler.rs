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
//! The agent's guard does record → protect → install → verify → roll back within one
//! `apply_change` and reports once: that report is the one event the host takes,
//! `pw_rollout::Event::GuardReported` (DESIGN.md §10, the engine's events are the agent's
//! reports; nothing is invented in between). A result without a report (an older agent's plain
//! refusal or failure) is a report that nothing was touched; a stored report the engine cannot
//! take (unreadable, or a name or version that is not one: an older controller stored it) is
//! `ReportRefused`, which fails that host with the reason.
//!
//! A pass takes `now` once, from the controller's clock; nothing in it reads the time again.
//! Each host is handled on its own: an error for one host is logged and the pass goes on with
//! the others, so one host's bad data never blocks other hosts, timeouts or an operator's stop
//! (issue 14.1). Where several controllers share one PostgreSQL database, only the holder of
//! the scheduler lease (`Store::keep_scheduler_lease`) runs passes; the others take it over
//! when its holder's connection ends. The pass loop runs under [`crate::supervise::supervise`]: a panic is logged,
//! counted (`Observer::scheduler_panicked`) and the loop started again.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use anyhow::Context;
use jiff::Timestamp;
use pw_protocol::{ChangeReport, Command as AgentCommand, ProtectionStep};
use pw_rollout::{
    Action, Block, BlockList, Event, ExactVersion, GuardOutcome, GuardReport, HostChange, HostId,
    HostState, Policy, RolloutControl, RolloutId, RolloutPlan, RolloutStatus, StateName,
    slots_by_group,
};
use pw_store::{BlockedRow, CommandState, HostTransition, RolloutRow, TransitionCommand};
use tokio::sync::watch;

use crate::Controller;
use crate::gates::PassGates;
use crate::recipe::Recipe;

/// Runs the scheduler until shutdown: a pass when woken, and one every second for timeouts.
/// A panic in a pass is logged, counted and the loop started again (after a second).
pub async fn run(state: Controller, shutdown: watch::Receiver<bool>) {
    run_with(state, shutdown, |state: Controller| async move {
        tick(&state).await
    })
    .await;
}

/// [`run`] with another pass than [`tick`]: tests make a pass panic with it to see the loop
/// supervised; production always runs [`tick`].
pub async fn run_with<P, Fut>(state: Controller, shutdown: watch::Receiver<bool>, pass: P)
where
    P: Fn(Controller) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let observer = state.clone();
    let start = move || passes(state.clone(), shutdown.clone(), pass.clone());
    let panicked = move || observer.observer().scheduler_panicked();
    crate::supervise::supervise("rollout scheduler", Duration::from_secs(1), start, panicked).await;
}

/// The pass loop: returns at shutdown.
async fn passes<P, Fut>(state: Controller, mut shutdown: watch::Receiver<bool>, pass: P)
where
    P: Fn(Controller) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    if *shutdown.borrow() {
        return;
    }
    let mut interval = tokio::time::interval(Duration::from_secs(1));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let wake = state.scheduler_wake();
    let mut lease = None;
    loop {
        let trigger = tokio::select! {
            _ = interval.tick() => "interval",
            _ = wake.notified() => "woken",
            _ = shutdown.changed() => return,
        };
        // Several controllers on one database: only the lease holder drives rollouts.
        match state.store.keep_scheduler_lease(&mut lease).await {
            Ok(true) => {}
            Ok(false) => continue,
            Err(error) => {
                tracing::warn!(error = format!("{error:#}"), "scheduler lease unavailable");
                continue;
            }
        }
        state.observer().scheduler_pass(trigger);
        if let Err(error) = pass(state.clone()).await {
            tracing::warn!(
                error = format!("{error:#}"),
                "rollout scheduler pass failed"
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
    if rollouts.is_empty() {
        state.observer().active_rollouts(0);
        return Ok(());
    }
    let gates = PassGates::load(state, now).await?;
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
        match drive(state, rollout, &gates, elsewhere, now).await {
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
    /// The rollout plan (which hosts run the rollback drill).
    plan: RolloutPlan,
    protection_steps: Vec<ProtectionStep>,
}

/// One pass over a rollout.
async fn drive(
    state: &Controller,
    row: &RolloutRow,
    pass: &PassGates,
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
        plan: plan.clone(),
    };
    let mut hosts = load_hosts(state, &row.id).await?;
    let notes = crate::notify::RolloutNotes::new(&row.id, states_of(&hosts), ctx.groups.clone());
    // 1. Results of finished agent commands, each host on its own.
    for host in hosts.values_mut() {
        if let Err(error) = ctx.take_result(host, now).await {
            ctx.skipped(host, "taking its agent's result", &error);
        }
    }
    // 2. Due timeouts.
    for host in hosts.values_mut() {
        if let Some(event) = pw_rollout::on_tick(&host.change.state, now) {
            ctx.apply_or_skip(host, event, now, CONTROLLER).await;
        }
    }
    // 2b. Hosts back from a reboot (their inventory's boot mark), then the reboot budget.
    ctx.restarts(&mut hosts, now).await;
    // 3. Claims and releases.
    let blocks = block_list(state).await?;
    let control: RolloutControl = serde_json::from_str(&row.control).context("stored control")?;
    let gates = pass.for_rollout(&plan, &control, busy_elsewhere, |group| {
        ctx.recipe
            .for_group(group, ctx.policy.verification_seconds)
            .1
    });
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
        ctx.apply_or_skip(host, release.event(), now, CONTROLLER)
            .await;
    }
    for claim in &decision.claim {
        if let Some(host) = hosts.get_mut(&claim.host) {
            ctx.apply_or_skip(host, claim.event(), now, CONTROLLER)
                .await;
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
        "carried_over": decision.carried_over,
        "emergency": control.emergency,
        "skipped": decision.skipped,
        "failures": decision.failures,
    });
    state
        .store
        .set_rollout_status(&row.id, status, &detail.to_string())
        .await?;
    let events = notes.events(
        &plan,
        &states_of(&hosts),
        &row.status,
        &decision.status,
        now,
    );
    crate::notify::emit(state, events).await;
    Ok(Driven {
        held: slots_by_group(&plan, &states_of(&hosts)),
        settled: matches!(status, "completed" | "stopped"),
    })
}

/// The audit actor of transitions the controller decides itself (claims, releases, timeouts).
const CONTROLLER: &str = "controller";

impl Ctx<'_> {
    /// The event of a host's finished `apply_change`, if it has one, applied as its agent.
    async fn take_result(&self, host: &mut Loaded, now: Timestamp) -> anyhow::Result<()> {
        let Some(command_id) = host.command_id.clone() else {
            return Ok(());
        };
        if host.change.state.is_terminal() {
            return Ok(());
        }
        let Some(command) = self.state.store.command(&command_id).await? else {
            return Ok(());
        };
        if command.state.is_open() {
            return Ok(());
        }
        let stored = self.state.store.change_report(&command_id).await?;
        let message = command.result_message.as_deref().unwrap_or_default();
        let succeeded = command.state == CommandState::Succeeded;
        let event = match crate::restarts::result_event(
            &command.kind,
            succeeded,
            message,
            stored.as_deref(),
        ) {
            Some(event) => event,
            None => report_event(
                command.state == CommandState::Refused,
                message,
                stored.as_deref(),
            ),
        };
        let agent = format!("agent:{}", host.change.host);
        self.apply(host, event, now, &agent).await
    }

    /// [`Ctx::apply`], logging an error for this host instead of ending the pass.
    async fn apply_or_skip(&self, host: &mut Loaded, event: Event, at: Timestamp, actor: &str) {
        let name = event.name();
        if let Err(error) = self.apply(host, event, at, actor).await {
            self.skipped(host, &format!("{name:?}"), &error);
        }
    }

    fn skipped(&self, host: &Loaded, doing: &str, error: &anyhow::Error) {
        tracing::warn!(
            rollout = %self.rollout,
            host = %host.change.host,
            doing,
            error = format!("{error:#}"),
            "a host's step failed; the pass goes on with the other hosts"
        );
    }

    /// The engine's policy for one host: the rollout's, with the checks and verification
    /// period of the host's group (a plan's groups differ; what the agent ran is what counts).
    fn policy_for(&self, host: &HostId) -> Policy {
        let group = self.groups.get(host).map_or("", String::as_str);
        let (checks, seconds) = self
            .recipe
            .for_group(group, self.policy.verification_seconds);
        Policy {
            health_checks: checks.iter().map(|c| c.name().to_owned()).collect(),
            verification_seconds: seconds,
            drill: self.plan.drills_host(host),
            ..self.policy.clone()
        }
    }

    /// One step of the host machine, persisted (with its command, blocks and audit record by
    /// `actor`) before anything is delivered. A rejected event changes nothing.
    async fn apply(
        &self,
        host: &mut Loaded,
        event: Event,
        at: Timestamp,
        actor: &str,
    ) -> anyhow::Result<()> {
        let policy = self.policy_for(&host.change.host);
        let decision = match pw_rollout::step(&host.change, &event, at, &policy) {
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
                    let targets = decision.next.targets();
                    command = Some(self.apply_change(id, targets, &host.change.host)?);
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
                Action::RestartServices { .. } | Action::Reboot => {
                    let plan = self.recipe.plan();
                    command = crate::restarts::agent_command(&emitted.key, &emitted.action, plan)?;
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
            result: crate::change_result::change_result(&next),
        };
        if !self.state.store.transition_host(&transition).await? {
            anyhow::bail!("host {} changed under the scheduler", next.host);
        }
        let blocked = transition.blocks.len();
        self.state.observer().host_transition(&state_name, blocked);
        let group = self.groups.get(&next.host).map(String::as_str);
        let events = (transition.blocks.iter())
            .map(|b| {
                crate::notify::version_blocked(
                    &b.rollout_id,
                    &b.host_id,
                    group,
                    &b.package,
                    &b.version,
                    at,
                )
            })
            .collect();
        crate::notify::emit(self.state, events).await;
        host.version += 1;
        if let Some(command) = command {
            host.command_id = Some(command.id);
            self.state.waiter(&next.host.0).notify_one();
        }
        host.change = next;
        Ok(())
    }

    /// Hosts back from a reboot become `HostSeen`; then the reboot budget's free slots go to
    /// queued hosts (`pw_rollout::reboot_grants`).
    async fn restarts(&self, hosts: &mut BTreeMap<HostId, Loaded>, now: Timestamp) {
        for host in hosts.values_mut() {
            match crate::restarts::seen_event(self.state, &host.change).await {
                Ok(Some(event)) => self.apply_or_skip(host, event, now, CONTROLLER).await,
                Ok(None) => {}
                Err(error) => self.skipped(host, "reading its restart facts", &error),
            }
        }
        let budget = self.policy.reboot_budget;
        for id in pw_rollout::reboot_grants(&states_of(hosts), budget) {
            if let Some(host) = hosts.get_mut(&id) {
                self.apply_or_skip(host, Event::RebootGranted, now, CONTROLLER)
                    .await;
            }
        }
    }

    fn apply_change(
        &self,
        id: String,
        targets: &[pw_rollout::Target],
        host: &HostId,
    ) -> anyhow::Result<TransitionCommand> {
        let group = self.groups.get(host).map_or("", String::as_str);
        let (checks, verification_seconds) = self
            .recipe
            .for_group(group, self.policy.verification_seconds);
        let command = AgentCommand::ApplyChange {
            rollout: self.rollout.0.clone(),
            targets: pw_rollout::wire::pins(targets),
            checks,
            verification_seconds,
            protection_steps: self.protection_steps.clone(),
            plan: self.recipe.plan().cloned(),
            drill: self.plan.drills_host(host),
        };
        Ok(TransitionCommand {
            id,
            kind: command.kind().to_owned(),
            payload_json: serde_json::to_string(&command)?,
        })
    }
}

/// The one event a finished `apply_change` is: the guard's report; for a result without one
/// (an older agent's plain refusal or failure) a report that nothing was touched, with the
/// result's message; for a stored report the engine cannot take, `ReportRefused` naming why.
fn report_event(refused: bool, message: &str, stored: Option<&str>) -> Event {
    let Some(text) = stored else {
        let detail = if message.is_empty() {
            "the agent finished the change without a report".to_owned()
        } else {
            message.to_owned()
        };
        let outcome = if refused {
            GuardOutcome::Refused { detail }
        } else {
            GuardOutcome::NotStarted { detail }
        };
        let report = GuardReport::untouched(outcome);
        return Event::GuardReported { report };
    };
    let report = serde_json::from_str::<ChangeReport>(text)
        .map_err(|e| format!("the stored report is unreadable: {e}"))
        .and_then(|r| GuardReport::try_from(r).map_err(|e| e.to_string()));
    match report {
        Ok(report) => Event::GuardReported { report },
        Err(detail) => Event::ReportRefused { detail },
    }
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

#[cfg(test)]
#[path = "scheduler_tests.rs"]
mod tests;
