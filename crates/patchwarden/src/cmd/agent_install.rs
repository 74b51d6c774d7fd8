//! `patchwarden agent install`: enrolls this machine with a single-use token (pw-agent's
//! enrollment, as the agent's first start does), writes the agent's identity to its data
//! directory and its settings to /etc/patchwarden/agent.toml, then enables and starts
//! `patchwarden-agent.service` when systemd runs this machine (otherwise says so and prints the
//! command to run). Used after installing the .deb (docs/packaging.md).
//!
//! Everything is checked before the token is spent (URL, token, CA, labels, both directories
//! writable, no identity there yet); when writing fails after enrolling, what was written is
//! removed again.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::Context;

use super::agent_config::{
    AgentFile, CONFIG_DIR, CONFIG_FILE, DATA_DIR, UNIT, check_server_url, check_token, read_ca,
    write_private,
};
use crate::paths::runtime;

#[derive(clap::Args)]
pub struct Args {
    /// The controller, https://HOST:PORT; several replicas comma-separated (the agent moves
    /// to the next when one cannot be reached).
    #[arg(long, value_name = "URL")]
    server: String,
    /// Single-use enrollment token (POST /api/v1/enrollment-tokens).
    #[arg(
        long,
        value_name = "TOKEN",
        env = "PATCHWARDEN_TOKEN",
        hide_env_values = true
    )]
    token: String,
    /// The controller's CA certificate (its data directory's ca/ca.pem), trusted while enrolling.
    #[arg(long, value_name = "FILE")]
    ca: PathBuf,
    /// Refuse every command that would change this machine.
    #[arg(long)]
    read_only: bool,
    /// With --read-only: still accept the guarded changes of an approved change plan.
    #[arg(long, requires = "read_only")]
    allow_approved_plans: bool,
    /// Labels of this machine, KEY=VALUE[,KEY=VALUE…] (repeatable).
    #[arg(
        long = "labels",
        visible_alias = "label",
        value_name = "KEY=VALUE,…",
        value_delimiter = ','
    )]
    labels: Vec<String>,
    /// Where to write agent.toml (the unit reads /etc/patchwarden).
    #[arg(long, value_name = "DIR", default_value = CONFIG_DIR)]
    config_dir: PathBuf,
    /// The agent's data directory: key, certificate, identity, journal (0700).
    #[arg(long, value_name = "DIR", default_value = DATA_DIR)]
    state_dir: PathBuf,
    /// Enroll and write the files only; do not enable or start the unit.
    #[arg(long)]
    no_start: bool,
}

/// The controllers `--server` names (several replicas comma-separated).
fn servers(args: &Args) -> anyhow::Result<Vec<String>> {
    let servers = super::agent_config::split_servers(&args.server);
    anyhow::ensure!(!servers.is_empty(), "--server names no controller");
    Ok(servers)
}

/// Whether systemd runs this machine (sd_booted(3): `/run/systemd/system` exists).
fn systemd_running() -> bool {
    Path::new("/run/systemd/system").is_dir()
}

/// The settings file for these arguments, after checking every input.
fn agent_file(args: &Args) -> anyhow::Result<AgentFile> {
    for server in servers(args)? {
        check_server_url(&server)?;
    }
    check_token(&args.token)?;
    let labels =
        pw_model::parse_labels(args.labels.iter().map(String::as_str)).context("--labels")?;
    Ok(AgentFile {
        server: Some(servers(args)?.join(",")),
        // The token is spent by enrolling, and the identity carries the controller's CA.
        token: None,
        ca_cert: None,
        data_dir: Some(args.state_dir.clone()),
        read_only: args.read_only,
        allow_approved_plans: args.allow_approved_plans,
        reboot_command: Vec::new(),
        labels,
    })
}

/// Directories this run created, removed again (when still empty) unless committed.
struct Created(Vec<PathBuf>);

