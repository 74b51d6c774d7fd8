//! The guard's health checks: the wire specs turned into pw-host checks, with the log marks
//! (length and inode of each watched log file) taken right before the install, and the
//! verification period that runs them ([`verify`]).

use std::time::{Duration, Instant};

use anyhow::Context;
use pw_host::Runner;
use pw_host::health::{self, Check, HttpCheck, ServiceUp, Verdict};
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
            url,
            ca_file,
            timeout_seconds,
            ..
        } => Check::Http(http_check(
            addr,
            path,
            *expect_status,
            url.as_deref(),
            ca_file.as_deref(),
            *timeout_seconds,
        )?),
        HealthCheckSpec::Tcp { addr, .. } => Check::TcpPort {
            addr: address(addr)?,
            timeout: Duration::from_secs(3),
        },
        HealthCheckSpec::Command { argv, .. } => {
            let (program, args) = argv.split_first().context("empty check command")?;
            Check::Command(pw_host::Invocation::new(program, args.iter().cloned()))
        }
        HealthCheckSpec::SystemdUnit { unit, .. } => Check::SystemdUnit(unit.clone()),
        HealthCheckSpec::ServiceUp {
            units,
            ports,
            within_seconds,
            ..
        } => {
            if units.is_empty() && ports.is_empty() {
                anyhow::bail!("no unit and no port to check");
            }
            if *within_seconds == 0 {
                anyhow::bail!("within_seconds must be at least 1");
            }
            Check::ServiceUp(ServiceUp {
                units: units.clone(),
                ports: ports
                    .iter()
                    .map(|port| address(port))
                    .collect::<anyhow::Result<_>>()?,
                timeout: Duration::from_secs(3),
                within: Duration::from_secs(*within_seconds),
            })
        }
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

/// Longest timeout of one HTTP probe.
const MAX_HTTP_TIMEOUT_SECONDS: u64 = 300;

/// An `http` spec as pw-host's probe: by `url` (with `addr`, when given, the IP to connect to)
/// or plain `http://addr/path`.
fn http_check(
    addr: &str,
    path: &str,
    expect_status: u16,
    url: Option<&str>,
    ca_file: Option<&str>,
    timeout_seconds: Option<u64>,
) -> anyhow::Result<HttpCheck> {
    let timeout = match timeout_seconds {
        None => Duration::from_secs(3),
        Some(seconds @ 1..=MAX_HTTP_TIMEOUT_SECONDS) => Duration::from_secs(seconds),
        Some(seconds) => {
            anyhow::bail!("timeout_seconds {seconds} is not within 1..={MAX_HTTP_TIMEOUT_SECONDS}")
        }
    };
    if let Some(ca_file) = ca_file
        && !ca_file.starts_with('/')
    {
        anyhow::bail!("ca_file {ca_file:?} is not absolute");
    }
    let Some(url) = url else {
        let addr = addr
            .parse()
            .with_context(|| format!("check address {addr}"))?;
        let mut check = HttpCheck::plain(addr, path, expect_status, timeout);
        check.ca_file = ca_file.map(Into::into);
        return Ok(check);
    };
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        anyhow::bail!("url {url:?} is not http:// or https://");
    }
    let connect_to = match addr {
        "" => None,
        ip => Some(
            ip.parse()
                .with_context(|| format!("connect address {ip:?} (an IP address)"))?,
        ),
    };
    Ok(HttpCheck {
        url: url.to_owned(),
        connect_to,
        ca_file: ca_file.map(Into::into),
        expect_status,
        timeout,
    })
}

/// How often a failing check is tried again during the verification period.
const CHECK_INTERVAL: Duration = Duration::from_secs(2);

/// Runs every check until each has passed once (or is not applicable here), or the period
/// ends: then the first check without a pass and its last verdict. Log checks are watched for
/// the whole period instead (lines keep arriving): run every interval, they fail the change as
/// soon as they see too many matching lines, and the change is verified only when the period
/// is over.
pub(crate) fn verify(
    runner: &dyn Runner,
    checks: &[(String, Check)],
    period: Duration,
) -> Result<Vec<String>, (String, String)> {
    let watched = |check: &Check| matches!(check, Check::LogLines(_));
    let any_watched = checks.iter().any(|(_, check)| watched(check));
    let started = Instant::now();
    let mut last: Vec<Option<Verdict>> = vec![None; checks.len()];
    loop {
        for (i, (_, check)) in checks.iter().enumerate() {
            if watched(check) || last[i].as_ref().is_none_or(Verdict::is_unhealthy) {
                last[i] = Some(health::run_check(runner, check));
            }
        }
        let mut verdicts = checks.iter().zip(&last);
        // Matching lines do not go away: a log check over its limit fails at once; a check that
        // must be up within a time after the install (`core-service-up`) fails once that passed.
        let late = |check: &Check| check.up_within().is_some_and(|d| started.elapsed() >= d);
        if let Some(((name, _), verdict)) = verdicts.clone().find(|((_, check), v)| {
            (watched(check) || late(check)) && v.as_ref().is_some_and(Verdict::is_unhealthy)
        }) {
            return Err((name.clone(), format!("{verdict:?}")));
        }
        let failing = verdicts.find(|(_, v)| v.as_ref().is_none_or(Verdict::is_unhealthy));
        let period_over = started.elapsed() + CHECK_INTERVAL > period;
        match failing {
            None if !any_watched || period_over => {
                return Ok(checks.iter().map(|(name, _)| name.clone()).collect());
            }
            Some(((name, _), verdict)) if period_over => {
                return Err((name.clone(), format!("{verdict:?}")));
            }
            _ => std::thread::sleep(CHECK_INTERVAL),
        }
    }
}
