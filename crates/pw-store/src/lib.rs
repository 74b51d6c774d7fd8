//! patchwarden storage: one SQLite database (embedded, WAL, foreign keys) or one PostgreSQL
//! database, with migrations (`migrations/` and `migrations/postgres/`, the same schema).
//!
//! Everything written by one import happens in one transaction ([`ImportTx`]): a failed import
//! leaves the database exactly as it was. Timestamps are stored as RFC 3339 UTC text and always
//! compared after parsing, never as text.

mod advisories;
pub mod audit;
mod audit_anchor;
mod change_reads;
mod change_results;
mod commands;
mod console;
mod controller;
mod covered_updates;
mod db;
mod deflate;
mod epss_parts;
mod evidence;
mod files;
mod finding_keys;
mod finding_texts;
mod findings;
mod findings_closed;
mod findings_early;
mod findings_group;
mod findings_packed;
mod findings_scope;
mod findings_write;
mod fleet;
mod heartbeats;
mod import_changes;
mod instants;
mod inventories;
mod inventory_codec;
mod lease;
mod notices;
mod notifications;
mod observations;
mod open_stamps;
mod open_tiers;
mod open_writes;
mod operators;
mod plans;
mod protection;
mod risks;
mod rollout_control;
mod rollout_pass;
mod rollouts;
mod scan_reads;
mod secrets;
mod signals;
mod text_digests;
mod transitions;
mod update_extremes;
mod update_summary;
mod wakeups;
mod write_clock;
mod write_gate;
mod zdict;

#[cfg(test)]
mod data_steps_tests;
#[cfg(test)]
mod open_reads_tests;

use std::path::Path;

use anyhow::Context;
use sqlx::AnyPool;
use sqlx::Row;

pub use advisories::{AdvisoryRow, StoredAdvisory};
pub use audit::{AuditEntry, AuditRecord, ChainCheck};
pub use audit_anchor::{AnchorCheck, AuditKey, Checkpoint};
pub use change_reads::StoredChangeReport;
pub use commands::NewCommand;
pub use console::{
    AuditFilter, HostFilter, HostPage, PageRequest, UpdateAdvisory, UpdateFilter, UpdateKey,
    UpdatePage, UpdateRow,
};
pub use controller::{
    CommandRow, CommandState, FindingsRow, FinishOutcome, HostRow, InventoryFacts, InventoryRow,
    NewHost, PendingRow, TokenProblem,
};
pub use db::{Backend, DatabaseUrl};
pub use evidence::{EvidenceRow, NewEvidence};
pub use files::{create_private_dir, create_private_file, wider_than_private};
pub use findings::{
    BackportedFinding, CurrentFinding, FindingsSnapshot, FirstSights, HistoryChange, HistoryRow,
    OpenEpisode, OpenFinding, Recorded,
};
pub use findings_packed::PackedList;
pub use findings_scope::{Computation, Covered, RankingBasis, StoredRanking};
pub use fleet::{FleetRefusal, StoredFleet};
pub use heartbeats::HeartbeatRow;
pub use import_changes::{ImportChanges, ImportsSince};
pub use inventories::{ContentChange, InventoryStored, StoredInventory};
pub use lease::SchedulerLease;
pub use notices::{DeadlineDue, DeadlineNotice, SilentHost};
pub use notifications::{ChannelSecret, NewNotification, OutboxCounts, OutboxRow};
pub use observations::{NewObservation, ObservationRow, ObservationUpdate};
pub use operators::{
    NewSession, OperatorRefusal, OperatorRow, Role, SessionRow, TicketProblem,
    validate_operator_name,
};
pub use plans::{PlanEvent, PlanListing, PlanRefusal, StoredPlan};
pub use risks::{AcceptedRiskRow, NewAcceptedRisk, RevokeOutcome};
pub use rollout_control::ControlChange;
pub use rollout_pass::{FinishedCommand, PassHostRow};
pub use rollouts::{
    BlockedRow, HostTransition, HostsBusy, NewRollout, PlanLink, RolloutHostRow, RolloutRow,
    TransitionCommand,
};
pub use scan_reads::ScanReads;
pub use secrets::SecretKey;
pub use signals::{EpssRow, KevRow};
pub use text_digests::FindingTexts;
pub use wakeups::CommandListener;
pub use write_gate::{WAL_FRAMES_BOUND, WriteTx};

/// The embedded migrations, applied on open: SQLite's, and PostgreSQL's (the same schema in
/// its dialect, one file per SQLite file with the same number).
static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// A handle on the database; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    /// This process's writers in line (`write_gate.rs`).
    writers: write_gate::WriteGate,
    backend: Backend,
    /// Where it connected: a PostgreSQL listener opens its own connection there. Shared: the
    /// store is cloned for every request, and a path or URL cloned each time showed in profiles.
    url: std::sync::Arc<DatabaseUrl>,
    /// The finding keys this process has seen stored (`finding_keys.rs`).
    keys: std::sync::Arc<finding_keys::KeyCache>,
    /// The finding texts this process has seen stored (`finding_texts.rs`).
    texts: std::sync::Arc<finding_texts::TextCache>,
    /// The package lists this process has compressed (`inventory_codec.rs`).
    packs: std::sync::Arc<inventory_codec::PackCache>,
}

