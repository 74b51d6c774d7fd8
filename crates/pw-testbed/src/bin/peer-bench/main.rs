//! Peer benchmark (issue 5, item 6): the same upgrade (pw-demo 1.0-1 → 1.0-2) on 20 fresh host
//! containers, 5 at a time, by patchwarden and by Ansible's apt module, measured in one run:
//! wall time and controller CPU (user + system), printed with the ratios.
//!
//! ```sh
//! cargo build --release -p patchwarden -p pw-testbed
//! python3 -m venv /var/cache/patchwarden-testbed/ansible-venv
//! /var/cache/patchwarden-testbed/ansible-venv/bin/pip install ansible   # ships community.docker
//! target/release/peer-bench --patchwarden target/release/patchwarden [--runs 3]
//! ```
//!
//! Both tools run against containers of the test bed's python image variant
//! (`ImageVariant::Python`: the e2e image plus python3 and python3-apt, which the apt module
//! needs on the target).
//!
//! - patchwarden: `patchwarden server` on this machine, `patchwarden agent` in every container
//!   (the binary bind-mounted), enrolled; one `POST /api/v1/rollouts` with `canary_size` 5 and
//!   `batch_size` 5 (canary wave of 5, then waves of 5; never more than 5 hosts changing at once);
//!   `--mode rolling` (issue 9) starts the next host as soon as one finishes after the canaries,
//!   never more than 5 in flight.
//!   Wall time: from the POST to the rollout leaving `running`. CPU: the server process's
//!   utime + stime (`/proc/<pid>/stat`) over the same interval. Agents' CPU (inside the
//!   containers) is not counted, as Ansible's targets are not. After the run, where the time
//!   went ([`breakdown`], from the controller's database).
//! - Ansible: `ansible-playbook` with an inventory of the 20 containers
//!   (`ansible_connection=community.docker.docker`), `serial: 5`, `gather_facts: false`, one
//!   `ansible.builtin.apt` task with the exact version ([`ansible::playbook`]), pipelining on
//!   unless `--ansible-pipelining off`. Wall time and CPU of the whole process tree:
//!   `/usr/bin/time -f "%e %U %S"` (children waited for are included, the docker CLI
//!   processes among them).
//!
//! - The package manager's floor ([`floor`], with `--floor on`, the default): the agent's own
//!   `apt-get install` on 20 more fresh hosts through `docker exec`, 5 at a time, rolling, with
//!   no orchestrator: the best wall time any apt-driving tool can reach on this machine.
//!
//! Containers and networks are removed at the end (also on error: `Fleet` drops them).

mod ansible;
mod breakdown;
mod floor;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use pw_host::apt::{self, PackageTarget};
use pw_testbed::repo::packages::{BASELINE, DEMO, DEMO_HEALTH_PATH, DEMO_PORT, SECURITY_FIX};
use pw_testbed::{Fleet, ImageVariant, Mount, Suite, Testbed};
use serde_json::{Value, json};

const AGENT_BIN: &str = "/usr/local/bin/patchwarden";
const AGENT_DIR: &str = "/var/lib/patchwarden-agent";

struct Options {
    patchwarden: PathBuf,
    ansible_playbook: PathBuf,
    hosts: usize,
    batch: usize,
    verify_seconds: u64,
    runs: usize,
    ansible_pipelining: bool,
    /// The rollout's `mode`: `batches` (like `serial`) or `rolling`.
    mode: String,
    /// Also measure the package manager's floor ([`floor`]).
    floor: bool,
}

