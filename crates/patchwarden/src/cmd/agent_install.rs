//! `patchwarden agent install`: writes the agent's settings and the controller CA under
//! /etc/patchwarden, then enables and starts `patchwarden-agent.service` when systemd runs this
//! machine (otherwise prints the command to run). Used after installing the .deb
//! (docs/packaging.md).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::Context;

use super::agent_config::{
    AgentFile, CA_FILE, CONFIG_DIR, CONFIG_FILE, DATA_DIR, UNIT, check_server_url, check_token,
    read_ca, write_private,
};

#[derive(clap::Args)]
pub struct Args {
    /// The controller, https://HOST:PORT.
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
    /// The controller's CA certificate (its data directory's ca/ca.pem); copied to
    /// /etc/patchwarden/ca.pem.
    #[arg(long, value_name = "FILE")]
    ca: PathBuf,
    /// Refuse every command that would change this machine.
    #[arg(long)]
    read_only: bool,
    /// With --read-only: still accept the guarded changes of an approved change plan.
    #[arg(long, requires = "read_only")]
    allow_approved_plans: bool,
    /// A label of this machine, KEY=VALUE (repeatable).
    #[arg(long = "label", value_name = "KEY=VALUE")]
    labels: Vec<String>,
    /// Where to write agent.toml and ca.pem (the unit reads /etc/patchwarden).
    #[arg(long, value_name = "DIR", default_value = CONFIG_DIR)]
    config_dir: PathBuf,
    /// Write the files only; do not enable or start the unit.
    #[arg(long)]
    no_start: bool,
}

/// The settings file for these arguments, after checking every input.
fn agent_file(args: &Args, ca_path: &Path) -> anyhow::Result<AgentFile> {
    check_server_url(&args.server)?;
    check_token(&args.token)?;
    let labels = pw_model::parse_labels(args.labels.iter().map(String::as_str))?;
    Ok(AgentFile {
        server: Some(args.server.clone()),
        token: Some(args.token.clone()),
        ca_cert: Some(ca_path.to_owned()),
        read_only: args.read_only,
        allow_approved_plans: args.allow_approved_plans,
        reboot_command: Vec::new(),
        labels,
    })
}

/// Validates everything, then writes `ca.pem` (0644: a public certificate) and `agent.toml`
/// (0600: it holds the token) in `config_dir`. Returns the settings file's path.
pub fn write_settings(args: &Args) -> anyhow::Result<PathBuf> {
    let ca_path = args.config_dir.join(CA_FILE);
    let file = agent_file(args, &ca_path)?;
    let ca = read_ca(&args.ca)?;
    std::fs::create_dir_all(&args.config_dir)
        .with_context(|| format!("cannot create {}", args.config_dir.display()))?;
    write_private(&ca_path, ca.as_bytes(), 0o644)?;
    let config = args.config_dir.join(CONFIG_FILE);
    write_private(&config, file.render()?.as_bytes(), 0o600)?;
    Ok(config)
}

/// The unit's command line for this settings file.
fn exec_line(config: &Path) -> String {
    format!(
        "/usr/bin/patchwarden agent --config {} --data-dir {DATA_DIR}",
        config.display()
    )
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
    let config = write_settings(&args)?;
    println!(
        "wrote {} and {}",
        config.display(),
        args.config_dir.join(CA_FILE).display()
    );
    println!(
        "已写入 {} 和 {}",
        config.display(),
        args.config_dir.join(CA_FILE).display()
    );
    let systemd = Path::new("/run/systemd/system").is_dir();
    if args.no_start || !systemd {
        let why = if args.no_start {
            "--no-start"
        } else {
            "systemd is not running here"
        };
        let why_zh = if args.no_start {
            "指定了 --no-start"
        } else {
            "本机未运行 systemd"
        };
        println!("{why}: start the agent with");
        println!("{why_zh}：请用以下命令启动 agent");
        println!("  {}", exec_line(&config));
        if systemd {
            println!("  (or: systemctl enable --now {UNIT})");
        }
        return Ok(ExitCode::SUCCESS);
    }
    anyhow::ensure!(
        args.config_dir == Path::new(CONFIG_DIR),
        "{UNIT} reads {CONFIG_DIR}; with --config-dir {} add --no-start and start the agent \
         yourself",
        args.config_dir.display()
    );
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
    use std::os::unix::fs::PermissionsExt;

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
        let config_dir = dir.join("etc");
        let mut argv = vec![
            "install",
            "--server",
            "https://10.1.2.3:8420",
            "--token",
            "pwt_x",
        ];
        argv.extend(extra);
        let mut cli = Cli::try_parse_from(argv.iter().copied().chain(["--ca", "unused"])).unwrap();
        cli.args.ca = ca;
        cli.args.config_dir = config_dir;
        cli.args
    }

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn install_writes_the_settings_0600_and_the_ca_0644() {
        let dir = tempfile::tempdir().unwrap();
        let args = args(dir.path(), &["--read-only", "--label", "role=web"]);
        let config = write_settings(&args).unwrap();
        assert_eq!(mode(&config), 0o600);
        let ca = args.config_dir.join("ca.pem");
        assert_eq!(mode(&ca), 0o644);
        assert_eq!(
            std::fs::read_to_string(&ca).unwrap(),
            std::fs::read_to_string(&args.ca).unwrap()
        );
        let file = AgentFile::load(&config).unwrap();
        assert_eq!(file.server.as_deref(), Some("https://10.1.2.3:8420"));
        assert_eq!(file.token.as_deref(), Some("pwt_x"));
        assert_eq!(file.ca_cert.as_deref(), Some(ca.as_path()));
        assert!(file.read_only && !file.allow_approved_plans);
        assert_eq!(file.label_args(), ["role=web"]);
        assert_eq!(
            exec_line(&config),
            format!(
                "/usr/bin/patchwarden agent --config {} --data-dir /var/lib/patchwarden/agent",
                config.display()
            )
        );
    }

    #[test]
    fn bad_inputs_write_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut plain = args(dir.path(), &[]);
        plain.server = "http://10.1.2.3:8420".into();
        let error = write_settings(&plain).unwrap_err().to_string();
        assert!(error.contains("must use https://"), "{error}");
        let mut label = args(dir.path(), &["--label", "Bad Key=x"]);
        assert!(write_settings(&label).is_err());
        label.labels.clear();
        std::fs::write(&label.ca, "not a certificate").unwrap();
        let error = write_settings(&label).unwrap_err().to_string();
        assert!(error.contains("no PEM certificate"), "{error}");
        assert!(!dir.path().join("etc").exists());
    }
}
