//! Every (phase, event) pair of the observation machine: the accepted ones with their next
//! phase and actions, every other pair rejected and nothing changed; then a whole run with
//! a late failure, offered and auto rollbacks.

use jiff::{SignedDuration, Timestamp};

use super::*;
use crate::host::fixtures::{now, recorded, targets, version};
use crate::model::Recorded;

fn at(seconds: i64) -> Timestamp {
    now() + SignedDuration::from_secs(seconds)
}

/// Observation for 100 s, a round every 10 s, started at `now()`.
fn started(auto: bool) -> Observation {
    Observation::start("web", targets(), recorded(), now(), 100, 10, auto)
}

fn in_phase(phase: Phase) -> Observation {
    Observation {
        phase,
        ..started(false)
    }
}

fn phases() -> Vec<Phase> {
    vec![
        Phase::Waiting { next: at(10) },
        Phase::Checking { deadline: at(130) },
        Phase::Alerted,
        Phase::RollingBack {
            by: "alice".into(),
            deadline: at(1800),
        },
        Phase::Passed { at: at(100) },
        Phase::RolledBack {
            at: at(20),
            by: "alice".into(),
        },
        Phase::RollbackFailed {
            at: at(20),
            detail: "x".into(),
        },
    ]
}

fn events() -> Vec<ObserveEvent> {
    vec![
        ObserveEvent::Tick,
        ObserveEvent::RoundReported { failures: vec![] },
        ObserveEvent::RoundReported {
            failures: vec![("log".into(), "2 line(s) match".into())],
        },
        ObserveEvent::RollbackRequested { by: "bob".into() },
        ObserveEvent::AlertDismissed { by: "bob".into() },
        ObserveEvent::RollbackReported {
            ok: true,
            final_versions: recorded(),
            detail: String::new(),
        },
    ]
}

/// (phase, event index, next phase, action names), for events at `at(5000)` (every
/// deadline passed).
const ACCEPTED: &[(&str, usize, &str, &[&str])] = &[
    ("observing", 0, "passed", &[]),
    ("observing", 3, "rolling_back", &["rollback"]),
    ("checking", 0, "alerted", &["alert"]),
    ("checking", 1, "observing", &[]),
    ("checking", 2, "alerted", &["alert"]),
    ("checking", 3, "rolling_back", &["rollback"]),
    ("alerted", 3, "rolling_back", &["rollback"]),
    ("alerted", 4, "observing", &[]),
    ("rolling_back", 0, "rollback_failed", &["page"]),
    ("rolling_back", 5, "rolled_back", &[]),
];

fn action_name(action: &ObserveAction) -> &'static str {
    match action {
        ObserveAction::RunChecks { .. } => "run_checks",
        ObserveAction::Alert { .. } => "alert",
        ObserveAction::Rollback { .. } => "rollback",
        ObserveAction::Page { .. } => "page",
    }
}

#[test]
fn every_phase_and_event_pair() {
    let late = at(5000);
    let mut accepted = 0;
    for phase in phases() {
        for (index, event) in events().iter().enumerate() {
            let observation = in_phase(phase.clone());
            let result = observe(&observation, event, late);
            let expected = ACCEPTED
                .iter()
                .find(|(p, e, _, _)| *p == phase.name() && *e == index);
            match (expected, result) {
                (Some((_, _, next, actions)), Ok((after, done))) => {
                    accepted += 1;
                    assert_eq!(after.phase_name(), *next, "{} × {index}", phase.name());
                    let names: Vec<_> = done.iter().map(action_name).collect();
                    assert_eq!(names, *actions, "{} × {index}", phase.name());
                }
                (None, Err(ObserveRejected::WrongPhase { .. })) => {}
                (expected, result) => {
                    panic!(
                        "{} × {index}: expected {expected:?}, got {result:?}",
                        phase.name()
                    )
                }
            }
        }
    }
    assert_eq!(accepted, ACCEPTED.len());
}