fn parse_options() -> anyhow::Result<Options> {
    let mut options = Options {
        patchwarden: PathBuf::new(),
        ansible_playbook: pw_testbed::testbed_dir().join("ansible-venv/bin/ansible-playbook"),
        hosts: 20,
        batch: 5,
        verify_seconds: 0,
        runs: 1,
        ansible_pipelining: true,
        mode: "batches".into(),
        floor: true,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--patchwarden" => options.patchwarden = value()?.into(),
            "--ansible-playbook" => options.ansible_playbook = value()?.into(),
            "--hosts" => options.hosts = value()?.parse()?,
            "--batch" => options.batch = value()?.parse()?,
            "--verify-seconds" => options.verify_seconds = value()?.parse()?,
            "--runs" => options.runs = value()?.parse()?,
            "--mode" => {
                options.mode = value()?;
                ensure!(
                    ["batches", "rolling"].contains(&options.mode.as_str()),
                    "--mode takes batches or rolling, not {}",
                    options.mode
                );
            }
            "--floor" => {
                options.floor = match value()?.as_str() {
                    "on" => true,
                    "off" => false,
                    other => bail!("--floor takes on or off, not {other}"),
                }
            }
            "--ansible-pipelining" => {
                options.ansible_pipelining = match value()?.as_str() {
                    "on" => true,
                    "off" => false,
                    other => bail!("--ansible-pipelining takes on or off, not {other}"),
                }
            }
            other => bail!(
                "unknown argument {other}; usage: peer-bench --patchwarden BIN \
                 [--ansible-playbook BIN] [--hosts 20] [--batch 5] [--verify-seconds 0] \
                 [--runs 1] [--ansible-pipelining on|off] [--mode batches|rolling] \
                 [--floor on|off]"
            ),
        }
    }
    ensure!(
        options.patchwarden.is_file(),
        "--patchwarden BIN (a release build of patchwarden) is required"
    );
    ensure!(
        options.ansible_playbook.is_file(),
        "{} not found: python3 -m venv <dir> && <dir>/bin/pip install ansible",
        options.ansible_playbook.display()
    );
    ensure!(options.hosts > options.batch && options.batch > 0);
    ensure!(options.runs > 0, "--runs must be at least 1");
    Ok(options)
}

/// Wall time and CPU (user + system) of one tool's run.
#[derive(Debug, Clone, Copy)]
struct Measure {
    wall: f64,
    cpu: f64,
}

fn main() -> anyhow::Result<()> {
    let options = parse_options()?;
    let testbed = Testbed::prepare_variant(ImageVariant::Python)?;
    eprintln!(
        "[peer-bench] test bed ({}) ready in {:?}",
        testbed.image.tag, testbed.prepared_in
    );
    println!(
        "{} hosts, {} at a time, {DEMO} {BASELINE} -> {SECURITY_FIX}, image {}, \
         verification {} s per host, Ansible pipelining {}",
        options.hosts,
        options.batch,
        testbed.image.tag,
        options.verify_seconds,
        if options.ansible_pipelining {
            "on"
        } else {
            "off"
        }
    );
    for run in 1..=options.runs {
        let patchwarden = {
            let mount = Mount {
                source: std::fs::canonicalize(&options.patchwarden)?,
                target: AGENT_BIN.into(),
            };
            let fleet = baseline_fleet(&testbed, options.hosts, &[mount])?;
            run_patchwarden(&options, &fleet)?
        };
        let load_pw = load_average();
        let ansible = {
            let fleet = baseline_fleet(&testbed, options.hosts, &[])?;
            ansible::run(&options, &fleet)?
        };
        let load_ansible = load_average();
        if options.floor {
            let fleet = baseline_fleet(&testbed, options.hosts, &[])?;
            let wall = floor::run(&fleet, options.batch)?;
            check_all_upgraded(&fleet)?;
            println!(
                "run {run}: apt floor (the agent's apt-get install, {} in flight, no \
                 orchestrator) wall {wall:.2} s (load {}) | ratio to Ansible {:.3}, \
                 patchwarden's wall over the floor {:.3}",
                options.batch,
                load_average(),
                wall / ansible.wall,
                patchwarden.wall / wall
            );
        }
        println!(
            "run {run}: patchwarden wall {:.2} s, CPU {:.2} s (load {load_pw}) | ansible wall \
             {:.2} s, CPU {:.2} s (load {load_ansible}) | ratios wall {:.3} (goal <= 0.333), \
             CPU {:.3} (goal <= 0.100)",
            patchwarden.wall,
            patchwarden.cpu,
            ansible.wall,
            ansible.cpu,
            patchwarden.wall / ansible.wall,
            patchwarden.cpu / ansible.cpu
        );
    }
    Ok(())
}

