//! Every (state, event) pair: the accepted ones are listed with their next state and commands,
//! every other pair must be `Rejected::WrongState` and change nothing.

use super::fixtures::*;
use super::state::*;
use super::step::step;

use StateName as S;
use Step as C;

/// (state, event, next state, command steps). Pairs not listed are rejected.
const ACCEPTED: &[(StateName, EventName, StateName, &[Step])] = &[
    (
        S::Pending,
        EventName::Claimed,
        S::Claimed,
        &[C::RecordVersions],
    ),
    (
        S::Claimed,
        EventName::VersionsRecorded,
        S::Protecting,
        &[C::Protect],
    ),
    (S::Claimed, EventName::Released, S::Pending, &[]),
    (S::Claimed, EventName::NotStarted, S::Failed, &[]),
    (
        S::Claimed,
        EventName::TimedOut,
        S::Claimed,
        &[C::RecordVersions],
    ),
    (
        S::Protecting,
        EventName::ProtectionDone,
        S::Applying,
        &[C::Install],
    ),
    (
        S::Protecting,
        EventName::ProtectionFailed,
        S::Failed,
        &[C::Page],
    ),
    (S::Protecting, EventName::Released, S::Pending, &[]),
    (
        S::Protecting,
        EventName::TimedOut,
        S::Protecting,
        &[C::Protect],
    ),
    (
        S::Applying,
        EventName::ApplySucceeded,
        S::Verifying,
        &[C::RunChecks],
    ),
    (
        S::Applying,
        EventName::ApplyFailed,
        S::RollingBack,
        &[C::Rollback],
    ),
    (S::Applying, EventName::TimedOut, S::Applying, &[C::Install]),
    (
        S::Applying,
        EventName::AgentReportedRollback,
        S::RolledBack,
        &[C::BlockVersion],
    ),
    (
        S::Verifying,
        EventName::HealthCheckPassed,
        S::Verifying,
        &[],
    ),
    (
        S::Verifying,
        EventName::HealthCheckFailed,
        S::RollingBack,
        &[C::Rollback, C::BlockVersion],
    ),
    (
        S::Verifying,
        EventName::VerificationPeriodElapsed,
        S::Done,
        &[],
    ),
    (
        S::Verifying,
        EventName::AgentReportedRollback,
        S::RolledBack,
        &[C::BlockVersion],
    ),
    (
        S::RollingBack,
        EventName::RollbackSucceeded,
        S::RolledBack,
        &[],
    ),
    (
        S::RollingBack,
        EventName::RollbackFailed,
        S::Failed,
        &[C::Page],
    ),
    (
        S::RollingBack,
        EventName::TimedOut,
        S::RollingBack,
        &[C::Rollback],
    ),
    (
        S::RollingBack,
        EventName::AgentReportedRollback,
        S::RolledBack,
        &[C::BlockVersion],
    ),
    // The guard's report of a change that went well ends the host from any state between the
    // claim and the end (docs: src/host/report_tests.rs has every outcome).
    (S::Claimed, EventName::GuardReported, S::Done, &[]),
    (S::Protecting, EventName::GuardReported, S::Done, &[]),
    (S::Applying, EventName::GuardReported, S::Done, &[]),
    (S::Verifying, EventName::GuardReported, S::Done, &[]),
    (S::RollingBack, EventName::GuardReported, S::Done, &[]),
    (S::Claimed, EventName::ReportRefused, S::Failed, &[C::Page]),
    (
        S::Protecting,
        EventName::ReportRefused,
        S::Failed,
        &[C::Page],
    ),
    (S::Applying, EventName::ReportRefused, S::Failed, &[C::Page]),
    (
        S::Verifying,
        EventName::ReportRefused,
        S::Failed,
        &[C::Page],
    ),
    (
        S::RollingBack,
        EventName::ReportRefused,
        S::Failed,
        &[C::Page],
    ),
];

