//! The outside gates of a claim, per group, as data the controller computes on every pass from
//! the live fleet document (docs/design/rollout-engine.md "Window and health gates"), and the
//! pure decisions over them.
//!
//! Window gate: a host is claimed only inside an open slot of its group's maintenance windows
//! (blackouts already cut out) and only when the slot's remaining time holds the host's apply
//! estimate, the verification period and the slot's rollback buffer (pw-planner's capacity
//! formula: ≥ 30% of the slot). A group with no windows defined is not gated. An emergency (T0)
//! rollout bypasses the window gate, never the health gate.
//!
//! Health gate: while any of a group's checks is red, no host of the group is claimed. A red
//! check of the group's own (`HealthGate::failing`: a PromQL gate the controller evaluates)
//! also stops the group's hosts in flight ([`gate_halts`]): each claimed host is halted, and
//! what its guard verifies is rolled back (`host/halted.rs`).

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::host::{AsHostState, Event, HostState};
use crate::model::HostId;
use crate::plan::RolloutPlan;
use crate::rollout::Gates;

/// A group's maintenance-window state at the pass's `now`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum WindowGate {
    /// The group defines no maintenance window: changes are not window-gated.
    NoWindows,
    /// `now` is inside a usable slot ending at `end`.
    Open {
        window: String,
        end: Timestamp,
        /// The slot's rollback buffer (pw-planner's `capacity`).
        rollback_buffer_seconds: u64,
        /// The group's verification period after each change.
        verification_seconds: u64,
        /// The slot after this one (where hosts that no longer fit continue).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next: Option<NextSlot>,
    },
    /// `now` is outside every usable slot.
    Closed {
        /// The next usable slot in the search horizon, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next: Option<NextSlot>,
        /// The blackout covering `now`, if that is why.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        blackout: Option<BlackoutNote>,
    },
}

/// A usable slot still to come.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NextSlot {
    pub window: String,
    pub start: Timestamp,
    pub end: Timestamp,
}

/// A blackout in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlackoutNote {
    pub name: String,
    pub until: Timestamp,
}

/// A group's health gate: the checks that are red (empty: green).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthGate {
    /// `check on host` texts of the red checks, for the operator.
    pub red: Vec<String>,
    /// The group's own checks failing now (PromQL gates): besides holding the next claims,
    /// they stop the group's hosts in flight ([`gate_halts`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failing: Vec<FailingCheck>,
}

/// One of a group's own checks that fails now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailingCheck {
    /// The check's name in the fleet document.
    pub check: String,
    /// Why it is red, for the host's rollback cause.
    pub detail: String,
}

/// A claimed host to stop because a check of its group fails: feed [`Halt::event`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Halt {
    pub host: HostId,
    pub check: String,
    pub detail: String,
}

impl Halt {
    pub fn event(&self) -> Event {
        Event::GateFailed {
            check: self.check.clone(),
            detail: self.detail.clone(),
        }
    }
}

/// The hosts of `plan` in flight — claimed (not yet halted), or verified by their guard and in
/// the controller's verification period (`verifying`) — whose fleet group has a failing check
/// of its own: each is stopped with the group's first failing check. Hosts not started are not
/// listed (the same gate keeps them from being claimed); hosts already settled (done, rolled
/// back, failed, restarting or rebooting after the verification period) are not either.
pub fn gate_halts<S: AsHostState>(
    plan: &RolloutPlan,
    states: &BTreeMap<HostId, S>,
    gates: &Gates,
) -> Vec<Halt> {
    let mut halts = Vec::new();
    for batch in &plan.batches {
        for host in &batch.hosts {
            let in_flight = matches!(
                states.get(&host.id).map(AsHostState::host_state),
                Some(HostState::Claimed { halted: None, .. } | HostState::Verifying { .. })
            );
            if !in_flight {
                continue;
            }
            let group = gates.group_of(&host.id, &batch.group);
            if let Some(failing) = gates.health.get(group).and_then(|g| g.failing.first()) {
                halts.push(Halt {
                    host: host.id.clone(),
                    check: failing.check.clone(),
                    detail: failing.detail.clone(),
                });
            }
        }
    }
    halts
}

impl HealthGate {
    /// The red signal of one host of the group from its latest rollout state (its agent's last
    /// guarded change report as the engine judged it): red when the host ended `failed` in a
    /// way that pages a human (a rollback that failed or did not restore the recorded
    /// versions, a protection hook that may have left a service degraded, a report that does
    /// not prove its outcome). Nothing-touched failures (unreachable, refused, not started) and
    /// every other state are green.
    pub fn signal(host: &HostId, state: &HostState) -> Option<String> {
        match state {
            HostState::Failed { cause, at, .. } if cause.pages() => {
                Some(format!("host {host} failed at {at}: {cause:?}"))
            }
            _ => None,
        }
    }
}

/// Why a host of a group may not be claimed now because of its window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WindowWait {
    /// Outside the group's windows (or in a blackout) until `next`.
    Closed {
        next: Option<NextSlot>,
        blackout: Option<BlackoutNote>,
    },
    /// The open slot has too little time left for this host's change and its rollback buffer;
    /// it continues in `next` (carry-over).
    TooShort {
        window: String,
        remaining_seconds: u64,
        needs_seconds: u64,
        next: Option<NextSlot>,
    },
}

