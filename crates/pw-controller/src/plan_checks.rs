//! A plan group's health checks (pw-planner's `kind` + `target` strings) as the checks an agent
//! runs (`pw_protocol::HealthCheckSpec`). Targets are parsed strictly; a check the agent cannot
//! run is an error naming it, unless the operator skips it by name on purpose.
//!
//! | planner kind | target | agent check |
//! |---|---|---|
//! | `systemd` | a unit name (`nginx.service`) | `systemd_unit` |
//! | `tcp` | `IP:PORT` or `localhost:PORT` | `tcp` |
//! | `http` | `http://IP[:PORT]/path`, `http://localhost…`, or `http(s)://NAME[:PORT]/path` by host name | `http` (expects 200 or `expect_status`; `ca_file`, `connect_to`; the check's timeout, at most 300 s) |
//! | `command` | a program and arguments separated by spaces | `command` (argv, no shell) |
//! | `log` | an absolute log file path | `log_lines`: no new line with the word `ERROR` or `CRITICAL` |
//! | `services` | units and `IP:PORT`s separated by spaces | `service_up` within the check's timeout (the group's `core_services`: `core-service-up`, 5 min) |
//! | `promql` | – | not an agent check: the controller's PromQL gate (`promql.rs`) |

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
        HealthCheckKind::Http => http_check(check, target).map_err(|why| problem(&why)),
        HealthCheckKind::Services => {
            let (mut units, mut ports) = (Vec::new(), Vec::new());
            for entry in target.split_whitespace() {
                if entry.contains(':') {
                    ports.push(socket_addr(entry, None).map_err(|why| problem(&why))?);
                } else if pw_model::is_service_unit(entry) {
                    units.push(entry.to_owned());
                } else {
                    return Err(problem(&format!(
                        "{entry:?} is neither a systemd service unit nor an IP:PORT"
                    )));
                }
            }
            if units.is_empty() && ports.is_empty() {
                return Err(problem("name at least one unit or IP:PORT"));
            }
            Ok(HealthCheckSpec::ServiceUp {
                name,
                units,
                ports,
                within_seconds: check.timeout_seconds,
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
            "a PromQL query is evaluated by the controller against Prometheus (the group's \
             PromQL gate), not by the agent",
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

/// Longest timeout of one HTTP probe on the agent.
const MAX_HTTP_TIMEOUT_SECONDS: u64 = 300;

/// A planner `http` check: `http://IP…` (or `localhost`) as the plain `addr` + `path` form;
/// anything else (`https://`, a host name) by URL, with the check's options.
fn http_check(check: &HealthCheckRef, url: &str) -> Result<HealthCheckSpec, String> {
    let options = &check.options;
    let expect_status = options.expect_status.unwrap_or(200);
    let (scheme, rest) = url
        .split_once("://")
        .filter(|(scheme, _)| matches!(*scheme, "http" | "https"))
        .ok_or("the target must be an http:// or https:// URL")?;
    let (authority, path) = match rest.find('/') {
        Some(slash) => (&rest[..slash], &rest[slash..]),
        None => (rest, "/"),
    };
    if authority.contains('@') {
        return Err("credentials in the URL are not supported".into());
    }
    if authority.is_empty() || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("the URL needs a host and no spaces".into());
    }
    let plain = scheme == "http" && options.ca_file.is_none() && options.connect_to.is_none();
    if plain && let Ok(addr) = socket_addr(authority, Some(80)) {
        return Ok(HealthCheckSpec::Http {
            name: check.name.clone(),
            addr,
            path: path.to_owned(),
            expect_status,
            url: None,
            ca_file: None,
            timeout_seconds: None,
        });
    }
    let parsed = url::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err("the URL needs a host".into());
    }
    Ok(HealthCheckSpec::Http {
        name: check.name.clone(),
        addr: options.connect_to.clone().unwrap_or_default(),
        path: String::new(),
        expect_status,
        url: Some(url.to_owned()),
        ca_file: options.ca_file.clone(),
        timeout_seconds: Some(check.timeout_seconds.clamp(1, MAX_HTTP_TIMEOUT_SECONDS)),
    })
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
            options: Default::default(),
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
                url: None,
                ca_file: None,
                timeout_seconds: None,
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
        pw_model::LinePattern::new(LOG_ERROR_PATTERN, true).unwrap();
        assert_eq!(
            to_agent_check(&check(HealthCheckKind::Systemd, "nginx.service")),
            Ok(HealthCheckSpec::SystemdUnit {
                name: "c".into(),
                unit: "nginx.service".into()
            })
        );
    }

    #[test]
    fn https_and_named_http_targets_go_by_url() {
        let mut https = check(HealthCheckKind::Http, "https://svc.example:8443/healthz");
        https.options.ca_file = Some("/etc/ssl/svc-ca.pem".into());
        https.options.connect_to = Some("10.0.0.7".into());
        https.options.expect_status = Some(204);
        assert_eq!(
            to_agent_check(&https),
            Ok(HealthCheckSpec::Http {
                name: "c".into(),
                addr: "10.0.0.7".into(),
                path: String::new(),
                expect_status: 204,
                url: Some("https://svc.example:8443/healthz".into()),
                ca_file: Some("/etc/ssl/svc-ca.pem".into()),
                timeout_seconds: Some(60),
            })
        );
        let named = to_agent_check(&check(HealthCheckKind::Http, "http://svc.example/x"));
        assert!(
            matches!(&named, Ok(HealthCheckSpec::Http { url: Some(u), addr, .. }) if u == "http://svc.example/x" && addr.is_empty()),
            "{named:?}"
        );
        let mut core = check(HealthCheckKind::Services, "nginx.service 127.0.0.1:443");
        core.timeout_seconds = 300;
        assert_eq!(
            to_agent_check(&core),
            Ok(HealthCheckSpec::ServiceUp {
                name: "c".into(),
                units: vec!["nginx.service".into()],
                ports: vec!["127.0.0.1:443".into()],
                within_seconds: 300,
            })
        );
    }

    #[test]
    fn checks_the_agent_cannot_run_are_named() {
        for (kind, target, expected) in [
            (
                HealthCheckKind::Promql,
                "up == 1",
                "evaluated by the controller",
            ),
            (HealthCheckKind::Log, "syslog", "absolute log file path"),
            (HealthCheckKind::Http, "https://user:pw@x/", "credentials"),
            (HealthCheckKind::Http, "https://x y/", "no spaces"),
            (HealthCheckKind::Http, "ftp://x", "https:// URL"),
            (HealthCheckKind::Services, "nginx 127.0.0.1:80", "neither"),
            (HealthCheckKind::Services, "db:5432", "does not resolve"),
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