#[test]
fn every_state_and_event_pair() {
    let states = every_state();
    let events = every_event();
    assert_eq!(states.len(), 9, "one sample per state");
    assert_eq!(events.len(), 17, "one sample per event");
    let mut used = 0;
    for state in &states {
        for event in &events {
            let row = ACCEPTED
                .iter()
                .find(|(s, e, _, _)| *s == state.name() && *e == event.name());
            let got = step(&change(state.clone()), event, now(), &policy());
            let pair = format!("{:?} + {:?}", state.name(), event.name());
            match (row, got) {
                (Some((_, _, next, commands)), Ok(decision)) => {
                    used += 1;
                    assert_eq!(decision.next.name(), *next, "{pair}");
                    assert_eq!(steps(&decision), *commands, "{pair}");
                }
                (None, Err(rejected)) => assert_eq!(
                    rejected,
                    Rejected::WrongState {
                        state: state.name(),
                        event: event.name()
                    },
                    "{pair}"
                ),
                (Some(_), Err(rejected)) => panic!("{pair}: expected a transition, got {rejected}"),
                (None, Ok(decision)) => {
                    panic!("{pair}: expected a refusal, got {:?}", decision.next.name())
                }
            }
        }
    }
    assert_eq!(
        used,
        ACCEPTED.len(),
        "every table row matches a sample pair"
    );
}

#[test]
fn terminal_states_are_absorbing() {
    for state in every_state().into_iter().filter(HostState::is_terminal) {
        for event in every_event() {
            assert!(step(&change(state.clone()), &event, now(), &policy()).is_err());
        }
        assert_eq!(super::step::on_tick(&state, jiff::Timestamp::MAX), None);
    }
}

#[test]
fn commands_carry_the_state_attempt_and_the_host_key() {
    let state = every_state().remove(2); // protecting, attempt 3
    let decision = step(&change(state), &Event::ProtectionDone, now(), &policy()).unwrap();
    let key = &decision.commands[0].key;
    assert_eq!((key.rollout.0.as_str(), key.host.0.as_str()), ("r1", "h1"));
    assert_eq!((key.step, key.attempt), (Step::Install, 3));
    assert_eq!(decision.commands[0].not_before, now());
    let HostState::Applying { recorded: r, .. } = &decision.next else {
        panic!("not applying: {:?}", decision.next);
    };
    assert_eq!(r, &recorded());
    assert_eq!(
        decision.commands[0].action,
        Action::Install {
            packages: targets()
        }
    );
}

#[test]
fn released_claims_start_again_with_a_higher_attempt() {
    for index in [1, 2] {
        let state = every_state().remove(index);
        let released = Event::Released { reason: "x".into() };
        let decision = step(&change(state), &released, now(), &policy()).unwrap();
        assert_eq!(decision.next, HostState::Pending { attempt: 4 });
    }
}

#[test]
fn claims_need_distinct_targets() {
    let pending = change(HostState::default());
    let claim = |targets| Event::Claimed { targets };
    assert_eq!(
        step(&pending, &claim(vec![]), now(), &policy()),
        Err(Rejected::NoTargets)
    );
    let mut twice = targets();
    twice.push(twice[0].clone());
    assert_eq!(
        step(&pending, &claim(twice), now(), &policy()),
        Err(Rejected::DuplicateTarget("libssl3".into()))
    );
}

#[test]
fn no_install_without_every_recorded_version() {
    let claimed = change(every_state().remove(1));
    let partial = Event::VersionsRecorded {
        versions: recorded()[1..].to_vec(),
    };
    assert_eq!(
        step(&claimed, &partial, now(), &policy()),
        Err(Rejected::IncompleteVersions(vec!["libssl3".into()]))
    );
    // Extra packages in the report are not kept.
    let mut extra = recorded();
    extra.push(crate::model::Recorded {
        package: package("zlib1g"),
        version: Some(version("1")),
    });
    let decision = step(
        &claimed,
        &Event::VersionsRecorded { versions: extra },
        now(),
        &policy(),
    )
    .unwrap();
    assert_eq!(decision.next.recorded(), Some(&recorded()[..]));
}

#[test]
fn without_protection_steps_recording_goes_straight_to_applying() {
    let claimed = change(every_state().remove(1));
    let mut policy = policy();
    policy.protection_steps.clear();
    let event = Event::VersionsRecorded {
        versions: recorded(),
    };
    let decision = step(&claimed, &event, now(), &policy).unwrap();
    assert_eq!(decision.next.name(), StateName::Applying);
    assert_eq!(decision.next.recorded(), Some(&recorded()[..]));
    assert_eq!(steps(&decision), [Step::Install]);
}

