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
//! A failing check of a group's own (a PromQL gate, `gates.rs`) halts the group's claimed hosts
//! first (`pw_rollout::gate_halts`); a halted host's verified change is then rolled back by the
//! controller: `Action::Rollback` is sent as the agent's `late_rollback` (the rollback path
//! observation uses), and its result is `Event::RollbackReported`.
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
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use jiff::Timestamp;
use pw_protocol::{ChangeReport, ProtectionStep};
use pw_rollout::{
    AsHostState, Block, BlockList, Event, ExactVersion, GuardOutcome, GuardReport, HostChange,
    HostId, HostState, Policy, RolloutControl, RolloutId, RolloutPlan, RolloutStatus, StateName,
    slots_by_group,
};
use pw_store::RolloutRow;
use tokio::sync::watch;

use crate::Controller;
use crate::gates::PassGates;
use crate::recipe::Recipe;

/// How long a woken pass gathers the results of a large wave (`load::LARGE_WAVE`) at most.
const GATHER: Duration = Duration::from_millis(100);

/// Connections of the scheduler's own pool (`Store::with_own_pool`): its statements run one
/// at a time, and the second serves the notifications it sends.
const CONNECTIONS: u32 = 2;

/// Runs the scheduler until shutdown: a pass when woken, and one every second for timeouts.
/// A panic in a pass is logged, counted and the loop started again (after a second). It runs
/// on a thread of its own (`own_thread.rs`), so that no step of a pass waits for a runtime
/// worker behind the agents' requests (at 10,000 agents, measured alone, within the noise:
/// docs/PERFORMANCE.md "A batch's start"). Its statements run on connections of its own, not
/// behind the requests' in the shared pool.
pub async fn run(state: Controller, shutdown: watch::Receiver<bool>) {
    crate::own_thread::run("pw-scheduler", run_here(state, shutdown)).await;
}

/// [`run`] on the current runtime.
async fn run_here(state: Controller, shutdown: watch::Receiver<bool>) {
    let state = match state.store.with_own_pool(CONNECTIONS).await {
        Ok(store) => state.with_store(store),
        Err(error) => {
            let error = format!("{error:#}");
            tracing::warn!(
                error,
                "scheduler on the shared pool: no connections of its own"
            );
            state
        }
    };
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
        // A large wave in flight: its results change no decision until its last, so they
        // are gathered for a moment instead of a pass each (at 10,000 hosts a pass per result
        // was ~1,500 passes per rollout, each ahead of the agents' own writes). The gathering
        // ends at once when the wake-ups since the last pass (one per result) cover every
        // command the wave had in flight: the pass that starts the next batch then runs
        // at once, not behind a pass for the result before.
        let woken = std::time::Instant::now();
        if trigger == "woken" {
            let deadline = tokio::time::Instant::now() + GATHER;
            let left =
                || (state.host_states.in_large_waves()).saturating_sub(state.scheduler_wakes());
            while left() > 0 {
                tokio::select! {
                    _ = tokio::time::sleep_until(deadline) => break,
                    _ = wake.notified() => {}
                    _ = shutdown.changed() => return,
                }
            }
        }
        state.take_scheduler_wakes();
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
        let started = std::time::Instant::now();
        let gathered_us = (started - woken).as_micros();
        tracing::debug!(trigger, gathered_us, "scheduler pass starts");
        if let Err(error) = pass(state.clone()).await {
            tracing::warn!(
                error = format!("{error:#}"),
                "rollout scheduler pass failed"
            );
        }
        (state.observer()).scheduler_pass_took(started.elapsed().as_secs_f64());
    }
}

