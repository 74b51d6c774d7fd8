//! Observation after a rollout's last batch (`0025_observations.sql`; docs/design/rollout-engine.md
//! "Observation"): one row per observed host, its state the JSON of `pw_rollout::Observation`.
//! Every write is one transaction with its audit record and, when the transition sends one, its
//! agent command; writes are guarded by the row's version (the scheduler and an operator may
//! race: the loser reads again).

use anyhow::Context;
use jiff::Timestamp;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::Store;
use crate::audit::{AuditEntry, append_many};
use crate::commands::NewCommand;

/// One stored observation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservationRow {
    pub rollout_id: String,
    pub host_id: String,
    pub group: String,
    /// JSON of `pw_rollout::Observation`.
    pub state: String,
    pub phase: String,
    pub is_final: bool,
    /// Unix seconds: when the scheduler must tick it.
    pub next_due: Option<i64>,
    /// The agent command it waits for.
    pub command_id: Option<String>,
    pub version: i64,
    pub updated_at: String,
}

/// A host entering observation.
#[derive(Debug, Clone, Copy)]
pub struct NewObservation<'a> {
    pub rollout_id: &'a str,
    pub host_id: &'a str,
    pub group: &'a str,
    pub state_json: &'a str,
    pub phase: &'a str,
    pub next_due: Option<i64>,
}

/// One transition of an observation.
#[derive(Debug, Clone)]
pub struct ObservationUpdate<'a> {
    pub state_json: &'a str,
    pub phase: &'a str,
    pub is_final: bool,
    pub next_due: Option<i64>,
    /// The agent command the transition sends (it then waits for its result; `None`: it
    /// waits for no command).
    pub command: Option<NewCommand<'a>>,
    pub actor: &'a str,
    /// `observation.round`, `observation.alert`, `observation.rollback`, …
    pub action: &'a str,
    pub details: serde_json::Value,
}

const COLUMNS: &str = "rollout_id, host_id, group_name, state, phase, final, next_due, \
                       command_id, version, updated_at";

fn row(row: &AnyRow) -> anyhow::Result<ObservationRow> {
    Ok(ObservationRow {
        rollout_id: row.try_get("rollout_id")?,
        host_id: row.try_get("host_id")?,
        group: row.try_get("group_name")?,
        state: row.try_get("state")?,
        phase: row.try_get("phase")?,
        is_final: row.try_get::<i64, _>("final")? == 1,
        next_due: row.try_get("next_due")?,
        command_id: row.try_get("command_id")?,
        version: row.try_get("version")?,
        updated_at: row.try_get("updated_at")?,
    })
}

impl Store {
    /// Starts observing hosts (a host already observed in that rollout is left as it is);
    /// returns how many started.
    pub async fn start_observations(
        &self,
        rows: &[NewObservation<'_>],
        now: Timestamp,
    ) -> anyhow::Result<usize> {
        let mut tx = self.begin_immediate().await?;
        let mut started = Vec::new();
        for new in rows {
            let inserted = sqlx::query(
                "INSERT INTO observations (rollout_id, host_id, group_name, state, phase, final,
                     next_due, command_id, version, updated_at)
                 VALUES ($1, $2, $3, $4, $5, 0, $6, NULL, 1, $7)
                 ON CONFLICT (rollout_id, host_id) DO NOTHING",
            )
            .bind(new.rollout_id)
            .bind(new.host_id)
            .bind(new.group)
            .bind(new.state_json)
            .bind(new.phase)
            .bind(new.next_due)
            .bind(now.to_string())
            .execute(&mut *tx)
            .await
            .with_context(|| {
                format!(
                    "starting the observation of host {} in rollout {}",
                    new.host_id, new.rollout_id
                )
            })?
            .rows_affected();
            if inserted == 1 {
                started.push(new);
            }
        }
        let subjects: Vec<String> = started
            .iter()
            .map(|n| format!("{}:{}", n.rollout_id, n.host_id))
            .collect();
        let entries = started.iter().zip(&subjects).map(|(new, subject)| AuditEntry {
            actor: "controller",
            action: "observation.started",
            subject,
            details: serde_json::json!({ "group": new.group, "state": serde_json::from_str::<serde_json::Value>(new.state_json).unwrap_or_default() }),
        });
        append_many(&mut tx, entries).await?;
        tx.commit().await.context("committing the observations")?;
        Ok(started.len())
    }