/// What an import did, per kind of record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImportCounts {
    pub records: u64,
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
}

impl ImportCounts {
    fn add(&mut self, outcome: Outcome) {
        self.records += 1;
        match outcome {
            Outcome::Inserted => self.inserted += 1,
            Outcome::Updated => self.updated += 1,
            Outcome::Unchanged => self.unchanged += 1,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Inserted,
    Updated,
    Unchanged,
}

/// Numbers of stored records, for status displays.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct StoreCounts {
    pub advisories: u64,
    pub kev: u64,
    pub epss: u64,
}

impl Store {
    /// Opens (creating if needed) the SQLite database file at `path` and applies migrations.
    pub async fn open(path: &Path) -> anyhow::Result<Store> {
        Store::connect(&DatabaseUrl::sqlite_file(path)).await
    }

    /// Opens the database `url` names (a SQLite file is created if missing) and applies
    /// migrations. Errors name the URL without its password.
    pub async fn connect(url: &DatabaseUrl) -> anyhow::Result<Store> {
        let pool = url.connect().await?;
        let backend = url.backend();
        let migrator = match backend {
            Backend::Sqlite => &SQLITE_MIGRATOR,
            Backend::Postgres => &POSTGRES_MIGRATOR,
        };
        migrator
            .run(&pool)
            .await
            .with_context(|| format!("migrating the database {url}"))?;
        finding_texts::fill_digests(&pool)
            .await
            .with_context(|| format!("migrating the database {url}"))?;
        findings_packed::pack_legacy(&pool)
            .await
            .with_context(|| format!("migrating the database {url}"))?;
        // Migration 0040's data step: texts from before it compressed.
        let packed = finding_texts::pack_legacy_texts(&pool)
            .await
            .with_context(|| format!("migrating the database {url}"))?;
        if packed > 0 {
            tracing::info!(texts = packed, "finding texts compressed");
        }
        let writer = url.connect_writer().await?;
        let store = Store {
            writers: write_gate::WriteGate::new(&pool, backend, writer),
            pool,
            backend,
            url: std::sync::Arc::new(url.clone()),
            keys: Default::default(),
            texts: Default::default(),
            packs: Default::default(),
        };
        // Migration 0034's data step: rows from before it get the compact form.
        let converted = store.convert_legacy_inventories().await?;
        if converted > 0 {
            tracing::info!(
                inventories = converted,
                "inventories converted to the compact form"
            );
        }
        Ok(store)
    }

    /// This store on a pool of its own of at most `connections` connections, sharing this
    /// process's line of writers (`write_gate.rs`) and caches: for a task whose statements
    /// must not wait behind the requests' (the rollout scheduler: at 10,000 agents its reads
    /// waited ~7 ms each for one of the shared pool's connections while agents' heartbeats
    /// and results held them; issue 15, per-batch overhead).
    pub async fn with_own_pool(&self, connections: u32) -> anyhow::Result<Store> {
        let pool = self.url.connect_with(connections).await?;
        Ok(Store {
            pool,
            writers: self.writers.clone(),
            backend: self.backend,
            url: self.url.clone(),
            keys: self.keys.clone(),
            texts: self.texts.clone(),
            packs: self.packs.clone(),
        })
    }

    /// The database this store connected to (another store on it: another replica).
    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    /// Which database this store talks to.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The connection pool, for tests that edit the database behind the store's back.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Begins a transaction that takes the database's write lock at once: on SQLite
    /// `BEGIN IMMEDIATE`, on PostgreSQL an advisory lock every writer (every replica) takes, so
    /// no other writer can fork the audit chain or slip between a check and its write.
    /// Writers of this process wait for their turn first, in arrival order (`write_gate.rs`).
    pub async fn begin_immediate(&self) -> anyhow::Result<WriteTx> {
        self.begin_in(self.writers.turn().await).await
    }

    /// [`Store::begin_immediate`] ahead of this process's line of ordinary writers
    /// (`write_gate.rs`): the rollout scheduler's writes, which a batch's agents wait for.
    pub(crate) async fn begin_immediate_ahead(&self) -> anyhow::Result<WriteTx> {
        self.begin_in(self.writers.turn_ahead().await).await
    }

    /// [`Store::begin_immediate`] ahead of the ordinary writers behind the line's front
    /// (`write_gate.rs`): an agent's inventory report, a short write the agent waits for.
    pub(crate) async fn begin_immediate_report(&self) -> anyhow::Result<WriteTx> {
        self.begin_in(self.writers.turn_report().await).await
    }

    /// A write transaction begun in `turn` (taken in one of the writers' lanes).
    async fn begin_in(&self, turn: write_gate::Turn) -> anyhow::Result<WriteTx> {
        let tx = db::begin_write(self.write_pool(), self.backend).await?;
        Ok(self.writers.transaction(tx, turn))
    }

