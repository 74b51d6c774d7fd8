//! A claim halted by a failed gate of its group (`halted.rs`), and the controller's rollback
//! (`RollbackReported`): every report a halted claim can meet, with the next state, commands
//! and cause; then the rollback's results.

use super::fixtures::*;
use super::state::*;
use super::step::step;
use crate::aftercare::Aftercare;
use crate::report::{GuardOutcome, GuardReason, GuardReport};

use StateName as S;
use Step as C;

fn gate_failed() -> Event {
    Event::GateFailed {
        check: "errors".into(),
        detail: "value 0.5 is not < 0.05".into(),
    }
}

fn gate_cause() -> RollbackCause {
    RollbackCause::GateFailed {
        check: "errors".into(),
        detail: "value 0.5 is not < 0.05".into(),
    }
}

/// The claim sample after `GateFailed` at `now`.
fn halted() -> HostState {
    let claimed = every_state().remove(1);
    step(&change(claimed), &gate_failed(), now(), &policy())
        .unwrap()
        .next
}

fn rolled_back(reason: GuardReason, final_versions: Vec<crate::model::Recorded>) -> GuardReport {
    GuardReport {
        outcome: GuardOutcome::RolledBack {
            reason,
            detail: "x".into(),
        },
        final_versions,
        failed_check: Some("web".into()),
        ..done_report()
    }
}

#[test]
fn a_failed_gate_marks_the_claim_and_sends_nothing() {
    let HostState::Claimed {
        halted: Some(halt),
        progress: p,
        ..
    } = halted()
    else {
        panic!("not a halted claim: {:?}", halted());
    };
    assert_eq!(
        (halt.check.as_str(), halt.at, p),
        ("errors", now(), progress())
    );
    // Once is enough: a second failure of the gate is refused, the first one stands.
    assert_eq!(
        step(&change(halted()), &gate_failed(), now(), &policy()),
        Err(Rejected::AlreadyHalted {
            check: "errors".into()
        })
    );
    // The claim's timeout keeps the mark.
    let retried = step(&change(halted()), &Event::TimedOut, now(), &policy()).unwrap();
    assert!(
        matches!(&retried.next, HostState::Claimed { halted: Some(h), .. } if h.check == "errors"),
        "{:?}",
        retried.next
    );
}

#[test]
fn every_report_a_halted_claim_can_meet() {
    let restart = GuardReport {
        aftercare: Some(Aftercare {
            units: vec!["nginx.service".into()],
            ..Aftercare::default()
        }),
        ..done_report()
    };
    // (report, next state, command steps, cause kind of rolling_back/rolled_back/failed)
    let rows: Vec<(&str, GuardReport, StateName, &[Step], &str)> = vec![
        // Verified by the guard: rolled back by the controller, no fleet-wide block.
        (
            "done",
            done_report(),
            S::RollingBack,
            &[C::Rollback],
            "gate_failed",
        ),
        // Verified, a restart due: rolled back instead of restarted.
        (
            "done, restart due",
            restart,
            S::RollingBack,
            &[C::Rollback],
            "gate_failed",
        ),
        // The guard's own check failed and it rolled back: judged as always.
        (
            "rolled back",
            rolled_back(GuardReason::HealthCheckFailed, recorded()),
            S::RolledBack,
            &[C::BlockVersion],
            "health_check_failed",
        ),
        (
            "done proving nothing",
            GuardReport {
                passed_checks: vec![],
                ..done_report()
            },
            S::Failed,
            &[C::Page],
            "bad_report",
        ),
        (
            "not started",
            GuardReport::untouched(GuardOutcome::NotStarted { detail: "x".into() }),
            S::Failed,
            &[],
            "not_started",
        ),
    ];
    for (name, report, next, commands, cause) in rows {
        let event = Event::GuardReported { report };
        let decision = step(&change(halted()), &event, now(), &policy()).unwrap();
        assert_eq!(decision.next.name(), next, "{name}");
        assert_eq!(steps(&decision), commands, "{name}");
        let kind = match &decision.next {
            HostState::RollingBack { cause, .. } | HostState::RolledBack { cause, .. } => {
                serde_json::to_value(cause).unwrap()["kind"].clone()
            }
            HostState::Failed { cause, .. } => serde_json::to_value(cause).unwrap()["kind"].clone(),
            other => panic!("{name}: {other:?}"),
        };
        assert_eq!(kind, cause, "{name}");
    }
}