    /// Open observations the scheduler must look at: due by `now` (Unix seconds), or waiting
    /// for a command that has finished.
    pub async fn observations_due(&self, now: i64) -> anyhow::Result<Vec<ObservationRow>> {
        let sql = format!(
            "SELECT {} FROM observations AS o
             LEFT JOIN commands AS c ON c.id = o.command_id
             WHERE o.final = 0 AND (o.next_due <= $1
                 OR c.state IN ('succeeded', 'failed', 'refused'))
             ORDER BY o.rollout_id, o.host_id",
            prefixed("o")
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now)
            .fetch_all(self.pool())
            .await
            .context("reading the observations due")?;
        rows.iter().map(row).collect()
    }

    /// Every observation of a rollout, by host.
    pub async fn observations_of(&self, rollout_id: &str) -> anyhow::Result<Vec<ObservationRow>> {
        let sql =
            format!("SELECT {COLUMNS} FROM observations WHERE rollout_id = $1 ORDER BY host_id");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(rollout_id)
            .fetch_all(self.pool())
            .await
            .with_context(|| format!("reading the observations of rollout {rollout_id}"))?;
        rows.iter().map(row).collect()
    }

    /// One host's observation in a rollout.
    pub async fn observation(
        &self,
        rollout_id: &str,
        host_id: &str,
    ) -> anyhow::Result<Option<ObservationRow>> {
        let sql =
            format!("SELECT {COLUMNS} FROM observations WHERE rollout_id = $1 AND host_id = $2");
        let found = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(rollout_id)
            .bind(host_id)
            .fetch_optional(self.pool())
            .await
            .with_context(|| format!("reading the observation of {host_id} in {rollout_id}"))?;
        found.as_ref().map(row).transpose()
    }

    /// Writes one transition if the row is still at `version`, with its command and audit
    /// record; `false` when another writer came first (nothing written).
    pub async fn update_observation(
        &self,
        rollout_id: &str,
        host_id: &str,
        version: i64,
        update: &ObservationUpdate<'_>,
        now: Timestamp,
    ) -> anyhow::Result<bool> {
        let what = || format!("updating the observation of {host_id} in {rollout_id}");
        let mut tx = self.begin_immediate().await?;
        let command_id = update.command.map(|c| c.id);
        let written = sqlx::query(
            "UPDATE observations SET state = $1, phase = $2, final = $3, next_due = $4,
                 command_id = $5, version = version + 1, updated_at = $6
             WHERE rollout_id = $7 AND host_id = $8 AND version = $9",
        )
        .bind(update.state_json)
        .bind(update.phase)
        .bind(i64::from(update.is_final))
        .bind(update.next_due)
        .bind(command_id)
        .bind(now.to_string())
        .bind(rollout_id)
        .bind(host_id)
        .bind(version)
        .execute(&mut *tx)
        .await
        .with_context(what)?
        .rows_affected();
        if written != 1 {
            return Ok(false);
        }
        let subject = format!("{rollout_id}:{host_id}");
        let mut entries = vec![AuditEntry {
            actor: update.actor,
            action: update.action,
            subject: &subject,
            details: update.details.clone(),
        }];
        let payload: serde_json::Value;
        if let Some(command) = &update.command {
            sqlx::query(
                "INSERT INTO commands (id, host_id, kind, payload, state, created_at)
                 VALUES ($1, $2, $3, $4, 'queued', $5)",
            )
            .bind(command.id)
            .bind(command.host_id)
            .bind(command.kind)
            .bind(command.payload_json)
            .bind(now.to_string())
            .execute(&mut *tx)
            .await
            .with_context(|| format!("queuing command {}", command.id))?;
            crate::wakeups::announce_in(&mut tx, self.backend, &[command.host_id]).await?;
            payload = serde_json::from_str(command.payload_json)
                .with_context(|| format!("the payload of command {} is not JSON", command.id))?;
            entries.push(AuditEntry {
                actor: update.actor,
                action: "command.created",
                subject: command.id,
                details: serde_json::json!({ "host_id": command.host_id, "command": payload }),
            });
        }
        append_many(&mut tx, entries).await?;
        tx.commit().await.with_context(what)?;
        Ok(true)
    }
}

fn prefixed(alias: &str) -> String {
    COLUMNS
        .split(", ")
        .map(|c| format!("{alias}.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}
