//! The process's line of writers (issue 15: ingest rate, per-batch overhead). Every write
//! transaction ([`Store::begin_immediate`](crate::Store::begin_immediate)) and, on SQLite, every
//! write statement run on its own waits here, in arrival order, before it asks the database for
//! its write lock. SQLite's own wait for its one writer is sleep-and-retry (its busy handler
//! sleeps 1, 2, 5 … up to 100 ms between tries): with inventory reports, scans, command
//! deliveries and the scheduler writing at once, a writer slept on past the moment the lock was
//! free, and each waiting writer held one of the pool's connections meanwhile. In line, the next
//! writer starts the moment the one before it commits or rolls back. The database's own lock
//! (`BEGIN IMMEDIATE`, PostgreSQL's advisory lock: `db.rs`) still serializes this process with
//! other ones (`patchwarden feeds import`, other replicas).
//!
//! On SQLite the WAL is checkpointed beside the line, not in it: SQLite's automatic checkpoint
//! runs inside the COMMIT that crosses 1,000 pages of WAL (5 % of the controller's CPU under
//! pw-loadgen), which would keep the next writer waiting; it is off (`db.rs`), and every
//! [`COMMITS_PER_CHECKPOINT`]th commit starts a passive checkpoint on a pool connection of its
//! own while the writers go on (one at a time; closing the pool checkpoints the rest). A passive
//! checkpoint can copy the WAL into the database but never start it over while readers keep
//! using it, and under steady reads it grew without bound (5.1 GB beside a 659 MB database
//! at 10,000 agents); when it holds more than [`WAL_FRAMES_BOUND`] frames, the checkpointer
//! takes a turn in the line and truncates it (`TRUNCATE`: waits for the readers of the old
//! WAL, which are single statements) before the next writer goes on.
//!
//! The rollout scheduler's writes go ahead of the line ([`WriteGate::turn_ahead`]): a pass
//! writes a batch's results and claims while up to a thousand agents' own result writes wait
//! in line, and in arrival order each pass waited behind them all (issue 15: per-batch overhead
//! at 10,000 hosts). Ordinary writers take their turn in two steps: first the line's front
//! (one ordinary writer at a time), then the turn itself; a writer going ahead asks for the
//! turn alone, so it waits for the writer writing and at most the one ordinary writer at the
//! front, never for the rest of the line. Ordinary writers keep their order among themselves.
//!
//! Agents' inventory reports go between the two ([`WriteGate::turn_report`]): an ordinary
//! writer first takes the line's back (one at a time), then the front; a report asks for the
//! front alone. A report's write is ~1 ms, a group of new inventories' scans ~50 ms, and in
//! arrival order a report waited behind every group queued before it (~320 ms at 1,000 agents,
//! and the agent with it: the ingest rate was the reports in flight over that wait). Now it
//! waits for the writer writing, at most one ordinary writer (the one holding the front) and
//! the reports before it; an ordinary writer waits for the reports already waiting for the
//! front when it asked for it, never for later ones, so none waits for ever. The scheduler
//! still waits for at most one writer besides the one writing.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use sqlx::{Any, AnyConnection, AnyPool, Row, Transaction};
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::Backend;

/// Write transactions committed per WAL checkpoint (SQLite).
pub(crate) const COMMITS_PER_CHECKPOINT: usize = 16;

/// WAL frames (pages) above which the checkpointer truncates the WAL in a turn of its own:
/// 16,384 pages, 64 MiB at SQLite's default page size.
pub const WAL_FRAMES_BOUND: i64 = 16_384;

/// The line; one per opened [`Store`](crate::Store), shared by its clones.
#[derive(Debug, Clone)]
pub(crate) struct WriteGate {
    line: Arc<Mutex<()>>,
    /// The line's front: an ordinary writer or a report holds it while it waits for its turn.
    front: Arc<Mutex<()>>,
    /// The line's back: an ordinary writer holds it while it waits for the front.
    back: Arc<Mutex<()>>,
    /// SQLite's checkpoints (`None` on PostgreSQL).
    checkpoints: Option<Arc<Checkpoints>>,
    /// On SQLite, the one connection every write runs on (`db.rs`, `WRITER_CACHE_KIB`); `None`
    /// on PostgreSQL, whose writes run on the process's pool.
    writer: Option<AnyPool>,
}

/// This process's turn to write: the next writer in line waits until it is dropped.
pub(crate) type Turn = OwnedMutexGuard<()>;

