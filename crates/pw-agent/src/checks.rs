//! The guard's health checks: the wire specs turned into pw-host checks, with the log marks
//! (length and inode of each watched log file) taken right before the install.

use std::time::Duration;

use anyhow::Context;
use pw_host::Runner;
use pw_host::health::{Check, HttpCheck};
use pw_host::logcheck::{self, LinePattern, LogCheck, LogMark};
use pw_protocol::HealthCheckSpec;

use crate::journal::LogMarkSeen;

/// The current marks of every log file a `log_lines` check watches.
pub(crate) fn marks(
    runner: &dyn Runner,
    specs: &[HealthCheckSpec],
) -> anyhow::Result<Vec<LogMarkSeen>> {
    let mut marks: Vec<LogMarkSeen> = Vec::new();
    for spec in specs {
        if let HealthCheckSpec::LogLines { path, .. } = spec {
            if marks.iter().any(|m| m.path == *path) {
                continue;
            }
            let mark = logcheck::log_mark(runner, path)
                .with_context(|| format!("check {}: marking {path}", spec.name()))?;
            marks.push(LogMarkSeen {
                path: path.clone(),
                size: mark.size,
                inode: mark.inode,
            });
        }
    }
    Ok(marks)
}

/// The checks by name. A log file without a mark counts from its start (used only to validate
/// the specs before anything runs).
pub(crate) fn build(
    specs: &[HealthCheckSpec],
    marks: &[LogMarkSeen],
) -> anyhow::Result<Vec<(String, Check)>> {
    specs
        .iter()
        .map(|spec| {
            let check = to_check(spec, marks).with_context(|| format!("check {}", spec.name()))?;
            Ok((spec.name().to_owned(), check))
        })
        .collect()
}

fn to_check(spec: &HealthCheckSpec, marks: &[LogMarkSeen]) -> anyhow::Result<Check> {
    let address = |addr: &str| {
        addr.parse()
            .with_context(|| format!("check address {addr}"))
    };
    Ok(match spec {
        HealthCheckSpec::Http {
            addr,
            path,
            expect_status,
            ..
        } => Check::Http(HttpCheck {
            addr: address(addr)?,
            path: path.clone(),
            expect_status: *expect_status,
            timeout: Duration::from_secs(3),
        }),
        HealthCheckSpec::Tcp { addr, .. } => Check::TcpPort {
            addr: address(addr)?,
            timeout: Duration::from_secs(3),
        },
        HealthCheckSpec::Command { argv, .. } => {
            let (program, args) = argv.split_first().context("empty check command")?;
            Check::Command(pw_host::Invocation::new(program, args.iter().cloned()))
        }
        HealthCheckSpec::SystemdUnit { unit, .. } => Check::SystemdUnit(unit.clone()),
        HealthCheckSpec::LogLines {
            path,
            pattern,
            regex,
            max_matches,
            ..
        } => {
            if !path.starts_with('/') {
                anyhow::bail!("log path {path:?} is not absolute");
            }
            let since = marks
                .iter()
                .find(|m| m.path == *path)
                .map(|m| LogMark {
                    size: m.size,
                    inode: m.inode,
                })
                .unwrap_or_default();
            Check::LogLines(LogCheck {
                path: path.clone(),
                pattern: LinePattern::new(pattern, *regex)?,
                max_matches: *max_matches,
                since,
            })
        }
    })
}
