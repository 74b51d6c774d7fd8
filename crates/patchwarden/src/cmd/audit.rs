//! `patchwarden audit verify`: walks the audit log's hash chain and names the first broken link.

use std::path::PathBuf;
use std::process::ExitCode;

use pw_store::{AnchorCheck, AuditKey, ChainCheck, Store};

use crate::paths::{default_db, runtime};

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
        /// The database (default: the data directory's patchwarden.db).
        #[arg(long, env = "PATCHWARDEN_DB")]
        db: Option<PathBuf>,
        /// The checkpoint key (default: audit.key beside the database).
        #[arg(long)]
        key: Option<PathBuf>,
        /// The checkpoints (default: audit.checkpoints beside the database).
        #[arg(long)]
        checkpoints: Option<PathBuf>,
    },
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let AuditCommand::Verify {
        db,
        key,
        checkpoints,
    } = args.command;
    let db = db.unwrap_or_else(default_db);
    if !db.exists() {
        anyhow::bail!("no database at {}", db.display());
    }
    let checkpoints = checkpoints.unwrap_or_else(|| db.with_file_name("audit.checkpoints"));
    let key = key.unwrap_or_else(|| db.with_file_name("audit.key"));
    let anchored = checkpoints.exists();
    let (chain, anchor) = runtime()?.block_on(async {
        let store = Store::open(&db).await?;
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
