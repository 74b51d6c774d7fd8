//! The rollback drill against the guard tests' fake dpkg/apt: a passing drill (rolled back to the
//! exact recorded version, checked, re-applied, checked), a host unhealthy on its old version, a
//! re-apply apt cannot do, and restarts in the middle of the drill.

use pw_protocol::{
    ChangeOutcome, CommandResult, CommandStatus, DrillResult, DrillStage, RollbackReason,
};

use super::super::tests::{FakeHost, host, spec};
use crate::guard::run_change;
use crate::journal::{GuardStep, Journal, JournalEntry};

fn drill_spec(version: &str) -> super::super::ChangeSpec {
    let mut spec = spec(version);
    spec.drill = true;
    spec
}

/// A fresh journal and a drilled change of `host` to 1.0-2.
fn drilled(host: &FakeHost) -> CommandResult {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(&dir.path().join("journal.jsonl")).unwrap();
    let mut log = journal.appender().unwrap();
    run_change(host, &mut log, &drill_spec("1.0-2"), &[])
}

#[test]
fn a_drill_rolls_back_to_the_exact_recorded_version_and_re_applies_with_every_stage_journaled() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.jsonl");
    let journal = Journal::open(&path).unwrap();
    let host = host("1.0-1");
    let result = run_change(
        &host,
        &mut journal.appender().unwrap(),
        &drill_spec("1.0-2"),
        &[],
    );
    assert_eq!(
        result.status,
        CommandStatus::Succeeded,
        "{}",
        result.message
    );
    assert!(
        result.message.contains("drill passed"),
        "{}",
        result.message
    );
    let report = result.change.unwrap();
    assert_eq!(report.outcome, ChangeOutcome::Done);
    let drill = report.drill.unwrap();
    assert_eq!(drill.result, DrillResult::Passed);
    assert_eq!(drill.rolled_back_to[0].version.as_deref(), Some("1.0-1"));
    assert_eq!(drill.rollback_checks, ["health"]);
    assert_eq!(drill.reapply_checks, ["health"]);
    assert_eq!(report.final_versions[0].version.as_deref(), Some("1.0-2"));
    assert_eq!(host.installed(), ["1.0-2", "1.0-1", "1.0-2"]);
    let argv = host.argv_seen.lock().unwrap().join("\n");
    assert!(
        argv.contains("--allow-downgrades"),
        "the rollback path: {argv}"
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let order = [
        "\"verified\"",
        "\"rolling_back\"",
        "\"drill_rolled_back\"",
        "\"drill_reapplying\"",
        "\"drill_verified\"",
    ]
    .map(|step| {
        text.find(step)
            .unwrap_or_else(|| panic!("{step} in {text}"))
    });
    assert!(order.is_sorted(), "{text}");
}

#[test]
fn without_the_drill_option_nothing_is_rolled_back() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(&dir.path().join("journal.jsonl")).unwrap();
    let host = host("1.0-1");
    let result = run_change(&host, &mut journal.appender().unwrap(), &spec("1.0-2"), &[]);
    assert!(result.change.unwrap().drill.is_none());
    assert_eq!(host.installed(), ["1.0-2"]);
}

#[test]
fn a_host_unhealthy_on_its_old_version_fails_the_drill_and_gets_the_targets_back() {
    // `health` fails on 1.0-3: the recorded version is the unhealthy one.
    let host = host("1.0-3");
    let result = drilled(&host);
    assert_eq!(result.status, CommandStatus::Failed, "{}", result.message);
    let report = result.change.unwrap();
    assert_eq!(report.outcome, ChangeOutcome::Done);
    let drill = report.drill.unwrap();
    assert!(
        matches!(&drill.result, DrillResult::Failed { stage: DrillStage::RollbackChecks, detail } if detail.contains("health")),
        "{:?}",
        drill.result
    );
    assert_eq!(drill.rolled_back_to[0].version.as_deref(), Some("1.0-3"));
    assert_eq!(drill.reapply_checks, ["health"]);
    assert_eq!(host.installed(), ["1.0-2", "1.0-3", "1.0-2"]);
    assert_eq!(*host.version.lock().unwrap(), "1.0-2");
}

#[test]
fn a_re_apply_apt_cannot_do_fails_the_drill_and_rolls_back_again() {
    let mut host = host("1.0-1");
    host.fail_install = Some(3);
    let result = drilled(&host);
    let report = result.change.unwrap();
    assert!(
        matches!(&report.outcome, ChangeOutcome::RolledBack { reason: RollbackReason::ApplyFailed, detail } if detail.contains("installing the targets again failed")),
        "{:?}",
        report.outcome
    );
    let drill = report.drill.unwrap();
    assert!(
        matches!(&drill.result, DrillResult::Failed { stage: DrillStage::Reapply, detail } if detail.contains("exit Some(100)")),
        "{:?}",
        drill.result
    );
    assert_eq!(
        drill.rollback_checks,
        ["health"],
        "the rollback itself was good"
    );
    assert_eq!(report.final_versions[0].version.as_deref(), Some("1.0-1"));
    assert_eq!(*host.version.lock().unwrap(), "1.0-1");
}

