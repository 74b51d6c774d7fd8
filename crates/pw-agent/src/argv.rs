//! Runs an operator-given program (a protection step, a migration, a benchmark): argv only,
//! never a shell, with its own timeout; the one place that turns such a run into a verdict and
//! a detail line for the report.

use std::time::Duration;

use pw_host::{Invocation, Runner};

/// How a program run went.
pub struct ArgvRun {
    /// Exited 0.
    pub ok: bool,
    /// `PROGRAM ARGS exited 0`, the exit code with the output's tail, or why it could not run.
    pub detail: String,
    /// What it printed on stdout (empty when it could not run).
    pub stdout: String,
}

/// Runs `argv` (validated by the caller: not empty) with `timeout`.
pub fn run(runner: &dyn Runner, argv: &[String], timeout: Duration) -> ArgvRun {
    let Some((program, args)) = argv.split_first() else {
        return ArgvRun {
            ok: false,
            detail: "argv is empty".into(),
            stdout: String::new(),
        };
    };
    let invocation = Invocation::new(program, args.iter().cloned()).timeout(timeout);
    match runner.run(&invocation) {
        Ok(output) if output.success() => ArgvRun {
            ok: true,
            detail: format!("{} exited 0", invocation.display()),
            stdout: output.stdout_text(),
        },
        Ok(output) => ArgvRun {
            ok: false,
            detail: format!(
                "{} exited {:?}: {}",
                invocation.display(),
                output.code,
                output.tail(5)
            ),
            stdout: output.stdout_text(),
        },
        Err(error) => ArgvRun {
            ok: false,
            detail: format!("{error:#}"),
            stdout: String::new(),
        },
    }
}