/// Whether a host whose change is estimated at `apply_seconds` may be claimed under `gate` at
/// `now`; `emergency` bypasses the window gate.
pub fn window_allows(
    gate: &WindowGate,
    now: Timestamp,
    apply_seconds: u64,
    emergency: bool,
) -> Result<(), WindowWait> {
    if emergency {
        return Ok(());
    }
    match gate {
        WindowGate::NoWindows => Ok(()),
        WindowGate::Closed { next, blackout } => Err(WindowWait::Closed {
            next: next.clone(),
            blackout: blackout.clone(),
        }),
        WindowGate::Open {
            window,
            end,
            rollback_buffer_seconds,
            verification_seconds,
            next,
        } => {
            let remaining = u64::try_from(end.as_second() - now.as_second()).unwrap_or(0);
            let needs = apply_seconds
                .saturating_add(*verification_seconds)
                .saturating_add(*rollback_buffer_seconds);
            if remaining >= needs {
                Ok(())
            } else {
                Err(WindowWait::TooShort {
                    window: window.clone(),
                    remaining_seconds: remaining,
                    needs_seconds: needs,
                    next: next.clone(),
                })
            }
        }
    }
}

/// Hosts of one group held back by the window gate, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowHold {
    pub group: String,
    pub hosts: Vec<HostId>,
    pub wait: WindowWait,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn next() -> Option<NextSlot> {
        Some(NextSlot {
            window: "sun".into(),
            start: t("2026-12-06T02:00:00Z"),
            end: t("2026-12-06T06:00:00Z"),
        })
    }

    fn open(end: &str) -> WindowGate {
        WindowGate::Open {
            window: "sat".into(),
            end: t(end),
            rollback_buffer_seconds: 1080,
            verification_seconds: 300,
            next: next(),
        }
    }

    #[test]
    fn window_gate_decisions() {
        let now = t("2026-12-05T02:00:00Z");
        let blackout = Some(BlackoutNote {
            name: "freeze".into(),
            until: t("2026-12-06T00:00:00Z"),
        });
        let closed = WindowGate::Closed {
            next: next(),
            blackout: blackout.clone(),
        };
        let too_short = |remaining, needs| {
            Err(WindowWait::TooShort {
                window: "sat".into(),
                remaining_seconds: remaining,
                needs_seconds: needs,
                next: next(),
            })
        };
        // (gate, apply estimate, emergency, expected)
        let table: Vec<(WindowGate, u64, bool, Result<(), WindowWait>)> = vec![
            (WindowGate::NoWindows, 10_000, false, Ok(())),
            (
                closed.clone(),
                120,
                false,
                Err(WindowWait::Closed {
                    next: next(),
                    blackout,
                }),
            ),
            (closed, 120, true, Ok(())),
            // 1 h left: 120 + 300 + 1080 = 1500 s fit.
            (open("2026-12-05T03:00:00Z"), 120, false, Ok(())),
            // Exactly enough is enough.
            (open("2026-12-05T02:25:00Z"), 120, false, Ok(())),
            // One second short: wait for the next slot (carry-over).
            (
                open("2026-12-05T02:24:59Z"),
                120,
                false,
                too_short(1499, 1500),
            ),
            // A slow host does not fit where a quick one does.
            (
                open("2026-12-05T03:00:00Z"),
                3000,
                false,
                too_short(3600, 4380),
            ),
            // The slot already ended (a stale gate): nothing fits.
            (open("2026-12-05T01:00:00Z"), 0, false, too_short(0, 1380)),
            (open("2026-12-05T01:00:00Z"), 0, true, Ok(())),
        ];
        for (index, (gate, apply, emergency, expected)) in table.into_iter().enumerate() {
            assert_eq!(
                window_allows(&gate, now, apply, emergency),
                expected,
                "row {index}: {gate:?}"
            );
        }
    }

    #[test]
    fn health_signals_from_the_latest_states() {
        use crate::host::{FailCause, RollbackCause};
        let host = HostId("h1".into());
        let failed = |cause| HostState::Failed {
            targets: vec![],
            cause,
            at: t("2026-12-05T02:00:00Z"),
        };
        let table = [
            (HostState::Pending { attempt: 1 }, false),
            (failed(FailCause::Unreachable), false),
            (
                failed(FailCause::Refused {
                    detail: "read-only".into(),
                }),
                false,
            ),
            (
                failed(FailCause::NotStarted {
                    detail: "bad".into(),
                }),
                false,
            ),
            (
                failed(FailCause::ProtectionFailed {
                    detail: "hook".into(),
                }),
                true,
            ),
            (
                failed(FailCause::RollbackMismatch {
                    cause: RollbackCause::ApplyTimedOut,
                }),
                true,
            ),
            (failed(FailCause::BadReport { detail: "?".into() }), true),
        ];
        for (state, red) in table {
            let signal = HealthGate::signal(&host, &state);
            assert_eq!(signal.is_some(), red, "{state:?}");
            if let Some(text) = signal {
                assert!(
                    text.starts_with("host h1 failed at 2026-12-05T02:00:00Z"),
                    "{text}"
                );
            }
        }
    }

    #[test]
    fn gates_read_back_from_their_json() {
        let gate = open("2026-12-05T03:00:00Z");
        let text = serde_json::to_string(&gate).unwrap();
        assert!(
            text.starts_with(r#"{"state":"open","window":"sat""#),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<WindowGate>(&text).unwrap(), gate);
    }
}
