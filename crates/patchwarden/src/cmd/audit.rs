//! `patchwarden audit verify`: walks the audit log's hash chain and names the first broken link.

use std::path::PathBuf;
use std::process::ExitCode;

use pw_store::{AnchorCheck, AuditKey, ChainCheck, DatabaseUrl, Store};

use crate::paths::{default_data_dir, default_db, runtime};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(clap::Subcommand)]
enum AuditCommand {
    /// Check every record's hash and link, and the signed checkpoints kept outside the
    /// database (a cut log or a recomputed chain); exit 1 naming the first problem.
    Verify {
        /// The SQLite database file (default: the data directory's patchwarden.db).
        #[arg(long, env = "PATCHWARDEN_DB")]
        db: Option<PathBuf>,
        /// The controller's database as a URL: postgres://USER:PASSWORD@HOST:PORT/DATABASE or
        /// sqlite://PATH (wins over --db) [env: PATCHWARDEN_DATABASE_URL, when neither is given].
        #[arg(long, value_name = "URL")]
        database: Option<String>,
        /// The controller's data directory holding audit.key and audit.checkpoints, for a
        /// PostgreSQL database (each replica has its own; default: the default data directory).
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// The checkpoint key (default: audit.key beside the database or in --data-dir).
        #[arg(long)]
        key: Option<PathBuf>,
        /// The checkpoints (default: audit.checkpoints beside the database or in --data-dir).
        #[arg(long)]
        checkpoints: Option<PathBuf>,
    },
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let AuditCommand::Verify {
        db,
        database,
        data_dir,
        key,
        checkpoints,
    } = args.command;
    let env_url = || {
        std::env::var("PATCHWARDEN_DATABASE_URL")
            .ok()
            .filter(|u| !u.is_empty())
    };
    let url = match (database, db) {
        (Some(text), _) => DatabaseUrl::parse(&text)?,
        (None, Some(db)) => DatabaseUrl::sqlite_file(&db),
        (None, None) => match env_url() {
            Some(text) => DatabaseUrl::parse(&text)?,
            None => DatabaseUrl::sqlite_file(&default_db()),
        },
    };
    // The checkpoint files sit beside a SQLite file, or in the (replica's) data directory.
    let files_dir = match url.sqlite_path() {
        Some(path) => {
            if !path.exists() {
                anyhow::bail!("no database at {}", path.display());
            }
            path.parent().map(PathBuf::from).unwrap_or_default()
        }
        None => data_dir.unwrap_or_else(default_data_dir),
    };
    let checkpoints = checkpoints.unwrap_or_else(|| files_dir.join("audit.checkpoints"));
    let key = key.unwrap_or_else(|| files_dir.join("audit.key"));
    let anchored = checkpoints.exists();
    let (chain, anchor) = runtime()?.block_on(async {
        let store = Store::connect(&url).await?;
        let chain = store.verify_audit().await;
        let anchor = match anchored {
            true => Some(
                store
                    .verify_checkpoints(&AuditKey::load(&key)?, &checkpoints)
                    .await,
            ),
            false => None,
        };
        store.close().await;
        anyhow::Ok((chain?, anchor.transpose()?))
    })?;
    let records = match chain {
        ChainCheck::Intact { records } => records,
        ChainCheck::Broken { seq, reason } => {
            println!("audit chain broken at record {seq}: {reason}");
            return Ok(ExitCode::FAILURE);
        }
    };
    match anchor {
        None => {
            println!(
                "audit chain intact: {records} records; completeness NOT checked: no checkpoints \
                 at {} (pass --checkpoints and --key)",
                checkpoints.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(AnchorCheck::Holds {
            checkpoints: count,
            last_seq,
        }) => {
            println!(
                "audit chain intact: {records} records; {count} signed checkpoints hold (the \
                 newest at record {last_seq}; later records are covered by the chain only)"
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(AnchorCheck::Fails { line, reason }) => {
            println!(
                "audit log incomplete or rewritten: {} line {line}: {reason}",
                checkpoints.display()
            );
            Ok(ExitCode::FAILURE)
        }
    }
}