    /// The pool this process's writes run on: on SQLite its one writing connection
    /// (`write_gate.rs`), on PostgreSQL the process's pool. A write statement run outside a
    /// transaction runs here, in its [`Store::single_write_turn`].
    pub(crate) fn write_pool(&self) -> &AnyPool {
        self.writers.pool(&self.pool)
    }

    /// On SQLite, this process's turn to write for a statement run on the pool outside a
    /// transaction (its own implicit transaction takes the one writer's lock); `None` on
    /// PostgreSQL, where such a statement takes no lock the writers share.
    pub(crate) async fn single_write_turn(&self) -> Option<write_gate::Turn> {
        match self.backend {
            Backend::Sqlite => Some(self.writers.turn().await),
            Backend::Postgres => None,
        }
    }

    /// Starts an import: everything written through the returned handle lands together on
    /// [`ImportTx::commit`], or not at all.
    pub async fn begin_import(&self) -> anyhow::Result<ImportTx> {
        let mut tx = self
            .begin_immediate()
            .await
            .context("starting an import transaction")?;
        // Before the first advisory is stored, scans use the built-in snapshot: the first
        // import changes every host's source, so its changes are not bounded.
        let stored: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM (SELECT 1 FROM advisories LIMIT 1) AS a")
                .fetch_one(&mut *tx)
                .await
                .context("reading whether advisories are stored")?;
        let changes = (stored > 0).then(ImportChanges::none);
        Ok(ImportTx { tx, changes })
    }

    /// How many records of each kind are stored.
    pub async fn counts(&self) -> anyhow::Result<StoreCounts> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM advisories) AS advisories,
                    (SELECT COUNT(*) FROM kev) AS kev,
                    (SELECT COUNT(*) FROM epss) AS epss",
        )
        .fetch_one(&self.pool)
        .await
        .context("counting stored records")?;
        let get = |column: &str| anyhow::Ok(row.try_get::<i64, _>(column)? as u64);
        Ok(StoreCounts {
            advisories: get("advisories")?,
            kev: get("kev")?,
            epss: get("epss")?,
        })
    }

    /// The last committed feed import (its `feed_imports` id, growing with every import), or
    /// `None` before the first: a cache of loaded intelligence is current while this is unchanged.
    pub async fn last_feed_import(&self) -> anyhow::Result<Option<i64>> {
        sqlx::query_scalar("SELECT MAX(id) FROM feed_imports")
            .fetch_one(&self.pool)
            .await
            .context("reading the last feed import")
    }

    /// Closes the pool (on SQLite, checkpointing the WAL).
    pub async fn close(self) {
        self.writers.close().await;
        self.pool.close().await;
    }
}

/// One import in progress (a database transaction). Dropping it without `commit` rolls back.
pub struct ImportTx {
    tx: WriteTx,
    /// What the OSV records written so far changed (`None`: not bounded; see
    /// `import_changes.rs`).
    changes: Option<ImportChanges>,
}

impl ImportTx {
    /// Records the import run itself, in the same transaction.
    pub async fn record_run(
        &mut self,
        kind: &str,
        source: &str,
        counts: ImportCounts,
    ) -> anyhow::Result<()> {
        // Only an OSV run's changes are bounded by package names; KEV and EPSS re-rank by CVE
        // anywhere (recorded as unbounded).
        let changes = match (kind, &self.changes) {
            ("osv", Some(changes)) => Some(serde_json::to_string(changes)?),
            _ => None,
        };
        sqlx::query(
            "INSERT INTO feed_imports (kind, source, finished_at, records, inserted, updated, unchanged, changes)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(kind)
        .bind(source)
        .bind(jiff::Timestamp::now().to_string())
        .bind(counts.records as i64)
        .bind(counts.inserted as i64)
        .bind(counts.updated as i64)
        .bind(counts.unchanged as i64)
        .bind(changes)
        .execute(&mut *self.tx)
        .await
        .context("recording the import run")?;
        Ok(())
    }

    /// Makes the whole import visible at once.
    pub async fn commit(self) -> anyhow::Result<()> {
        self.tx.commit().await.context("committing the import")
    }
}

fn parse_time(text: &str) -> anyhow::Result<jiff::Timestamp> {
    text.parse()
        .with_context(|| format!("stored timestamp {text:?} is not RFC 3339"))
}

/// A 0/1 column (booleans are stored as integers on both databases).
fn flag(row: &sqlx::any::AnyRow, column: &str) -> anyhow::Result<bool> {
    Ok(row.try_get::<i64, _>(column)? != 0)
}

/// A nullable timestamp column, parsed.
fn optional_time(row: &sqlx::any::AnyRow, column: &str) -> anyhow::Result<Option<jiff::Timestamp>> {
    row.try_get::<Option<String>, _>(column)?
        .map(|text| parse_time(&text))
        .transpose()
}
