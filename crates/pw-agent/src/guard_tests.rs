//! The change guard against a fake dpkg/apt: done, health failure → rollback, and a restart
//! after the versions were recorded → rollback to them.

use std::sync::Mutex;
use std::time::Duration;

use pw_host::{CommandOutput, Invocation, Runner};
use pw_protocol::{ChangeOutcome, HealthCheckSpec, RollbackReason, pins};

use super::{ChangeSpec, run_change};
use crate::journal::{GuardStep, Journal, JournalEntry};

/// One package `pw-demo`; `apt-get … pw-demo=V` installs V; the `health` program fails on 1.0-3.
struct FakeHost {
    version: Mutex<String>,
    argv_seen: Mutex<Vec<String>>,
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
                for arg in &invocation.args {
                    if let Some(v) = arg.strip_prefix("pw-demo=") {
                        *version = v.to_owned();
                    }
                }
                out(0, String::new())
            }
            "health" => out(if *version == "1.0-3" { 1 } else { 0 }, String::new()),
            _ => out(127, String::new()),
        })
    }

    fn target(&self) -> String {
        "fake".into()
    }
}

fn spec(version: &str) -> ChangeSpec {
    ChangeSpec {
        id: "r1:h1:record_versions:1".into(),
        targets: pins(&[("pw-demo", version)]),
        checks: vec![HealthCheckSpec::Command {
            name: "health".into(),
            argv: vec!["health".into()],
        }],
        verification: Duration::from_secs(1),
    }
}

fn host(version: &str) -> FakeHost {
    FakeHost {
        version: Mutex::new(version.into()),
        argv_seen: Mutex::new(vec![]),
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
