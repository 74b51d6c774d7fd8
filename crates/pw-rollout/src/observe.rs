//! Observation after the rollout's last batch (seed 000: 24–72 h of closer watching;
//! docs/design/rollout-engine.md "Observation"). A host whose change ended `done` stays under
//! observation for its group's period: the controller asks its agent to run the group's checks
//! (with tightened thresholds) every interval. A failing round raises an alert and — by the
//! group's policy (`late_rollback = "auto"`) or an operator's request — a late rollback to the
//! exact recorded versions. The host's rollout state stays `done` (the rollout is complete and
//! its budget slots are free); this machine is beside it, one per observed host.
//!
//! ```text
//!  waiting{next} --Tick ≥ until--> passed
//!      |  ^  --Tick ≥ next--> checking [RunChecks]
//!      |  |                      |--RoundReported, all pass--> waiting{now + interval}
//!      |  |                      |--RoundReported, a failure--> alerted [Alert]            (offer)
//!      |  |                      |                          \-> rolling_back [Alert, Rollback] (auto)
//!      |  |                      \--Tick ≥ deadline (no answer)--> alerted [Alert]
//!      |  \--AlertDismissed (operator) from alerted
//!      \--RollbackRequested (operator) from waiting, checking, alerted--> rolling_back [Rollback]
//!  rolling_back --RollbackReported, exactly the recorded versions--> rolled_back
//!               --RollbackReported, anything else / Tick ≥ deadline--> rollback_failed [Page]
//! ```
//!
//! `passed`, `rolled_back` and `rollback_failed` are final: every event is rejected.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::model::{Recorded, Target, by_package};

/// How long the agent has to answer a round of checks or a late rollback.
pub const ROUND_SECONDS: u64 = 120;
/// How long a late rollback may take (apt, then the checks).
pub const ROLLBACK_SECONDS: u64 = 30 * 60;

/// One observed host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observation {
    pub group: String,
    pub targets: Vec<Target>,
    /// The versions before the change: what a late rollback restores.
    pub recorded: Vec<Recorded>,
    pub since: Timestamp,
    pub until: Timestamp,
    pub interval_seconds: u64,
    /// `late_rollback = "auto"`: a failing round rolls back without asking.
    pub auto_rollback: bool,
    /// Rounds that passed.
    pub rounds: u32,
    /// Grows with every command sent (command keys never repeat).
    pub attempt: u32,
    #[serde(default)]
    pub alerts: Vec<Alert>,
    pub phase: Phase,
}

/// A failed round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub at: Timestamp,
    pub check: String,
    pub detail: String,
}

/// Where an observation stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Phase {
    Waiting {
        next: Timestamp,
    },
    Checking {
        deadline: Timestamp,
    },
    /// A round failed; the late rollback is offered to an operator.
    Alerted,
    RollingBack {
        by: String,
        deadline: Timestamp,
    },
    Passed {
        at: Timestamp,
    },
    RolledBack {
        at: Timestamp,
        by: String,
    },
    RollbackFailed {
        at: Timestamp,
        detail: String,
    },
}

/// What happens to an observation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ObserveEvent {
    /// The controller's timer: due at [`next_due`].
    Tick,
    /// The agent ran a round: the checks that failed with why (none: all passed).
    RoundReported { failures: Vec<(String, String)> },
    /// An operator (or the controller, by policy) asks for the late rollback.
    RollbackRequested { by: String },
    /// An operator looked at an alert and keeps the change: observation goes on.
    AlertDismissed { by: String },
    /// The agent's late rollback ended on `final_versions` (`ok`: apt succeeded).
    RollbackReported {
        ok: bool,
        final_versions: Vec<Recorded>,
        detail: String,
    },
}

/// What the controller does after a transition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum ObserveAction {
    /// Ask the agent to run the group's checks once (command attempt `attempt`).
    RunChecks { attempt: u32 },
    /// Emit `observation.alert`.
    Alert { check: String, detail: String },
    /// Ask the agent to reinstall exactly `recorded` (command attempt `attempt`).
    Rollback { attempt: u32 },
    /// Tell a human: the late rollback did not restore the recorded versions.
    Page { detail: String },
}

/// Why an event was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ObserveRejected {
    #[error("{event} is not accepted while {phase}")]
    WrongPhase {
        phase: &'static str,
        event: &'static str,
    },
    #[error("nothing is due before {due}")]
    NotDue { due: Timestamp },
}

impl Observation {
    /// Observation of a host whose change ended `done` at `since`; the first round one
    /// interval later.
    pub fn start(
        group: &str,
        targets: Vec<Target>,
        recorded: Vec<Recorded>,
        since: Timestamp,
        period_seconds: u64,
        interval_seconds: u64,
        auto_rollback: bool,
    ) -> Observation {
        let interval_seconds = interval_seconds.max(1);
        Observation {
            group: group.to_owned(),
            targets,
            recorded,
            since,
            until: since + secs(period_seconds),
            interval_seconds,
            auto_rollback,
            rounds: 0,
            attempt: 0,
            alerts: Vec::new(),
            phase: Phase::Waiting {
                next: since + secs(interval_seconds),
            },
        }
    }

    pub fn phase_name(&self) -> &'static str {
        self.phase.name()
    }

    /// No event is accepted any more.
    pub fn is_final(&self) -> bool {
        matches!(
            self.phase,
            Phase::Passed { .. } | Phase::RolledBack { .. } | Phase::RollbackFailed { .. }
        )
    }
}

