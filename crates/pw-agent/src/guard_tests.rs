//! The change guard against a fake dpkg/apt (and real files for the log checks): done, health
//! failure → rollback, a restart after the install started → rollback, protection steps (a
//! failure installs nothing; finished steps are not run again after a restart), a failure
//! before anything was touched, and a log check counting lines since the install.

use std::sync::Mutex;
use std::time::Duration;

use pw_host::{CommandOutput, Invocation, Runner};
use pw_protocol::{ChangeOutcome, HealthCheckSpec, ProtectionStep, RollbackReason, pins};

use super::{ChangeSpec, run_change};
use crate::journal::{GuardStep, Journal, JournalEntry};

/// One package `pw-demo`; `apt-get … pw-demo=V` installs V (except the `fail_install`th such
/// call, counted from 1, which exits 100 and changes nothing); the `health` program fails on
/// 1.0-3.
pub(super) struct FakeHost {
    pub(super) version: Mutex<String>,
    pub(super) argv_seen: Mutex<Vec<String>>,
    log: Option<std::path::PathBuf>,
    pub(super) fail_install: Option<usize>,
}

impl FakeHost {
    /// The versions `apt-get` was asked for, in order.
    pub(super) fn installed(&self) -> Vec<String> {
        let argv = self.argv_seen.lock().unwrap();
        argv.iter()
            .filter(|a| a.starts_with("apt-get"))
            .filter_map(|a| a.split("pw-demo=").nth(1))
            .map(|v| v.split(' ').next().unwrap_or_default().to_owned())
            .collect()
    }
}

fn append(path: &std::path::Path, text: &str) {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    file.write_all(text.as_bytes()).unwrap();
}

impl Runner for FakeHost {
    fn run(&self, invocation: &Invocation) -> anyhow::Result<CommandOutput> {
        let out = |code: i32, stdout: String| CommandOutput {
            code: Some(code),
            stdout: stdout.into_bytes(),
            stderr: vec![],
            elapsed: Duration::ZERO,
        };
        let mut version = self.version.lock().unwrap();
        self.argv_seen.lock().unwrap().push(format!(
            "{} {}",
            invocation.program,
            invocation.args.join(" ")
        ));
        Ok(match invocation.program.as_str() {
            "dpkg-query" => out(0, format!("pw-demo\t{version}\tii \n")),
            "apt-get" => {
                let installs = self.installed().len();
                if self.fail_install == Some(installs) {
                    return Ok(out(100, "E: Unable to fetch some archives\n".into()));
                }
                for arg in &invocation.args {
                    if let Some(v) = arg.strip_prefix("pw-demo=") {
                        *version = v.to_owned();
                        if let Some(log) = &self.log {
                            let line = format!("{v} started\n{v} ERROR cache broken\n");
                            append(log, if v == "1.0-3" { &line } else { "started\n" });
                        }
                    }
                }
                out(0, String::new())
            }
            "health" => out(if *version == "1.0-3" { 1 } else { 0 }, String::new()),
            "snapshot" => out(0, "snapshot taken\n".into()),
            // The hooks' programs (hooks_tests.rs): migrations, and a benchmark printing a
            // throughput that 1.0-4 halves.
            "/migrate" | "/unmigrate" => out(0, String::new()),
            "/migrate-broken" => out(2, "relation already exists\n".into()),
            "/bench" => {
                let value = if *version == "1.0-4" { 50 } else { 100 };
                out(0, format!("requests/s: {value}\n"))
            }
            "test" | "systemctl" => out(0, String::new()),
            "pause-writes" => out(3, "cannot reach the database\n".into()),
            "pause-ok" | "resume-ok" => out(0, String::new()),
            // Real files for the log checks; 1.0-3 logs an error line when installed.
            "stat" | "tail" => {
                drop(version);
                return pw_host::LocalRunner.run(invocation);
            }
            _ => out(127, String::new()),
        })
    }

    fn target(&self) -> String {
        "fake".into()
    }
}

