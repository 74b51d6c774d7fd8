//! The agent's guarded change report (`GuardReported`): every outcome from `claimed` and from
//! every intermediate state a crash of an older controller could leave, with the next state,
//! the commands and the failure cause; then the cases a table cannot show (blocks sent once,
//! whose recorded versions count, what the messages say).

use super::fixtures::*;
use super::state::*;
use super::step::step;
use crate::model::Recorded;
use crate::report::{GuardOutcome, GuardReason, GuardReport};

use StateName as S;
use Step as C;

/// The next state, the command steps and the failure cause's kind (`""` when not failed).
type Expect = (StateName, &'static [Step], &'static str);

/// (report, expected from `claimed`, expected from `protecting`, `applying`, `verifying` and
/// `rolling_back` — the sample rolling back after an apply failure, so a health rollback still
/// blocks).
const ROWS: &[(&str, Expect, Expect)] = &[
    ("done", (S::Done, &[], ""), (S::Done, &[], "")),
    (
        "done on other versions",
        (S::Failed, &[C::Page], "bad_report"),
        (S::Failed, &[C::Page], "bad_report"),
    ),
    (
        "done without a check pass",
        (S::Failed, &[C::Page], "bad_report"),
        (S::Failed, &[C::Page], "bad_report"),
    ),
    (
        "done, empty recorded",
        (S::Failed, &[C::Page], "bad_report"),
        (S::Done, &[], ""),
    ),
    (
        "done, partly recorded",
        (S::Failed, &[C::Page], "bad_report"),
        (S::Done, &[], ""),
    ),
    (
        "rolled back after a health failure",
        (S::RolledBack, &[C::BlockVersion], ""),
        (S::RolledBack, &[C::BlockVersion], ""),
    ),
    (
        "rolled back onto other versions",
        (S::Failed, &[C::BlockVersion, C::Page], "rollback_mismatch"),
        (S::Failed, &[C::BlockVersion, C::Page], "rollback_mismatch"),
    ),
    (
        "rolled back after an apply failure",
        (S::RolledBack, &[], ""),
        (S::RolledBack, &[], ""),
    ),
    (
        "rolled back after a restart",
        (S::RolledBack, &[], ""),
        (S::RolledBack, &[], ""),
    ),
    (
        "rolled back, empty recorded",
        (S::Failed, &[C::Page], "bad_report"),
        (S::RolledBack, &[], ""),
    ),
    (
        "failed",
        (S::Failed, &[C::Page], "rollback_failed"),
        (S::Failed, &[C::Page], "rollback_failed"),
    ),
    (
        "protection failed",
        (S::Failed, &[C::Page], "protection_failed"),
        (S::Failed, &[C::Page], "protection_failed"),
    ),
    (
        "protection failed, empty recorded",
        (S::Failed, &[C::Page], "protection_failed"),
        (S::Failed, &[C::Page], "protection_failed"),
    ),
    (
        "not started",
        (S::Failed, &[], "not_started"),
        (S::Failed, &[C::Page], "bad_report"),
    ),
    (
        "refused",
        (S::Failed, &[], "refused"),
        (S::Failed, &[C::Page], "bad_report"),
    ),
];

/// The sample report named in [`ROWS`].
fn report(name: &str) -> GuardReport {
    let done = done_report();
    let rolled_back = |reason, final_versions| GuardReport {
        outcome: GuardOutcome::RolledBack {
            reason,
            detail: "x".into(),
        },
        final_versions,
        failed_check: Some("web".into()),
        passed_checks: vec!["web".into()],
        ..done_report()
    };
    let untouched = |outcome| GuardReport::untouched(outcome);
    let detail = || "x".to_string();
    match name {
        "done" => done,
        "done on other versions" => GuardReport {
            final_versions: recorded(),
            ..done
        },
        "done without a check pass" => GuardReport {
            passed_checks: vec![],
            ..done
        },
        "done, empty recorded" => GuardReport {
            recorded: vec![],
            ..done
        },
        "done, partly recorded" => GuardReport {
            recorded: recorded()[1..].to_vec(),
            ..done
        },
        "rolled back after a health failure" => {
            rolled_back(GuardReason::HealthCheckFailed, recorded())
        }
        "rolled back onto other versions" => {
            rolled_back(GuardReason::HealthCheckFailed, installed())
        }
        "rolled back after an apply failure" => rolled_back(GuardReason::ApplyFailed, recorded()),
        "rolled back after a restart" => rolled_back(GuardReason::Interrupted, recorded()),
        "rolled back, empty recorded" => GuardReport {
            recorded: vec![],
            ..rolled_back(GuardReason::ApplyFailed, recorded())
        },
        "failed" => GuardReport {
            outcome: GuardOutcome::Failed { detail: detail() },
            ..done
        },
        "protection failed" => GuardReport {
            outcome: GuardOutcome::ProtectionFailed {
                step: "snapshot".into(),
                detail: detail(),
            },
            final_versions: recorded(),
            installed_at: None,
            ..done
        },
        "protection failed, empty recorded" => untouched(GuardOutcome::ProtectionFailed {
            step: "snapshot".into(),
            detail: detail(),
        }),
        "not started" => untouched(GuardOutcome::NotStarted { detail: detail() }),
        "refused" => untouched(GuardOutcome::Refused { detail: detail() }),
        other => panic!("no sample report {other:?}"),
    }
}

