//! Protection steps of a guarded change (snapshot, backup with restore check, pause writes): run
//! in order after the versions were recorded and before anything is installed, each journaled
//! before it starts and when it ends, so a restarted agent skips the steps that finished and
//! runs the rest. argv only, never a shell; each with its own timeout.

use std::time::Duration;

use pw_host::Runner;
use pw_protocol::{ProtectionResult, ProtectionStep};

use crate::journal::{GuardStep, JournalAppender, JournalEntry};

/// Runs the steps not yet finished (per `prior`), stopping at the first failure. Returns every
/// step's result in order (finished ones from the journal marked `from_journal`); the last one
/// is not `ok` when a step failed. `Err` only when the journal cannot be written.
pub(crate) fn run_steps(
    runner: &dyn Runner,
    log: &mut JournalAppender,
    id: &str,
    steps: &[ProtectionStep],
    prior: &[GuardStep],
) -> anyhow::Result<Vec<ProtectionResult>> {
    let mut results = Vec::new();
    for step in steps {
        let finished = prior.iter().find_map(|s| match s {
            GuardStep::Protected { result } if result.name == step.name => Some(result.clone()),
            _ => None,
        });
        if let Some(mut result) = finished {
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
        let result = run_one(runner, step);
        journal(
            log,
            GuardStep::Protected {
                result: result.clone(),
            },
        )?;
        let ok = result.ok;
        results.push(result);
        if !ok {
            break;
        }
    }
    Ok(results)
}

fn run_one(runner: &dyn Runner, step: &ProtectionStep) -> ProtectionResult {
    let (ok, detail) = match step.validate() {
        Err(error) => (false, error),
        Ok(()) => {
            let run = crate::argv::run(
                runner,
                &step.argv,
                Duration::from_secs(step.timeout_seconds),
            );
            (run.ok, run.detail)
        }
    };
    ProtectionResult {
        name: step.name.clone(),
        ok,
        detail,
        from_journal: false,
    }
}
