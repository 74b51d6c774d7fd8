//! The rollback drill in the agent's report: every drill outcome, with and without a policy
//! that asks for the drill, from `claimed`; then what a failed drill records.

use super::fixtures::*;
use super::state::*;
use super::step::step;
use crate::policy::Policy;
use crate::report::{DrillRun, DrillStage, DrillVerdict, GuardOutcome, GuardReason, GuardReport};

use StateName as S;
use Step as C;

/// (report, the policy asks for a drill, next state, command steps, failure cause kind, `done`
/// with a drill that passed).
type Row = (
    &'static str,
    bool,
    StateName,
    &'static [Step],
    &'static str,
    bool,
);

const ROWS: &[Row] = &[
    ("drill passed", true, S::Done, &[], "", true),
    ("drill passed", false, S::Done, &[], "", true),
    (
        "done without a drill",
        true,
        S::Failed,
        &[C::Page],
        "drill_failed",
        false,
    ),
    ("done without a drill", false, S::Done, &[], "", false),
    (
        "drill failed on the old versions",
        true,
        S::Failed,
        &[C::Page],
        "drill_failed",
        false,
    ),
    (
        "drill re-apply failed, rolled back",
        true,
        S::Failed,
        &[C::Page],
        "drill_failed",
        false,
    ),
    (
        "drill rollback failed",
        true,
        S::Failed,
        &[C::Page],
        "drill_failed",
        false,
    ),
    (
        "drill passed, rollback elsewhere",
        true,
        S::Failed,
        &[C::Page],
        "bad_report",
        false,
    ),
    (
        "drill passed, no check on the old versions",
        true,
        S::Failed,
        &[C::Page],
        "bad_report",
        false,
    ),
    (
        "drill passed, no check after the re-apply",
        true,
        S::Failed,
        &[C::Page],
        "bad_report",
        false,
    ),
    (
        "drill passed, change rolled back",
        true,
        S::Failed,
        &[C::Page],
        "bad_report",
        false,
    ),
    (
        "rolled back before the drill",
        true,
        S::RolledBack,
        &[C::BlockVersion],
        "",
        false,
    ),
];

fn passed_drill() -> DrillRun {
    DrillRun {
        rolled_back_to: recorded(),
        rollback_checks: vec!["web".into()],
        reapply_checks: vec!["web".into()],
        result: DrillVerdict::Passed,
    }
}

fn failed_drill(stage: DrillStage) -> DrillRun {
    DrillRun {
        result: DrillVerdict::Failed {
            stage,
            detail: "x".into(),
        },
        ..passed_drill()
    }
}

fn report(name: &str) -> GuardReport {
    let drilled = |drill| GuardReport {
        drill: Some(Box::new(drill)),
        ..done_report()
    };
    let rolled_back = |reason, drill: Option<DrillRun>| GuardReport {
        outcome: GuardOutcome::RolledBack {
            reason,
            detail: "x".into(),
        },
        final_versions: recorded(),
        failed_check: Some("web".into()),
        drill: drill.map(Box::new),
        ..done_report()
    };
    match name {
        "drill passed" => drilled(passed_drill()),
        "done without a drill" => done_report(),
        "drill failed on the old versions" => drilled(failed_drill(DrillStage::RollbackChecks)),
        "drill re-apply failed, rolled back" => rolled_back(
            GuardReason::ApplyFailed,
            Some(failed_drill(DrillStage::Reapply)),
        ),
        "drill rollback failed" => GuardReport {
            outcome: GuardOutcome::Failed { detail: "x".into() },
            ..drilled(failed_drill(DrillStage::Rollback))
        },
        "drill passed, rollback elsewhere" => drilled(DrillRun {
            rolled_back_to: installed(),
            ..passed_drill()
        }),
        "drill passed, no check on the old versions" => drilled(DrillRun {
            rollback_checks: vec![],
            ..passed_drill()
        }),
        "drill passed, no check after the re-apply" => drilled(DrillRun {
            reapply_checks: vec![],
            ..passed_drill()
        }),
        "drill passed, change rolled back" => {
            rolled_back(GuardReason::HealthCheckFailed, Some(passed_drill()))
        }
        "rolled back before the drill" => rolled_back(GuardReason::HealthCheckFailed, None),
        other => panic!("no sample report {other:?}"),
    }
}