#[test]
fn an_install_reporting_other_versions_rolls_back() {
    let applying = change(every_state().remove(3));
    let event = Event::ApplySucceeded {
        versions: recorded(),
    };
    let decision = step(&applying, &event, now(), &policy()).unwrap();
    assert!(matches!(
        decision.next,
        HostState::RollingBack {
            cause: RollbackCause::VersionMismatch,
            ..
        }
    ));
    assert_eq!(steps(&decision), [Step::Rollback]);
}

#[test]
fn verification_without_every_check_passed_rolls_back_without_blocking() {
    let mut state = every_state().remove(4);
    if let HostState::Verifying { passed, .. } = &mut state {
        passed.clear();
    }
    let decision = step(
        &change(state),
        &Event::VerificationPeriodElapsed,
        now(),
        &policy(),
    )
    .unwrap();
    let HostState::RollingBack { cause, .. } = &decision.next else {
        panic!("not rolling back: {:?}", decision.next);
    };
    assert_eq!(
        cause,
        &RollbackCause::ChecksMissing {
            checks: vec!["web".into()]
        }
    );
    assert_eq!(steps(&decision), [Step::Rollback]);
}

#[test]
fn unknown_checks_are_refused() {
    let verifying = change(every_state().remove(4));
    for event in [
        Event::HealthCheckPassed { check: "db".into() },
        Event::HealthCheckFailed {
            check: "db".into(),
            detail: "x".into(),
        },
    ] {
        assert_eq!(
            step(&verifying, &event, now(), &policy()),
            Err(Rejected::UnknownCheck("db".into()))
        );
    }
}

#[test]
fn a_rollback_to_other_versions_fails_and_pages() {
    let rolling_back = change(every_state().remove(5));
    for event in [
        Event::RollbackSucceeded {
            versions: installed(),
        },
        Event::AgentReportedRollback {
            versions: installed(),
            cause: RollbackCause::ApplyTimedOut,
        },
    ] {
        let decision = step(&rolling_back, &event, now(), &policy()).unwrap();
        assert!(matches!(
            decision.next,
            HostState::Failed {
                cause: FailCause::RollbackMismatch { .. },
                ..
            }
        ));
        assert_eq!(steps(&decision), [Step::Page]);
    }
}

#[test]
fn a_health_rollback_blocks_once() {
    let verifying = change(every_state().remove(4));
    let failed = Event::HealthCheckFailed {
        check: "web".into(),
        detail: "502".into(),
    };
    let decision = step(&verifying, &failed, now(), &policy()).unwrap();
    let Action::BlockVersion { versions, .. } = &decision.commands[1].action else {
        panic!("no block: {:?}", decision.commands);
    };
    assert_eq!(versions, &targets());
    // The agent's own report of the same rollback does not block again.
    let agent = every_event()
        .into_iter()
        .find(|e| e.name() == EventName::AgentReportedRollback)
        .unwrap();
    let after = step(&change(decision.next), &agent, now(), &policy()).unwrap();
    assert_eq!(after.next.name(), StateName::RolledBack);
    assert!(after.commands.is_empty());
}

#[test]
fn a_change_not_started_fails_the_host_at_once_without_paging() {
    let claimed = every_state().remove(1);
    for (refused, cause) in [(true, "refused"), (false, "not_started")] {
        let event = Event::NotStarted {
            refused,
            detail: "read-only".into(),
        };
        let decision = step(&change(claimed.clone()), &event, now(), &policy()).unwrap();
        let HostState::Failed { cause: got, .. } = &decision.next else {
            panic!("not failed: {:?}", decision.next);
        };
        assert_eq!(serde_json::to_value(got).unwrap()["kind"], cause);
        assert!(!got.pages());
        assert!(
            decision.commands.is_empty(),
            "nothing touched, nobody paged"
        );
        assert!(
            decision.next.is_failure(),
            "counts against the failure budget"
        );
    }
}
