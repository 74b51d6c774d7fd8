//! Docker networks and host containers for tests, through the `docker` CLI with argv.
//!
//! Every network and container gets a unique name and two labels: [`LABEL`] and [`OWNER_LABEL`]
//! (the pid of the test process). Dropping a [`Host`] or [`Network`] removes it, also when a test
//! panics; [`sweep_leftovers`] removes those whose owner process is gone (a run killed with
//! SIGKILL), never those of a running test. A test only ever touches what it created.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use pw_host::runner::run_command;
use pw_host::{CommandOutput, Invocation, LocalRunner, Runner};

use crate::image::Image;
use crate::lock::pid_alive;
use crate::repo::MOUNT_POINT;

/// Marks everything the test bed creates.
pub const LABEL: &str = "io.patchwarden.testbed";
/// The pid of the process that created it.
pub const OWNER_LABEL: &str = "io.patchwarden.testbed.owner";
/// Time limit of docker CLI calls that manage containers and networks.
const DOCKER_TIMEOUT: Duration = Duration::from_secs(120);

/// A unique name: `pwtb-<pid>-<time>-<counter>-<suffix>` (pid and time make it unique across
/// processes and runs, the counter within one process).
pub fn unique_name(suffix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!(
        "pwtb-{}-{:x}-{}-{suffix}",
        std::process::id(),
        (nanos / 1_000_000) & 0xff_ffff,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Runs `docker ARGS…` and fails unless it exits 0.
pub fn docker<I, S>(args: I) -> anyhow::Result<CommandOutput>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    LocalRunner.run_ok(&Invocation::new("docker", args).timeout(DOCKER_TIMEOUT))
}

/// A test-created bridge network, `--internal` (no route to the outside world; this machine still
/// reaches the containers through the bridge's gateway address).
#[derive(Debug)]
pub struct Network {
    pub name: String,
}

impl Network {
    pub fn create() -> anyhow::Result<Network> {
        let name = unique_name("net");
        let owner = format!("{OWNER_LABEL}={}", std::process::id());
        docker([
            "network",
            "create",
            "--internal",
            "--label",
            LABEL,
            "--label",
            &owner,
            &name,
        ])
        .with_context(|| format!("creating docker network {name}"))?;
        Ok(Network { name })
    }
}

impl Network {
    /// The bridge's address on this machine: hosts reach a server listening here (a controller
    /// run by the test) even though the network is internal.
    pub fn gateway(&self) -> anyhow::Result<Ipv4Addr> {
        let output = docker([
            "network",
            "inspect",
            "--format",
            "{{range .IPAM.Config}}{{.Gateway}}{{end}}",
            &self.name,
        ])?;
        let text = output.stdout_text();
        text.trim()
            .parse()
            .with_context(|| format!("gateway of network {} ({text:?})", self.name))
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        if let Err(error) = docker(["network", "rm", &self.name]) {
            eprintln!(
                "[pw-testbed] could not remove network {}: {error:#}",
                self.name
            );
        }
    }
}

/// A read-only bind mount into a host (the agent binary, a CA file…).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub source: PathBuf,
    /// Absolute path inside the container.
    pub target: String,
}

impl Mount {
    /// The `--mount` argument; refuses paths the comma-separated syntax cannot carry.
    fn argument(&self) -> anyhow::Result<String> {
        let source = self.source.to_string_lossy();
        let unsafe_text = |t: &str| t.contains([',', '"', '\n']);
        if unsafe_text(&source) || unsafe_text(&self.target) || !self.target.starts_with('/') {
            bail!("cannot bind-mount {source} at {:?}", self.target);
        }
        Ok(format!(
            "type=bind,source={source},target={},readonly",
            self.target
        ))
    }
}

/// A host container: Debian 12 from the test bed image, tini as PID 1, the repository mounted
/// read-only at [`MOUNT_POINT`].
#[derive(Debug)]
pub struct Host {
    pub name: String,
    pub network: String,
    runner: DockerExecRunner,
}

/// What runs as a host's PID 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Init {
    /// The images' entrypoint, `tini -- sleep infinity`: no init system.
    Tini,
    /// systemd booted in the container (the systemd image variant): real units for
    /// `systemctl` (a plan's `stop_units`, `systemd`/`services` checks).
    Systemd,
}

