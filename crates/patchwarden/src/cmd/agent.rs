//! `patchwarden agent`: enroll once with a token, then report and take commands over mTLS.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use pw_agent::{AgentSettings, Secret};

use super::server::{init_tracing, wait_for_signal};
use crate::paths::runtime;

#[derive(clap::Args)]
pub struct Args {
    /// The controller, e.g. https://controller.example:8420.
    #[arg(long, value_name = "URL", env = "PATCHWARDEN_SERVER")]
    server: String,
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
    /// Where the key, certificate and journal live.
    #[arg(long, value_name = "DIR", env = "PATCHWARDEN_AGENT_DIR")]
    data_dir: PathBuf,
    /// Refuse every command that would change this machine.
    #[arg(long)]
    read_only: bool,
    /// With --read-only: still accept the guarded changes of an approved change plan (never an
    /// ad-hoc rollout or a raw install).
    #[arg(long, requires = "read_only")]
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

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    init_tracing();
    let ca_pem = args
        .ca_cert
        .as_ref()
        .map(|path| {
            std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
        })
        .transpose()?;
    let settings = AgentSettings {
        server: args.server,
        token: args.token.map(Secret),
        ca_pem,
        data_dir: args.data_dir,
        read_only: args.read_only,
        plan_changes: args.allow_approved_plans,
        poll_wait_secs: 30,
        labels: pw_model::parse_labels(args.labels.iter().map(String::as_str))?,
        reboot_command: if args.reboot_command.is_empty() {
            pw_agent::restart::DEFAULT_REBOOT_COMMAND
                .map(str::to_owned)
                .to_vec()
        } else {
            args.reboot_command
        },
    };
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