/// One pass over every active rollout at the controller's time. The disruption budget is per
/// group across rollouts: each rollout is driven with the slots the others hold
/// (`Gates::busy_elsewhere`), updated after each one's claims.
pub async fn tick(state: &Controller) -> anyhow::Result<()> {
    let now = state.now();
    let mut laps = Laps::start(state);
    // Hosts under observation after their rollout's last batch (`observe.rs`).
    if let Err(error) = crate::observe::pass(state, now).await {
        tracing::warn!(error = format!("{error:#}"), "observation pass failed");
    }
    laps.lap("observe");
    let rollouts = state.store.active_rollouts_without_plans().await?;
    if rollouts.is_empty() {
        state.observer().active_rollouts(0);
        state.host_states.keep_only(std::iter::empty());
        return Ok(());
    }
    state.host_states.load_plans(&state.store, &rollouts).await;
    let gates = PassGates::load(state, now, &rollouts).await?;
    laps.lap("gates");
    let mut active = rollouts.len();
    let mut slots: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    // The slots other rollouts hold (one rollout alone needs none: loading its hosts twice
    // per pass was half a pass at 1,000 hosts).
    for rollout in rollouts.iter().filter(|_| rollouts.len() > 1) {
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
        laps.lap("load");
        match drive(state, rollout, &gates, elsewhere, now, &mut laps).await {
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
    state
        .host_states
        .keep_only(rollouts.iter().map(|r| r.id.as_str()));
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
    let parsed = state.host_states.plan(&row.id)?;
    let hosts = load_hosts(state, row).await?;
    let held = slots_by_group(&parsed.plan, &hosts);
    state.host_states.keep(&row.id, hosts);
    Ok(held)
}

/// A host's state as loaded, with its lock version and its last command (when finished).
#[derive(Clone)]
struct Loaded {
    change: HostChange,
    version: i64,
    command_id: Option<String>,
    finished: Option<pw_store::FinishedCommand>,
}

/// The engine reads the pass's hosts as they are kept (no copy of their states per call).
impl AsHostState for Loaded {
    fn host_state(&self) -> &HostState {
        &self.change.state
    }
}

struct Ctx<'a> {
    state: &'a Controller,
    rollout: RolloutId,
    policy: Policy,
    recipe: Recipe,
    /// Each host's group in the plan (its checks and verification period come from it).
    groups: Arc<BTreeMap<HostId, String>>,
    /// The rollout plan (which hosts run the rollback drill).
    plan: Arc<RolloutPlan>,
    /// The plan as the scheduler keeps it parsed, with what its gates keep between passes.
    parsed: Arc<Parsed>,
    /// The pass's gates: each host's checks the controller evaluates (its fleet group's
    /// PromQL gates), asked for a host when it takes a step.
    pass: &'a PassGates,
    protection_steps: Vec<ProtectionStep>,
}

/// Times the steps of a pass (`Observer::scheduler_step_took`): each lap is the time since the
/// one before. At debug level the pass's laps are logged in one line when it ends
/// (`pw_controller::scheduler=debug`: a batch's boundary is one pass, which the means hide).
struct Laps<'a> {
    observer: &'a dyn crate::Observer,
    at: std::time::Instant,
    /// Each step's time in microseconds, when debug logging is on.
    steps: Option<Vec<(&'static str, u128)>>,
}

impl<'a> Laps<'a> {
    fn start(state: &'a Controller) -> Laps<'a> {
        Laps {
            observer: state.observer(),
            at: std::time::Instant::now(),
            steps: tracing::enabled!(tracing::Level::DEBUG).then(Vec::new),
        }
    }

    fn lap(&mut self, step: &'static str) {
        let now = std::time::Instant::now();
        let took = now - self.at;
        (self.observer).scheduler_step_took(step, took.as_secs_f64());
        if let Some(steps) = &mut self.steps {
            steps.push((step, took.as_micros()));
        }
        self.at = now;
    }

    /// A count beside the laps in the debug line (results taken, claims made), counted only
    /// when the line is logged.
    fn count(&mut self, what: &'static str, n: impl FnOnce() -> usize) {
        if let Some(steps) = &mut self.steps {
            steps.push((what, n() as u128));
        }
    }
}

impl Drop for Laps<'_> {
    fn drop(&mut self) {
        if let Some(steps) = self.steps.take().filter(|s| !s.is_empty()) {
            let total = self.at.elapsed().as_micros()
                + (steps.iter())
                    .filter(|(step, _)| !step.starts_with('#'))
                    .map(|(_, us)| us)
                    .sum::<u128>();
            let steps: Vec<String> = (steps.iter())
                .map(|(step, us)| format!("{step}={us}"))
                .collect();
            tracing::debug!(total_us = total, steps = steps.join(" "), "scheduler pass");
        }
    }
}

impl<'a> Ctx<'a> {
    /// The rollout's stored plan, policy, checks and protection steps, parsed.
    fn new(
        state: &'a Controller,
        row: &RolloutRow,
        pass: &'a PassGates,
    ) -> anyhow::Result<Ctx<'a>> {
        let parsed = state.host_states.plan(&row.id)?;
        let plan = &parsed.plan;
        Ok(Ctx {
            state,
            rollout: plan.id.clone(),
            policy: pw_rollout::from_json(&row.policy).context("stored policy")?,
            recipe: Recipe::from_json(&row.checks).context("stored checks")?,
            groups: parsed.groups.clone(),
            protection_steps: serde_json::from_str(&row.protection_steps)
                .context("stored protection steps")?,
            pass,
            plan: plan.clone(),
            parsed: parsed.clone(),
        })
    }
}

