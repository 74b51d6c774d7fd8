//! The events of a rollout, from what one scheduler pass changed: the host states before and
//! after the pass and the rollout's status before and after. Started (the first host left
//! `pending`), canary passed (every canary host done), a host rolled back, a host failed, the
//! rollout stopped by its failures, finished. Each event id names the rollout (and the host),
//! so a pass repeated after a restart enqueues nothing twice.

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::Timestamp;
use pw_notify::{Detail, Event};
use pw_rollout::plan::BatchKind;
use pw_rollout::{AsHostState, HostId, HostState, RolloutPlan, RolloutStatus, StopReason};

/// What the events need of each host's state at the start of a pass (not the state itself: a
/// copy of 10,000 states per pass was a tenth of a pass).
#[derive(Clone, Copy)]
struct Was {
    pending: bool,
    done: bool,
    terminal: bool,
}

/// Host states of one rollout at the start of a pass.
pub struct RolloutNotes {
    rollout: String,
    before: BTreeMap<HostId, Was>,
    /// Each host's group.
    groups: Arc<BTreeMap<HostId, String>>,
}

fn done(state: &HostState) -> bool {
    matches!(state, HostState::Done { .. })
}

fn pending(state: &HostState) -> bool {
    matches!(state, HostState::Pending { .. })
}

impl RolloutNotes {
    pub fn new<S: AsHostState>(
        rollout: &str,
        before: &BTreeMap<HostId, S>,
        groups: Arc<BTreeMap<HostId, String>>,
    ) -> RolloutNotes {
        let was = |state: &HostState| Was {
            pending: pending(state),
            done: done(state),
            terminal: state.is_terminal(),
        };
        RolloutNotes {
            rollout: rollout.to_owned(),
            before: (before.iter())
                .map(|(id, s)| (id.clone(), was(s.host_state())))
                .collect(),
            groups,
        }
    }

    fn event(&self, id: String, groups: Vec<String>, at: Timestamp, detail: Detail) -> Event {
        Event {
            id: format!("rollout:{}:{id}", self.rollout),
            at,
            groups,
            tier: None,
            detail,
        }
    }

    fn all_groups(&self) -> Vec<String> {
        let mut groups: Vec<String> = self.groups.values().cloned().collect();
        groups.sort();
        groups.dedup();
        groups
    }

