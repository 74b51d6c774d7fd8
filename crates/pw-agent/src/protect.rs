//! Protection steps of a guarded change (snapshot, backup with restore check, pause writes): run
//! in order after the versions were recorded and before anything is installed, each journaled
//! before it starts and when it ends, so a restarted agent skips the steps that finished and
//! runs the rest. A step is a bare argv or a provider (docs/protection.md) run through pw-host:
//! a backup or snapshot is verified and recorded (time, size, status, location, expiry), older
//! ones pruned by retention; a failed verification fails the step. argv only, never a shell;
//! each step within its own timeout. What undoes them (resume, data restore) is in `unprotect.rs`.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use pw_host::Runner;
use pw_host::protection::{self, Budget, Taken, files, hook, postgres, qemu};
use pw_protocol::{
    ProtectionProvider, ProtectionRecord, ProtectionResult, ProtectionStep, RecordStatus,
};

use crate::journal::{GuardStep, JournalAppender, JournalEntry};

/// Runs the steps not yet finished (per `prior`), stopping at the first failure, pushing every
/// step's result onto `results` in order (finished ones from the journal marked
/// `from_journal`) — also when a journal write fails midway, so what was started is known. The
/// last one is not `ok` when a step failed. `Err` only when the journal cannot be written.
pub(crate) fn run_steps(
    runner: &dyn Runner,
    log: &mut JournalAppender,
    id: &str,
    steps: &[ProtectionStep],
    prior: &[GuardStep],
    results: &mut Vec<ProtectionResult>,
) -> anyhow::Result<()> {
    for step in steps {
        if let Some(mut result) = finished(prior, &step.name) {
            result.from_journal = true;
            let ok = result.ok;
            results.push(result);
            if !ok {
                break;
            }
            continue;
        }
        let journal = |log: &mut JournalAppender, step: GuardStep| {
            log.record(&JournalEntry::Progress {
                id: id.to_owned(),
                step,
            })
        };
        journal(
            log,
            GuardStep::Protecting {
                name: step.name.clone(),
            },
        )?;
        let result = run_one(runner, id, step);
        let ok = result.ok;
        results.push(result.clone());
        journal(log, GuardStep::Protected { result })?;
        if !ok {
            break;
        }
    }
    Ok(())
}

/// The step's journaled result, unless it was resumed since (a pause step resumed after a
/// restart runs again).
fn finished(prior: &[GuardStep], name: &str) -> Option<ProtectionResult> {
    let mut found = None;
    for step in prior {
        match step {
            GuardStep::Protected { result } if result.name == name => {
                found = Some(result.clone());
            }
            GuardStep::Resumed { result } if result.name == name => found = None,
            _ => {}
        }
    }
    found
}

/// Every step result found in the journal (for a change resumed after a restart that goes
/// straight to its rollback: what to restore from).
pub(crate) fn journaled(prior: &[GuardStep]) -> Vec<ProtectionResult> {
    prior
        .iter()
        .filter_map(|s| match s {
            GuardStep::Protected { result } => Some(ProtectionResult {
                from_journal: true,
                ..result.clone()
            }),
            _ => None,
        })
        .collect()
}

fn run_one(runner: &dyn Runner, id: &str, step: &ProtectionStep) -> ProtectionResult {
    let result = |ok, detail, record| ProtectionResult {
        name: step.name.clone(),
        ok,
        detail,
        from_journal: false,
        record,
    };
    if let Err(error) = step.validate() {
        return result(false, error, None);
    }
    let budget = Budget::new(Duration::from_secs(step.timeout_seconds));
    match &step.provider {
        None => {
            let (ok, detail) = run_argv(runner, step);
            result(ok, detail, None)
        }
        Some(ProtectionProvider::PauseWrites { pause, .. }) => {
            match hook::run(runner, &budget, pause, &[]) {
                Ok(_) => result(true, format!("paused: {} exited 0", pause.join(" ")), None),
                Err(error) => result(false, format!("pause failed: {error:#}"), None),
            }
        }
        Some(provider) => {
            let taken_at = Timestamp::now();
            let name = protection::item_name(
                taken_at.as_second(),
                &format!("{}-{}", step.name, short(id)),
            );
            match take(runner, &budget, provider, &name) {
                Ok(taken) => {
                    let record = record(runner, &budget, provider, &name, taken_at, taken);
                    let ok = record.status == RecordStatus::Verified;
                    let detail = format!(
                        "{} {} at {}: {}",
                        provider.kind(),
                        record.status.as_str(),
                        record.location,
                        record.detail
                    );
                    result(ok, detail, Some(record))
                }
                Err(error) => result(false, format!("{}: {error:#}", provider.kind()), None),
            }
        }
    }
}

