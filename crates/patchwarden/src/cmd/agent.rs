//! `patchwarden agent`: enroll once with a token, then report and take commands over mTLS.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use pw_agent::{AgentSettings, Secret};

use super::agent_config::AgentFile;

use super::server::{init_tracing, wait_for_signal};
use crate::paths::runtime;

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Args {
    #[command(subcommand)]
    command: Option<Sub>,
    /// A TOML settings file (keys: server, token, ca_cert, data_dir, read_only,
    /// allow_approved_plans, reboot_command, [labels]; written by `agent install`). Flags win
    /// over it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The controller, e.g. https://controller.example:8420; several replicas on one database
    /// as a comma-separated list or by repeating the flag: the agent moves to the next when
    /// one cannot be reached (default: those stored at enrollment).
    #[arg(
        long,
        value_name = "URL",
        env = "PATCHWARDEN_SERVER",
        value_delimiter = ','
    )]
    server: Vec<String>,
    /// Single-use enrollment token (needed only for the first start).
    #[arg(
        long,
        value_name = "TOKEN",
        env = "PATCHWARDEN_TOKEN",
        hide_env_values = true
    )]
    token: Option<String>,
    /// The controller CA certificate to trust while enrolling (the controller's ca/ca.pem).
    #[arg(long, value_name = "FILE")]
    ca_cert: Option<PathBuf>,
    /// Where the key, certificate and journal live (or `data_dir` in the --config file).
    #[arg(long, value_name = "DIR", env = "PATCHWARDEN_AGENT_DIR")]
    data_dir: Option<PathBuf>,
    /// Refuse every command that would change this machine.
    #[arg(long)]
    read_only: bool,
    /// With --read-only: still accept the guarded changes of an approved change plan (never an
    /// ad-hoc rollout or a raw install).
    #[arg(long)]
    allow_approved_plans: bool,
    /// A label of this machine, KEY=VALUE (repeatable), sent with every inventory; the fleet
    /// document's label selectors match on them (docs/fleet.md).
    #[arg(long = "label", value_name = "KEY=VALUE")]
    labels: Vec<String>,
    /// The command a rollout's `reboot` step runs, as one argv entry per flag (repeatable;
    /// default `systemctl reboot`). Never run by a shell.
    #[arg(long = "reboot-command", value_name = "ARG")]
    reboot_command: Vec<String>,
}

#[derive(clap::Subcommand)]
enum Sub {
    /// Set this machine's agent up after installing the .deb: enrolls it with a single-use
    /// token, writes /etc/patchwarden/agent.toml and the identity under
    /// /var/lib/patchwarden/agent, then enables and starts patchwarden-agent.service
    /// (docs/packaging.md).
    Install(super::agent_install::Args),
}

/// The agent's settings: flags, then the settings file for what the flags leave out.
fn settings(args: Args) -> anyhow::Result<AgentSettings> {
    let file = match &args.config {
        Some(path) => AgentFile::load(path)?,
        None => AgentFile::default(),
    };
    let data_dir = args
        .data_dir
        .or(file.data_dir.clone())
        .context("no data directory: give --data-dir DIR (or `data_dir` in the --config file)")?;
    let servers = servers(args.server, file.server.as_deref(), &data_dir)?;
    let read_only = args.read_only || file.read_only;
    let plan_changes = args.allow_approved_plans || file.allow_approved_plans;
    anyhow::ensure!(
        !plan_changes || read_only,
        "allow_approved_plans needs read_only (--allow-approved-plans goes with --read-only)"
    );
    let ca_cert = args.ca_cert.or(file.ca_cert.clone());
    let ca_pem = ca_cert
        .as_ref()
        .map(|path| {
            std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
        })
        .transpose()?;
    let labels = if args.labels.is_empty() {
        file.label_args()
    } else {
        args.labels
    };
    let reboot_command = [args.reboot_command, file.reboot_command]
        .into_iter()
        .find(|argv| !argv.is_empty())
        .unwrap_or_else(|| {
            pw_agent::restart::DEFAULT_REBOOT_COMMAND
                .map(str::to_owned)
                .to_vec()
        });
    Ok(AgentSettings {
        servers,
        token: args.token.or(file.token).map(Secret),
        ca_pem,
        data_dir,
        read_only,
        plan_changes,
        poll_wait_secs: 30,
        labels: pw_model::parse_labels(labels.iter().map(String::as_str))?,
        reboot_command,
    })
}

/// The controllers: the flags', else the file's `server` (comma-separated), else those stored
/// at enrollment in `data_dir`; each an https:// URL.
fn servers(
    flags: Vec<String>,
    file: Option<&str>,
    data_dir: &std::path::Path,
) -> anyhow::Result<Vec<String>> {
    let mut servers: Vec<String> = flags
        .iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    if servers.is_empty() {
        servers = file
            .map(super::agent_config::split_servers)
            .unwrap_or_default();
    }
    if servers.is_empty() {
        servers = pw_agent::stored_servers(data_dir)?;
    }
    anyhow::ensure!(
        !servers.is_empty(),
        "no controller: give --server URL (or `server` in the --config file)"
    );
    for server in &servers {
        super::agent_config::check_server_url(server)?;
    }
    Ok(servers)
}

