//! The change's hooks in the guard, against the fake dpkg/apt of guard_tests.rs: their order
//! around the install, the benchmark's regression rolling back, a failed migration reversing
//! only what ran, a restart mid-change reversing the journaled migrations, and a reverse that
//! fails leaving the host for a human.

use pw_protocol::{
    BenchmarkHook, ChangeHooks, ChangeOutcome, ChangeReport, ConffilePolicy, MigrationHook,
    RollbackReason,
};

use super::tests::{FakeHost, host, spec};
use super::{ChangeSpec, run_change};
use crate::journal::{GuardStep, Journal, JournalEntry};

fn migration(name: &str, forward: &str) -> MigrationHook {
    MigrationHook {
        name: name.into(),
        forward: vec![forward.into(), name.into()],
        reverse: vec!["/unmigrate".into(), name.into()],
        timeout_seconds: 10,
    }
}

fn hooked(version: &str, migrations: Vec<MigrationHook>) -> ChangeSpec {
    let mut spec = spec(version);
    spec.hooks = ChangeHooks {
        conffiles: ConffilePolicy::Replace,
        stop_units: vec!["app.service".into()],
        migrations,
        benchmark: Some(BenchmarkHook {
            argv: vec!["/bench".into()],
            higher_is_better: true,
            max_regression_percent: 20,
            timeout_seconds: 10,
        }),
    };
    spec
}

/// Runs `spec` on `host` after the journaled `prior` steps; the report and the journal's text.
fn run(host: &FakeHost, spec: &ChangeSpec, prior: &[GuardStep]) -> (ChangeReport, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.jsonl");
    let journal = Journal::open(&path).unwrap();
    let result = run_change(host, &mut journal.appender().unwrap(), spec, prior);
    (
        result.change.unwrap(),
        std::fs::read_to_string(&path).unwrap(),
    )
}

/// The programs the guard ran, without the version queries.
fn ran(host: &FakeHost) -> Vec<String> {
    host.argv_seen
        .lock()
        .unwrap()
        .iter()
        .filter(|a| !a.starts_with("dpkg") && !a.starts_with("test "))
        .map(|a| {
            let words: Vec<&str> = a.split_whitespace().collect();
            match words[0] {
                "apt-get" => {
                    let target = words.iter().find(|w| w.starts_with("pw-demo="));
                    format!("apt-get {}", target.copied().unwrap_or("?"))
                }
                _ => words[..words.len().min(3)].join(" "),
            }
        })
        .collect()
}

fn runs(report: &ChangeReport) -> Vec<String> {
    let hooks = report.hooks.as_ref().expect("a hooks report");
    hooks
        .runs
        .iter()
        .map(|r| {
            format!(
                "{} {} {}",
                r.phase,
                r.name,
                if r.ok { "ok" } else { "failed" }
            )
        })
        .collect()
}

#[test]
fn hooks_run_around_the_install_in_the_seeds_order() {
    let host = host("1.0-1");
    let spec = hooked(
        "1.0-2",
        vec![migration("a", "/migrate"), migration("b", "/migrate")],
    );
    let (report, journal) = run(&host, &spec, &[]);
    assert_eq!(report.outcome, ChangeOutcome::Done);
    assert_eq!(
        ran(&host),
        [
            "/bench",
            "systemctl stop app.service",
            "apt-get pw-demo=1.0-2",
            "/migrate a",
            "/migrate b",
            "systemctl start app.service",
            "health",
            "/bench",
        ]
    );
    let argv = host.argv_seen.lock().unwrap().clone();
    let install = argv.iter().find(|a| a.contains("pw-demo=1.0-2")).unwrap();
    assert!(install.contains("--force-confnew") && !install.contains("--force-confold"));
    let hooks = report.hooks.as_ref().unwrap();
    let bench = hooks.benchmark.as_ref().unwrap();
    assert_eq!((bench.before, bench.after), (100.0, Some(100.0)));
    assert!(bench.passed);
    assert_eq!(hooks.conffiles, ConffilePolicy::Replace);
    assert_eq!(runs(&report).len(), 6, "{:?}", runs(&report));
    let before = journal.find("benchmark_before").unwrap();
    let installing = journal.find("\"installing\"").unwrap();
    let migrated = journal.find("\"migrated\"").unwrap();
    assert!(before < installing && installing < migrated, "{journal}");
}