/// `docker run` options that let systemd boot as PID 1 under Docker with cgroup v1: the
/// `SYS_ADMIN` capability (it mounts its own hierarchy; `--privileged` is refused on some
/// engines), the host's cgroups read-only, and tmpfs `/run` and `/run/lock`.
const SYSTEMD_ARGS: [&str; 10] = [
    "--cap-add",
    "SYS_ADMIN",
    "--tmpfs",
    "/run",
    "--tmpfs",
    "/run/lock",
    "--volume",
    "/sys/fs/cgroup:/sys/fs/cgroup:ro",
    "--entrypoint",
    "/lib/systemd/systemd",
];

impl Host {
    /// `docker run -d` a new host on `network`, with the repository and `mounts` bind-mounted
    /// read-only.
    pub fn start(
        image: &Image,
        network: &Network,
        repo: &Path,
        mounts: &[Mount],
    ) -> anyhow::Result<Host> {
        Host::start_with(image, network, repo, mounts, Init::Tini)
    }

    /// [`Host::start`] with `init` as PID 1. [`Init::Systemd`] needs the systemd image variant
    /// and waits (at most 60 s) until systemd says the system is up.
    pub fn start_with(
        image: &Image,
        network: &Network,
        repo: &Path,
        mounts: &[Mount],
        init: Init,
    ) -> anyhow::Result<Host> {
        let name = unique_name("host");
        let owner = format!("{OWNER_LABEL}={}", std::process::id());
        let mut args: Vec<String> = [
            "run",
            "-d",
            "--name",
            &name,
            "--hostname",
            &name,
            "--network",
            &network.name,
            "--label",
            LABEL,
            "--label",
            &owner,
        ]
        .map(str::to_owned)
        .to_vec();
        let repo_mount = Mount {
            source: repo.to_owned(),
            target: MOUNT_POINT.to_owned(),
        };
        for mount in std::iter::once(&repo_mount).chain(mounts) {
            args.push("--mount".to_owned());
            args.push(mount.argument()?);
        }
        if init == Init::Systemd {
            args.extend(SYSTEMD_ARGS.map(str::to_owned));
        }
        args.push(image.tag.clone());
        docker(args).with_context(|| format!("starting host container {name}"))?;
        let host = Host {
            runner: DockerExecRunner::new(&name),
            name,
            network: network.name.clone(),
        };
        if init == Init::Systemd {
            host.wait_for_systemd()?;
        }
        Ok(host)
    }

    /// Waits (bounded) until `systemctl is-system-running` says `running` or `degraded`.
    fn wait_for_systemd(&self) -> anyhow::Result<()> {
        let started = std::time::Instant::now();
        loop {
            let state = self
                .exec("systemctl", ["is-system-running"])
                .map(|o| o.stdout_text().trim().to_owned())
                .unwrap_or_default();
            if matches!(state.as_str(), "running" | "degraded") {
                return Ok(());
            }
            anyhow::ensure!(
                started.elapsed() < std::time::Duration::from_secs(60),
                "systemd in {} did not come up within 60 s (is-system-running: {state:?})",
                self.name
            );
            std::thread::sleep(std::time::Duration::from_millis(250));
        }
    }

    /// Commands inside this host (`docker exec`).
    pub fn runner(&self) -> &DockerExecRunner {
        &self.runner
    }

    /// Runs a command inside the host (any exit code is an `Ok`).
    pub fn exec<I, S>(&self, program: &str, args: I) -> anyhow::Result<CommandOutput>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.runner.run(&Invocation::new(program, args))
    }

    /// Writes a file inside the host (through `tee`'s stdin; no shell).
    pub fn write_file(&self, path: &str, content: &[u8]) -> anyhow::Result<()> {
        self.runner
            .run_ok(&Invocation::new("tee", ["--", path]).stdin(content))
            .with_context(|| format!("writing {path} in {}", self.name))?;
        Ok(())
    }

    /// Reads a file inside the host.
    pub fn read_file(&self, path: &str) -> anyhow::Result<String> {
        let output = self
            .runner
            .run_ok(&Invocation::new("cat", ["--", path]))
            .with_context(|| format!("reading {path} in {}", self.name))?;
        Ok(output.stdout_text())
    }

    /// The host's address on its network (changes after [`Host::connect`]).
    pub fn ip(&self) -> anyhow::Result<Ipv4Addr> {
        let format = format!(
            "{{{{with index .NetworkSettings.Networks \"{}\"}}}}{{{{.IPAddress}}}}{{{{end}}}}",
            self.network
        );
        let output = docker(["inspect", "--format", &format, &self.name])?;
        let text = output.stdout_text();
        text.trim().parse().with_context(|| {
            format!(
                "{} has no address on {} ({text:?})",
                self.name, self.network
            )
        })
    }

    /// Freezes every process of the host (cgroup freezer).
    pub fn pause(&self) -> anyhow::Result<()> {
        docker(["pause", &self.name]).map(drop)
    }

    pub fn unpause(&self) -> anyhow::Result<()> {
        docker(["unpause", &self.name]).map(drop)
    }

    /// SIGKILL: the container stops, its disk stays; [`Host::start_again`] brings it back (no
    /// service restarts by itself: there is no init system).
    pub fn kill(&self) -> anyhow::Result<()> {
        docker(["kill", &self.name]).map(drop)
    }

    pub fn start_again(&self) -> anyhow::Result<()> {
        docker(["start", &self.name]).map(drop)
    }

    /// Takes the host off its network (its link disappears).
    pub fn disconnect(&self) -> anyhow::Result<()> {
        docker(["network", "disconnect", &self.network, &self.name]).map(drop)
    }

    pub fn connect(&self) -> anyhow::Result<()> {
        docker(["network", "connect", &self.network, &self.name]).map(drop)
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        // A paused container cannot be killed on every engine version: unpause first.
        let _ = LocalRunner.run(&Invocation::new("docker", ["unpause", &self.name]));
        if let Err(error) = docker(["rm", "-f", "-v", &self.name]) {
            eprintln!(
                "[pw-testbed] could not remove container {}: {error:#}",
                self.name
            );
        }
    }
}