fn reported(name: &str) -> Event {
    Event::GuardReported {
        report: report(name),
    }
}

fn cause_kind(state: &HostState) -> String {
    match state {
        HostState::Failed { cause, .. } => serde_json::to_value(cause).unwrap()["kind"]
            .as_str()
            .unwrap()
            .to_owned(),
        _ => String::new(),
    }
}

#[test]
fn every_outcome_from_every_state_a_report_can_meet() {
    let states = every_state();
    for (name, from_claimed, later) in ROWS {
        for (index, expect) in [
            (1, from_claimed),
            (2, later),
            (3, later),
            (4, later),
            (5, later),
        ] {
            let state = states[index].clone();
            let pair = format!("{name:?} in {:?}", state.name());
            let decision = step(&change(state), &reported(name), now(), &policy())
                .unwrap_or_else(|rejected| panic!("{pair}: {rejected}"));
            let (next, commands, cause) = expect;
            assert_eq!(decision.next.name(), *next, "{pair}");
            assert_eq!(steps(&decision), *commands, "{pair}");
            assert_eq!(cause_kind(&decision.next), *cause, "{pair}");
            for command in &decision.commands {
                assert_eq!(command.key.attempt, 3, "{pair}: the state's attempt");
                assert_eq!(command.not_before, now(), "{pair}");
            }
        }
    }
}

#[test]
fn pending_and_terminal_states_take_no_report() {
    for state in every_state() {
        if !matches!(state, HostState::Pending { .. }) && !state.is_terminal() {
            continue;
        }
        for (name, ..) in ROWS {
            let event = reported(name);
            assert_eq!(
                step(&change(state.clone()), &event, now(), &policy()),
                Err(Rejected::WrongState {
                    state: state.name(),
                    event: EventName::GuardReported
                }),
                "{name:?} in {:?}",
                state.name()
            );
        }
    }
}

#[test]
fn done_keeps_the_recorded_targets_and_the_passed_checks() {
    let decision = step(
        &change(every_state().remove(1)),
        &reported("done"),
        now(),
        &policy(),
    )
    .unwrap();
    let HostState::Done {
        targets: t,
        recorded: r,
        at,
        passed,
        drilled,
        cleared,
    } = &decision.next
    else {
        panic!("not done: {:?}", decision.next);
    };
    assert_eq!(cleared, &None, "nothing to restart");
    assert_eq!((t, r, *at), (&targets(), &recorded(), now()));
    assert_eq!(passed.get("web"), Some(&now()));
    assert!(!drilled, "no drill ran");
}

#[test]
fn extra_packages_in_the_report_are_not_kept_and_the_state_recorded_versions_win() {
    let mut extra = report("rolled back after an apply failure");
    extra.recorded.push(Recorded {
        package: package("zlib1g"),
        version: Some(version("1")),
    });
    let event = Event::GuardReported { report: extra };
    let decision = step(&change(every_state().remove(1)), &event, now(), &policy()).unwrap();
    assert_eq!(decision.next.recorded(), Some(&recorded()[..]));
    // In a state that holds recorded versions, those are what a rollback must reach: a report
    // whose own recorded list differs cannot move the goal.
    let Event::GuardReported { mut report } = reported("rolled back after an apply failure") else {
        unreachable!()
    };
    report.recorded = installed();
    report.final_versions = installed();
    let event = Event::GuardReported { report };
    let decision = step(&change(every_state().remove(3)), &event, now(), &policy()).unwrap();
    assert_eq!(cause_kind(&decision.next), "rollback_mismatch");
}

