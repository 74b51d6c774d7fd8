//! Running commands on a host through a small [`Runner`] trait: argv only (never a shell), an
//! explicit environment and a timeout. The apt driver and the health checks take a `&dyn Runner`,
//! so the same code runs on this machine ([`LocalRunner`]) or inside a test container (the
//! test bed's `DockerExecRunner`, which prefixes `docker exec <container>`).

use std::io::{Read, Write};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// Default time limit of one command.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// One command to run: program, arguments (each a single argv entry), extra environment, optional
/// stdin bytes and a time limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub program: String,
    pub args: Vec<String>,
    /// Added to the runner's base environment (`LC_ALL=C` is always set).
    pub env: Vec<(String, String)>,
    /// Bytes written to the command's stdin; `None` gives it an empty, closed stdin.
    pub stdin: Option<Vec<u8>>,
    pub timeout: Duration,
}

impl Invocation {
    /// `program args…` with no extra environment, no stdin and [`DEFAULT_TIMEOUT`].
    pub fn new<I, S>(program: &str, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Invocation {
            program: program.to_owned(),
            args: args.into_iter().map(Into::into).collect(),
            env: Vec::new(),
            stdin: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Adds an environment variable.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Feeds these bytes to stdin.
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(bytes.into());
        self
    }

    /// Sets the time limit.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// `program arg arg…` for messages (arguments are not quoted: this is never run by a shell).
    pub fn display(&self) -> String {
        let mut shown = self.program.clone();
        for arg in &self.args {
            shown.push(' ');
            shown.push_str(arg);
        }
        shown
    }
}

/// What a finished command left behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandOutput {
    /// Exit code; `None` when a signal ended the command.
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub elapsed: Duration,
}

impl CommandOutput {
    /// Exit code 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    /// The last `lines` lines of stdout and stderr together, for error messages and reports.
    pub fn tail(&self, lines: usize) -> String {
        let text = format!("{}{}", self.stdout_text(), self.stderr_text());
        let all: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

/// Runs commands somewhere (this machine, a container, later an SSH session).
pub trait Runner: Send + Sync {
    /// Runs one command to its end. `Err` means it could not be started or did not finish in
    /// time; a non-zero exit is an `Ok` output.
    fn run(&self, invocation: &Invocation) -> anyhow::Result<CommandOutput>;

    /// Where commands run, for messages (`local`, `docker exec pwtb-…`).
    fn target(&self) -> String;

    /// Runs a command and fails unless it exits 0, with its output's tail in the error.
    fn run_ok(&self, invocation: &Invocation) -> anyhow::Result<CommandOutput> {
        let output = self.run(invocation)?;
        if !output.success() {
            bail!(
                "{} on {} failed (exit {:?}):\n{}",
                invocation.display(),
                self.target(),
                output.code,
                output.tail(20)
            );
        }
        Ok(output)
    }
}

/// Runs commands on this machine with `std::process::Command`.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalRunner;

impl Runner for LocalRunner {
    fn run(&self, invocation: &Invocation) -> anyhow::Result<CommandOutput> {
        let mut command = Command::new(&invocation.program);
        command.args(&invocation.args).env("LC_ALL", "C");
        for (key, value) in &invocation.env {
            command.env(key, value);
        }
        run_command(
            command,
            invocation.stdin.as_deref(),
            invocation.timeout,
            &invocation.display(),
        )
    }

    fn target(&self) -> String {
        "local".to_owned()
    }
}

/// Runs a prepared `Command` with stdin bytes (or a closed stdin), capturing both outputs, and
/// kills it (through its own handle) when it outlives `timeout`. `shown` names it in errors.
/// Public so that other runners wrapping a local client (`docker exec`, `ssh`) reuse it.
pub fn run_command(
    mut command: Command,
    stdin: Option<&[u8]>,
    timeout: Duration,
    shown: &str,
) -> anyhow::Result<CommandOutput> {
    let started = Instant::now();
    let mut child = command
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {shown}"))?;
    let writer = stdin.map(|bytes| {
        let bytes = bytes.to_vec();
        let pipe = child.stdin.take();
        std::thread::spawn(move || {
            if let Some(mut pipe) = pipe {
                // A command that exits without reading its input closes the pipe: not our error.
                let _ = pipe.write_all(&bytes);
            }
        })
    });
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let status = wait_bounded(&mut child, timeout, shown)?;
    if let Some(writer) = writer {
        let _ = writer.join();
    }
    Ok(CommandOutput {
        code: exit_code(status),
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
        elapsed: started.elapsed(),
    })
}

fn wait_bounded(
    child: &mut std::process::Child,
    timeout: Duration,
    shown: &str,
) -> anyhow::Result<ExitStatus> {
    let started = Instant::now();
    let mut pause = Duration::from_millis(2);
    loop {
        if let Some(status) = child
            .try_wait()
            .with_context(|| format!("waiting for {shown}"))?
        {
            return Ok(status);
        }
        if started.elapsed() > timeout {
            // The child is ours; killing it by its handle cannot hit another process.
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "{shown} did not finish within {:.1} s and was stopped",
                timeout.as_secs_f64()
            );
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

fn exit_code(status: ExitStatus) -> Option<i32> {
    status.code()
}

/// Reads a pipe to its end on a thread (so a full pipe cannot block the child).
fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut out = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut out);
        }
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_argv_with_stdin_and_env() {
        let output = LocalRunner
            .run(&Invocation::new("cat", Vec::<String>::new()).stdin("a b;$(x)\n"))
            .unwrap();
        assert!(output.success());
        assert_eq!(output.stdout_text(), "a b;$(x)\n");
        let output = LocalRunner
            .run(&Invocation::new("env", Vec::<String>::new()).env("PW_X", "1 2"))
            .unwrap();
        assert!(output.stdout_text().lines().any(|l| l == "PW_X=1 2"));
        assert!(output.stdout_text().lines().any(|l| l == "LC_ALL=C"));
    }

    #[test]
    fn non_zero_exit_is_an_output_and_run_ok_fails() {
        let invocation = Invocation::new("false", Vec::<String>::new());
        assert_eq!(LocalRunner.run(&invocation).unwrap().code, Some(1));
        let error = LocalRunner.run_ok(&invocation).unwrap_err().to_string();
        assert!(error.contains("false on local failed"), "{error}");
    }

    #[test]
    fn missing_program_and_timeout_are_errors() {
        let error = LocalRunner
            .run(&Invocation::new("pw-no-such-program", ["x"]))
            .unwrap_err();
        assert!(format!("{error:#}").contains("starting pw-no-such-program x"));
        let started = Instant::now();
        let error = LocalRunner
            .run(&Invocation::new("sleep", ["5"]).timeout(Duration::from_millis(200)))
            .unwrap_err();
        assert!(error.to_string().contains("did not finish within 0.2 s"));
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    #[test]
    fn tail_keeps_the_last_non_empty_lines() {
        let output = CommandOutput {
            code: Some(0),
            stdout: b"a\n\nb\nc\n".to_vec(),
            stderr: b"E: d\n".to_vec(),
            elapsed: Duration::ZERO,
        };
        assert_eq!(output.tail(2), "c\nE: d");
    }
}