    /// The events between the pass's start and `after`; `previous` is the stored status
    /// before the pass, `status` the one decided.
    pub fn events<S: AsHostState>(
        &self,
        plan: &RolloutPlan,
        after: &BTreeMap<HostId, S>,
        previous: &str,
        status: &RolloutStatus,
        now: Timestamp,
    ) -> Vec<Event> {
        let rollout = self.rollout.clone();
        let mut events = Vec::new();
        let after_pending = after.values().all(|s| pending(s.host_state()));
        if self.before.values().all(|was| was.pending) && !after_pending {
            events.push(self.event(
                "started".into(),
                self.all_groups(),
                now,
                Detail::RolloutStarted {
                    rollout_id: rollout.clone(),
                    hosts: after.len(),
                },
            ));
        }
        let canaries: Vec<&HostId> = plan
            .batches
            .iter()
            .filter(|b| b.kind == BatchKind::Canary)
            .flat_map(|b| b.hosts.iter().map(|h| &h.id))
            .collect();
        let all_done_after =
            (canaries.iter()).all(|h| after.get(*h).is_some_and(|s| done(s.host_state())));
        let all_done_before =
            (canaries.iter()).all(|h| self.before.get(*h).is_some_and(|w| w.done));
        if !canaries.is_empty() && all_done_after && !all_done_before {
            events.push(self.event(
                "canary_passed".into(),
                self.all_groups(),
                now,
                Detail::CanaryPassed {
                    rollout_id: rollout.clone(),
                    hosts: canaries.len(),
                },
            ));
        }
        for (host, state) in after {
            let state = state.host_state();
            let was_terminal = self.before.get(host).is_some_and(|w| w.terminal);
            if was_terminal {
                continue;
            }
            let group: Vec<String> = self.groups.get(host).cloned().into_iter().collect();
            match state {
                HostState::RolledBack { cause, at, .. } => events.push(self.event(
                    format!("host:{host}:rolled_back"),
                    group,
                    *at,
                    Detail::RolledBack {
                        rollout_id: rollout.clone(),
                        host: host.to_string(),
                        reason: words(cause),
                    },
                )),
                HostState::Failed { cause, at, .. } if cause.pages() => events.push(self.event(
                    format!("host:{host}:failed"),
                    group,
                    *at,
                    Detail::RolloutFailed {
                        rollout_id: rollout.clone(),
                        reason: format!("{host} failed: {}", words(cause)),
                    },
                )),
                _ => {}
            }
        }
        match status {
            RolloutStatus::Stopped {
                reason:
                    StopReason::CanaryFailed { failures, allowed }
                    | StopReason::FailureBudgetExceeded { failures, allowed },
            } if previous != "stopped" => events.push(self.event(
                "stopped".into(),
                self.all_groups(),
                now,
                Detail::RolloutFailed {
                    rollout_id: rollout.clone(),
                    reason: format!("stopped: {failures} failure(s), {allowed} allowed"),
                },
            )),
            RolloutStatus::Completed if previous != "completed" => {
                let count = |f: fn(&HostState) -> bool| {
                    after.values().filter(|s| f(s.host_state())).count()
                };
                events.push(self.event(
                    "finished".into(),
                    self.all_groups(),
                    now,
                    Detail::RolloutFinished {
                        rollout_id: rollout,
                        done: count(done),
                        failed: count(|s| matches!(s, HostState::Failed { .. })),
                        rolled_back: count(|s| matches!(s, HostState::RolledBack { .. })),
                    },
                ));
            }
            _ => {}
        }
        events
    }
}

/// A cause (`{"kind": "health_check_failed", "check": "web", "detail": "…"}`) in words.
fn words(cause: &impl serde::Serialize) -> String {
    let value = serde_json::to_value(cause).unwrap_or_default();
    let mut text = value["kind"]
        .as_str()
        .unwrap_or("unknown")
        .replace('_', " ");
    for field in ["check", "detail"] {
        if let Some(more) = value[field].as_str() {
            text.push_str(": ");
            text.push_str(more);
        }
    }
    text
}

/// The event of a version blocked fleet-wide by a host's failed change.
pub fn version_blocked(
    rollout: &str,
    host: &str,
    group: Option<&str>,
    package: &str,
    version: &str,
    at: Timestamp,
) -> Event {
    Event {
        id: format!("block:{package}={version}:rollout:{rollout}"),
        at,
        groups: group.map(str::to_owned).into_iter().collect(),
        tier: None,
        detail: Detail::VersionBlocked {
            package: package.to_owned(),
            version: version.to_owned(),
            host: host.to_owned(),
        },
    }
}

/// `observation.alert`: a check failed on a host while its change is watched more closely after
/// the rollout's verification (seed 000's observation period; `observe.rs` emits it when a
/// transition it has written alerts). One alert per rollout, host, check and instant is one
/// event.
pub fn observation_alert(
    rollout: &str,
    host: (&str, &str),
    group: Option<&str>,
    check: &str,
    detail: &str,
    at: Timestamp,
) -> Event {
    let (host_id, hostname) = host;
    Event {
        id: format!(
            "rollout:{rollout}:host:{host_id}:observation:{check}:{}",
            at.as_millisecond()
        ),
        at,
        groups: group.map(str::to_owned).into_iter().collect(),
        tier: None,
        detail: Detail::ObservationAlert {
            rollout_id: rollout.to_owned(),
            host: hostname.to_owned(),
            check: check.to_owned(),
            detail: detail.to_owned(),
        },
    }
}
