//! The agent's journal: one JSON line per event, fsync'd before the agent acts on it, so a
//! restarted agent neither runs a finished command again nor forgets to report its result.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use pw_protocol::{CommandEnvelope, CommandResult, ProtectionResult, VersionSeen};

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum JournalEntry {
    Received {
        command: CommandEnvelope,
    },
    Finished {
        id: String,
        result: CommandResult,
    },
    Reported {
        id: String,
    },
    /// One step of a guarded change (`apply_change`), written before the step's effect.
    Progress {
        id: String,
        step: GuardStep,
    },
}

/// The steps of the agent's change guard, in order. After a restart, a change whose journal
/// shows `installing` but no `verified` is rolled back to the recorded versions; one that
/// stopped before `installing` goes on from there (protection steps with a `protected` line are
/// not run again, except a pause step resumed since); a pause step started but not `resumed`
/// is resumed first thing after a restart; a drill goes on from its last journaled stage (guard's `drill.rs`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum GuardStep {
    /// Exact versions before the change (fsync'd before installing).
    Recorded { versions: Vec<VersionSeen> },
    /// Lengths and inodes of the log files the checks watch, before the change.
    LogMarks { marks: Vec<LogMarkSeen> },
    /// About to run a protection step.
    Protecting { name: String },
    /// A protection step finished (`ok` or not).
    Protected { result: ProtectionResult },
    /// A pause-writes step was resumed (at the end of the change, or after a restart found it
    /// paused: it is paused again if the change goes on).
    Resumed { result: ProtectionResult },
    /// A backup was restored or a snapshot reverted after the rollback to the recorded versions.
    Restored { result: ProtectionResult },
    /// About to install the targets.
    Installing,
    /// The install finished.
    Installed {
        at: jiff::Timestamp,
        ok: bool,
        detail: String,
    },
    /// Every check passed within the verification period.
    Verified { passed: Vec<String> },
    /// About to roll back to the recorded versions (on failure, or for the drill).
    RollingBack { detail: String },
    /// The drill's rollback finished: its evidence so far (versions found, checks, failure).
    DrillRolledBack { drill: pw_protocol::DrillReport },
    /// About to install the targets again for the drill.
    DrillReapplying,
    /// The drill's re-apply was verified: the drill passed.
    DrillVerified { passed: Vec<String> },
    /// The benchmark's number before the change (the change's hooks).
    BenchmarkBefore { value: f64 },
    /// A migration's forward run succeeded (its reverse runs on the way back).
    Migrated { name: String },
    /// A migration's reverse ran (whatever its exit: it is not run again).
    Reversed { name: String },
}

/// Where a watched log file stood before the change.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LogMarkSeen {
    pub path: String,
    pub size: u64,
    pub inode: u64,
}

/// Appends lines to the journal from the guard's thread (same file, append mode, fsync'd).
#[derive(Debug)]
pub struct JournalAppender {
    path: PathBuf,
    file: std::fs::File,
}

impl JournalAppender {
    pub fn record(&mut self, entry: &JournalEntry) -> anyhow::Result<()> {
        let mut line = serde_json::to_vec(entry)?;
        line.push(b'\n');
        self.file
            .write_all(&line)
            .and_then(|()| self.file.sync_data())
            .with_context(|| format!("cannot write {}", self.path.display()))
    }
}

/// The journal file and what it says.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: std::fs::File,
    finished: HashMap<String, CommandResult>,
    unreported: Vec<String>,
    /// Received but not finished, in order, with the guard steps seen so far.
    in_flight: Vec<(CommandEnvelope, Vec<GuardStep>)>,
}