impl Phase {
    pub fn name(&self) -> &'static str {
        match self {
            Phase::Waiting { .. } => "observing",
            Phase::Checking { .. } => "checking",
            Phase::Alerted => "alerted",
            Phase::RollingBack { .. } => "rolling_back",
            Phase::Passed { .. } => "passed",
            Phase::RolledBack { .. } => "rolled_back",
            Phase::RollbackFailed { .. } => "rollback_failed",
        }
    }
}

impl ObserveEvent {
    fn name(&self) -> &'static str {
        match self {
            ObserveEvent::Tick => "tick",
            ObserveEvent::RoundReported { .. } => "round_reported",
            ObserveEvent::RollbackRequested { .. } => "rollback_requested",
            ObserveEvent::AlertDismissed { .. } => "alert_dismissed",
            ObserveEvent::RollbackReported { .. } => "rollback_reported",
        }
    }
}

fn secs(seconds: u64) -> SignedDuration {
    SignedDuration::from_secs(i64::try_from(seconds).unwrap_or(i64::MAX / 2))
}

/// When the controller must tick this observation next (`None`: only an event moves it).
pub fn next_due(observation: &Observation) -> Option<Timestamp> {
    match &observation.phase {
        Phase::Waiting { next } => Some((*next).min(observation.until)),
        Phase::Checking { deadline } | Phase::RollingBack { deadline, .. } => Some(*deadline),
        _ => None,
    }
}

/// One transition: the next observation and what to do.
pub fn observe(
    observation: &Observation,
    event: &ObserveEvent,
    now: Timestamp,
) -> Result<(Observation, Vec<ObserveAction>), ObserveRejected> {
    let wrong = || ObserveRejected::WrongPhase {
        phase: observation.phase.name(),
        event: event.name(),
    };
    let mut next = observation.clone();
    let mut actions = Vec::new();
    match (&observation.phase, event) {
        (_, ObserveEvent::Tick) => {
            let due = next_due(observation).ok_or_else(wrong)?;
            if now < due {
                return Err(ObserveRejected::NotDue { due });
            }
            match &observation.phase {
                Phase::Waiting { .. } if now >= observation.until => {
                    next.phase = Phase::Passed { at: now };
                }
                Phase::Waiting { .. } => {
                    next.attempt += 1;
                    next.phase = Phase::Checking {
                        deadline: now + secs(ROUND_SECONDS),
                    };
                    actions.push(ObserveAction::RunChecks {
                        attempt: next.attempt,
                    });
                }
                Phase::Checking { .. } => {
                    let detail = format!("the agent did not answer within {ROUND_SECONDS} s");
                    alert(&mut next, &mut actions, now, "agent", &detail);
                    next.phase = Phase::Alerted;
                }
                Phase::RollingBack { .. } => {
                    let detail =
                        format!("the late rollback was not answered within {ROLLBACK_SECONDS} s");
                    actions.push(ObserveAction::Page {
                        detail: detail.clone(),
                    });
                    next.phase = Phase::RollbackFailed { at: now, detail };
                }
                _ => return Err(wrong()),
            }
        }
        (Phase::Checking { .. }, ObserveEvent::RoundReported { failures }) => {
            match failures.first() {
                None => {
                    next.rounds += 1;
                    next.phase = Phase::Waiting {
                        next: now + secs(observation.interval_seconds),
                    };
                }
                Some((check, detail)) => {
                    alert(&mut next, &mut actions, now, check, detail);
                    if observation.auto_rollback {
                        roll_back(&mut next, &mut actions, now, "policy");
                    } else {
                        next.phase = Phase::Alerted;
                    }
                }
            }
        }
        (
            Phase::Waiting { .. } | Phase::Checking { .. } | Phase::Alerted,
            ObserveEvent::RollbackRequested { by },
        ) => roll_back(&mut next, &mut actions, now, by),
        (Phase::Alerted, ObserveEvent::AlertDismissed { .. }) => {
            next.phase = Phase::Waiting {
                next: now + secs(observation.interval_seconds),
            };
        }
        (
            Phase::RollingBack { by, .. },
            ObserveEvent::RollbackReported {
                ok,
                final_versions,
                detail,
            },
        ) => {
            if *ok && by_package(final_versions) == by_package(&observation.recorded) {
                next.phase = Phase::RolledBack {
                    at: now,
                    by: by.clone(),
                };
            } else {
                let detail = format!(
                    "the late rollback did not restore the recorded versions (apt {}): {detail}",
                    if *ok { "succeeded" } else { "failed" }
                );
                actions.push(ObserveAction::Page {
                    detail: detail.clone(),
                });
                next.phase = Phase::RollbackFailed { at: now, detail };
            }
        }
        _ => return Err(wrong()),
    }
    Ok((next, actions))
}

fn alert(
    next: &mut Observation,
    actions: &mut Vec<ObserveAction>,
    now: Timestamp,
    check: &str,
    detail: &str,
) {
    next.alerts.push(Alert {
        at: now,
        check: check.to_owned(),
        detail: detail.to_owned(),
    });
    actions.push(ObserveAction::Alert {
        check: check.to_owned(),
        detail: detail.to_owned(),
    });
}

fn roll_back(next: &mut Observation, actions: &mut Vec<ObserveAction>, now: Timestamp, by: &str) {
    next.attempt += 1;
    next.phase = Phase::RollingBack {
        by: by.to_owned(),
        deadline: now + secs(ROLLBACK_SECONDS),
    };
    actions.push(ObserveAction::Rollback {
        attempt: next.attempt,
    });
}

#[cfg(test)]
#[path = "observe_tests.rs"]
mod tests;