pub(super) fn spec(version: &str) -> ChangeSpec {
    ChangeSpec {
        id: "r1:h1:record_versions:1".into(),
        targets: pins(&[("pw-demo", version)]),
        checks: vec![HealthCheckSpec::Command {
            name: "health".into(),
            argv: vec!["health".into()],
        }],
        verification: Duration::from_secs(1),
        protection: vec![],
        drill: false,
        downgrade: false,
        archive: None,
        hooks: pw_protocol::ChangeHooks::default(),
    }
}

pub(super) fn host(version: &str) -> FakeHost {
    FakeHost {
        version: Mutex::new(version.into()),
        argv_seen: Mutex::new(vec![]),
        log: None,
        fail_install: None,
    }
}

#[test]
fn a_good_version_is_done_and_the_versions_were_journaled_before_installing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.jsonl");
    let journal = Journal::open(&path).unwrap();
    let host = host("1.0-1");
    let result = run_change(&host, &mut journal.appender().unwrap(), &spec("1.0-2"), &[]);
    let report = result.change.unwrap();
    assert_eq!(report.outcome, ChangeOutcome::Done);
    assert_eq!(report.recorded[0].version.as_deref(), Some("1.0-1"));
    assert_eq!(report.final_versions[0].version.as_deref(), Some("1.0-2"));
    let text = std::fs::read_to_string(&path).unwrap();
    let recorded = text.find("\"recorded\"").unwrap();
    let installing = text.find("\"installing\"").unwrap();
    assert!(recorded < installing, "{text}");
    assert!(text.contains("\"verified\""));
}

#[test]
fn a_failing_check_rolls_back_to_the_recorded_version() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(&dir.path().join("journal.jsonl")).unwrap();
    let host = host("1.0-1");
    let result = run_change(&host, &mut journal.appender().unwrap(), &spec("1.0-3"), &[]);
    let report = result.change.unwrap();
    assert!(matches!(
        report.outcome,
        ChangeOutcome::RolledBack {
            reason: RollbackReason::HealthCheckFailed,
            ..
        }
    ));
    assert_eq!(report.failed_check.as_deref(), Some("health"));
    assert_eq!(*host.version.lock().unwrap(), "1.0-1");
    let argv = host.argv_seen.lock().unwrap().join("\n");
    assert!(argv.contains("--allow-downgrades"), "{argv}");
}

#[test]
fn a_change_interrupted_before_verification_is_rolled_back_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.jsonl");
    let mut journal = Journal::open(&path).unwrap();
    let envelope = pw_protocol::CommandEnvelope {
        id: "r1:h1:record_versions:1".into(),
        issued_at: jiff::Timestamp::UNIX_EPOCH,
        command: pw_protocol::Command::RefreshInventory,
    };
    journal
        .record(&JournalEntry::Received { command: envelope })
        .unwrap();
    let mut log = journal.appender().unwrap();
    let recorded = GuardStep::Recorded {
        versions: vec![pw_protocol::VersionSeen {
            name: "pw-demo".into(),
            version: Some("1.0-1".into()),
        }],
    };
    for step in [recorded, GuardStep::Installing] {
        let id = "r1:h1:record_versions:1".to_owned();
        log.record(&JournalEntry::Progress { id, step }).unwrap();
    }
    drop((journal, log));
    // The agent died after installing 1.0-2 but before verification passed.
    let host = host("1.0-2");
    let journal = Journal::open(&path).unwrap();
    let (_, steps) = &journal.interrupted()[0];
    assert_eq!(steps.len(), 2);
    let result = run_change(
        &host,
        &mut journal.appender().unwrap(),
        &spec("1.0-2"),
        steps,
    );
    let report = result.change.unwrap();
    assert!(matches!(
        report.outcome,
        ChangeOutcome::RolledBack {
            reason: RollbackReason::Interrupted,
            ..
        }
    ));
    assert_eq!(*host.version.lock().unwrap(), "1.0-1");
}

pub(super) fn step(name: &str, program: &str) -> ProtectionStep {
    ProtectionStep {
        name: name.into(),
        argv: vec![program.into(), "--now".into()],
        timeout_seconds: 5,
        provider: None,
    }
}

