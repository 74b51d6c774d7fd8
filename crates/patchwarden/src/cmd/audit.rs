//! `patchwarden audit verify`: walks the audit log's hash chain and names the first broken link.

use std::path::PathBuf;
use std::process::ExitCode;

use pw_store::{ChainCheck, Store};

use crate::paths::{default_db, runtime};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(clap::Subcommand)]
enum AuditCommand {
    /// Check every record's hash and link; exit 1 naming the first bad record.
    Verify {
        /// The database (default: the data directory's patchwarden.db).
        #[arg(long, env = "PATCHWARDEN_DB")]
        db: Option<PathBuf>,
    },
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let AuditCommand::Verify { db } = args.command;
    let db = db.unwrap_or_else(default_db);
    if !db.exists() {
        anyhow::bail!("no database at {}", db.display());
    }
    let check = runtime()?.block_on(async {
        let store = Store::open(&db).await?;
        let check = store.verify_audit().await;
        store.close().await;
        check
    })?;
    match check {
        ChainCheck::Intact { records } => {
            println!("audit chain intact: {records} records");
            Ok(ExitCode::SUCCESS)
        }
        ChainCheck::Broken { seq, reason } => {
            println!("audit chain broken at record {seq}: {reason}");
            Ok(ExitCode::FAILURE)
        }
    }
}