impl Journal {
    /// Opens (creating) the journal and replays it. A torn last line (crash mid-write) is
    /// ignored; any other bad line is an error naming its number.
    pub fn open(path: &Path) -> anyhow::Result<Journal> {
        let mut finished = HashMap::new();
        let mut unreported: Vec<String> = Vec::new();
        let mut in_flight: Vec<(CommandEnvelope, Vec<GuardStep>)> = Vec::new();
        if path.exists() {
            let file = std::fs::File::open(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let lines: Vec<String> = std::io::BufReader::new(file)
                .lines()
                .collect::<Result<_, _>>()
                .with_context(|| format!("cannot read {}", path.display()))?;
            for (number, line) in lines.iter().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let entry: JournalEntry = match serde_json::from_str(line) {
                    Ok(entry) => entry,
                    Err(_) if number + 1 == lines.len() => break,
                    Err(e) => anyhow::bail!("{}:{}: {e}", path.display(), number + 1),
                };
                match entry {
                    JournalEntry::Received { command } => in_flight.push((command, Vec::new())),
                    JournalEntry::Finished { id, result } => {
                        in_flight.retain(|(c, _)| c.id != id);
                        unreported.push(id.clone());
                        finished.insert(id, result);
                    }
                    JournalEntry::Reported { id } => unreported.retain(|u| *u != id),
                    JournalEntry::Progress { id, step } => {
                        if let Some((_, steps)) = in_flight.iter_mut().find(|(c, _)| c.id == id) {
                            steps.push(step);
                        }
                    }
                }
            }
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        Ok(Journal {
            path: path.to_owned(),
            file,
            finished,
            unreported,
            in_flight,
        })
    }

    /// Commands received but never finished (the agent stopped while running them), with the
    /// guard steps journaled for each.
    pub fn interrupted(&self) -> &[(CommandEnvelope, Vec<GuardStep>)] {
        &self.in_flight
    }

    /// A second writer on the same file for the guard's blocking thread.
    pub fn appender(&self) -> anyhow::Result<JournalAppender> {
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.path)
            .with_context(|| format!("cannot open {}", self.path.display()))?;
        Ok(JournalAppender {
            path: self.path.clone(),
            file,
        })
    }

    /// Appends one entry durably (written and fsync'd) and updates the view.
    pub fn record(&mut self, entry: &JournalEntry) -> anyhow::Result<()> {
        let mut line = serde_json::to_vec(entry)?;
        line.push(b'\n');
        self.file
            .write_all(&line)
            .and_then(|()| self.file.sync_data())
            .with_context(|| format!("cannot write {}", self.path.display()))?;
        match entry {
            JournalEntry::Received { command } => self.in_flight.push((command.clone(), vec![])),
            JournalEntry::Finished { id, result } => {
                self.in_flight.retain(|(c, _)| c.id != *id);
                self.finished.insert(id.clone(), result.clone());
                self.unreported.push(id.clone());
            }
            JournalEntry::Reported { id } => self.unreported.retain(|u| u != id),
            JournalEntry::Progress { .. } => {}
        }
        Ok(())
    }

    /// The recorded result of a command that already finished.
    pub fn finished(&self, id: &str) -> Option<&CommandResult> {
        self.finished.get(id)
    }

    /// Finished commands whose result the controller has not acknowledged yet.
    pub fn unreported(&self) -> Vec<(String, CommandResult)> {
        self.unreported
            .iter()
            .filter_map(|id| self.finished.get(id).map(|r| (id.clone(), r.clone())))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pw_protocol::{Command, CommandStatus};

    fn result() -> CommandResult {
        CommandResult {
            checks: None,
            status: CommandStatus::Succeeded,
            message: "ok".into(),
            finished_at: jiff::Timestamp::UNIX_EPOCH,
            change: None,
            evidence: None,
            restart: None,
        }
    }

    #[test]
    fn a_reopened_journal_remembers_finished_and_unreported_commands() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let mut journal = Journal::open(&path).unwrap();
        let command = CommandEnvelope {
            id: "cmd-1".into(),
            issued_at: jiff::Timestamp::UNIX_EPOCH,
            command: Command::RefreshInventory,
        };
        journal.record(&JournalEntry::Received { command }).unwrap();
        for id in ["cmd-1", "cmd-2"] {
            let entry = JournalEntry::Finished {
                id: id.into(),
                result: result(),
            };
            journal.record(&entry).unwrap();
        }
        journal
            .record(&JournalEntry::Reported { id: "cmd-1".into() })
            .unwrap();
        drop(journal);
        // A crash in the middle of a line leaves a torn last line.
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        file.write_all(b"{\"event\":\"fini").unwrap();
        let journal = Journal::open(&path).unwrap();
        assert_eq!(journal.finished("cmd-1"), Some(&result()));
        assert!(journal.finished("cmd-3").is_none());
        let unreported: Vec<String> = journal.unreported().into_iter().map(|(id, _)| id).collect();
        assert_eq!(unreported, ["cmd-2"]);
    }

    #[test]
    fn a_bad_line_in_the_middle_is_an_error_with_its_number() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        std::fs::write(&path, "garbage\n{\"event\":\"reported\",\"id\":\"x\"}\n").unwrap();
        let error = Journal::open(&path).unwrap_err().to_string();
        assert!(error.contains("journal.jsonl:1"), "{error}");
    }
}