pub fn run(mut args: Args) -> anyhow::Result<ExitCode> {
    if let Some(Sub::Install(install)) = args.command.take() {
        return super::agent_install::run(install);
    }
    init_tracing();
    let settings = settings(args)?;
    runtime()?.block_on(async {
        let stopping = wait_for_signal()?;
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let agent = tokio::spawn(pw_agent::run(settings, stopped));
        tokio::select! {
            () = stopping => { let _ = stop.send(true); }
            _ = stop.closed() => {}
        }
        agent.await.context("the agent task panicked")?
    })?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use std::path::Path;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn settings_for(file: &str, flags: &[&str]) -> anyhow::Result<AgentSettings> {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("agent.toml");
        std::fs::write(&config, file).unwrap();
        let argv = [
            "agent",
            "--config",
            config.to_str().unwrap(),
            "--data-dir",
            "/d",
        ];
        let cli = Cli::try_parse_from(argv.iter().chain(flags)).unwrap();
        settings(cli.args)
    }

    #[test]
    fn the_file_fills_in_what_the_flags_leave_out() {
        let file = "server = \"https://a:1\"\ntoken = \"pwt_f\"\nread_only = true\n\
                    reboot_command = [\"/sbin/reboot\"]\n[labels]\nrole = \"web\"\n";
        let from_file = settings_for(file, &[]).unwrap();
        assert_eq!(from_file.servers, ["https://a:1"]);
        assert!(from_file.read_only && !from_file.plan_changes);
        assert_eq!(from_file.reboot_command, ["/sbin/reboot"]);
        assert_eq!(
            from_file.labels.get("role").map(String::as_str),
            Some("web")
        );
        let flags = [
            "--server",
            "https://b:2",
            "--label",
            "rack=r1",
            "--reboot-command",
            "x",
        ];
        let overridden = settings_for(file, &flags).unwrap();
        assert_eq!(overridden.servers, ["https://b:2"]);
        assert_eq!(overridden.reboot_command, ["x"]);
        assert_eq!(overridden.labels.len(), 1);
        assert!(overridden.labels.contains_key("rack"));
    }

    #[test]
    fn the_data_dir_comes_from_the_flag_then_the_file() {
        let parse = |file: &str, flags: &[&str]| {
            let dir = tempfile::tempdir().unwrap();
            let config = dir.path().join("agent.toml");
            std::fs::write(&config, file).unwrap();
            let argv = ["agent", "--config", config.to_str().unwrap()];
            let cli = Cli::try_parse_from(argv.iter().chain(flags)).unwrap();
            settings(cli.args)
        };
        let file = "server = \"https://a:1\"\ndata_dir = \"/var/lib/x\"\n";
        let from_file = parse(file, &[]).unwrap();
        assert_eq!(from_file.data_dir, Path::new("/var/lib/x"));
        let flag = parse(file, &["--data-dir", "/d"]).unwrap();
        assert_eq!(flag.data_dir, Path::new("/d"));
        let error = parse("server = \"https://a:1\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(error.contains("no data directory"), "{error}");
    }

    #[test]
    fn several_controllers_come_from_a_list_and_are_each_checked() {
        let both = ["https://a:1", "https://b:2"];
        let listed = settings_for("", &["--server", "https://a:1,https://b:2"]).unwrap();
        assert_eq!(listed.servers, both);
        let repeated =
            settings_for("", &["--server", "https://a:1", "--server", "https://b:2"]).unwrap();
        assert_eq!(repeated.servers, both);
        let file = settings_for("server = \"https://a:1, https://b:2\"\n", &[]).unwrap();
        assert_eq!(file.servers, both);
        let error = settings_for("", &["--server", "https://a:1,http://b:2"])
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("http://b:2") && error.contains("https://"),
            "{error}"
        );
    }

    #[test]
    fn the_controllers_stored_at_enrollment_serve_when_none_is_given() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("identity.json"),
            r#"{"host_id": "h1", "server": "https://a:1", "servers": ["https://a:1", "https://b:2"]}"#,
        )
        .unwrap();
        assert_eq!(
            servers(vec![], None, dir.path()).unwrap(),
            ["https://a:1", "https://b:2"]
        );
        // An identity written before lists were stored: the controller it enrolled with.
        std::fs::write(
            dir.path().join("identity.json"),
            r#"{"host_id": "h1", "server": "https://a:1"}"#,
        )
        .unwrap();
        assert_eq!(servers(vec![], None, dir.path()).unwrap(), ["https://a:1"]);
    }

    #[test]
    fn missing_server_and_plan_changes_without_read_only_are_refused() {
        let error = settings_for("", &[]).unwrap_err().to_string();
        assert!(error.contains("no controller"), "{error}");
        let error = settings_for(
            "server = \"https://a:1\"\nallow_approved_plans = true\n",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("needs read_only"), "{error}");
        let error = settings_for(
            "server = \"https://a:1\"\n[labels]\n\"Bad Key\" = \"x\"\n",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("Bad Key"), "{error}");
    }
}