/// The next state after `name` from `claimed`, with or without a drill policy.
fn judged(name: &str, drill: bool) -> Decision {
    let policy = Policy { drill, ..policy() };
    let event = Event::GuardReported {
        report: report(name),
    };
    let claimed = every_state().remove(1);
    assert_eq!(claimed.name(), S::Claimed);
    step(&change(claimed), &event, now(), &policy).unwrap()
}

fn failure(decision: &Decision) -> Option<&FailCause> {
    match &decision.next {
        HostState::Failed { cause, .. } => Some(cause),
        _ => None,
    }
}

#[test]
fn every_drill_outcome_with_and_without_a_drill_policy() {
    for (name, drill, next, commands, cause, drilled) in ROWS {
        let pair = format!("{name:?} (drill asked: {drill})");
        let decision = judged(name, *drill);
        assert_eq!(decision.next.name(), *next, "{pair}");
        assert_eq!(steps(&decision), *commands, "{pair}");
        let kind = failure(&decision).map(|c| serde_json::to_value(c).unwrap()["kind"].clone());
        assert_eq!(
            kind.as_ref().and_then(|k| k.as_str()).unwrap_or(""),
            *cause,
            "{pair}"
        );
        let done_drilled = matches!(decision.next, HostState::Done { drilled: true, .. });
        assert_eq!(done_drilled, *drilled, "{pair}");
    }
}

#[test]
fn a_failed_drill_records_its_stage_reason_and_where_the_host_ended() {
    let cause = |name: &str| failure(&judged(name, true)).cloned().unwrap();
    let FailCause::DrillFailed {
        stage,
        detail,
        ended_on,
        back_on_recorded,
    } = cause("drill re-apply failed, rolled back")
    else {
        panic!("not a drill failure");
    };
    assert_eq!((stage, detail.as_str()), (Some(DrillStage::Reapply), "x"));
    assert_eq!(ended_on, recorded(), "the rolled back state is recorded");
    assert!(back_on_recorded);
    let FailCause::DrillFailed {
        stage,
        ended_on,
        back_on_recorded,
        ..
    } = cause("drill failed on the old versions")
    else {
        panic!("not a drill failure");
    };
    assert_eq!(stage, Some(DrillStage::RollbackChecks));
    assert_eq!(ended_on, installed(), "the verified targets are back");
    assert!(!back_on_recorded);
    let FailCause::DrillFailed { stage, detail, .. } = cause("done without a drill") else {
        panic!("not a drill failure");
    };
    assert_eq!(stage, None);
    assert!(detail.contains("reported none"), "{detail}");
    assert!(cause("drill rollback failed").pages());
    let FailCause::BadReport { detail } = cause("drill passed, rollback elsewhere") else {
        panic!("not a bad report");
    };
    assert_eq!(
        detail,
        "the agent reported a passed rollback drill whose rollback ended on libssl3=3.0.2, \
         nginx=1.2, not on the recorded libssl3 absent, nginx=1.1"
    );
    let FailCause::BadReport { detail } = cause("drill passed, no check after the re-apply") else {
        panic!("not a bad report");
    };
    assert!(
        detail.ends_with("checks web after the re-apply"),
        "{detail}"
    );
}

#[test]
fn a_drill_state_round_trips_and_older_rows_read_without_it() {
    let decision = judged("drill passed", true);
    let json = serde_json::to_value(&decision.next).unwrap();
    assert_eq!(json["drilled"], true);
    assert_eq!(
        serde_json::from_value::<HostState>(json).unwrap(),
        decision.next
    );
    let mut old = serde_json::to_value(judged("done without a drill", false).next).unwrap();
    assert!(
        old.get("drilled").is_none(),
        "not written when false: {old}"
    );
    old.as_object_mut().unwrap().remove("drilled");
    let read: HostState = serde_json::from_value(old).unwrap();
    assert!(matches!(read, HostState::Done { drilled: false, .. }));
}
