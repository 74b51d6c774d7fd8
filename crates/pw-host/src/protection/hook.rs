//! Site command hooks: pause/resume writes and cloud/hypervisor snapshots (take/revert). argv
//! only, never a shell, with extra environment variables naming the snapshot.

use crate::{Invocation, Runner};

use super::Budget;

/// Runs `argv` with `env` added; fails unless it exits 0. Returns the last non-empty line of
/// its stdout (a snapshot hook prints the snapshot's location there).
pub fn run(
    runner: &dyn Runner,
    budget: &Budget,
    argv: &[String],
    env: &[(&str, &str)],
) -> anyhow::Result<String> {
    let Some((program, args)) = argv.split_first() else {
        anyhow::bail!("empty argv");
    };
    let mut invocation = Invocation::new(program, args.iter().cloned()).timeout(budget.left()?);
    for (key, value) in env {
        invocation = invocation.env(key, value);
    }
    let output = runner.run_ok(&invocation)?;
    Ok(output
        .stdout_text()
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .trim()
        .to_owned())
}
