//! "Patched means patched" in the controller (issue 11.4, docs/restarts.md): the agent commands
//! of the `restart_services` and `reboot` steps, the events their results are, the event that
//! the agent came back from a new boot (its inventory's restart facts), and the operator's
//! deferral of a restart or reboot a host still needs (audited, like every transition, with the
//! operator as actor).

use pw_protocol::{Command as AgentCommand, PlanRef, RestartReport, RestartStatus, RolloutView};
use pw_rollout::{
    Action, Aftercare, CommandKey, Event, HostChange, HostState, Policy, RestartResult,
};
use pw_store::{HostTransition, TransitionCommand};

use crate::{Controller, Refusal};

/// The agent command of a `restart_services` or `reboot` step (`None` for other actions), with
/// its deterministic id `rollout:host:step:attempt`.
pub(crate) fn agent_command(
    key: &CommandKey,
    action: &Action,
    plan: Option<&PlanRef>,
) -> anyhow::Result<Option<TransitionCommand>> {
    let (step, command) = match action {
        Action::RestartServices { units } => (
            "restart_services",
            AgentCommand::RestartServices {
                rollout: key.rollout.0.clone(),
                units: units.clone(),
                plan: plan.cloned(),
            },
        ),
        Action::Reboot => (
            "reboot",
            AgentCommand::Reboot {
                rollout: key.rollout.0.clone(),
                plan: plan.cloned(),
            },
        ),
        _ => return Ok(None),
    };
    Ok(Some(TransitionCommand {
        id: format!("{}:{}:{step}:{}", key.rollout, key.host, key.attempt),
        kind: command.kind().to_owned(),
        payload_json: serde_json::to_string(&command)?,
    }))
}

/// The event a finished `restart_services` or `reboot` is; `None` for other command kinds. A
/// stored report the engine cannot take is a failed restart (or reboot) naming why.
pub(crate) fn result_event(
    kind: &str,
    succeeded: bool,
    message: &str,
    stored: Option<&str>,
) -> Option<Event> {
    let report = stored.map(|text| {
        serde_json::from_str::<RestartReport>(text)
            .map_err(|e| format!("the stored restart report is unreadable: {e}"))
    });
    match kind {
        "restart_services" => {
            let result = match report.transpose() {
                Ok(report) => pw_rollout::wire::restart_result(succeeded, message, report.as_ref())
                    .map_err(|e| e.to_string()),
                Err(detail) => Err(detail),
            };
            let result = result.unwrap_or_else(|detail| RestartResult {
                ok: false,
                detail,
                restarted: Vec::new(),
                after: Aftercare::default(),
            });
            Some(Event::RestartReported { result })
        }
        "reboot" => {
            let boot = match report {
                Some(Ok(report)) => report.status.boot.as_ref().map(pw_rollout::BootMark::from),
                _ => None,
            };
            Some(Event::RebootRequested {
                ok: succeeded && boot.is_some(),
                detail: message.to_owned(),
                boot,
            })
        }
        _ => None,
    }
}

/// `HostSeen` for a host waiting to come back from a reboot, when its agent's last inventory
/// carries restart facts from another boot than the one before the reboot.
pub(crate) async fn seen_event(
    state: &Controller,
    change: &HostChange,
) -> anyhow::Result<Option<Event>> {
    let HostState::Rebooting {
        boot: Some(before), ..
    } = &change.state
    else {
        return Ok(None);
    };
    let Some(text) = state
        .store
        .inventory(&change.host.0)
        .await?
        .and_then(|i| i.facts.restart)
    else {
        return Ok(None);
    };
    let status: RestartStatus = serde_json::from_str(&text)?;
    let after = Aftercare::try_from(&status)?;
    Ok(after
        .boot
        .as_ref()
        .is_some_and(|now| now != before)
        .then_some(Event::HostSeen { after }))
}