impl Created {
    /// Creates `dir` with `mode` when missing and checks a file can be written in it.
    fn ensure_writable(&mut self, dir: &Path, mode: u32) -> anyhow::Result<()> {
        use std::os::unix::fs::DirBuilderExt;
        if !dir.is_dir() {
            let mut missing: Vec<PathBuf> = dir
                .ancestors()
                .take_while(|a| !a.as_os_str().is_empty() && !a.exists())
                .map(Path::to_owned)
                .collect();
            missing.reverse();
            self.0.extend(missing);
            let cannot = || format!("cannot create {} (run as root?)", dir.display());
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o755)
                    .create(parent)
                    .with_context(cannot)?;
            }
            std::fs::DirBuilder::new()
                .mode(mode)
                .create(dir)
                .with_context(cannot)?;
        }
        let probe = dir.join(".patchwarden-install-probe");
        std::fs::write(&probe, b"")
            .with_context(|| format!("cannot write in {} (run as root?)", dir.display()))?;
        std::fs::remove_file(&probe).with_context(|| format!("removing {}", probe.display()))
    }
}

impl Drop for Created {
    fn drop(&mut self) {
        for dir in self.0.iter().rev() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// Checks everything, enrolls, writes the identity and `agent.toml` (0600). Nothing stays
/// written when it fails. Returns the settings file's path and the new host id.
pub fn enroll_and_write(args: &Args) -> anyhow::Result<(PathBuf, String)> {
    let file = agent_file(args)?;
    let ca_pem = read_ca(&args.ca)?;
    if let Some(identity) = pw_agent::load_identity(&args.state_dir)? {
        anyhow::bail!(
            "{} already holds the identity of host {}: this machine is enrolled. To enroll it \
             again, stop the agent and delete that directory first",
            args.state_dir.display(),
            identity.host_id
        );
    }
    let mut created = Created(Vec::new());
    created.ensure_writable(&args.config_dir, 0o755)?;
    created.ensure_writable(&args.state_dir, 0o700)?;
    let text = file.render()?;
    let identity = runtime()?.block_on(pw_agent::enroll_this_host(
        &args.state_dir,
        &servers(args)?,
        &args.token,
        &ca_pem,
    ));
    let identity = match identity {
        Ok(identity) => identity,
        Err(error) => {
            let _ = pw_agent::remove_identity(&args.state_dir);
            return Err(error.context("not enrolled, nothing was written"));
        }
    };
    let config = args.config_dir.join(CONFIG_FILE);
    if let Err(error) = write_private(&config, text.as_bytes(), 0o600) {
        let _ = pw_agent::remove_identity(&args.state_dir);
        return Err(error.context(format!(
            "the controller enrolled this machine as host {} and the token is spent; nothing \
             stays written here: create a new token and run agent install again",
            identity.host_id
        )));
    }
    created.0.clear();
    Ok((config, identity.host_id))
}

/// The unit's command line for this settings file.
fn exec_line(config: &Path) -> String {
    format!("/usr/bin/patchwarden agent --config {}", config.display())
}

/// `systemctl ARGS…` (argv, no shell); an error names the command and its output.
fn systemctl(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("systemctl")
        .args(args)
        .output()
        .context("cannot run systemctl")?;
    anyhow::ensure!(
        out.status.success(),
        "systemctl {} failed ({}): {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let systemd = systemd_running();
    anyhow::ensure!(
        args.no_start || !systemd || args.config_dir == Path::new(CONFIG_DIR),
        "{UNIT} reads {CONFIG_DIR}; with --config-dir {} add --no-start and start the agent \
         yourself",
        args.config_dir.display()
    );
    let (config, host_id) = enroll_and_write(&args)?;
    println!(
        "enrolled as host {host_id}; wrote {} and the identity in {}",
        config.display(),
        args.state_dir.display()
    );
    println!(
        "已注册为主机 {host_id}；已写入 {} 及 {} 中的身份文件",
        config.display(),
        args.state_dir.display()
    );
    if args.no_start || !systemd {
        if args.no_start {
            println!("--no-start: {UNIT} was not started; start the agent with");
            println!("指定了 --no-start：未启动 {UNIT}；请用以下命令启动 agent");
        } else {
            println!(
                "systemd is not running on this machine (PID 1 is not systemd): {UNIT} was not \
                 enabled or started; start the agent with"
            );
            println!(
                "本机未运行 systemd（PID 1 不是 systemd）：未启用或启动 {UNIT}；请用以下命令启动 agent"
            );
        }
        println!("  {}", exec_line(&config));
        if systemd {
            println!("  (or: systemctl enable --now {UNIT})");
        }
        return Ok(ExitCode::SUCCESS);
    }
    systemctl(&["daemon-reload"])?;
    systemctl(&["enable", UNIT])?;
    // restart, not start: a running agent must read the new settings.
    systemctl(&["restart", UNIT])?;
    println!("{UNIT} enabled and started; logs: journalctl -u {UNIT}");
    println!("{UNIT} 已启用并启动；日志：journalctl -u {UNIT}");
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn args(dir: &Path, extra: &[&str]) -> Args {
        let ca = dir.join("given-ca.pem");
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["ca.test".into()]).unwrap();
        std::fs::write(&ca, params.self_signed(&key).unwrap().pem()).unwrap();
        let mut argv = vec![
            "install",
            "--server",
            "https://127.0.0.1:9",
            "--token",
            "pwt_x",
        ];
        argv.extend(extra);
        let mut cli = Cli::try_parse_from(argv.iter().copied().chain(["--ca", "unused"])).unwrap();
        cli.args.ca = ca;
        cli.args.config_dir = dir.join("etc/patchwarden");
        cli.args.state_dir = dir.join("var/lib/patchwarden/agent");
        cli.args
    }

    #[test]
    fn the_settings_name_the_state_dir_and_hold_no_token() {
        let dir = tempfile::tempdir().unwrap();
        let args = args(
            dir.path(),
            &[
                "--read-only",
                "--labels",
                "role=web,rack=r1",
                "--label",
                "x=y",
            ],
        );
        let file = agent_file(&args).unwrap();
        assert_eq!(file.server.as_deref(), Some("https://127.0.0.1:9"));
        assert_eq!(file.token, None);
        assert_eq!(file.data_dir.as_deref(), Some(args.state_dir.as_path()));
        assert!(file.read_only && !file.allow_approved_plans);
        assert_eq!(file.label_args(), ["rack=r1", "role=web", "x=y"]);
        assert_eq!(
            exec_line(Path::new("/etc/patchwarden/agent.toml")),
            "/usr/bin/patchwarden agent --config /etc/patchwarden/agent.toml"
        );
    }

    #[test]
    fn bad_inputs_and_an_unreachable_controller_write_nothing() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir().unwrap();
        let mut plain = args(dir.path(), &[]);
        plain.server = "http://10.1.2.3:8420".into();
        let error = enroll_and_write(&plain).unwrap_err().to_string();
        assert!(error.contains("must use https://"), "{error}");
        let label = args(dir.path(), &["--labels", "role=web,Bad Key=x"]);
        let error = format!("{:#}", enroll_and_write(&label).unwrap_err());
        assert!(error.contains("Bad Key"), "{error}");
        let mut missing = args(dir.path(), &[]);
        missing.ca = dir.path().join("missing.pem");
        let error = enroll_and_write(&missing).unwrap_err().to_string();
        assert!(error.contains("cannot read --ca"), "{error}");
        // Port 9 on loopback: nothing listens, the connection is refused.
        let refused = args(dir.path(), &[]);
        let error = format!("{:#}", enroll_and_write(&refused).unwrap_err());
        assert!(
            error.contains("enrolling with https://127.0.0.1:9")
                && error.contains("nothing was written"),
            "{error}"
        );
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["given-ca.pem"]);
    }
}
