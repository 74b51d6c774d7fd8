//! `patchwarden up`: the controller with its embedded database in a data directory plus an
//! agent for this machine, enrolled automatically and read-only, in the same process: it takes
//! no change except the guarded `apply_change` of an approved plan (`--no-plan-changes`: none).
//! On a data directory without operators it creates the local `admin` (token in `admin.token`,
//! mode 0600); every start prints a single-use login link for it, so the printed URL opens the
//! page.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use pw_agent::{AgentSettings, Secret};

use super::operators::{ADMIN_TOKEN_FILE, LOCAL_ADMIN, bootstrap_admin};
use super::server::{init_tracing, settings, wait_for_signal};
use crate::paths::runtime;

#[derive(clap::Args)]
pub struct Args {
    /// Directory for the database, the CA and the local agent [env: PATCHWARDEN_DATA_DIR].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Address and port [env: PATCHWARDEN_LISTEN; default 127.0.0.1:8420].
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// The database, as for `patchwarden server`: sqlite://PATH (default: patchwarden.db in the
    /// data directory) or postgres://… [env: PATCHWARDEN_DATABASE_URL].
    #[arg(long, value_name = "URL")]
    database: Option<String>,
    /// A TOML settings file, as for `patchwarden server`.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Make the local agent refuse even the changes of approved plans (by default it is
    /// read-only except for rollouts of approved change plans).
    #[arg(long)]
    no_plan_changes: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    init_tracing();
    let flags = pw_server::RawServerSettings {
        listen: args.listen,
        data_dir: args.data_dir,
        database: args.database,
        ..Default::default()
    };
    let settings = settings(args.config.as_deref(), flags)?;
    runtime()?.block_on(async {
        let controller = pw_server::start(&settings).await?;
        let agent_dir = settings.data_dir.join("agent");
        let token = if pw_agent::load_identity(&agent_dir)?.is_some() {
            None
        } else {
            let token = controller
                .state
                .create_enrollment_token(
                    Duration::from_secs(600),
                    Some("patchwarden up: local agent"),
                    "controller",
                )
                .await?;
            Some(Secret(token.token))
        };
        let agent_settings = AgentSettings {
            servers: vec![controller.agent_url()],
            token,
            ca_pem: Some(controller.state.ca.cert_pem().to_owned()),
            data_dir: agent_dir,
            read_only: true,
            plan_changes: !args.no_plan_changes,
            poll_wait_secs: 30,
            labels: Default::default(),
            reboot_command: pw_agent::restart::DEFAULT_REBOOT_COMMAND
                .map(str::to_owned)
                .to_vec(),
        };
        let stopping = wait_for_signal()?;
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let agent = tokio::spawn(pw_agent::run(agent_settings, stopped));
        let store = &controller.state.store;
        let created_admin = bootstrap_admin(store, &settings.data_dir).await?;
        let admin_active = store
            .operators()
            .await?
            .iter()
            .any(|o| o.name == LOCAL_ADMIN && o.revoked_at.is_none());
        if admin_active {
            let ticket = pw_server::issue_login_ticket(store, LOCAL_ADMIN).await?;
            println!(
                "patchwarden is up: {}login?ticket={ticket}",
                controller.url()
            );
            println!("  open that link to sign in (it works once, within 12 hours)");
        } else {
            println!("patchwarden is up: {}login", controller.url());
            println!(
                "  sign in with an operator token (patchwarden operators add NAME --role viewer)"
            );
        }
        if created_admin {
            println!(
                "  created operator {LOCAL_ADMIN}; its API token is in {} (mode 0600)",
                settings.data_dir.join(ADMIN_TOKEN_FILE).display()
            );
        }
        println!(
            "  started in {} ms; data in {}; this machine's agent is read-only{}",
            started.elapsed().as_millis(),
            settings.data_dir.display(),
            if args.no_plan_changes {
                ""
            } else {
                " (changes only from approved plans)"
            }
        );
        println!("  stop with Ctrl-C");
        stopping.await;
        let _ = stop.send(true);
        match tokio::time::timeout(Duration::from_secs(5), agent).await {
            Ok(joined) => joined.context("the agent task panicked")??,
            Err(_) => tracing::warn!("the agent did not stop within 5 s"),
        }
        controller.shutdown().await;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
