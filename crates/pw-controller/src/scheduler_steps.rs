//! The scheduler's host steps: an event through `pw_rollout::step`, the transition written with
//! its command, blocks and audit record, then the command's long-poll woken. The steps of one
//! phase of a pass (the results taken, the claims made) are decided and written
//! [`STEPS_PER_WRITE`] at a time, each group in one transaction (`Store::transition_hosts`),
//! and each group's agents are woken at its commit while the next group is decided: a batch of
//! 1,000 claims is 8 commits, not 1,000, and its first agents start after the first group
//! rather than after the whole batch (issue 15: per-batch overhead at fleet size). When a
//! group's write fails as a whole, its steps are written one by one, so one host's bad data
//! never holds back the others (issue 14.1).

use std::collections::{BTreeMap, HashMap};

use anyhow::Context;
use jiff::Timestamp;
use pw_protocol::Command as AgentCommand;
use pw_rollout::{Action, Event, HostChange, HostId, Policy};
use pw_store::{BlockedRow, CommandState, HostTransition, TransitionCommand};

use super::{CONTROLLER, Ctx, Loaded, report_event, state_name};

/// Steps decided and written per transaction: the first agents of a batch get their commands
/// after this many claims are committed, not after all of them.
const STEPS_PER_WRITE: usize = 128;

/// Steps of a phase's first transaction: its agents start while the rest are decided and
/// written (a group of 128 claims took 10–28 ms to decide and write at 10,000 agents).
const FIRST_WRITE: usize = 16;

/// One host's step, decided and not yet written.
pub(super) struct Step {
    host: HostId,
    expected_version: i64,
    next: HostChange,
    state_json: String,
    state_name: String,
    event: serde_json::Value,
    event_name: String,
    command: Option<TransitionCommand>,
    blocks: Vec<BlockedRow>,
    actor: String,
    result: Option<pw_planner::staging::HostChangeResult>,
}

impl Step {
    fn transition<'a>(&'a self, rollout: &'a str) -> HostTransition<'a> {
        HostTransition {
            rollout_id: rollout,
            host_id: &self.host.0,
            expected_version: self.expected_version,
            state_json: &self.state_json,
            state_name: &self.state_name,
            event: self.event.clone(),
            command: self.command.clone(),
            blocks: self.blocks.clone(),
            actor: &self.actor,
            result: self.result.clone(),
        }
    }
}

impl Ctx<'_> {
    /// The events of the hosts' finished `apply_change` commands, applied as their agents, in
    /// one write.
    pub(super) async fn take_results(&self, hosts: &mut BTreeMap<HostId, Loaded>, now: Timestamp) {
        let finished: Vec<&str> = (hosts.values())
            .filter(|host| host.finished.is_some() && !host.change.state.is_terminal())
            .filter_map(|host| host.command_id.as_deref())
            .collect();
        let reports = match self.state.store.change_reports(&finished).await {
            Ok(reports) => reports,
            Err(error) => {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "reading change reports failed"
                );
                return;
            }
        };
        let events = (hosts.values())
            .filter_map(|host| {
                let event = result_event(host, &reports)?;
                Some((host.change.host.clone(), event, agent(&host.change.host)))
            })
            .collect();
        self.apply_all(hosts, events, now).await;
    }
}

/// The sizes of the transactions `steps` steps are written in: [`FIRST_WRITE`], then
/// [`STEPS_PER_WRITE`] each, the last what is left.
fn write_sizes(steps: usize) -> Vec<usize> {
    let first = steps.min(FIRST_WRITE);
    let rest = steps - first;
    let full = std::iter::repeat_n(STEPS_PER_WRITE, rest / STEPS_PER_WRITE);
    let last = Some(rest % STEPS_PER_WRITE).filter(|n| *n > 0);
    (Some(first).filter(|n| *n > 0).into_iter())
        .chain(full)
        .chain(last)
        .collect()
}

/// The event of a host's finished `apply_change`, if it has one (its command's outcome was read
/// with the host: `scheduler_load.rs`; its change report, if any, in `reports`).
fn result_event(host: &Loaded, reports: &HashMap<String, String>) -> Option<Event> {
    let (Some(command_id), Some(command)) = (&host.command_id, &host.finished) else {
        return None;
    };
    if host.change.state.is_terminal() {
        return None;
    }
    let stored = reports.get(command_id).map(String::as_str);
    let message = command.result_message.as_deref().unwrap_or_default();
    if command.kind == LATE_ROLLBACK {
        let (ok, final_versions) = crate::observe::late_rollback_result(command.state, stored);
        let detail = message.to_owned();
        return Some(Event::RollbackReported {
            ok,
            final_versions,
            detail,
        });
    }
    let succeeded = command.state == CommandState::Succeeded;
    let restart = crate::restarts::result_event(&command.kind, succeeded, message, stored);
    Some(
        restart.unwrap_or_else(|| {
            report_event(command.state == CommandState::Refused, message, stored)
        }),
    )
}