/// The 1, 5 and 15 minute load averages (`/proc/loadavg`).
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".into())
}

/// `count` fresh hosts with pw-demo 1.0-1 installed and its service running.
fn baseline_fleet(testbed: &Testbed, count: usize, mounts: &[Mount]) -> anyhow::Result<Fleet> {
    let started = Instant::now();
    let fleet = testbed.fleet_with_mounts(count, &Suite::ALL, mounts)?;
    for result in fleet.each(|host| {
        let outcome = apt::install_exact(host.runner(), &[PackageTarget::parse(DEMO, BASELINE)?])?;
        ensure!(outcome.succeeded(), "{}: {outcome:?}", host.name);
        Ok(())
    }) {
        result?;
    }
    eprintln!(
        "[peer-bench] {count} hosts on {DEMO} {BASELINE} in {:?}",
        started.elapsed()
    );
    Ok(fleet)
}

fn check_all_upgraded(fleet: &Fleet) -> anyhow::Result<()> {
    for result in fleet.each(|host| {
        let out = host.exec("dpkg-query", ["-W", "-f", "${Version}", DEMO])?;
        let version = String::from_utf8_lossy(&out.stdout).into_owned();
        ensure!(version == SECURITY_FIX, "{}: {DEMO} {version}", host.name);
        Ok(())
    }) {
        result?;
    }
    Ok(())
}