/// One pass over a rollout.
async fn drive(
    state: &Controller,
    row: &RolloutRow,
    pass: &PassGates,
    busy_elsewhere: BTreeMap<String, usize>,
    now: Timestamp,
    laps: &mut Laps<'_>,
) -> anyhow::Result<Driven> {
    let ctx = Ctx::new(state, row, pass)?;
    let plan = &ctx.plan;
    let mut hosts = load_hosts(state, row).await?;
    let notes = crate::notify::RolloutNotes::new(&row.id, &hosts, ctx.groups.clone());
    let control: RolloutControl = serde_json::from_str(&row.control).context("stored control")?;
    let gates = pass.for_rollout(&ctx.parsed, &control, busy_elsewhere, |group| {
        ctx.recipe
            .for_group(group, ctx.policy.verification_seconds)
            .1
    });
    laps.lap("load");
    // 0. A failing check of a group's own (a PromQL gate) halts its hosts in flight — before
    // their results are taken, so a verified change reported now is rolled back.
    let halts = (pw_rollout::gate_halts(plan, &hosts, &gates).iter())
        .map(|halt| (halt.host.clone(), halt.event(), CONTROLLER.to_owned()))
        .collect();
    ctx.apply_all(&mut hosts, halts, now).await;
    // 1. Results of finished agent commands (each host's error its own).
    laps.count("#results", || {
        (hosts.values())
            .filter(|h| h.finished.is_some() && !h.change.state.is_terminal())
            .count()
    });
    ctx.take_results(&mut hosts, now).await;
    laps.lap("results");
    // 2. Due timeouts.
    let due = (hosts.values())
        .filter_map(|h| {
            pw_rollout::on_tick(&h.change.state, now)
                .map(|event| (h.change.host.clone(), event, CONTROLLER.to_owned()))
        })
        .collect();
    ctx.apply_all(&mut hosts, due, now).await;
    laps.lap("timeouts");
    // 2b. Hosts back from a reboot (their inventory's boot mark), then the reboot budget.
    ctx.restarts(&mut hosts, now).await;
    laps.lap("restarts");
    // 3. Releases, then claims, each phase in one write.
    let blocks = block_list(state).await?;
    let decision = pw_rollout::decide(plan, &hosts, &control, &blocks, &gates)?;
    laps.lap("decide");
    let releases = (decision.release.iter())
        .filter(|release| {
            // `claimed` means an `apply_change` is on its way: the guard may already be
            // installing, so the claim is kept until the agent's result arrives.
            hosts.get(&release.host).is_some_and(|host| {
                !(host.command_id.is_some()
                    && matches!(host.change.state, HostState::Claimed { .. }))
            })
        })
        .map(|release| (release.host.clone(), release.event(), CONTROLLER.to_owned()))
        .collect();
    ctx.apply_all(&mut hosts, releases, now).await;
    laps.lap("releases");
    laps.count("#claims", || decision.claim.len());
    let claims = (decision.claim.iter())
        .map(|claim| (claim.host.clone(), claim.event(), CONTROLLER.to_owned()))
        .collect();
    ctx.apply_all(&mut hosts, claims, now).await;
    laps.lap("claims");
    let ((rollout_status, detail), settled) = stored_status(&decision, &control, &hosts);
    if rollout_status == "completed" && row.status != "completed" {
        let done = hosts.iter().map(|(id, h)| (id, &h.change.state));
        crate::observe::start(state, plan, done, pass, now).await?;
    }
    // Unchanged since the pass before: no write (a pass per result would otherwise commit
    // once more each time, beside the agents' result writes).
    if row.status != rollout_status || row.detail != detail {
        (state.store)
            .set_rollout_status(&row.id, rollout_status, &detail)
            .await?;
    }
    laps.lap("status");
    let events = notes.events(plan, &hosts, &row.status, &decision.status, now);
    crate::notify::emit(state, events).await;
    laps.lap("notes");
    let held = slots_by_group(plan, &hosts);
    // The hosts as this pass wrote them, for the next pass (`scheduler_load.rs`).
    state.host_states.keep(&row.id, hosts);
    Ok(Driven { held, settled })
}

/// The rollout's status and detail to store after a pass's decision, and whether it ended
/// (completed, or stopped with every started host finished).
fn stored_status(
    decision: &pw_rollout::RolloutDecision,
    control: &RolloutControl,
    hosts: &BTreeMap<HostId, Loaded>,
) -> ((&'static str, String), bool) {
    let status = match &decision.status {
        RolloutStatus::Running => "running",
        RolloutStatus::Paused { .. } => "paused",
        RolloutStatus::Stopped { .. } => "stopped",
        RolloutStatus::Completed => "completed",
    };
    // A stopped rollout stays active until every host that started has finished.
    let finished = hosts.values().all(|h| !h.change.state.holds_slot());
    let status = if status == "stopped" && !finished {
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
    let settled = matches!(status, "completed" | "stopped");
    ((status, detail.to_string()), settled)
}

/// The audit actor of transitions the controller decides itself (claims, releases, timeouts).
const CONTROLLER: &str = "controller";

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

#[path = "scheduler_steps.rs"]
mod steps;

#[path = "scheduler_load.rs"]
mod load;

pub use load::HostStates;
pub(crate) use load::Parsed;
use load::load_hosts;

#[cfg(test)]
#[path = "scheduler_tests.rs"]
mod tests;
