//! Every (state, event) pair: the accepted ones are listed with their next state and commands,
//! every other pair must be `Rejected::WrongState` and change nothing.

use super::fixtures::*;
use super::state::*;
use super::step::step;
use crate::report::{GuardOutcome, GuardReport};

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
    (S::Claimed, EventName::Released, S::Pending, &[]),
    (
        S::Claimed,
        EventName::TimedOut,
        S::Claimed,
        &[C::RecordVersions],
    ),
    (S::Protecting, EventName::Released, S::Pending, &[]),
    (
        S::Protecting,
        EventName::TimedOut,
        S::Protecting,
        &[C::Protect],
    ),
    (S::Applying, EventName::TimedOut, S::Applying, &[C::Install]),
    (
        S::Verifying,
        EventName::VerificationPeriodElapsed,
        S::Done,
        &[],
    ),
    (
        S::RollingBack,
        EventName::TimedOut,
        S::RollingBack,
        &[C::Rollback],
    ),
    // The guard's report of a change that went well ends the host from any state between the
    // claim and the end (src/host/report_tests.rs has every outcome).
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
    // After a verified change that still needs a restart or a reboot (src/host/aftercare_tests.rs
    // has every outcome).
    (
        S::Restarting,
        EventName::TimedOut,
        S::Restarting,
        &[C::RestartServices],
    ),
    (S::Restarting, EventName::RestartReported, S::Done, &[]),
    (S::Restarting, EventName::Deferred, S::Done, &[]),
    (
        S::RebootQueued,
        EventName::RebootGranted,
        S::Rebooting,
        &[C::Reboot],
    ),
    (S::RebootQueued, EventName::Deferred, S::Done, &[]),
    (S::Rebooting, EventName::TimedOut, S::Failed, &[C::Page]),
    (S::Rebooting, EventName::HostSeen, S::Done, &[]),
    (S::Rebooting, EventName::Deferred, S::Done, &[]),
    // A red gate of the group halts a claim in flight (src/host/halted_tests.rs); the
    // controller's rollback reports back.
    (S::Claimed, EventName::GateFailed, S::Claimed, &[]),
    (
        S::Verifying,
        EventName::GateFailed,
        S::RollingBack,
        &[C::Rollback],
    ),
    (
        S::RollingBack,
        EventName::RollbackReported,
        S::RolledBack,
        &[],
    ),
];

#[test]
fn every_state_and_event_pair() {
    let states = every_state();
    let events = every_event();
    assert_eq!(states.len(), 12, "one sample per state");
    assert_eq!(events.len(), 13, "one sample per event");
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
    let state = every_state().remove(0); // pending, attempt 3
    let claim = Event::Claimed { targets: targets() };
    let decision = step(&change(state), &claim, now(), &policy()).unwrap();
    let key = &decision.commands[0].key;
    assert_eq!((key.rollout.0.as_str(), key.host.0.as_str()), ("r1", "h1"));
    assert_eq!((key.step, key.attempt), (Step::RecordVersions, 3));
    assert_eq!(decision.commands[0].not_before, now());
    assert_eq!(
        decision.commands[0].action,
        Action::RecordVersions {
            packages: vec![package("libssl3"), package("nginx")]
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
fn a_change_not_started_fails_the_host_at_once_without_paging() {
    let claimed = every_state().remove(1);
    for (outcome, cause) in [
        (
            GuardOutcome::Refused {
                detail: "read-only".into(),
            },
            "refused",
        ),
        (
            GuardOutcome::NotStarted {
                detail: "dpkg-query failed".into(),
            },
            "not_started",
        ),
    ] {
        let event = Event::GuardReported {
            report: GuardReport::untouched(outcome),
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