impl Ctx<'_> {
    /// Events for several hosts (each host at most once), decided one by one and written
    /// [`FIRST_WRITE`], then [`STEPS_PER_WRITE`] to a transaction, in order; a host whose
    /// event does not apply is left as it is.
    pub(super) async fn apply_all(
        &self,
        hosts: &mut BTreeMap<HostId, Loaded>,
        events: Vec<(HostId, Event, String)>,
        at: Timestamp,
    ) {
        let mut events = events.into_iter();
        for size in write_sizes(events.len()) {
            let group = events.by_ref().take(size).collect();
            self.apply_group(hosts, group, at).await;
        }
    }

    /// [`Ctx::apply_all`] for one group: its steps decided, then written in one transaction.
    async fn apply_group(
        &self,
        hosts: &mut BTreeMap<HostId, Loaded>,
        events: Vec<(HostId, Event, String)>,
        at: Timestamp,
    ) {
        let mut steps = Vec::new();
        for (id, event, actor) in events {
            let Some(host) = hosts.get(&id) else {
                continue;
            };
            match self.decide(host, &event, at, actor) {
                Ok(Some(step)) => steps.push(step),
                Ok(None) => {}
                Err(error) => self.skipped(host, &format!("{:?}", event.name()), &error),
            }
        }
        if steps.is_empty() {
            return;
        }
        let written = {
            let transitions: Vec<_> = steps
                .iter()
                .map(|s| s.transition(&self.rollout.0))
                .collect();
            self.state.store.transition_hosts(&transitions).await
        };
        match written {
            Ok(written) => {
                for (step, ok) in steps.into_iter().zip(written) {
                    self.settle(hosts, step, ok, at).await;
                }
            }
            // One by one: the steps that can be written are, the others are logged.
            Err(error) if steps.len() > 1 => {
                tracing::debug!(error = format!("{error:#}"), "batched transitions refused");
                for step in steps {
                    let transition = step.transition(&self.rollout.0);
                    match self.state.store.transition_host(&transition).await {
                        Ok(ok) => self.settle(hosts, step, ok, at).await,
                        Err(error) => self.step_failed(hosts, &step, &error),
                    }
                }
            }
            Err(error) => self.step_failed(hosts, &steps[0], &error),
        }
    }

    fn step_failed(&self, hosts: &BTreeMap<HostId, Loaded>, step: &Step, error: &anyhow::Error) {
        if let Some(host) = hosts.get(&step.host) {
            self.skipped(host, &step.event_name, error);
        }
    }

    /// After a step's write: the host as written (or a warning when its row had changed under
    /// the scheduler), its blocks announced and its command's long-poll woken.
    async fn settle(
        &self,
        hosts: &mut BTreeMap<HostId, Loaded>,
        step: Step,
        written: bool,
        at: Timestamp,
    ) {
        let Some(host) = hosts.get_mut(&step.host) else {
            return;
        };
        if !written {
            let error = anyhow::anyhow!("host {} changed under the scheduler", step.host);
            self.skipped(host, &step.event_name, &error);
            return;
        }
        self.state
            .observer()
            .host_transition(&step.state_name, step.blocks.len());
        let group = self.groups.get(&step.host).map(String::as_str);
        let events = (step.blocks.iter())
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
        if let Some(command) = step.command {
            host.command_id = Some(command.id);
            host.finished = None;
            self.state.waiter(&step.host.0).notify_one();
        }
        host.change = step.next;
    }

    pub(super) fn skipped(&self, host: &Loaded, doing: &str, error: &anyhow::Error) {
        tracing::warn!(
            rollout = %self.rollout,
            host = %host.change.host,
            doing,
            error = format!("{error:#}"),
            "a host's step failed; the pass goes on with the other hosts"
        );
    }

    /// The engine's policy for one host: the rollout's, with the checks and verification
    /// period of the host's group (a plan's groups differ; what the agent ran is what counts)
    /// and the group's checks the controller evaluates (its PromQL gates).
    fn policy_for(&self, host: &HostId) -> Policy {
        let group = self.groups.get(host).map_or("", String::as_str);
        let (checks, seconds) = self
            .recipe
            .for_group(group, self.policy.verification_seconds);
        Policy {
            health_checks: checks.iter().map(|c| c.name().to_owned()).collect(),
            verification_seconds: seconds,
            drill: self.plan.drills_host(host),
            gate_checks: self.pass.gate_checks(host, group),
            ..self.policy.clone()
        }
    }

    /// One step of the host machine with the command it emits and the versions it blocks, to be
    /// written (with its audit record by `actor`) before anything is delivered. `None`: the
    /// event does not apply (nothing changes).
    fn decide(
        &self,
        host: &Loaded,
        event: &Event,
        at: Timestamp,
        actor: String,
    ) -> anyhow::Result<Option<Step>> {
        let policy = self.policy_for(&host.change.host);
        let decision = match pw_rollout::step(&host.change, event, at, &policy) {
            Ok(decision) => decision,
            Err(rejected) => {
                tracing::debug!(host = %host.change.host, ?rejected, "event not applicable");
                return Ok(None);
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
                // The controller's rollback (a halted host's verified change): the agent's
                // `late_rollback` to exactly the recorded versions.
                Action::Rollback { to, .. } => {
                    command = Some(self.late_rollback(&emitted.key, to)?);
                }
                // The agent's guard installs and verifies within `apply_change`.
                Action::Snapshot { .. } | Action::Install { .. } | Action::RunChecks { .. } => {}
            }
        }
        let next = HostChange {
            rollout: host.change.rollout.clone(),
            host: host.change.host.clone(),
            state: decision.next,
        };
        Ok(Some(Step {
            host: next.host.clone(),
            expected_version: host.version,
            state_json: pw_rollout::to_json(&next)?,
            state_name: state_name(next.state.name()),
            event: serde_json::to_value(event)?,
            event_name: format!("{:?}", event.name()),
            command,
            blocks,
            actor,
            result: crate::change_result::change_result(&next),
            next,
        }))
    }

    /// Hosts back from a reboot become `HostSeen`; then the reboot budget's free slots go to
    /// queued hosts (`pw_rollout::reboot_grants`).
    pub(super) async fn restarts(&self, hosts: &mut BTreeMap<HostId, Loaded>, now: Timestamp) {
        let mut seen = Vec::new();
        for host in hosts.values() {
            match crate::restarts::seen_event(self.state, &host.change).await {
                Ok(Some(event)) => seen.push((host.change.host.clone(), event, CONTROLLER.into())),
                Ok(None) => {}
                Err(error) => self.skipped(host, "reading its restart facts", &error),
            }
        }
        self.apply_all(hosts, seen, now).await;
        let budget = self.policy.reboot_budget;
        let grants = pw_rollout::reboot_grants(hosts, budget)
            .into_iter()
            .map(|id| (id, Event::RebootGranted, CONTROLLER.to_owned()))
            .collect();
        self.apply_all(hosts, grants, now).await;
    }

    /// `late_rollback` to `to` with the checks and verification period of the host's group.
    fn late_rollback(
        &self,
        key: &pw_rollout::CommandKey,
        to: &[pw_rollout::Recorded],
    ) -> anyhow::Result<TransitionCommand> {
        let group = self.groups.get(&key.host).map_or("", String::as_str);
        let (checks, verification_seconds) = self
            .recipe
            .for_group(group, self.policy.verification_seconds);
        let command = AgentCommand::LateRollback {
            rollout: self.rollout.0.clone(),
            recorded: to.iter().map(pw_protocol::VersionSeen::from).collect(),
            checks,
            verification_seconds,
        };
        Ok(TransitionCommand {
            id: format!("{}:{}:rollback:{}", key.rollout, key.host, key.attempt),
            kind: command.kind().to_owned(),
            payload_json: serde_json::to_string(&command).context("encoding the command")?,
        })
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
            protection_steps: [
                self.protection_steps.clone(),
                self.recipe.protection_for_group(group),
            ]
            .concat(),
            plan: self.recipe.plan().cloned(),
            drill: self.plan.drills_host(host),
            hooks: self.recipe.hooks(),
        };
        Ok(TransitionCommand {
            id,
            kind: command.kind().to_owned(),
            payload_json: serde_json::to_string(&command).context("encoding the command")?,
        })
    }
}

/// The agent command the controller's rollback is sent as.
const LATE_ROLLBACK: &str = "late_rollback";

/// The audit actor of a host's agent.
fn agent(host: &HostId) -> String {
    format!("agent:{host}")
}

#[cfg(test)]
mod tests {
    use super::write_sizes;

    #[test]
    fn a_phase_is_written_sixteen_first_then_128_at_a_time() {
        assert_eq!(write_sizes(0), Vec::<usize>::new());
        assert_eq!(write_sizes(5), [5]);
        assert_eq!(write_sizes(16), [16]);
        assert_eq!(write_sizes(17), [16, 1]);
        assert_eq!(
            write_sizes(1000),
            [16, 128, 128, 128, 128, 128, 128, 128, 88]
        );
        assert_eq!(write_sizes(1000).iter().sum::<usize>(), 1000);
    }
}
