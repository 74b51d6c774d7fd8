//! A plan group's health checks (pw-planner's `kind` + `target` strings) as the checks an agent
//! runs (`pw_protocol::HealthCheckSpec`). Targets are parsed strictly; a check the agent cannot
//! run is an error naming it, unless the operator skips it by name on purpose.
//!
//! | planner kind | target | agent check |
//! |---|---|---|
//! | `systemd` | a unit name (`nginx.service`) | `systemd_unit` |
//! | `tcp` | `IP:PORT` or `localhost:PORT` | `tcp` |
//! | `http` | `http://IP[:PORT]/path` or `http://localhost…` | `http` (expects 200) |
//! | `command` | a program and arguments separated by spaces | `command` (argv, no shell) |
//! | `log` | an absolute log file path | `log_lines`: no new line with the word `ERROR` or `CRITICAL` |
//! | `promql` | – | refused: not run on the agent |

use std::net::SocketAddr;

use pw_planner::plan::HealthCheckRef;
use pw_planner::policy::HealthCheckKind;
use pw_protocol::HealthCheckSpec;

/// Characters that only mean something to a shell; a command check never goes through one.
const SHELL_CHARS: &[char] = &[
    '|', '&', ';', '<', '>', '$', '`', '\'', '"', '\\', '(', ')', '*', '?', '{', '}', '~',
];

/// What a planner `log` check looks for in lines written after the change (pw-host's error
/// words, as whole words).
pub const LOG_ERROR_PATTERN: &str = r"\b(ERROR|CRITICAL)\b";

/// The agent's check for one plan check, or why it cannot run there.
pub fn to_agent_check(check: &HealthCheckRef) -> Result<HealthCheckSpec, String> {
    let name = check.name.clone();
    let target = check.target.trim();
    let problem = |why: &str| {
        format!(
            "health check {} ({} {target:?}): {why}",
            check.name,
            kind_name(check.kind)
        )
    };
    match check.kind {
        HealthCheckKind::Systemd => {
            if target.is_empty() || target.chars().any(|c| c.is_whitespace() || c == '/') {
                return Err(problem("the target must be one systemd unit name"));
            }
            Ok(HealthCheckSpec::SystemdUnit {
                name,
                unit: target.to_owned(),
            })
        }
        HealthCheckKind::Tcp => Ok(HealthCheckSpec::Tcp {
            name,
            addr: socket_addr(target, None).map_err(|why| problem(&why))?,
        }),
        HealthCheckKind::Http => {
            let (addr, path) = http_target(target).map_err(|why| problem(&why))?;
            Ok(HealthCheckSpec::Http {
                name,
                addr,
                path,
                expect_status: 200,
            })
        }
        HealthCheckKind::Command => {
            if let Some(c) = target.chars().find(|c| SHELL_CHARS.contains(c)) {
                return Err(problem(&format!(
                    "{c:?} needs a shell, and the agent runs commands as argv without one: put \
                     the command in a script and name the script"
                )));
            }
            let argv: Vec<String> = target.split_whitespace().map(str::to_owned).collect();
            if argv.is_empty() {
                return Err(problem("the command is empty"));
            }
            Ok(HealthCheckSpec::Command { name, argv })
        }
        HealthCheckKind::Log => {
            if !target.starts_with('/') || target.chars().any(char::is_whitespace) {
                return Err(problem("the target must be one absolute log file path"));
            }
            Ok(HealthCheckSpec::LogLines {
                name,
                path: target.to_owned(),
                pattern: LOG_ERROR_PATTERN.to_owned(),
                regex: true,
                max_matches: 0,
            })
        }
        HealthCheckKind::Promql => Err(problem(
            "a PromQL query is evaluated by a Prometheus server, not on the host, so the agent \
             cannot run it; list the check in skip_checks to roll out without it",
        )),
    }
}

fn kind_name(kind: HealthCheckKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// `IP:PORT` (or `localhost:PORT`, which is 127.0.0.1); `default_port` when the port is left out.
fn socket_addr(text: &str, default_port: Option<u16>) -> Result<String, String> {
    let with_port = match (text.rsplit_once(':'), default_port) {
        (Some((_, port)), _) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
            text.to_owned()
        }
        (_, Some(port)) if !text.contains(':') || text.ends_with(']') => format!("{text}:{port}"),
        _ => return Err("the target needs an address and a port (IP:PORT)".into()),
    };
    let resolved = match with_port.strip_prefix("localhost:") {
        Some(port) => format!("127.0.0.1:{port}"),
        None => with_port,
    };
    resolved
        .parse::<SocketAddr>()
        .map(|a| a.to_string())
        .map_err(|_| {
            "the agent connects to an IP address and port; it does not resolve host names (use \
         IP:PORT or localhost:PORT)"
                .into()
        })
}

