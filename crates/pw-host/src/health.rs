//! Health checks run after a change: a command's exit code, a TCP port accepting connections, an
//! HTTP status, "at most N lines matching a pattern appended to a log since the change" ([`crate::logcheck`]), and a systemd unit
//! being active (where systemd runs). Commands and files go through a [`Runner`], so the checks
//! run on this machine or inside a test container; TCP and HTTP probes connect from this process
//! to the address given (the host's own address for an agent, the container's for a test).
//!
//! A check never fails with an error: problems running it are an [`Verdict::Unhealthy`] with the
//! reason, and a check that cannot apply here (no systemd) is [`Verdict::NotApplicable`].

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::logcheck::{LogCheck, check_log};
use crate::runner::{Invocation, Runner};

/// One health check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// Healthy when the command exits 0.
    Command(Invocation),
    /// Healthy when a TCP connection is accepted within the timeout.
    TcpPort { addr: SocketAddr, timeout: Duration },
    /// Healthy when `GET path` answers with `expect_status`.
    Http(HttpCheck),
    /// Healthy when at most `max_matches` lines appended to a log file since a mark match a
    /// pattern ([`crate::logcheck`]).
    LogLines(LogCheck),
    /// Healthy when `systemctl is-active UNIT` says so; not applicable without systemd.
    SystemdUnit(String),
}

/// An HTTP/1.0 `GET` probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCheck {
    pub addr: SocketAddr,
    pub path: String,
    pub expect_status: u16,
    pub timeout: Duration,
}

/// A check's result, with what was seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Healthy(String),
    Unhealthy(String),
    NotApplicable(String),
}

impl Verdict {
    pub fn is_healthy(&self) -> bool {
        matches!(self, Verdict::Healthy(_))
    }

    pub fn is_unhealthy(&self) -> bool {
        matches!(self, Verdict::Unhealthy(_))
    }
}

/// Runs one check.
pub fn run_check(runner: &dyn Runner, check: &Check) -> Verdict {
    match check {
        Check::Command(invocation) => check_command(runner, invocation),
        Check::TcpPort { addr, timeout } => check_tcp(*addr, *timeout),
        Check::Http(http) => check_http(http),
        Check::LogLines(log) => check_log(runner, log),
        Check::SystemdUnit(unit) => check_systemd_unit(runner, unit),
    }
}

/// Repeats a check every `interval` until it is healthy (or not applicable) or `timeout` has
/// passed, and returns the last verdict. At most `timeout / interval + 1` attempts.
pub fn wait_healthy(
    runner: &dyn Runner,
    check: &Check,
    timeout: Duration,
    interval: Duration,
) -> Verdict {
    let started = Instant::now();
    loop {
        let verdict = run_check(runner, check);
        if !verdict.is_unhealthy() || started.elapsed() + interval > timeout {
            return verdict;
        }
        std::thread::sleep(interval);
    }
}

/// The status code of an HTTP response's first line (`HTTP/1.1 500 Internal Server Error`).
pub fn parse_status_line(response: &[u8]) -> Option<u16> {
    let line_end = response.iter().position(|&b| b == b'\n')?;
    let line = std::str::from_utf8(&response[..line_end]).ok()?;
    let mut parts = line.split_whitespace();
    parts.next().filter(|p| p.starts_with("HTTP/"))?;
    parts.next()?.parse().ok()
}

fn check_command(runner: &dyn Runner, invocation: &Invocation) -> Verdict {
    match runner.run(invocation) {
        Ok(output) if output.success() => {
            Verdict::Healthy(format!("{} exited 0", invocation.display()))
        }
        Ok(output) => Verdict::Unhealthy(format!(
            "{} exited {:?}: {}",
            invocation.display(),
            output.code,
            output.tail(3)
        )),
        Err(error) => Verdict::Unhealthy(format!("{error:#}")),
    }
}

fn check_tcp(addr: SocketAddr, timeout: Duration) -> Verdict {
    match TcpStream::connect_timeout(&addr, timeout) {
        Ok(_) => Verdict::Healthy(format!("{addr} accepts connections")),
        Err(error) => Verdict::Unhealthy(format!("connecting to {addr}: {error}")),
    }
}

fn check_http(check: &HttpCheck) -> Verdict {
    if !check.path.starts_with('/') || check.path.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Verdict::Unhealthy(format!("invalid HTTP path {:?}", check.path));
    }
    let url = format!("http://{}{}", check.addr, check.path);
    match http_get(check) {
        Ok(status) if status == check.expect_status => {
            Verdict::Healthy(format!("GET {url} answered {status}"))
        }
        Ok(status) => Verdict::Unhealthy(format!(
            "GET {url} answered {status}, expected {}",
            check.expect_status
        )),
        Err(error) => Verdict::Unhealthy(format!("GET {url}: {error}")),
    }
}

fn http_get(check: &HttpCheck) -> std::io::Result<u16> {
    let deadline = Instant::now() + check.timeout;
    let mut stream = TcpStream::connect_timeout(&check.addr, check.timeout)?;
    let remaining = || {
        deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1))
    };
    stream.set_write_timeout(Some(remaining()))?;
    let request = format!(
        "GET {} HTTP/1.0\r\nHost: {}\r\nConnection: close\r\nUser-Agent: patchwarden-health\r\n\r\n",
        check.path, check.addr
    );
    stream.write_all(request.as_bytes())?;
    let mut response = Vec::new();
    let mut chunk = [0u8; 1024];
    // Only the status line is needed: stop at the first newline or after 8 KiB.
    while !response.contains(&b'\n') && response.len() < 8192 {
        stream.set_read_timeout(Some(remaining()))?;
        let read = stream.read(&mut chunk)?;
        if read == 0 {
            break;
        }
        response.extend_from_slice(&chunk[..read]);
    }
    parse_status_line(&response).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "not an HTTP response: {:?}",
                String::from_utf8_lossy(&response[..response.len().min(80)])
            ),
        )
    })
}

fn check_systemd_unit(runner: &dyn Runner, unit: &str) -> Verdict {
    let valid = !unit.is_empty()
        && !unit.starts_with('-')
        && unit
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b":-_.@\\".contains(&b));
    if !valid {
        return Verdict::Unhealthy(format!("invalid systemd unit name {unit:?}"));
    }
    // sd_booted(3): systemd is PID 1 exactly when this directory exists.
    match runner.run(&Invocation::new("test", ["-d", "/run/systemd/system"])) {
        Ok(output) if output.success() => {}
        Ok(_) => return Verdict::NotApplicable("systemd is not running on this host".into()),
        Err(error) => return Verdict::Unhealthy(format!("{error:#}")),
    }
    match runner.run(&Invocation::new("systemctl", ["is-active", unit])) {
        Ok(output) if output.success() => Verdict::Healthy(format!("{unit} is active")),
        Ok(output) => Verdict::Unhealthy(format!(
            "{unit} is {}",
            output.stdout_text().trim().to_owned()
        )),
        Err(error) => Verdict::Unhealthy(format!("{error:#}")),
    }
}

#[cfg(test)]
#[path = "health_tests.rs"]
mod tests;
