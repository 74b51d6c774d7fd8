//! Observation after a rollout's last batch (docs/design/agent-protocol.md "Observation"):
//! the controller asks an observed host's agent to run its group's checks once
//! (`run_checks`, read-only) and, after a failure, to reinstall the exact recorded versions
//! (`late_rollback`, a change command whose result carries a [`crate::ChangeReport`]).

/// A log file's length and inode: lines after it are new.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LogMarkWire {
    pub path: String,
    pub size: u64,
    pub inode: u64,
}

/// What a `run_checks` found: each check's verdict, and the marks of the watched log files
/// now (the next round counts the lines after them).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CheckRound {
    pub results: Vec<CheckVerdict>,
    #[serde(default)]
    pub marks: Vec<LogMarkWire>,
}

/// One check's verdict in a round.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CheckVerdict {
    pub name: String,
    /// Healthy or not applicable here.
    pub ok: bool,
    pub detail: String,
}

impl CheckRound {
    /// The checks that failed, with why.
    pub fn failures(&self) -> Vec<(String, String)> {
        self.results
            .iter()
            .filter(|r| !r.ok)
            .map(|r| (r.name.clone(), r.detail.clone()))
            .collect()
    }
}