/// `http://host[:port]/path` → (`IP:PORT`, `/path`).
fn http_target(url: &str) -> Result<(String, String), String> {
    if url.starts_with("https://") {
        return Err(
            "the agent's HTTP check speaks plain HTTP; check the TLS port with a tcp check or \
             the endpoint with a command check"
                .into(),
        );
    }
    let rest = url
        .strip_prefix("http://")
        .ok_or("the target must be an http:// URL")?;
    let (authority, path) = match rest.find('/') {
        Some(slash) => (&rest[..slash], &rest[slash..]),
        None => (rest, "/"),
    };
    if authority.contains('@') {
        return Err("credentials in the URL are not supported".into());
    }
    Ok((socket_addr(authority, Some(80))?, path.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(kind: HealthCheckKind, target: &str) -> HealthCheckRef {
        HealthCheckRef {
            name: "c".into(),
            kind,
            target: target.into(),
            timeout_seconds: 60,
        }
    }

    #[test]
    fn planner_targets_become_agent_checks() {
        let http = to_agent_check(&check(
            HealthCheckKind::Http,
            "http://localhost:18080/cgi-bin/health",
        ));
        assert_eq!(
            http,
            Ok(HealthCheckSpec::Http {
                name: "c".into(),
                addr: "127.0.0.1:18080".into(),
                path: "/cgi-bin/health".into(),
                expect_status: 200,
            })
        );
        let plain = to_agent_check(&check(HealthCheckKind::Http, "http://10.0.0.5"));
        assert!(
            matches!(&plain, Ok(HealthCheckSpec::Http { addr, path, .. }) if addr == "10.0.0.5:80" && path == "/"),
            "{plain:?}"
        );
        assert_eq!(
            to_agent_check(&check(HealthCheckKind::Tcp, "[::1]:5432")),
            Ok(HealthCheckSpec::Tcp {
                name: "c".into(),
                addr: "[::1]:5432".into()
            })
        );
        assert_eq!(
            to_agent_check(&check(HealthCheckKind::Command, " /usr/bin/pg_isready -q ")),
            Ok(HealthCheckSpec::Command {
                name: "c".into(),
                argv: vec!["/usr/bin/pg_isready".into(), "-q".into()]
            })
        );
        assert_eq!(
            to_agent_check(&check(HealthCheckKind::Log, "/var/log/pw-demo.log")),
            Ok(HealthCheckSpec::LogLines {
                name: "c".into(),
                path: "/var/log/pw-demo.log".into(),
                pattern: LOG_ERROR_PATTERN.into(),
                regex: true,
                max_matches: 0,
            })
        );
        pw_host::logcheck::LinePattern::new(LOG_ERROR_PATTERN, true).unwrap();
        assert_eq!(
            to_agent_check(&check(HealthCheckKind::Systemd, "nginx.service")),
            Ok(HealthCheckSpec::SystemdUnit {
                name: "c".into(),
                unit: "nginx.service".into()
            })
        );
    }

    #[test]
    fn checks_the_agent_cannot_run_are_named() {
        for (kind, target, expected) in [
            (HealthCheckKind::Promql, "up == 1", "Prometheus server"),
            (HealthCheckKind::Log, "syslog", "absolute log file path"),
            (
                HealthCheckKind::Http,
                "https://localhost/healthz",
                "plain HTTP",
            ),
            (HealthCheckKind::Http, "ftp://x", "http:// URL"),
            (HealthCheckKind::Tcp, "db.example:5432", "does not resolve"),
            (HealthCheckKind::Tcp, "127.0.0.1", "IP:PORT"),
            (
                HealthCheckKind::Command,
                "curl -f x | grep ok",
                "'|' needs a shell",
            ),
            (HealthCheckKind::Command, "  ", "empty"),
            (
                HealthCheckKind::Systemd,
                "nginx postgres",
                "one systemd unit",
            ),
        ] {
            let error = to_agent_check(&check(kind, target)).unwrap_err();
            assert!(error.contains(expected), "{target}: {error}");
            assert!(error.starts_with("health check c ("), "{error}");
        }
    }
}