#[test]
fn the_rollback_goes_to_exactly_the_recorded_versions_with_the_check_named() {
    let report = Event::GuardReported {
        report: done_report(),
    };
    let decision = step(&change(halted()), &report, now(), &policy()).unwrap();
    assert_eq!(
        decision.commands[0].action,
        Action::Rollback {
            to: recorded(),
            checks: vec!["web".into()]
        }
    );
    assert_eq!(decision.commands[0].key.attempt, 3, "the claim's attempt");
    let HostState::RollingBack { cause, .. } = &decision.next else {
        panic!("{:?}", decision.next);
    };
    assert_eq!(cause, &gate_cause());
    assert!(!cause.blocks_versions());
}

#[test]
fn the_controllers_rollback_counts_only_on_the_recorded_versions() {
    let rolling_back = HostState::RollingBack {
        targets: targets(),
        recorded: recorded(),
        cause: gate_cause(),
        progress: progress(),
    };
    let reported = |ok, final_versions| Event::RollbackReported {
        ok,
        final_versions,
        detail: "apt said so".into(),
    };
    // (ok, final versions, next, commands, failure kind)
    type Row = (
        bool,
        Vec<crate::model::Recorded>,
        StateName,
        &'static [Step],
        &'static str,
    );
    let rows: [Row; 3] = [
        (true, recorded(), S::RolledBack, &[], ""),
        (
            true,
            installed(),
            S::Failed,
            &[C::Page],
            "rollback_mismatch",
        ),
        (false, recorded(), S::Failed, &[C::Page], "rollback_failed"),
    ];
    for (ok, versions, next, commands, fail) in rows {
        let event = reported(ok, versions.clone());
        let decision = step(&change(rolling_back.clone()), &event, now(), &policy()).unwrap();
        let pair = format!("ok {ok}, {versions:?}");
        assert_eq!(decision.next.name(), next, "{pair}");
        assert_eq!(steps(&decision), commands, "{pair}");
        match &decision.next {
            HostState::RolledBack { cause, at, .. } => {
                assert_eq!((cause, *at), (&gate_cause(), now()), "{pair}");
            }
            HostState::Failed { cause, .. } => {
                let value = serde_json::to_value(cause).unwrap();
                assert_eq!(value["kind"], fail, "{pair}");
                assert_eq!(value["cause"]["check"], "errors", "{pair}: the gate named");
            }
            other => panic!("{pair}: {other:?}"),
        }
    }
}

/// A policy whose group has a check the controller evaluates (a PromQL gate).
fn gated() -> crate::policy::Policy {
    crate::policy::Policy {
        gate_checks: vec!["errors".into()],
        verification_seconds: 20,
        ..policy()
    }
}

#[test]
fn in_a_gated_group_a_verified_change_is_verified_by_the_controller_too() {
    let claimed = every_state().remove(1);
    let report = GuardReport {
        aftercare: Some(Aftercare {
            units: vec!["nginx.service".into()],
            ..Aftercare::default()
        }),
        ..done_report()
    };
    let event = Event::GuardReported { report };
    let decision = step(&change(claimed), &event, now(), &gated()).unwrap();
    assert!(decision.commands.is_empty());
    let verifying = decision.next;
    let HostState::Verifying {
        since,
        until,
        passed,
        aftercare,
        ..
    } = &verifying
    else {
        panic!("not verifying: {verifying:?}");
    };
    assert_eq!(
        (*since, *until),
        (now(), now() + jiff::SignedDuration::from_secs(20))
    );
    assert!(passed.contains_key("web"));
    assert!(aftercare.is_some(), "kept for after the period");
    assert!(verifying.holds_slot(), "the batch is not complete");
    // Not before the period's end.
    assert!(matches!(
        step(
            &change(verifying.clone()),
            &Event::VerificationPeriodElapsed,
            now(),
            &gated()
        ),
        Err(Rejected::NotDue { .. })
    ));
    // The gate stayed green: then as without it (here a restart is due).
    let end = now() + jiff::SignedDuration::from_secs(20);
    let elapsed = Event::VerificationPeriodElapsed;
    let decision = step(&change(verifying.clone()), &elapsed, end, &gated()).unwrap();
    assert_eq!(decision.next.name(), S::Restarting);
    assert_eq!(steps(&decision), [C::RestartServices]);
    // The gate failed within the period: rolled back to the recorded versions.
    let decision = step(&change(verifying), &gate_failed(), now(), &gated()).unwrap();
    let HostState::RollingBack { cause, .. } = &decision.next else {
        panic!("{:?}", decision.next);
    };
    assert_eq!(cause, &gate_cause());
    assert_eq!(steps(&decision), [C::Rollback], "no fleet-wide block");
    // A halted claim is rolled back at once, without the period.
    let decision = step(
        &change(halted()),
        &Event::GuardReported {
            report: done_report(),
        },
        now(),
        &gated(),
    )
    .unwrap();
    assert_eq!(decision.next.name(), S::RollingBack);
}