#[test]
fn a_benchmark_regression_rolls_back_with_the_migrations_reversed_newest_first() {
    let host = host("1.0-1");
    let spec = hooked(
        "1.0-4",
        vec![migration("a", "/migrate"), migration("b", "/migrate")],
    );
    let (report, _) = run(&host, &spec, &[]);
    let ChangeOutcome::RolledBack { reason, detail } = &report.outcome else {
        panic!("{:?}", report.outcome);
    };
    assert_eq!(*reason, RollbackReason::HealthCheckFailed);
    assert!(
        detail.contains("benchmark: 50 after, 100 before: 50.0 % worse (at most 20 %)"),
        "{detail}"
    );
    assert_eq!(report.failed_check.as_deref(), Some("benchmark"));
    let bench = report.hooks.as_ref().unwrap().benchmark.clone().unwrap();
    assert_eq!(bench.regression_percent, Some(50.0));
    assert!(!bench.passed);
    let ran = ran(&host);
    let tail: Vec<&str> = ran.iter().map(String::as_str).skip(8).collect();
    assert_eq!(
        tail,
        [
            "systemctl stop app.service",
            "/unmigrate b",
            "/unmigrate a",
            "apt-get pw-demo=1.0-1",
            "systemctl start app.service",
            "health",
        ],
        "{ran:?}"
    );
    assert_eq!(report.final_versions[0].version.as_deref(), Some("1.0-1"));
}

#[test]
fn a_failed_migration_reverses_only_those_that_ran() {
    let host = host("1.0-1");
    let spec = hooked(
        "1.0-2",
        vec![
            migration("a", "/migrate"),
            migration("b", "/migrate-broken"),
        ],
    );
    let (report, _) = run(&host, &spec, &[]);
    let ChangeOutcome::RolledBack { reason, detail } = &report.outcome else {
        panic!("{:?}", report.outcome);
    };
    assert_eq!(*reason, RollbackReason::ApplyFailed);
    assert!(
        detail.starts_with("migration b failed: /migrate-broken b exited Some(2)"),
        "{detail}"
    );
    let ran = ran(&host);
    assert!(ran.contains(&"/unmigrate a".to_owned()), "{ran:?}");
    assert!(!ran.contains(&"/unmigrate b".to_owned()), "{ran:?}");
    // The units were never started on the failed version: stopped, then started after the
    // rollback.
    assert_eq!(
        ran.iter()
            .filter(|r| r.starts_with("systemctl start"))
            .count(),
        1
    );
    assert_eq!(report.final_versions[0].version.as_deref(), Some("1.0-1"));
}

#[test]
fn a_restart_mid_change_reverses_the_journaled_migrations_without_measuring_again() {
    let host = host("1.0-2");
    let spec = hooked(
        "1.0-2",
        vec![migration("a", "/migrate"), migration("b", "/migrate")],
    );
    let recorded = pw_protocol::VersionSeen {
        name: "pw-demo".into(),
        version: Some("1.0-1".into()),
    };
    let prior = [
        GuardStep::Recorded {
            versions: vec![recorded],
        },
        GuardStep::BenchmarkBefore { value: 100.0 },
        GuardStep::Installing,
        GuardStep::Migrated { name: "a".into() },
    ];
    let (report, journal) = run(&host, &spec, &prior);
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
    let ran = ran(&host);
    assert!(!ran.contains(&"/bench".to_owned()), "{ran:?}");
    assert!(ran.contains(&"/unmigrate a".to_owned()), "{ran:?}");
    assert!(!ran.contains(&"/unmigrate b".to_owned()), "{ran:?}");
    let line = journal
        .lines()
        .map(|l| serde_json::from_str::<JournalEntry>(l).unwrap())
        .find(|e| {
            matches!(
                e,
                JournalEntry::Progress {
                    step: GuardStep::Reversed { .. },
                    ..
                }
            )
        });
    assert!(line.is_some(), "{journal}");
}

#[test]
fn a_reverse_that_fails_leaves_the_host_for_a_human() {
    let host = host("1.0-1");
    let mut spec = hooked("1.0-4", vec![migration("a", "/migrate")]);
    spec.hooks.migrations[0].reverse = vec!["/migrate-broken".into()];
    let (report, _) = run(&host, &spec, &[]);
    let ChangeOutcome::Failed { detail } = &report.outcome else {
        panic!("{:?}", report.outcome);
    };
    assert!(
        detail.contains("the recorded versions are back, but reverse of migration a"),
        "{detail}"
    );
    assert_eq!(report.final_versions[0].version.as_deref(), Some("1.0-1"));
}

#[test]
fn a_benchmark_that_prints_no_number_stops_the_change_before_anything_is_touched() {
    let host = host("1.0-1");
    let mut spec = hooked("1.0-2", vec![]);
    spec.hooks.benchmark.as_mut().unwrap().argv = vec!["/migrate".into()];
    let (report, _) = run(&host, &spec, &[]);
    let ChangeOutcome::NotStarted { detail } = &report.outcome else {
        panic!("{:?}", report.outcome);
    };
    assert!(detail.contains("printed no number"), "{detail}");
    assert!(host.installed().is_empty());
}
