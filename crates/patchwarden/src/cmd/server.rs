//! `patchwarden server`: the controller. Settings from a TOML file, `PATCHWARDEN_*` env vars and
//! flags (flags win, then env, then file); every problem reported at once.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use pw_server::{RawServerSettings, ServerSettings};

use crate::paths::{default_data_dir, runtime};

#[derive(clap::Args)]
pub struct Args {
    /// Address and port (plain HTTP and TLS share it) [env: PATCHWARDEN_LISTEN; default
    /// 127.0.0.1:8420].
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Directory for the database and the CA [env: PATCHWARDEN_DATA_DIR].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// The database: sqlite://PATH (default: patchwarden.db in the data directory) or
    /// postgres://USER:PASSWORD@HOST:PORT/DATABASE [env: PATCHWARDEN_DATABASE_URL].
    #[arg(long, value_name = "URL")]
    database: Option<String>,
    /// The secret key (a file of 64 hex digits, e.g. `openssl rand -hex 32`) shared by every
    /// controller on one database: the CA and login keys are kept in the database sealed with
    /// it [env: PATCHWARDEN_SECRET_KEY_FILE].
    #[arg(long, value_name = "FILE")]
    secret_key_file: Option<PathBuf>,
    /// A TOML settings file (keys: listen, data_dir, database, secret_key_file, server_names,
    /// max_poll_wait_secs, public_url, notify_retry_base_secs, notify_ca_file; docs/server.md).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    init_tracing();
    let flags = RawServerSettings {
        listen: args.listen,
        data_dir: args.data_dir,
        database: args.database,
        secret_key_file: args.secret_key_file,
        ..Default::default()
    };
    let settings = settings(args.config.as_deref(), flags)?;
    runtime()?.block_on(async {
        let controller = pw_server::start(&settings).await?;
        let stopping = wait_for_signal()?;
        println!("patchwarden controller: {}", controller.url());
        println!("database: {}", settings.database);
        println!(
            "agents: {} (CA: {})",
            controller.agent_url(),
            settings.data_dir.join("ca/ca.pem").display()
        );
        if controller.state.store.operators().await?.is_empty() {
            let target = match settings.database.sqlite_path() {
                Some(_) => format!("--data-dir {}", settings.data_dir.display()),
                None => format!("--database {}", settings.database),
            };
            println!("no operator yet: patchwarden operators add NAME --role admin {target}");
        }
        stopping.await;
        controller.shutdown().await;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// File < env < flags, then validated with every problem listed.
pub fn settings(config: Option<&Path>, flags: RawServerSettings) -> anyhow::Result<ServerSettings> {
    let mut problems = Vec::new();
    let file = match config {
        None => RawServerSettings::default(),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            toml::from_str(&text).unwrap_or_else(|error| {
                problems.push(format!("{}: {error}", path.display()));
                RawServerSettings::default()
            })
        }
    };
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let max_poll_wait_secs = env("PATCHWARDEN_MAX_POLL_WAIT_SECS").and_then(|v| {
        v.parse()
            .map_err(|_| {
                problems.push(format!(
                    "PATCHWARDEN_MAX_POLL_WAIT_SECS: {v:?} is not a number"
                ))
            })
            .ok()
    });
    let notify_retry_base_secs = env("PATCHWARDEN_NOTIFY_RETRY_BASE_SECS").and_then(|v| {
        v.parse()
            .map_err(|_| {
                problems.push(format!(
                    "PATCHWARDEN_NOTIFY_RETRY_BASE_SECS: {v:?} is not a number"
                ))
            })
            .ok()
    });
    let from_env = RawServerSettings {
        listen: env("PATCHWARDEN_LISTEN"),
        public_url: env("PATCHWARDEN_PUBLIC_URL"),
        notify_retry_base_secs,
        notify_ca_file: env("PATCHWARDEN_NOTIFY_CA_FILE").map(PathBuf::from),
        data_dir: env("PATCHWARDEN_DATA_DIR").map(PathBuf::from),
        server_names: env("PATCHWARDEN_SERVER_NAMES")
            .map(|v| v.split(',').map(|s| s.trim().to_owned()).collect()),
        max_poll_wait_secs,
        database: env("PATCHWARDEN_DATABASE_URL"),
        secret_key_file: env("PATCHWARDEN_SECRET_KEY_FILE").map(PathBuf::from),
        ..Default::default()
    };
    let merged = file.merge(from_env).merge(flags);
    match merged.validate(default_data_dir()) {
        Ok(settings) if problems.is_empty() => Ok(settings),
        Ok(_) => anyhow::bail!("invalid settings:\n  {}", problems.join("\n  ")),
        Err(more) => {
            problems.extend(more);
            anyhow::bail!("invalid settings:\n  {}", problems.join("\n  "))
        }
    }
}

/// Structured logs on stderr; `RUST_LOG` filters (default: info), `PATCHWARDEN_LOG=json` for JSON.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if std::env::var("PATCHWARDEN_LOG").as_deref() == Ok("json") {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// Installs the SIGINT and SIGTERM handlers now (before "is up" is printed, so a signal sent
/// right after it still shuts down gracefully) and returns what waits for either.
pub fn wait_for_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate =
        signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        tracing::info!("signal received, shutting down");
    })
}