/// A [`Runner`] that runs each command inside a container: `docker exec [-i] -e K=V… CONTAINER
/// PROGRAM ARGS…`. On timeout the docker client is stopped; the process inside the container
/// may run on until the container is removed.
#[derive(Debug, Clone)]
pub struct DockerExecRunner {
    container: String,
}

impl DockerExecRunner {
    pub fn new(container: &str) -> Self {
        DockerExecRunner {
            container: container.to_owned(),
        }
    }
}

impl Runner for DockerExecRunner {
    fn run(&self, invocation: &Invocation) -> anyhow::Result<CommandOutput> {
        let mut command = std::process::Command::new("docker");
        command.arg("exec");
        if invocation.stdin.is_some() {
            command.arg("-i");
        }
        command.args(["-e", "LC_ALL=C"]);
        for (key, value) in &invocation.env {
            command.arg("-e").arg(format!("{key}={value}"));
        }
        command
            .arg(&self.container)
            .arg(&invocation.program)
            .args(&invocation.args);
        let shown = format!("{} (in {})", invocation.display(), self.container);
        run_command(
            command,
            invocation.stdin.as_deref(),
            invocation.timeout,
            &shown,
        )
    }

    fn target(&self) -> String {
        format!("container {}", self.container)
    }
}

/// Removes test bed containers and networks whose owner process no longer runs. Returns how
/// many of each were removed.
pub fn sweep_leftovers() -> anyhow::Result<(usize, usize)> {
    let owner_format = format!("{{{{.ID}}}}\t{{{{.Label \"{OWNER_LABEL}\"}}}}");
    let filter = format!("label={LABEL}");
    let containers = docker(["ps", "-a", "--filter", &filter, "--format", &owner_format])?;
    let dead_containers = dead_owned(&containers.stdout_text());
    for id in &dead_containers {
        let _ = LocalRunner.run(&Invocation::new("docker", ["unpause", id]));
        docker(["rm", "-f", "-v", id])?;
    }
    let networks = docker([
        "network",
        "ls",
        "--filter",
        &filter,
        "--format",
        &owner_format,
    ])?;
    let dead_networks = dead_owned(&networks.stdout_text());
    for id in &dead_networks {
        docker(["network", "rm", id])?;
    }
    Ok((dead_containers.len(), dead_networks.len()))
}

/// IDs from `ID\tOWNER` lines whose owner pid is not running.
fn dead_owned(listing: &str) -> Vec<String> {
    listing
        .lines()
        .filter_map(|line| line.split_once('\t'))
        .filter(|(_, owner)| !pid_alive(owner.trim()))
        .map(|(id, _)| id.to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_short() {
        let a = unique_name("h");
        let b = unique_name("h");
        assert_ne!(a, b);
        assert!(a.starts_with(&format!("pwtb-{}-", std::process::id())));
        assert!(a.len() < 48, "{a}");
    }

    #[test]
    fn only_dead_owners_are_swept() {
        let me = std::process::id();
        let listing = format!("aaa\t{me}\nbbb\t999999999\nccc\t\nmalformed\n");
        assert_eq!(dead_owned(&listing), ["bbb", "ccc"]);
    }
}
