//! Pause writes in the guard (docs/protection.md), against the fake host of `guard_tests.rs`:
//! resume after a verified change, after a rollback, after a failed protection step, and first
//! thing after a restart that found the pause not resumed (then the pause runs again when the
//! change goes on).

use pw_protocol::{
    ChangeOutcome, ProtectionProvider, ProtectionResult, ProtectionStep, VersionSeen,
};

use super::run_change;
use super::tests::{FakeHost, spec};
use crate::journal::{GuardStep, Journal};

fn pause() -> ProtectionStep {
    ProtectionStep {
        name: "pause-writes".into(),
        argv: vec![],
        timeout_seconds: 5,
        provider: Some(ProtectionProvider::PauseWrites {
            pause: vec!["pause-ok".into(), "app".into()],
            resume: vec!["resume-ok".into(), "app".into()],
        }),
    }
}

/// The programs run, in order, without their arguments (dpkg and dpkg-query left out).
fn programs(host: &FakeHost) -> Vec<String> {
    host.argv_seen
        .lock()
        .unwrap()
        .iter()
        .map(|a| a.split(' ').next().unwrap().to_owned())
        .filter(|p| !p.starts_with("dpkg"))
        .collect()
}

fn recorded() -> GuardStep {
    GuardStep::Recorded {
        versions: vec![VersionSeen {
            name: "pw-demo".into(),
            version: Some("1.0-1".into()),
        }],
    }
}

fn paused() -> [GuardStep; 2] {
    [
        GuardStep::Protecting {
            name: "pause-writes".into(),
        },
        GuardStep::Protected {
            result: ProtectionResult {
                name: "pause-writes".into(),
                ok: true,
                detail: "paused".into(),
                from_journal: false,
                record: None,
            },
        },
    ]
}

#[test]
fn writes_are_resumed_after_success_rollback_and_a_failed_step() {
    for (version, extra, wanted) in [
        (
            "1.0-2",
            None,
            vec!["pause-ok", "apt-get", "health", "resume-ok"],
        ),
        (
            "1.0-3",
            None,
            vec![
                "pause-ok",
                "apt-get",
                "health",
                "apt-get",
                "health",
                "resume-ok",
            ],
        ),
        (
            "1.0-2",
            Some(super::tests::step("check", "pause-writes")),
            vec!["pause-ok", "pause-writes", "resume-ok"],
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let journal = Journal::open(&path).unwrap();
        let host = super::tests::host("1.0-1");
        let mut spec = spec(version);
        spec.protection = vec![pause()];
        spec.protection.extend(extra);
        let result = run_change(&host, &mut journal.appender().unwrap(), &spec, &[]);
        let report = result.change.unwrap();
        let mut seen = programs(&host);
        seen.dedup();
        assert_eq!(seen, wanted, "{:?}", report.outcome);
        assert_eq!(report.resumed.len(), 1, "{report:?}");
        assert!(report.resumed[0].ok, "{report:?}");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"step\":\"resumed\""), "{text}");
    }
}

#[test]
fn a_restart_that_finds_writes_paused_resumes_them_first() {
    // Killed after the install started: resume, then roll back; no second resume.
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(&dir.path().join("journal.jsonl")).unwrap();
    let host = super::tests::host("1.0-2");
    let mut spec = spec("1.0-2");
    spec.protection = vec![pause()];
    let mut prior = vec![recorded()];
    prior.extend(paused());
    prior.push(GuardStep::Installing);
    let result = run_change(&host, &mut journal.appender().unwrap(), &spec, &prior);
    let report = result.change.unwrap();
    assert!(
        matches!(report.outcome, ChangeOutcome::RolledBack { .. }),
        "{:?}",
        report.outcome
    );
    let seen = programs(&host);
    assert_eq!(seen[0], "resume-ok", "resumed first: {seen:?}");
    assert_eq!(
        seen.iter().filter(|p| *p == "resume-ok").count(),
        1,
        "{seen:?}"
    );
    assert_eq!(report.resumed.len(), 1);

    // Killed while paused, before installing: resume, pause again, install, resume.
    let host = super::tests::host("1.0-1");
    let mut prior = vec![recorded()];
    prior.extend(paused());
    let result = run_change(&host, &mut journal.appender().unwrap(), &spec, &prior);
    let report = result.change.unwrap();
    assert_eq!(report.outcome, ChangeOutcome::Done);
    let seen = programs(&host);
    assert_eq!(
        seen,
        ["resume-ok", "pause-ok", "apt-get", "health", "resume-ok"]
    );
    assert!(!report.protection[0].from_journal, "paused again");
    assert_eq!(report.resumed.len(), 2);

    // Already resumed before the restart: nothing to resume first.
    let host = super::tests::host("1.0-2");
    let mut prior = vec![recorded()];
    prior.extend(paused());
    prior.push(GuardStep::Installing);
    prior.push(GuardStep::Resumed {
        result: ProtectionResult {
            name: "pause-writes".into(),
            ok: true,
            detail: "resumed".into(),
            from_journal: false,
            record: None,
        },
    });
    let result = run_change(&host, &mut journal.appender().unwrap(), &spec, &prior);
    assert!(result.change.unwrap().resumed.is_empty());
    assert!(!programs(&host).contains(&"resume-ok".to_owned()));
}
