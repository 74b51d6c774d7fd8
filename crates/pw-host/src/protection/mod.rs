//! Protection providers on a host (docs/protection.md): file backups (tar + SHA-256 manifest,
//! [`files`]), PostgreSQL backups (`pg_dump -Fc`, [`postgres`]), qemu-img internal snapshots
//! ([`qemu`]) and site command hooks ([`hook`]: pause/resume writes, cloud/hypervisor
//! snapshots). Every operation is a command through a [`Runner`] (argv only, never a shell), so
//! the same code runs on this machine or inside a test container; every command is bounded by
//! what is left of the step's time ([`Budget`]).
//!
//! Backups and snapshots are named `pw-<unix seconds>-<label>`; the time in the name is what
//! retention prunes by ([`taken_at`]).

pub mod files;
pub mod hook;
pub mod postgres;
pub mod qemu;

use std::time::{Duration, Instant};

use anyhow::bail;

use crate::{CommandOutput, Invocation, Runner};

/// What taking a backup or snapshot gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taken {
    /// Where it is (a directory, `image@name`, or what a hook printed).
    pub location: String,
    /// Bytes on disk.
    pub size_bytes: u64,
    /// Time to take it, and to verify it.
    pub take: Duration,
    pub verify: Duration,
    /// `Ok(what was compared)` or `Err(the first mismatch)`.
    pub verified: Result<String, String>,
}

/// The time left of one step: every command gets what remains, and none starts after the end.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    until: Instant,
    total: Duration,
}

impl Budget {
    pub fn new(total: Duration) -> Budget {
        Budget {
            until: Instant::now() + total,
            total,
        }
    }

    /// Time left, or an error when the step's time is up.
    pub fn left(&self) -> anyhow::Result<Duration> {
        match self.until.checked_duration_since(Instant::now()) {
            Some(left) if !left.is_zero() => Ok(left),
            _ => bail!(
                "the step's {:.0} s timeout ran out",
                self.total.as_secs_f64()
            ),
        }
    }

    /// Runs `program args…` within the time left; fails unless it exits 0.
    pub fn run_ok(
        &self,
        runner: &dyn Runner,
        program: &str,
        args: &[&str],
    ) -> anyhow::Result<CommandOutput> {
        runner.run_ok(&Invocation::new(program, args.iter().copied()).timeout(self.left()?))
    }
}

/// `pw-<unix>-<label>`: the label keeps letters, digits, `_` and `-` of `label` (others become
/// `_`), at most 40 characters.
pub fn item_name(unix_seconds: i64, label: &str) -> String {
    let label: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    format!("pw-{unix_seconds}-{label}")
}

/// The time in an item's name (`pw-<unix>-…`); `None` for anything else.
pub fn taken_at(name: &str) -> Option<i64> {
    let rest = name.strip_prefix("pw-")?;
    let (digits, _) = rest.split_once('-')?;
    digits.parse().ok()
}

/// Whether `name` is an item older than `cutoff` (unix seconds), and not `keep`.
pub fn expired(name: &str, cutoff: i64, keep: &str) -> bool {
    name != keep && taken_at(name).is_some_and(|t| t < cutoff)
}

/// Removes the items in `dir` taken before `cutoff` (unix seconds), never `keep`; returns the
/// paths removed.
pub fn prune_dir(
    runner: &dyn Runner,
    budget: &Budget,
    dir: &str,
    cutoff: i64,
    keep: &str,
) -> anyhow::Result<Vec<String>> {
    let listed = budget.run_ok(
        runner,
        "find",
        &[
            dir,
            "-mindepth",
            "1",
            "-maxdepth",
            "1",
            "-name",
            "pw-*",
            "-printf",
            "%f\\n",
        ],
    )?;
    let mut pruned = Vec::new();
    for name in listed.stdout_text().lines() {
        if expired(name, cutoff, keep) {
            let path = format!("{}/{name}", dir.trim_end_matches('/'));
            budget.run_ok(runner, "rm", &["-rf", "--", &path])?;
            pruned.push(path);
        }
    }
    Ok(pruned)
}

/// Bytes used by a file or directory (`du -sb`).
pub fn disk_size(runner: &dyn Runner, budget: &Budget, path: &str) -> anyhow::Result<u64> {
    let output = budget.run_ok(runner, "du", &["-sb", "--", path])?;
    let text = output.stdout_text();
    text.split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("du -sb {path} printed {text:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_their_time_and_expire_by_it() {
        let name = item_name(1_700_000_000, "db backup/../x");
        assert_eq!(name, "pw-1700000000-db_backup____x");
        assert_eq!(taken_at(&name), Some(1_700_000_000));
        assert_eq!(taken_at("pw-verify-abc"), None);
        assert_eq!(taken_at("other"), None);
        assert!(expired(&name, 1_700_000_001, "keep"));
        assert!(!expired(&name, 1_700_000_000, "keep"));
        assert!(!expired(&name, 1_800_000_000, &name));
    }
}