/// The first 8 letters or digits of the command id (names the backup).
fn short(id: &str) -> String {
    id.chars()
        .filter(char::is_ascii_alphanumeric)
        .take(8)
        .collect()
}

fn take(
    runner: &dyn Runner,
    budget: &Budget,
    provider: &ProtectionProvider,
    name: &str,
) -> anyhow::Result<Taken> {
    match provider {
        ProtectionProvider::FilesBackup { paths, dir, .. } => {
            files::backup(runner, budget, paths, dir, name)
        }
        ProtectionProvider::PostgresBackup {
            database,
            os_user,
            dir,
            ..
        } => postgres::backup(runner, budget, database, os_user, dir, name),
        ProtectionProvider::QemuSnapshot { image, .. } => qemu::take(runner, budget, image, name),
        ProtectionProvider::SnapshotHook { take, .. } => {
            let started = std::time::Instant::now();
            let printed = hook::run(runner, budget, take, &[("PW_SNAPSHOT_NAME", name)])?;
            Ok(Taken {
                location: if printed.is_empty() {
                    name.to_owned()
                } else {
                    printed
                },
                size_bytes: 0,
                take: started.elapsed(),
                verify: Duration::ZERO,
                verified: Ok(format!("{} exited 0", take.join(" "))),
            })
        }
        ProtectionProvider::PauseWrites { .. } => anyhow::bail!("pause writes takes no backup"),
    }
}

/// The record of what was taken; a verified one prunes the provider's expired items.
fn record(
    runner: &dyn Runner,
    budget: &Budget,
    provider: &ProtectionProvider,
    name: &str,
    taken_at: Timestamp,
    taken: Taken,
) -> ProtectionRecord {
    let retention = match provider {
        ProtectionProvider::FilesBackup {
            retention_seconds, ..
        }
        | ProtectionProvider::PostgresBackup {
            retention_seconds, ..
        }
        | ProtectionProvider::QemuSnapshot {
            retention_seconds, ..
        }
        | ProtectionProvider::SnapshotHook {
            retention_seconds, ..
        } => *retention_seconds,
        ProtectionProvider::PauseWrites { .. } => 0,
    };
    let retention = SignedDuration::from_secs(i64::try_from(retention).unwrap_or(i64::MAX));
    let (status, mut detail) = match taken.verified {
        Ok(detail) => (RecordStatus::Verified, detail),
        Err(mismatch) => (RecordStatus::Failed, mismatch),
    };
    let mut pruned = Vec::new();
    if status == RecordStatus::Verified {
        let cutoff = taken_at.as_second().saturating_sub(retention.as_secs());
        let done = match provider {
            ProtectionProvider::FilesBackup { dir, .. }
            | ProtectionProvider::PostgresBackup { dir, .. } => {
                protection::prune_dir(runner, budget, dir, cutoff, name)
            }
            ProtectionProvider::QemuSnapshot { image, .. } => {
                qemu::prune(runner, budget, image, cutoff, name)
            }
            _ => Ok(Vec::new()),
        };
        match done {
            Ok(done) => pruned = done,
            Err(error) => detail.push_str(&format!("; pruning by retention failed: {error:#}")),
        }
    }
    ProtectionRecord {
        kind: provider.kind().to_owned(),
        name: name.to_owned(),
        taken_at,
        size_bytes: taken.size_bytes,
        status,
        location: taken.location,
        expires_at: taken_at.checked_add(retention).unwrap_or(Timestamp::MAX),
        take_ms: millis(taken.take),
        verify_ms: millis(taken.verify),
        detail,
        pruned,
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn run_argv(runner: &dyn Runner, step: &ProtectionStep) -> (bool, String) {
    let run = crate::argv::run(
        runner,
        &step.argv,
        Duration::from_secs(step.timeout_seconds),
    );
    (run.ok, run.detail)
}