#[test]
fn ticks_before_their_time_are_not_due() {
    let observation = started(false);
    assert_eq!(next_due(&observation), Some(at(10)));
    assert_eq!(
        observe(&observation, &ObserveEvent::Tick, at(9)),
        Err(ObserveRejected::NotDue { due: at(10) })
    );
    let (checking, actions) = observe(&observation, &ObserveEvent::Tick, at(10)).unwrap();
    assert_eq!(actions, [ObserveAction::RunChecks { attempt: 1 }]);
    assert_eq!(next_due(&checking), Some(at(10 + ROUND_SECONDS as i64)));
    assert!(observe(&checking, &ObserveEvent::Tick, at(11)).is_err());
    assert_eq!(next_due(&in_phase(Phase::Alerted)), None);
}

#[test]
fn a_quiet_period_passes_and_a_late_failure_offers_the_rollback() {
    let mut observation = started(false);
    let mut t = 10;
    // Nine quiet rounds.
    for round in 1..=9 {
        let (checking, actions) = observe(&observation, &ObserveEvent::Tick, at(t)).unwrap();
        assert_eq!(actions, [ObserveAction::RunChecks { attempt: round }]);
        let passed = ObserveEvent::RoundReported { failures: vec![] };
        (observation, _) = observe(&checking, &passed, at(t + 1)).unwrap();
        assert_eq!(observation.rounds, round);
        t += 11;
    }
    // The period is over at 100 s: the next tick ends it.
    assert_eq!(next_due(&observation), Some(at(100)));
    let (ended, actions) = observe(&observation, &ObserveEvent::Tick, at(100)).unwrap();
    assert_eq!(ended.phase, Phase::Passed { at: at(100) });
    assert!(actions.is_empty() && ended.is_final());

    // Another host: its second round fails. Offered, then an operator asks.
    let (checking, _) = observe(&started(false), &ObserveEvent::Tick, at(10)).unwrap();
    let failed = ObserveEvent::RoundReported {
        failures: vec![("pw-demo-log".into(), "1 line(s) match ERROR".into())],
    };
    let (alerted, actions) = observe(&checking, &failed, at(11)).unwrap();
    assert_eq!(alerted.phase, Phase::Alerted);
    assert_eq!(
        actions,
        [ObserveAction::Alert {
            check: "pw-demo-log".into(),
            detail: "1 line(s) match ERROR".into()
        }]
    );
    assert_eq!(alerted.alerts[0].at, at(11));
    let asked = ObserveEvent::RollbackRequested { by: "alice".into() };
    let (rolling, actions) = observe(&alerted, &asked, at(30)).unwrap();
    assert_eq!(actions, [ObserveAction::Rollback { attempt: 2 }]);
    // Exactly the recorded versions: rolled back. Anything else pages.
    let back = ObserveEvent::RollbackReported {
        ok: true,
        final_versions: recorded(),
        detail: String::new(),
    };
    let (done, _) = observe(&rolling, &back, at(60)).unwrap();
    assert_eq!(
        done.phase,
        Phase::RolledBack {
            at: at(60),
            by: "alice".into()
        }
    );
    let mut other = recorded();
    other[0].version = Some(version("9.9"));
    let wrong = ObserveEvent::RollbackReported {
        ok: true,
        final_versions: other,
        detail: "apt ok".into(),
    };
    let (failed, actions) = observe(&rolling, &wrong, at(60)).unwrap();
    assert!(matches!(failed.phase, Phase::RollbackFailed { .. }));
    assert!(matches!(&actions[..], [ObserveAction::Page { .. }]));
}

#[test]
fn by_policy_a_late_failure_rolls_back_at_once() {
    let (checking, _) = observe(&started(true), &ObserveEvent::Tick, at(10)).unwrap();
    let failed = ObserveEvent::RoundReported {
        failures: vec![("http".into(), "answered 500".into())],
    };
    let (rolling, actions) = observe(&checking, &failed, at(12)).unwrap();
    assert_eq!(
        rolling.phase,
        Phase::RollingBack {
            by: "policy".into(),
            deadline: at(12 + ROLLBACK_SECONDS as i64)
        }
    );
    assert_eq!(
        actions,
        [
            ObserveAction::Alert {
                check: "http".into(),
                detail: "answered 500".into()
            },
            ObserveAction::Rollback { attempt: 2 }
        ]
    );
    let json = serde_json::to_string(&rolling).unwrap();
    let back: Observation = serde_json::from_str(&json).unwrap();
    assert_eq!(back, rolling);
    let _: Vec<Recorded> = back.recorded;
}