#[test]
fn a_rollback_apt_cannot_do_leaves_the_host_for_a_human() {
    let mut host = host("1.0-1");
    host.fail_install = Some(2);
    let result = drilled(&host);
    let report = result.change.unwrap();
    assert!(
        matches!(&report.outcome, ChangeOutcome::Failed { detail } if detail.contains("rollback drill: the rollback failed")),
        "{:?}",
        report.outcome
    );
    let drill = report.drill.unwrap();
    assert!(matches!(
        drill.result,
        DrillResult::Failed {
            stage: DrillStage::Rollback,
            ..
        }
    ));
    assert_eq!(drill.rolled_back_to[0].version.as_deref(), Some("1.0-2"));
    assert_eq!(host.installed(), ["1.0-2", "1.0-1"], "no re-apply");
}

/// The journal of a change that was verified on 1.0-2 (recorded 1.0-1), plus `more` steps.
fn journaled(more: Vec<GuardStep>) -> (tempfile::TempDir, Journal, Vec<GuardStep>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.jsonl");
    let mut journal = Journal::open(&path).unwrap();
    let id = drill_spec("1.0-2").id;
    let envelope = pw_protocol::CommandEnvelope {
        id: id.clone(),
        issued_at: jiff::Timestamp::UNIX_EPOCH,
        command: pw_protocol::Command::RefreshInventory,
    };
    journal
        .record(&JournalEntry::Received { command: envelope })
        .unwrap();
    let mut steps = vec![
        GuardStep::Recorded {
            versions: vec![pw_protocol::VersionSeen {
                name: "pw-demo".into(),
                version: Some("1.0-1".into()),
            }],
        },
        GuardStep::Installing,
        GuardStep::Verified {
            passed: vec!["health".into()],
        },
    ];
    steps.extend(more);
    let mut log = journal.appender().unwrap();
    for step in steps {
        let id = id.clone();
        log.record(&JournalEntry::Progress { id, step }).unwrap();
    }
    drop((journal, log));
    let journal = Journal::open(&path).unwrap();
    let steps = journal.interrupted()[0].1.clone();
    (dir, journal, steps)
}

#[test]
fn a_restart_during_the_drill_rollback_runs_it_again_and_finishes_the_drill() {
    let rolling = GuardStep::RollingBack {
        detail: "rollback drill".into(),
    };
    let (_dir, journal, steps) = journaled(vec![rolling]);
    // The agent died while apt was putting 1.0-1 back.
    let host = host("1.0-2");
    let result = run_change(
        &host,
        &mut journal.appender().unwrap(),
        &drill_spec("1.0-2"),
        &steps,
    );
    let report = result.change.unwrap();
    assert_eq!(report.outcome, ChangeOutcome::Done);
    assert!(report.drill.unwrap().passed());
    assert_eq!(
        host.installed(),
        ["1.0-1", "1.0-2"],
        "no first install again"
    );
}

#[test]
fn a_restart_during_the_re_apply_rolls_back_and_fails_the_drill() {
    let mut drill = pw_protocol::DrillReport::started();
    drill.rollback_checks = vec!["health".into()];
    let (_dir, journal, steps) = journaled(vec![
        GuardStep::DrillRolledBack { drill },
        GuardStep::DrillReapplying,
    ]);
    let host = host("1.0-2");
    let result = run_change(
        &host,
        &mut journal.appender().unwrap(),
        &drill_spec("1.0-2"),
        &steps,
    );
    let report = result.change.unwrap();
    assert!(
        matches!(
            report.outcome,
            ChangeOutcome::RolledBack {
                reason: RollbackReason::Interrupted,
                ..
            }
        ),
        "{:?}",
        report.outcome
    );
    let drill = report.drill.unwrap();
    assert!(matches!(
        drill.result,
        DrillResult::Failed {
            stage: DrillStage::Reapply,
            ..
        }
    ));
    assert_eq!(host.installed(), ["1.0-1"]);
}

#[test]
fn a_restart_after_the_drill_passed_reports_it_without_touching_the_host() {
    let mut drill = pw_protocol::DrillReport::started();
    drill.rollback_checks = vec!["health".into()];
    let (_dir, journal, steps) = journaled(vec![
        GuardStep::DrillRolledBack { drill },
        GuardStep::DrillReapplying,
        GuardStep::DrillVerified {
            passed: vec!["health".into()],
        },
    ]);
    let host = host("1.0-2");
    let result = run_change(
        &host,
        &mut journal.appender().unwrap(),
        &drill_spec("1.0-2"),
        &steps,
    );
    let report = result.change.unwrap();
    assert_eq!(report.outcome, ChangeOutcome::Done);
    let drill = report.drill.unwrap();
    assert!(drill.passed());
    assert_eq!(drill.reapply_checks, ["health"]);
    assert!(host.installed().is_empty());
}
