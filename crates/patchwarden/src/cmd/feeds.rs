//! `patchwarden feeds import|sync|status`: load advisory intelligence into the database.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use pw_feeds::{Progress, SyncSources};
use pw_store::{DatabaseUrl, Store};

use crate::paths::{default_db, runtime};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: FeedsCommand,
    /// Database file (default: the data directory's patchwarden.db).
    #[arg(long, global = true, env = "PATCHWARDEN_DB")]
    db: Option<PathBuf>,
    /// The controller's database by URL instead: postgres://USER:PASSWORD@HOST:PORT/DATABASE
    /// or sqlite://PATH [env: PATCHWARDEN_DATABASE_URL].
    #[arg(
        long,
        global = true,
        value_name = "URL",
        env = "PATCHWARDEN_DATABASE_URL",
        conflicts_with = "db"
    )]
    database: Option<String>,
}

#[derive(clap::Subcommand)]
enum FeedsCommand {
    /// Import OSV (JSON, JSONL, directories, .gz, .zip), CISA KEV (JSON), Debian Security
    /// Tracker (JSON) and EPSS (CSV) files offline. All or nothing: a corrupt file leaves the
    /// database unchanged.
    Import {
        /// Files or directories; kinds are recognised by content unless --format names one.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Read every file as this kind instead of recognising it by content.
        #[arg(long, value_enum, default_value_t = Format::Auto)]
        format: Format,
    },
    /// Download OSV, KEV, EPSS and the Debian Security Tracker's JSON from the public locations
    /// (or mirrors) and import them.
    Sync {
        /// OSV exports to download (repeatable); default: the public OSV bucket's Debian,
        /// Ubuntu, AlmaLinux and Rocky Linux all.zip.
        #[arg(long = "osv-url", env = "PATCHWARDEN_OSV_URLS", value_delimiter = ',')]
        osv: Vec<String>,
        /// The CISA KEV catalog URL.
        #[arg(long = "kev-url", env = "PATCHWARDEN_KEV_URL", default_value = pw_feeds::DEFAULT_KEV_URL)]
        kev: String,
        /// The EPSS CSV URL.
        #[arg(long = "epss-url", env = "PATCHWARDEN_EPSS_URL", default_value = pw_feeds::DEFAULT_EPSS_URL)]
        epss: String,
        /// The Debian Security Tracker's JSON export; an empty value skips it.
        #[arg(
            long = "debian-tracker-url",
            env = "PATCHWARDEN_DEBIAN_TRACKER_URL",
            default_value = pw_feeds::DEFAULT_DEBIAN_TRACKER_URL
        )]
        debian_tracker: String,
    },
    /// Show how many advisories, KEV entries and EPSS scores are stored.
    Status,
}

/// How `feeds import` reads its files.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// Recognise each document by its content.
    Auto,
    /// The Debian Security Tracker's JSON (https://security-tracker.debian.org/tracker/data/json).
    DebianTracker,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let db = match args.database.filter(|u| !u.is_empty()) {
        Some(text) => DatabaseUrl::parse(&text)?,
        None => DatabaseUrl::sqlite_file(&args.db.unwrap_or_else(default_db)),
    };
    runtime()?.block_on(async {
        let store = Store::connect(&db).await?;
        let progress = Bar::default();
        let report = match args.command {
            FeedsCommand::Import { paths, format } => {
                let mut inputs = pw_feeds::read_paths(&paths)?;
                if format == Format::DebianTracker {
                    for input in &mut inputs {
                        input.kind = Some(pw_feeds::Kind::DebianTracker);
                    }
                }
                pw_feeds::import(&store, &inputs, &progress).await?
            }
            FeedsCommand::Sync {
                osv,
                kev,
                epss,
                debian_tracker,
            } => {
                let sources = SyncSources {
                    osv: if osv.is_empty() {
                        SyncSources::default().osv
                    } else {
                        osv
                    },
                    kev: Some(kev),
                    epss: Some(epss),
                    debian_tracker: Some(debian_tracker),
                };
                let inputs = pw_feeds::download(&sources, &progress).await?;
                pw_feeds::import(&store, &inputs, &progress).await?
            }
            FeedsCommand::Status => {
                let counts = store.counts().await?;
                println!(
                    "{}: {} advisories, {} KEV entries, {} EPSS scores",
                    db, counts.advisories, counts.kev, counts.epss
                );
                return Ok(ExitCode::SUCCESS);
            }
        };
        for warning in report.warnings.iter().take(20) {
            eprintln!("warning: {warning}");
        }
        if report.warnings.len() > 20 {
            eprintln!("warning: … and {} more", report.warnings.len() - 20);
        }
        let osv = report.osv;
        println!(
            "imported {} documents into {}: OSV {} records ({} new, {} updated, {} unchanged){}{}",
            report.documents,
            db,
            osv.records,
            osv.inserted,
            osv.updated,
            osv.unchanged,
            report
                .kev
                .map(|k| format!(", KEV {} entries ({} new)", k.records, k.inserted))
                .unwrap_or_default(),
            report
                .epss
                .map(|e| format!(
                    ", EPSS {} scores ({} written)",
                    e.records,
                    e.updated + e.inserted
                ))
                .unwrap_or_default(),
        );
        store.close().await;
        Ok(ExitCode::SUCCESS)
    })
}

/// A progress bar on stderr (drawn only on a terminal).
#[derive(Default)]
struct Bar(std::sync::Mutex<Option<ProgressBar>>);

impl Progress for Bar {
    fn start(&self, phase: &str, total: u64) {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template("{msg:>12} [{bar:40}] {pos}/{len} ({eta})")
                .expect("a valid progress template")
                .progress_chars("=> "),
        );
        bar.set_message(phase.to_owned());
        bar.enable_steady_tick(Duration::from_millis(200));
        *self.0.lock().expect("progress lock") = Some(bar);
    }
    fn advance(&self, steps: u64) {
        if let Some(bar) = &*self.0.lock().expect("progress lock") {
            bar.inc(steps);
        }
    }
    fn finish(&self) {
        if let Some(bar) = self.0.lock().expect("progress lock").take() {
            bar.finish_and_clear();
        }
    }
}
