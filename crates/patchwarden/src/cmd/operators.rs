//! `patchwarden operators add|list|revoke`: the people and scripts allowed to use the
//! controller's API and page, managed offline on the data directory (like `plans`). The token
//! `add` prints is shown once; the database keeps only its SHA-256. See docs/server.md.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use pw_server::Role;
use pw_store::{DatabaseUrl, OperatorRefusal, Store};

use crate::paths::{default_data_dir, runtime};

#[derive(clap::Args)]
pub struct Args {
    /// The controller's data directory (holding patchwarden.db) [env: PATCHWARDEN_DATA_DIR].
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// The controller's database when it is not the data directory's SQLite file:
    /// postgres://USER:PASSWORD@HOST:PORT/DATABASE or sqlite://PATH
    /// [env: PATCHWARDEN_DATABASE_URL].
    #[arg(
        long,
        global = true,
        value_name = "URL",
        env = "PATCHWARDEN_DATABASE_URL"
    )]
    database: Option<String>,
    #[command(subcommand)]
    command: OperatorsCommand,
}

#[derive(clap::Subcommand)]
enum OperatorsCommand {
    /// Creates an operator and prints its API token on stdout, this once.
    Add {
        /// 1–64 letters, digits, '.', '_', '-', '@'; names are never reused.
        name: String,
        /// viewer (read), operator (rollouts, enrollment tokens, commands), approver (approve
        /// plans), admin (manage operators); each includes the ones before it.
        #[arg(long, value_parser = parse_role)]
        role: Role,
    },
    /// Every operator with role, creation and revocation (never tokens).
    List {
        #[arg(long, default_value = "table", value_parser = ["table", "json"])]
        format: String,
    },
    /// Revokes an operator: its token stops working and its page sessions end.
    Revoke { name: String },
}

fn parse_role(text: &str) -> Result<Role, String> {
    text.parse()
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let url = match args.database.filter(|u| !u.is_empty()) {
        Some(text) => DatabaseUrl::parse(&text)?,
        None => {
            let data_dir = args.data_dir.unwrap_or_else(default_data_dir);
            DatabaseUrl::sqlite_file(&data_dir.join("patchwarden.db"))
        }
    };
    if let Some(db) = url.sqlite_path()
        && !matches!(args.command, OperatorsCommand::Add { .. })
        && !db.exists()
    {
        bail!(
            "no database at {} (start the controller once, or add an operator first)",
            db.display()
        );
    }
    let actor = local_actor();
    runtime()?.block_on(async {
        let store = Store::connect(&url).await?;
        let result = command(&store, args.command, &actor).await;
        store.close().await;
        result
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Who acts from the command line, for the audit log: `cli:<login name>` (operator names
/// cannot contain ':', so it never passes for one).
fn local_actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "unknown".to_owned());
    format!("cli:{user}")
}

async fn command(store: &Store, command: OperatorsCommand, actor: &str) -> anyhow::Result<()> {
    match command {
        OperatorsCommand::Add { name, role } => {
            let token = pw_server::create_operator(store, &name, role, actor).await?;
            eprintln!("operator {name} ({role}) created; its token is shown this once:");
            println!("{token}");
        }
        OperatorsCommand::List { format } => {
            let operators = store.operators().await?;
            if format == "json" {
                println!("{}", serde_json::to_string_pretty(&operators)?);
            } else {
                print!("{}", table(&operators));
            }
        }
        OperatorsCommand::Revoke { name } => match store.revoke_operator(&name, actor).await? {
            Ok(()) => println!(
                "operator {name} revoked (its token, sessions and unused enrollment tokens no longer work)"
            ),
            Err(OperatorRefusal::NotFound) => bail!("no operator named {name:?}"),
            Err(OperatorRefusal::AlreadyRevoked) => {
                bail!("operator {name:?} is already revoked")
            }
            Err(OperatorRefusal::LastAdmin) => {
                bail!("operator {name:?} is the last active admin; create another admin first")
            }
            Err(other) => bail!("operator {name:?} not revoked: {other:?}"),
        },
    }
    Ok(())
}

fn table(operators: &[pw_store::OperatorRow]) -> String {
    if operators.is_empty() {
        return "no operators (add one: patchwarden operators add NAME --role admin)\n".into();
    }
    let width = operators
        .iter()
        .map(|o| o.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut out = format!(
        "{:width$}  {:8}  {:20}  {:20}  REVOKED\n",
        "NAME", "ROLE", "CREATED", "BY"
    );
    for o in operators {
        let revoked = o
            .revoked_at
            .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
            .unwrap_or_else(|| "-".into());
        let _ = writeln!(
            out,
            "{:width$}  {:8}  {:20}  {:20}  {revoked}",
            o.name,
            o.role.as_str(),
            o.created_at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
            o.created_by
        );
    }
    out
}

/// `patchwarden up` on a data directory without operators: creates `admin` and keeps its token
/// in `admin.token` (mode 0600) for the command line. Returns whether it did.
pub async fn bootstrap_admin(store: &Store, data_dir: &std::path::Path) -> anyhow::Result<bool> {
    if !store.operators().await?.is_empty() {
        return Ok(false);
    }
    let token = pw_server::create_operator(store, LOCAL_ADMIN, Role::Admin, "controller")
        .await
        .context("creating the local admin operator")?;
    pw_server::write_private(
        &data_dir.join(ADMIN_TOKEN_FILE),
        format!("{token}\n").as_bytes(),
    )?;
    Ok(true)
}

/// The operator `patchwarden up` creates, and the file holding its token.
pub const LOCAL_ADMIN: &str = "admin";
pub const ADMIN_TOKEN_FILE: &str = "admin.token";