impl WriteGate {
    /// The line of `pool`'s writers; on SQLite they write on `writer`, its one writing
    /// connection.
    pub(crate) fn new(pool: &AnyPool, backend: Backend, writer: Option<AnyPool>) -> WriteGate {
        let line: Arc<Mutex<()>> = Arc::default();
        let checkpoints = (backend == Backend::Sqlite).then(|| {
            Arc::new(Checkpoints {
                pool: pool.clone(),
                writer: writer.clone().unwrap_or_else(|| pool.clone()),
                line: line.clone(),
                commits: AtomicUsize::new(0),
                running: AtomicBool::new(false),
            })
        });
        WriteGate {
            line,
            front: Arc::default(),
            back: Arc::default(),
            checkpoints,
            writer,
        }
    }

    /// The pool writes run on: the writing connection on SQLite, else `pool`.
    pub(crate) fn pool<'a>(&'a self, pool: &'a AnyPool) -> &'a AnyPool {
        self.writer.as_ref().unwrap_or(pool)
    }

    /// Closes the writing connection (SQLite), before the process's pool.
    pub(crate) async fn close(&self) {
        if let Some(writer) = &self.writer {
            writer.close().await;
        }
    }

    /// Waits for this writer's turn (first come, first served among ordinary writers).
    pub(crate) async fn turn(&self) -> Turn {
        let _back = self.back.lock().await;
        self.turn_report().await
    }

    /// Waits for a turn ahead of the ordinary writers behind the front: an agent's report,
    /// after the writer writing, the one writer at the front and the reports before it.
    pub(crate) async fn turn_report(&self) -> Turn {
        let _front = self.front.lock().await;
        self.line.clone().lock_owned().await
    }

    /// Waits for a turn ahead of the ordinary writers in line: after the writer writing and
    /// at most one ordinary writer (the one at the front).
    pub(crate) async fn turn_ahead(&self) -> Turn {
        self.line.clone().lock_owned().await
    }

    /// `tx`, begun in `turn`, as the transaction that holds it.
    pub(crate) fn transaction(&self, tx: Transaction<'static, Any>, turn: Turn) -> WriteTx {
        WriteTx {
            tx,
            turn,
            checkpoints: self.checkpoints.clone(),
        }
    }
}

/// Counts commits and checkpoints the WAL beside the writers.
#[derive(Debug)]
struct Checkpoints {
    /// For the passive checkpoints, beside the writer.
    pool: AnyPool,
    /// The writing connection, for a truncating checkpoint in the writers' line (run there, it
    /// leaves the connection's page cache valid).
    writer: AnyPool,
    /// The writers' line, for a truncating checkpoint's turn.
    line: Arc<Mutex<()>>,
    commits: AtomicUsize,
    running: AtomicBool,
}

impl Checkpoints {
    fn committed(self: &Arc<Self>) {
        if self.commits.fetch_add(1, Ordering::Relaxed) + 1 < COMMITS_PER_CHECKPOINT
            || self.running.swap(true, Ordering::AcqRel)
        {
            return;
        }
        self.commits.store(0, Ordering::Relaxed);
        let this = self.clone();
        tokio::spawn(async move {
            match this.checkpoint().await {
                Ok(()) | Err(sqlx::Error::PoolClosed) => {}
                Err(error) => tracing::warn!(error = %error, "checkpointing the WAL failed"),
            }
            this.running.store(false, Ordering::Release);
        });
    }

    /// A passive checkpoint; then, when the WAL is still over the bound, a truncating one in
    /// the writers' line.
    async fn checkpoint(&self) -> Result<(), sqlx::Error> {
        let row = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&self.pool)
            .await?;
        let frames: i64 = row.try_get(1)?;
        if frames <= WAL_FRAMES_BOUND {
            return Ok(());
        }
        let _turn = self.line.clone().lock_owned().await;
        let started = std::time::Instant::now();
        let row = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .fetch_one(&self.writer)
            .await?;
        let busy: i64 = row.try_get(0)?;
        tracing::info!(
            frames,
            truncated = busy == 0,
            ms = format!("{:.1}", started.elapsed().as_secs_f64() * 1000.0),
            "WAL over its bound: checkpointed in line"
        );
        Ok(())
    }
}

/// A write transaction holding the process's turn until it commits, rolls back or is dropped
/// (dropped: rolled back). Statements run on it as on the transaction (`&mut *tx`).
pub struct WriteTx {
    // Declared first, so dropped first: the transaction ends before the turn passes on.
    tx: Transaction<'static, Any>,
    turn: Turn,
    checkpoints: Option<Arc<Checkpoints>>,
}

impl WriteTx {
    /// Commits; the next writer's turn starts after the commit.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        let WriteTx {
            tx,
            turn,
            checkpoints,
        } = self;
        tx.commit().await?;
        drop(turn);
        if let Some(checkpoints) = checkpoints {
            checkpoints.committed();
        }
        Ok(())
    }

    /// Rolls back; the next writer's turn starts after the rollback.
    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        self.tx.rollback().await
    }
}

impl Deref for WriteTx {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        &self.tx
    }
}

impl DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }
}
