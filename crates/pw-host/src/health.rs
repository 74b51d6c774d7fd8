//! Health checks run after a change: a command's exit code, a TCP port accepting connections, an
//! HTTP or HTTPS status (a real client: reqwest over rustls with ring, [`HttpCheck`]), "at most N lines matching a pattern appended to a log since the change" ([`crate::logcheck`]), and a systemd unit
//! being active (where systemd runs). Commands and files go through a [`Runner`], so the checks
//! run on this machine or inside a test container; TCP and HTTP probes connect from this process
//! to the address given (the host's own address for an agent, the container's for a test).
//!
//! A check never fails with an error: problems running it are an [`Verdict::Unhealthy`] with the
//! reason, and a check that cannot apply here (no systemd) is [`Verdict::NotApplicable`].

use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::logcheck::{LogCheck, check_log};
use crate::runner::{Invocation, Runner};

/// One health check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// Healthy when the command exits 0.
    Command(Invocation),
    /// Healthy when a TCP connection is accepted within the timeout.
    TcpPort { addr: SocketAddr, timeout: Duration },
    /// Healthy when `GET url` answers with `expect_status`.
    Http(HttpCheck),
    /// Healthy when at most `max_matches` lines appended to a log file since a mark match a
    /// pattern ([`crate::logcheck`]).
    LogLines(LogCheck),
    /// Healthy when `systemctl is-active UNIT` says so; not applicable without systemd.
    SystemdUnit(String),
    /// Healthy when every unit is active (or systemd does not run here) and every port accepts
    /// connections; a caller verifying a change gives up on it after `within` ([`Check::up_within`]).
    ServiceUp(ServiceUp),
}

/// A group's core services: the named default check `core-service-up`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceUp {
    pub units: Vec<String>,
    pub ports: Vec<SocketAddr>,
    /// Each TCP probe's timeout.
    pub timeout: Duration,
    /// How long after the install the services may take to come up.
    pub within: Duration,
}

impl Check {
    /// The time after the install by which this check must have passed, if it has one.
    pub fn up_within(&self) -> Option<Duration> {
        match self {
            Check::ServiceUp(services) => Some(services.within),
            _ => None,
        }
    }
}

/// An HTTP or HTTPS `GET` probe through a real client (reqwest over rustls with ring). The
/// URL's host name is the TLS server name (SNI, verified against the certificate) and the
/// `Host` header; redirects are not followed (their status is the answer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCheck {
    /// `http://…` or `https://…`; credentials are refused.
    pub url: String,
    /// Connect to this address instead of resolving the URL's host name (the URL's port is
    /// kept), like curl's `--resolve`; SNI and `Host` stay the URL's name.
    pub connect_to: Option<IpAddr>,
    /// A PEM file of CA certificates trusted *instead of* the system's roots.
    pub ca_file: Option<PathBuf>,
    pub expect_status: u16,
    /// For the whole request (connect, handshake, answer).
    pub timeout: Duration,
}

impl HttpCheck {
    /// `GET http://ADDR/path`, expecting `expect_status`.
    pub fn plain(addr: SocketAddr, path: &str, expect_status: u16, timeout: Duration) -> Self {
        HttpCheck {
            url: format!("http://{addr}{path}"),
            connect_to: None,
            ca_file: None,
            expect_status,
            timeout,
        }
    }
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
        Check::ServiceUp(services) => check_services(runner, services),
    }
}

fn check_services(runner: &dyn Runner, services: &ServiceUp) -> Verdict {
    let mut up = Vec::new();
    let mut down = Vec::new();
    let units = services
        .units
        .iter()
        .map(|unit| check_systemd_unit(runner, unit));
    let ports = services
        .ports
        .iter()
        .map(|addr| check_tcp(*addr, services.timeout));
    for verdict in units.chain(ports) {
        match verdict {
            Verdict::Unhealthy(why) => down.push(why),
            Verdict::Healthy(what) | Verdict::NotApplicable(what) => up.push(what),
        }
    }
    if down.is_empty() {
        Verdict::Healthy(up.join("; "))
    } else {
        Verdict::Unhealthy(format!("down: {}", down.join("; ")))
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
    let url = &check.url;
    if url.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Verdict::Unhealthy(format!("invalid HTTP URL {url:?}"));
    }
    match http_status(check) {
        Ok(status) if status == check.expect_status => {
            Verdict::Healthy(format!("GET {url} answered {status}"))
        }
        Ok(status) => Verdict::Unhealthy(format!(
            "GET {url} answered {status}, expected {}",
            check.expect_status
        )),
        Err(error) => Verdict::Unhealthy(format!("GET {url}: {error:#}")),
    }
}

/// The status of `GET url`. A client per probe: checks are seconds apart, and a fresh client
/// has no pooled connection to a service that restarted meanwhile.
fn http_status(check: &HttpCheck) -> anyhow::Result<u16> {
    let url = reqwest::Url::parse(&check.url).context("not a URL")?;
    if !matches!(url.scheme(), "http" | "https") {
        bail!("the URL must start with http:// or https://");
    }
    if !url.username().is_empty() || url.password().is_some() {
        bail!("credentials in the URL are not supported");
    }
    let host = url.host_str().context("the URL has no host")?.to_owned();
    let mut builder = reqwest::Client::builder()
        .timeout(check.timeout)
        .connect_timeout(check.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent(concat!("patchwarden-health/", env!("CARGO_PKG_VERSION")));
    if let Some(ip) = check.connect_to {
        let port = url.port_or_known_default().context("the URL has no port")?;
        builder = builder.resolve(&host, SocketAddr::new(ip, port));
    }
    if let Some(path) = &check.ca_file {
        let pem = std::fs::read(path)
            .with_context(|| format!("reading the CA file {}", path.display()))?;
        let roots = reqwest::Certificate::from_pem_bundle(&pem)
            .with_context(|| format!("the CA file {}", path.display()))?;
        if roots.is_empty() {
            bail!("the CA file {} holds no PEM certificate", path.display());
        }
        builder = builder.tls_certs_only(roots);
    }
    // The workspace's one TLS provider (docs/design/decisions.md); `main` installs it, tests and
    // library callers may not have.
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    // Checks run on blocking threads (the guard runs in `spawn_blocking`): a small runtime of
    // this thread's own drives the one request.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the HTTP probe's runtime")?;
    runtime.block_on(async move {
        let client = builder.build().context("setting up the HTTP client")?;
        let answer = client.get(url).send().await?;
        Ok(answer.status().as_u16())
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

#[cfg(test)]
#[path = "health_tls_tests.rs"]
mod tls_tests;