/// The server process; killed when dropped.
struct Server {
    child: Child,
    _dir: TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A directory under the test bed cache, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> anyhow::Result<TempDir> {
        let path =
            pw_testbed::testbed_dir().join(format!("peer-bench-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path)?;
        Ok(TempDir(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// utime + stime of a process, in seconds.
fn process_cpu(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces) start at field 3 (state).
    let rest = &stat[stat.rfind(')').context("bad /proc stat")? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
    Ok(ticks as f64 / clock_ticks()?)
}

fn clock_ticks() -> anyhow::Result<f64> {
    let out = Command::new("getconf").arg("CLK_TCK").output()?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().parse()?)
}

/// A minimal HTTP/1.1 client for the controller's plain-HTTP API on 127.0.0.1: one request
/// with the operator token (`Authorization: Bearer`).
fn http(
    port: u16,
    token: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> anyhow::Result<(u16, Value)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let body = body.map(Value::to_string).unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
         Authorization: Bearer {token}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    let answer = String::from_utf8_lossy(&answer);
    let (head, rest) = answer.split_once("\r\n\r\n").context("no HTTP head")?;
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .context("no status")?
        .parse()?;
    let payload = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(rest)
    } else {
        rest.to_owned()
    };
    let value = serde_json::from_str(&payload).unwrap_or(Value::String(payload));
    Ok((status, value))
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || tail.len() < size {
            break;
        }
        out.push_str(&tail[..size]);
        rest = tail[size..].trim_start_matches("\r\n");
    }
    out
}

fn run_patchwarden(options: &Options, fleet: &Fleet) -> anyhow::Result<Measure> {
    let gateway = fleet.network.gateway()?.to_string();
    let dir = TempDir::new("server")?;
    let port = std::net::TcpListener::bind("0.0.0.0:0")?
        .local_addr()?
        .port();
    // The bench acts as an admin operator, created offline before the controller starts.
    let added = Command::new(&options.patchwarden)
        .args([
            "operators",
            "add",
            "bench-admin",
            "--role",
            "admin",
            "--data-dir",
        ])
        .arg(&dir.0)
        .output()
        .context("running patchwarden operators add")?;
    ensure!(added.status.success(), "operators add: {added:?}");
    let api_token = String::from_utf8(added.stdout)?.trim().to_owned();
    let child = Command::new(&options.patchwarden)
        .args([
            "server",
            "--listen",
            &format!("0.0.0.0:{port}"),
            "--data-dir",
        ])
        .arg(&dir.0)
        .env("PATCHWARDEN_SERVER_NAMES", &gateway)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .context("starting patchwarden server")?;
    let server = Server { child, _dir: dir };
    wait_until(Duration::from_secs(30), "controller up", || {
        Ok(http(port, &api_token, "GET", "/api/v1/hosts", None).is_ok())
    })?;
    let agent_server = format!("https://{gateway}:{port}");
    for host in &fleet.hosts {
        let (status, token) = http(
            port,
            &api_token,
            "POST",
            "/api/v1/enrollment-tokens",
            Some(&json!({"ttl_secs": 600})),
        )?;
        ensure!(status == 201, "enrollment token: {token}");
        let ca = token["ca_certificate_pem"].as_str().context("no CA")?;
        host.write_file("/etc/patchwarden-ca.pem", ca.as_bytes())?;
        let token = token["token"].as_str().context("no token")?;
        let out = pw_testbed::docker::docker([
            "exec",
            "-d",
            &host.name,
            AGENT_BIN,
            "agent",
            "--server",
            &agent_server,
            "--token",
            token,
            "--ca-cert",
            "/etc/patchwarden-ca.pem",
            "--data-dir",
            AGENT_DIR,
        ])?;
        ensure!(out.success(), "{}", out.tail(10));
    }
    wait_until(Duration::from_secs(120), "agents enrolled", || {
        let (_, hosts) = http(port, &api_token, "GET", "/api/v1/hosts", None)?;
        Ok(hosts["hosts"].as_array().map_or(0, Vec::len) == fleet.hosts.len())
    })?;
    let mut ids = Vec::new();
    for host in &fleet.hosts {
        let identity: Value =
            serde_json::from_str(&host.read_file(&format!("{AGENT_DIR}/identity.json"))?)?;
        ids.push(
            identity["host_id"]
                .as_str()
                .context("no host_id")?
                .to_owned(),
        );
    }
    // Let the agents' first inventory reports settle before measuring.
    std::thread::sleep(Duration::from_secs(3));

    let checks = if options.verify_seconds > 0 {
        json!([{"kind": "http", "name": "demo-http", "addr": format!("127.0.0.1:{DEMO_PORT}"),
                "path": DEMO_HEALTH_PATH}])
    } else {
        json!([])
    };
    let body = json!({
        "hosts": ids,
        "targets": [{"name": DEMO, "version": SECURITY_FIX}],
        "canary_size": options.batch, "batch_size": options.batch, "mode": options.mode,
        "verification_seconds": options.verify_seconds,
        "checks": checks,
    });
    let pid = server.child.id();
    let cpu_before = process_cpu(pid)?;
    let started = Instant::now();
    let (status, created) = http(port, &api_token, "POST", "/api/v1/rollouts", Some(&body))?;
    ensure!(status == 201, "create rollout: {status} {created}");
    let id = created["id"].as_str().context("no rollout id")?.to_owned();
    let mut view = Value::Null;
    while started.elapsed() < Duration::from_secs(600) {
        view = http(
            port,
            &api_token,
            "GET",
            &format!("/api/v1/rollouts/{id}"),
            None,
        )?
        .1;
        if view["status"] != "running" {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let wall = started.elapsed().as_secs_f64();
    let cpu = process_cpu(pid)? - cpu_before;
    ensure!(view["status"] == "completed", "rollout: {view:#}");
    check_all_upgraded(fleet)?;
    match breakdown::read(&server._dir.0.join("patchwarden.db")) {
        Ok(timelines) => println!("{}", breakdown::render(&timelines)),
        Err(error) => eprintln!("[peer-bench] no latency breakdown: {error:#}"),
    }
    Ok(Measure { wall, cpu })
}

fn wait_until(
    limit: Duration,
    what: &str,
    mut done: impl FnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        if done().unwrap_or(false) {
            return Ok(());
        }
        ensure!(started.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}