fn installs(host: &FakeHost) -> usize {
    let argv = host.argv_seen.lock().unwrap();
    argv.iter().filter(|a| a.starts_with("apt-get")).count()
}

#[test]
fn a_failing_protection_step_installs_nothing_and_reports_every_step() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.jsonl");
    let journal = Journal::open(&path).unwrap();
    let host = host("1.0-1");
    let mut spec = spec("1.0-2");
    spec.protection = vec![
        step("snapshot", "snapshot"),
        step("pause", "pause-writes"),
        step("never", "snapshot"),
    ];
    let result = run_change(&host, &mut journal.appender().unwrap(), &spec, &[]);
    let report = result.change.unwrap();
    let ChangeOutcome::ProtectionFailed { step, detail } = &report.outcome else {
        panic!("{:?}", report.outcome);
    };
    assert_eq!(step, "pause");
    assert!(
        detail.contains("exited Some(3)") && detail.contains("cannot reach"),
        "{detail}"
    );
    assert_eq!(report.protection.len(), 2, "stops at the failing step");
    assert!(report.protection[0].ok && !report.protection[1].ok);
    assert_eq!(report.recorded[0].version.as_deref(), Some("1.0-1"));
    assert_eq!(installs(&host), 0, "nothing installed");
    assert_eq!(*host.version.lock().unwrap(), "1.0-1");
    assert!(
        result.message.contains("nothing installed"),
        "{}",
        result.message
    );
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.find("\"recorded\"").unwrap() < text.find("\"protecting\"").unwrap());
    assert!(!text.contains("\"installing\""), "{text}");
}

#[test]
fn protection_steps_run_before_the_install_and_finished_ones_are_not_rerun_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.jsonl");
    let mut spec = spec("1.0-2");
    spec.protection = vec![step("first", "snapshot"), step("second", "snapshot")];
    let host = host("1.0-1");
    // The agent died after the first step had finished, during the second.
    let journal = Journal::open(&path).unwrap();
    let mut log = journal.appender().unwrap();
    let prior = vec![
        GuardStep::Recorded {
            versions: vec![pw_protocol::VersionSeen {
                name: "pw-demo".into(),
                version: Some("1.0-1".into()),
            }],
        },
        GuardStep::Protecting {
            name: "first".into(),
        },
        GuardStep::Protected {
            result: pw_protocol::ProtectionResult {
                name: "first".into(),
                ok: true,
                detail: "snapshot --now exited 0".into(),
                from_journal: false,
                record: None,
            },
        },
        GuardStep::Protecting {
            name: "second".into(),
        },
    ];
    let result = run_change(&host, &mut log, &spec, &prior);
    let report = result.change.unwrap();
    assert_eq!(report.outcome, ChangeOutcome::Done);
    let steps: Vec<(&str, bool, bool)> = report
        .protection
        .iter()
        .map(|r| (r.name.as_str(), r.ok, r.from_journal))
        .collect();
    assert_eq!(steps, [("first", true, true), ("second", true, false)]);
    let argv = host.argv_seen.lock().unwrap().clone();
    let snapshots = argv.iter().filter(|a| a.starts_with("snapshot")).count();
    assert_eq!(snapshots, 1, "only the unfinished step ran again: {argv:?}");
    let snapshot = argv.iter().position(|a| a.starts_with("snapshot")).unwrap();
    let install = argv.iter().position(|a| a.starts_with("apt-get")).unwrap();
    assert!(snapshot < install, "{argv:?}");
    assert!(
        argv[0].starts_with("snapshot"),
        "the versions came from the journal, not a second recording: {argv:?}"
    );
    assert_eq!(*host.version.lock().unwrap(), "1.0-2");
}

