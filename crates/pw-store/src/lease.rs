//! The scheduler lease: which controller drives the rollouts when several share one database.
//!
//! The rollout scheduler spends a fleet-wide disruption budget across every active rollout in
//! one pass, so one controller at a time drives them all (a lease per rollout would let two
//! replicas each spend the same group's budget). On PostgreSQL the lease is a session-level
//! advisory lock (`pg_try_advisory_lock`) held on a connection of its own, taken out of the pool:
//! it lasts exactly as long as that connection — a controller that is killed or cut off loses it
//! when PostgreSQL sees the connection close, and another takes it on its next pass. Every pass
//! first checks that the connection still answers. On SQLite (one controller per file) the
//! lease is always held.

use anyhow::Context;
use sqlx::Connection;

use crate::{Backend, Store};

/// The advisory lock key of the scheduler lease ("pw", then 2).
const SCHEDULER_LOCK: i64 = 0x7077_0002;

/// A held scheduler lease; dropping it closes its connection and so releases it.
pub struct SchedulerLease {
    connection: Option<sqlx::AnyConnection>,
}

impl std::fmt::Debug for SchedulerLease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchedulerLease")
            .field("own_connection", &self.connection.is_some())
            .finish()
    }
}

impl Store {
    /// Keeps `lease` held: checks the one held still answers (forgetting it when not), takes it
    /// when free. Returns whether this controller holds it now.
    pub async fn keep_scheduler_lease(
        &self,
        lease: &mut Option<SchedulerLease>,
    ) -> anyhow::Result<bool> {
        if let Some(held) = lease.as_mut() {
            let alive = match held.connection.as_mut() {
                Some(connection) => connection.ping().await.is_ok(),
                None => true,
            };
            if alive {
                return Ok(true);
            }
            tracing::warn!("the scheduler lease's connection is gone; taking the lease again");
            *lease = None;
        }
        *lease = self.try_scheduler_lease().await?;
        Ok(lease.is_some())
    }

    /// Takes the scheduler lease if no other controller holds it.
    pub async fn try_scheduler_lease(&self) -> anyhow::Result<Option<SchedulerLease>> {
        if self.backend() == Backend::Sqlite {
            return Ok(Some(SchedulerLease { connection: None }));
        }
        let mut connection = self
            .pool()
            .acquire()
            .await
            .context("opening a connection for the scheduler lease")?
            .detach();
        let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(SCHEDULER_LOCK)
            .fetch_one(&mut connection)
            .await
            .context("taking the scheduler lease")?;
        if !taken {
            let _ = connection.close().await;
            return Ok(None);
        }
        tracing::info!("this controller holds the scheduler lease and drives the rollouts");
        Ok(Some(SchedulerLease {
            connection: Some(connection),
        }))
    }
}