#[test]
fn a_health_rollback_reported_while_rolling_back_for_health_blocks_no_more() {
    let mut state = every_state().remove(5);
    if let HostState::RollingBack { cause, .. } = &mut state {
        *cause = RollbackCause::HealthCheckFailed {
            check: "web".into(),
            detail: "502".into(),
        };
    }
    let event = reported("rolled back after a health failure");
    let decision = step(&change(state), &event, now(), &policy()).unwrap();
    assert_eq!(decision.next.name(), S::RolledBack);
    assert!(decision.commands.is_empty(), "{:?}", decision.commands);
}

#[test]
fn the_block_names_the_targets_and_the_check() {
    let event = reported("rolled back after a health failure");
    let decision = step(&change(every_state().remove(1)), &event, now(), &policy()).unwrap();
    let Action::BlockVersion { versions, reason } = &decision.commands[0].action else {
        panic!("no block: {:?}", decision.commands);
    };
    assert_eq!(versions, &targets());
    assert_eq!(reason, "health check web failed: x");
    let HostState::RolledBack { cause, .. } = &decision.next else {
        panic!("not rolled back: {:?}", decision.next);
    };
    assert!(cause.blocks_versions());
}

#[test]
fn causes_say_why() {
    let failed = |name: &str, index: usize| {
        let decision = step(
            &change(every_state().remove(index)),
            &reported(name),
            now(),
            &policy(),
        )
        .unwrap();
        let HostState::Failed { cause, .. } = decision.next else {
            panic!("{name}: not failed: {:?}", decision.next);
        };
        cause
    };
    let bad = |cause: FailCause| match cause {
        FailCause::BadReport { detail } => detail,
        other => panic!("not a bad report: {other:?}"),
    };
    assert_eq!(
        bad(failed("done, partly recorded", 1)),
        "the agent reported a change without the recorded versions of libssl3"
    );
    assert_eq!(
        bad(failed("done on other versions", 1)),
        "the agent reported done, but not every target is at its exact version: \
         libssl3 absent, nginx=1.1"
    );
    assert_eq!(
        bad(failed("done without a check pass", 1)),
        "the agent reported done without a pass of the checks web"
    );
    assert_eq!(
        bad(failed("refused", 3)),
        "the agent reported a refusal after the versions were recorded: x"
    );
    assert_eq!(
        failed("protection failed", 1),
        FailCause::ProtectionFailed {
            detail: "protection step snapshot: x".into()
        }
    );
    // A failed change keeps the controller's own rollback cause when it was rolling back.
    let FailCause::RollbackFailed { cause, detail } = failed("failed", 5) else {
        panic!("not a rollback failure");
    };
    assert_eq!(detail, "x");
    assert_eq!(
        cause,
        RollbackCause::ApplyFailed {
            detail: "dpkg error".into()
        }
    );
}

#[test]
fn a_refused_report_fails_the_host_with_the_reason_and_pages() {
    let event = Event::ReportRefused {
        detail: "recorded[0].name: package name is empty".into(),
    };
    let decision = step(&change(every_state().remove(1)), &event, now(), &policy()).unwrap();
    let HostState::Failed { cause, .. } = &decision.next else {
        panic!("not failed: {:?}", decision.next);
    };
    assert_eq!(
        cause,
        &FailCause::BadReport {
            detail: "the agent's report was refused: recorded[0].name: package name is empty"
                .into()
        }
    );
    assert!(cause.pages());
    assert_eq!(steps(&decision), [Step::Page]);
    assert!(
        decision.next.is_failure(),
        "counts against the failure budget"
    );
    assert!(!decision.next.holds_slot(), "the budget slot is given back");
}

#[test]
fn reports_round_trip_as_json() {
    for (name, ..) in ROWS {
        let event = reported(name);
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["event"], "guard_reported");
        assert!(json["report"]["outcome"].is_string(), "{json}");
        assert_eq!(serde_json::from_value::<Event>(json).unwrap(), event);
    }
}