#[test]
fn a_failure_before_recording_is_reported_as_not_started() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(&dir.path().join("journal.jsonl")).unwrap();
    let host = host("1.0-1");
    let mut bad = spec("1.0-2");
    bad.targets = pins(&[("pw-demo", "1.0-2;reboot")]);
    let result = run_change(&host, &mut journal.appender().unwrap(), &bad, &[]);
    let report = result.change.unwrap();
    assert!(
        matches!(&report.outcome, ChangeOutcome::NotStarted { .. }),
        "{:?}",
        report.outcome
    );
    assert!(report.recorded.is_empty());
    assert!(
        result.message.contains("nothing touched"),
        "{}",
        result.message
    );
    let mut bad = spec("1.0-2");
    bad.checks.push(HealthCheckSpec::LogLines {
        name: "log".into(),
        path: "/var/log/x.log".into(),
        pattern: "(".into(),
        regex: true,
        max_matches: 0,
    });
    let result = run_change(&host, &mut journal.appender().unwrap(), &bad, &[]);
    let outcome = result.change.unwrap().outcome;
    assert!(
        matches!(&outcome, ChangeOutcome::NotStarted { detail } if detail.contains("regex")),
        "{outcome:?}"
    );
    assert_eq!(installs(&host), 0);
}

#[test]
fn a_log_check_counts_lines_written_after_the_install_started() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("demo.log");
    append(&log_path, "1.0-1 ERROR from long ago\n");
    let journal = Journal::open(&dir.path().join("journal.jsonl")).unwrap();
    let mut host = host("1.0-1");
    host.log = Some(log_path.clone());
    let log_check = HealthCheckSpec::LogLines {
        name: "log".into(),
        path: log_path.to_str().unwrap().into(),
        pattern: r"\bERROR\b".into(),
        regex: true,
        max_matches: 0,
    };
    let mut good = spec("1.0-2");
    good.checks = vec![log_check.clone()];
    let result = run_change(&host, &mut journal.appender().unwrap(), &good, &[]);
    assert_eq!(
        result.change.unwrap().outcome,
        ChangeOutcome::Done,
        "the old ERROR line does not count"
    );
    let mut bad = spec("1.0-3");
    bad.checks = vec![log_check];
    let result = run_change(&host, &mut journal.appender().unwrap(), &bad, &[]);
    let report = result.change.unwrap();
    assert!(
        matches!(&report.outcome, ChangeOutcome::RolledBack { reason: RollbackReason::HealthCheckFailed, detail } if detail.contains("ERROR cache broken")),
        "{:?}",
        report.outcome
    );
    assert_eq!(report.failed_check.as_deref(), Some("log"));
    // After the rollback only lines from the rollback on count: the check passes again.
    assert_eq!(report.passed_checks, ["log"]);
    assert_eq!(*host.version.lock().unwrap(), "1.0-2");
}

#[test]
fn a_log_check_is_watched_for_the_whole_period_and_fails_on_late_lines() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("late.log");
    append(&log_path, "before\n");
    let journal = Journal::open(&dir.path().join("journal.jsonl")).unwrap();
    let host = host("1.0-1");
    let mut spec = spec("1.0-2");
    spec.verification = Duration::from_secs(5);
    spec.checks = vec![HealthCheckSpec::LogLines {
        name: "log".into(),
        path: log_path.to_str().unwrap().into(),
        pattern: "FATAL".into(),
        regex: false,
        max_matches: 1,
    }];
    // The service logs two fatal lines a while after the install: one is tolerated, the second
    // is not, even though the check had passed before they came.
    let writer = {
        let log_path = log_path.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(1500));
            append(&log_path, "FATAL one\n");
            std::thread::sleep(Duration::from_millis(500));
            append(&log_path, "FATAL two\n");
        })
    };
    let started = std::time::Instant::now();
    let result = run_change(&host, &mut journal.appender().unwrap(), &spec, &[]);
    writer.join().unwrap();
    let report = result.change.unwrap();
    assert!(
        matches!(&report.outcome, ChangeOutcome::RolledBack { reason: RollbackReason::HealthCheckFailed, detail } if detail.contains("2 line(s)")),
        "{:?}",
        report.outcome
    );
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "watched, not passed at once"
    );
    assert_eq!(*host.version.lock().unwrap(), "1.0-1");
}
