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

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use sqlx::{Any, AnyConnection, Transaction};
use tokio::sync::{Mutex, OwnedMutexGuard};

/// The line; one per opened [`Store`](crate::Store), shared by its clones.
#[derive(Debug, Clone, Default)]
pub(crate) struct WriteGate(Arc<Mutex<()>>);

/// This process's turn to write: the next writer in line waits until it is dropped.
pub(crate) type Turn = OwnedMutexGuard<()>;

impl WriteGate {
    /// Waits for this writer's turn (first come, first served).
    pub(crate) async fn turn(&self) -> Turn {
        self.0.clone().lock_owned().await
    }
}

/// A write transaction holding the process's turn until it commits, rolls back or is dropped
/// (dropped: rolled back). Statements run on it as on the transaction (`&mut *tx`).
pub struct WriteTx {
    // Declared first, so dropped first: the transaction ends before the turn passes on.
    tx: Transaction<'static, Any>,
    _turn: Turn,
}

impl WriteTx {
    pub(crate) fn new(tx: Transaction<'static, Any>, turn: Turn) -> WriteTx {
        WriteTx { tx, _turn: turn }
    }

    /// Commits; the next writer's turn starts after the commit.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
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