/// An operator defers the restart or reboot host `host` of rollout `id` still needs, with a
/// reason: the host is done with the deferral recorded (audited with `actor`). 409 when the
/// host needs none (any other state).
pub async fn defer(
    state: &Controller,
    actor: &str,
    id: &str,
    host: &str,
    reason: &str,
) -> Result<RolloutView, Refusal> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(Refusal::InvalidRequest(
            "reason: say why the restart or reboot waits".into(),
        ));
    }
    let row = state
        .store
        .rollout(id)
        .await?
        .ok_or_else(|| Refusal::RolloutNotFound(id.to_owned()))?;
    let policy: Policy = pw_rollout::from_json(&row.policy).map_err(anyhow::Error::from)?;
    let hosts = state.store.rollout_hosts(id).await?;
    let Some(stored) = hosts.iter().find(|h| h.host_id == host) else {
        return Err(Refusal::RolloutConflict(format!(
            "host {host} is not in rollout {id}"
        )));
    };
    let change: HostChange = pw_rollout::from_json(&stored.state).map_err(anyhow::Error::from)?;
    let event = Event::Deferred {
        by: actor.to_owned(),
        reason: reason.to_owned(),
    };
    let decision = pw_rollout::step(&change, &event, state.now(), &policy).map_err(|_| {
        Refusal::RolloutConflict(format!(
            "host {host} of rollout {id} has no restart or reboot to defer: it is {}",
            crate::scheduler::state_name(change.state.name())
        ))
    })?;
    let next = HostChange {
        state: decision.next,
        ..change
    };
    let state_json = pw_rollout::to_json(&next).map_err(anyhow::Error::from)?;
    let state_name = crate::scheduler::state_name(next.state.name());
    let transition = HostTransition {
        rollout_id: id,
        host_id: host,
        expected_version: stored.row_version,
        state_json: &state_json,
        state_name: &state_name,
        event: serde_json::to_value(&event).map_err(anyhow::Error::from)?,
        command: None,
        blocks: Vec::new(),
        actor,
        result: crate::change_result::change_result(&next),
    };
    if !state.store.transition_host(&transition).await? {
        return Err(Refusal::RolloutConflict(format!(
            "host {host} changed while deferring; look again and retry"
        )));
    }
    state.observer().host_transition(&state_name, 0);
    state.observer().rollout_control("defer_restart");
    state.wake_scheduler();
    crate::rollouts::load(state, id).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use pw_rollout::{HostId, RolloutId, Step};

    fn key(step: Step) -> CommandKey {
        CommandKey {
            rollout: RolloutId("ro-1".into()),
            host: HostId("h1".into()),
            step,
            attempt: 4,
        }
    }

    #[test]
    fn restart_and_reboot_commands_have_stable_ids() {
        let units = vec!["nginx.service".to_owned()];
        let action = Action::RestartServices {
            units: units.clone(),
        };
        let command = agent_command(&key(Step::RestartServices), &action, None)
            .unwrap()
            .unwrap();
        assert_eq!(command.id, "ro-1:h1:restart_services:4");
        assert_eq!(command.kind, "restart_services");
        let payload: AgentCommand = serde_json::from_str(&command.payload_json).unwrap();
        assert_eq!(
            payload,
            AgentCommand::RestartServices {
                rollout: "ro-1".into(),
                units,
                plan: None
            }
        );
        let reboot = agent_command(&key(Step::Reboot), &Action::Reboot, None)
            .unwrap()
            .unwrap();
        assert_eq!(
            (reboot.id.as_str(), reboot.kind.as_str()),
            ("ro-1:h1:reboot:4", "reboot")
        );
        let page = Action::Page { reason: "x".into() };
        assert!(
            agent_command(&key(Step::Page), &page, None)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn results_become_events() {
        let Some(Event::RestartReported { result }) =
            result_event("restart_services", false, "no systemd", None)
        else {
            panic!("no event");
        };
        assert!(!result.ok);
        assert_eq!(result.detail, "no systemd");
        let Some(Event::RestartReported { result }) =
            result_event("restart_services", true, "ok", Some("{"))
        else {
            panic!("no event");
        };
        assert!(!result.ok, "an unreadable report proves nothing");
        let report = r#"{"restarted":[],"status":{"collected_at":"2026-12-04T03:00:00Z",
            "boot":{"boot_id":"b1","init_started":5}}}"#;
        let Some(Event::RebootRequested { ok, boot, .. }) =
            result_event("reboot", true, "reboot requested", Some(report))
        else {
            panic!("no event");
        };
        assert!(ok);
        assert_eq!(boot.unwrap().boot_id, "b1");
        let Some(Event::RebootRequested { ok, .. }) = result_event("reboot", true, "x", None)
        else {
            panic!("no event");
        };
        assert!(!ok, "no boot mark: the reboot could not be proven");
        assert_eq!(result_event("apply_change", true, "", None), None);
    }
}
