//! Undoing protection steps (docs/protection.md): resuming paused writes — when the change
//! ends on every path, and first thing when a restarted agent finds a pause step started but
//! not resumed in its journal — and putting the data back when the guard rolls back to the
//! recorded versions (backups restored, snapshots reverted, last step first). Each is journaled
//! when done (`resumed`, `restored`).

use std::time::Duration;

use pw_host::Runner;
use pw_host::protection::{Budget, files, hook, postgres, qemu};
use pw_protocol::{
    ProtectionProvider, ProtectionRecord, ProtectionResult, ProtectionStep, RecordStatus,
};

use crate::journal::{GuardStep, JournalAppender, JournalEntry};

/// Pause steps whose pause started (per the journal) and was not resumed since.
pub(crate) fn paused_in(prior: &[GuardStep], steps: &[ProtectionStep]) -> Vec<ProtectionStep> {
    steps
        .iter()
        .filter(|s| matches!(s.provider, Some(ProtectionProvider::PauseWrites { .. })))
        .filter(|s| {
            let mut paused = false;
            for step in prior {
                match step {
                    GuardStep::Protecting { name } if *name == s.name => paused = true,
                    GuardStep::Resumed { result } if result.name == s.name => paused = false,
                    _ => {}
                }
            }
            paused
        })
        .cloned()
        .collect()
}

/// Pause steps this run paused (results not taken from the journal), in reverse order.
pub(crate) fn paused_now(
    results: &[ProtectionResult],
    steps: &[ProtectionStep],
) -> Vec<ProtectionStep> {
    results
        .iter()
        .rev()
        .filter(|r| !r.from_journal)
        .filter_map(|r| steps.iter().find(|s| s.name == r.name))
        .filter(|s| matches!(s.provider, Some(ProtectionProvider::PauseWrites { .. })))
        .cloned()
        .collect()
}

/// Runs each step's resume argv and journals it; a journal write that fails is noted in the
/// result (the resume itself ran).
pub(crate) fn resume(
    runner: &dyn Runner,
    log: &mut JournalAppender,
    id: &str,
    steps: &[ProtectionStep],
) -> Vec<ProtectionResult> {
    let mut out = Vec::new();
    for step in steps {
        let Some(ProtectionProvider::PauseWrites { resume, .. }) = &step.provider else {
            continue;
        };
        let budget = Budget::new(Duration::from_secs(step.timeout_seconds));
        let (ok, mut detail) = match hook::run(runner, &budget, resume, &[]) {
            Ok(_) => (true, format!("resumed: {} exited 0", resume.join(" "))),
            Err(error) => (false, format!("resume failed: {error:#}")),
        };
        let result = ProtectionResult {
            name: step.name.clone(),
            ok,
            detail: detail.clone(),
            from_journal: false,
            record: None,
        };
        let entry = JournalEntry::Progress {
            id: id.to_owned(),
            step: GuardStep::Resumed {
                result: result.clone(),
            },
        };
        if let Err(error) = log.record(&entry) {
            detail.push_str(&format!(" (not journaled: {error:#})"));
        }
        out.push(ProtectionResult { detail, ..result });
    }
    out
}

/// Restores the data of every verified backup or snapshot among `taken`, last first, and
/// journals each. Stops at the first failure (its result is the last, not `ok`).
pub(crate) fn restore_data(
    runner: &dyn Runner,
    log: &mut JournalAppender,
    id: &str,
    steps: &[ProtectionStep],
    taken: &[ProtectionResult],
) -> anyhow::Result<Vec<ProtectionResult>> {
    let mut out = Vec::new();
    for result in taken.iter().rev() {
        let Some(record) = result
            .record
            .as_ref()
            .filter(|r| r.status == RecordStatus::Verified)
        else {
            continue;
        };
        let Some(provider) = steps
            .iter()
            .find(|s| s.name == result.name)
            .and_then(|s| s.provider.as_ref().map(|p| (p, s.timeout_seconds)))
        else {
            continue;
        };
        let (provider, timeout) = provider;
        let budget = Budget::new(Duration::from_secs(timeout));
        let (ok, detail) = match restore_one(runner, &budget, provider, record) {
            Ok(detail) => (true, detail),
            Err(error) => (false, format!("{error:#}")),
        };
        let restored = ProtectionResult {
            name: result.name.clone(),
            ok,
            detail,
            from_journal: false,
            record: None,
        };
        log.record(&JournalEntry::Progress {
            id: id.to_owned(),
            step: GuardStep::Restored {
                result: restored.clone(),
            },
        })?;
        out.push(restored);
        if !ok {
            break;
        }
    }
    Ok(out)
}

fn restore_one(
    runner: &dyn Runner,
    budget: &Budget,
    provider: &ProtectionProvider,
    record: &ProtectionRecord,
) -> anyhow::Result<String> {
    let location = record.location.as_str();
    match provider {
        ProtectionProvider::FilesBackup { paths, .. } => {
            files::restore(runner, budget, paths, location)
                .map(|d| format!("restored {location}: {d}"))
        }
        ProtectionProvider::PostgresBackup {
            database, os_user, ..
        } => postgres::restore(runner, budget, database, os_user, location)
            .map(|d| format!("restored {location} into {database}: {d}")),
        ProtectionProvider::QemuSnapshot { image, .. } => {
            qemu::revert(runner, budget, image, &record.name)
        }
        ProtectionProvider::SnapshotHook { revert, .. } => {
            hook::run(
                runner,
                budget,
                revert,
                &[
                    ("PW_SNAPSHOT_LOCATION", location),
                    ("PW_SNAPSHOT_NAME", &record.name),
                ],
            )?;
            Ok(format!(
                "reverted {location}: {} exited 0",
                revert.join(" ")
            ))
        }
        ProtectionProvider::PauseWrites { .. } => Ok(String::new()),
    }
}
