//! The scheduler's reading of agent reports (`report_event`).

use super::*;

fn outcome(event: &Event) -> &GuardOutcome {
    match event {
        Event::GuardReported { report } => &report.outcome,
        other => panic!("not a report: {other:?}"),
    }
}

#[test]
fn a_result_without_a_report_is_one_that_touched_nothing() {
    let refused = report_event(true, "read-only", None);
    assert_eq!(
        outcome(&refused),
        &GuardOutcome::Refused {
            detail: "read-only".into()
        }
    );
    let failed = report_event(false, "", None);
    assert_eq!(
        outcome(&failed),
        &GuardOutcome::NotStarted {
            detail: "the agent finished the change without a report".into()
        }
    );
}

#[test]
fn a_stored_report_the_engine_cannot_take_is_refused_with_the_reason() {
    let poisoned = r#"{"outcome":"done","recorded":[{"name":"<b>","version":"1"}],
        "final_versions":[],"installed_at":null,"passed_checks":[],"failed_check":null}"#;
    let Event::ReportRefused { detail } = report_event(false, "", Some(poisoned)) else {
        panic!("taken");
    };
    assert!(
        detail.starts_with("recorded[0].name: package name"),
        "{detail}"
    );
    let Event::ReportRefused { detail } = report_event(false, "", Some("{")) else {
        panic!("taken");
    };
    assert!(
        detail.starts_with("the stored report is unreadable"),
        "{detail}"
    );
    let good = poisoned.replace("<b>", "nginx");
    assert_eq!(
        outcome(&report_event(false, "", Some(&good))),
        &GuardOutcome::Done
    );
}
