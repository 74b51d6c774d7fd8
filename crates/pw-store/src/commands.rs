//! Commands for agents: queued by an operator (or later the rollout engine), delivered by
//! long-poll, finished once. The id is the idempotency key end to end.

use anyhow::Context;
use jiff::Timestamp;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::Store;
use crate::audit::{AuditEntry, append, append_many};
use crate::controller::{CommandRow, CommandState, FinishOutcome};

/// A command to queue ([`Store::create_commands`]).
#[derive(Debug, Clone, Copy)]
pub struct NewCommand<'a> {
    pub id: &'a str,
    pub host_id: &'a str,
    pub kind: &'a str,
    pub payload_json: &'a str,
}

/// The most commands one INSERT statement carries (6 parameters each, bound by position on
/// SQLite: `db::value_rows_in`).
const COMMANDS_PER_INSERT: usize = 500;

/// The most commands one UPDATE marks delivered (numbered placeholders).
const DELIVERED_PER_STATEMENT: usize = 128;

/// What [`insert_commands`] does with a command whose id is stored already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Duplicates {
    /// An error: nothing of the transaction is written.
    Refused,
    /// Left as stored (the scheduler's deterministic ids: a restarted controller repeats
    /// nothing).
    Kept,
}

/// Inserts `commands`, queued at `now`, several per statement.
pub(crate) async fn insert_commands(
    tx: &mut sqlx::AnyConnection,
    commands: &[NewCommand<'_>],
    now: &str,
    duplicates: Duplicates,
) -> anyhow::Result<()> {
    let on_conflict = match duplicates {
        Duplicates::Refused => "",
        Duplicates::Kept => " ON CONFLICT(id) DO NOTHING",
    };
    for chunk in commands.chunks(COMMANDS_PER_INSERT) {
        let sql = format!(
            "INSERT INTO commands (id, host_id, kind, payload, state, created_at) VALUES {}{on_conflict}",
            crate::db::value_rows_in(tx, chunk.len(), 6)
        );
        let mut insert = sqlx::query(sqlx::AssertSqlSafe(sql));
        for command in chunk {
            insert = insert
                .bind(command.id)
                .bind(command.host_id)
                .bind(command.kind)
                .bind(command.payload_json)
                .bind("queued")
                .bind(now);
        }
        insert.execute(&mut *tx).await.with_context(|| {
            format!(
                "queuing commands {} to {}",
                chunk[0].id,
                chunk[chunk.len() - 1].id
            )
        })?;
    }
    Ok(())
}

impl Store {
    /// Queues a command for a host and audits it.
    pub async fn create_command(
        &self,
        id: &str,
        host_id: &str,
        kind: &str,
        payload_json: &str,
        actor: &str,
    ) -> anyhow::Result<()> {
        let command = NewCommand {
            id,
            host_id,
            kind,
            payload_json,
        };
        self.create_commands(&[command], actor).await
    }

    /// Queues several commands, each audited, in one transaction (a plan asking every host of
    /// a group for evidence): all or none.
    pub async fn create_commands(
        &self,
        commands: &[NewCommand<'_>],
        actor: &str,
    ) -> anyhow::Result<()> {
        let mut tx = self.begin_immediate().await?;
        let now = Timestamp::now().to_string();
        insert_commands(&mut tx, commands, &now, Duplicates::Refused).await?;
        let hosts: Vec<&str> = commands.iter().map(|c| c.host_id).collect();
        crate::wakeups::announce_in(&mut tx, self.backend, &hosts).await?;
        let mut entries = Vec::with_capacity(commands.len());
        for command in commands {
            let payload: serde_json::Value = serde_json::from_str(command.payload_json)
                .with_context(|| format!("the payload of command {} is not JSON", command.id))?;
            entries.push(AuditEntry {
                actor,
                action: "command.created",
                subject: command.id,
                details: serde_json::json!({ "host_id": command.host_id, "command": payload }),
            });
        }
        append_many(&mut tx, entries).await?;
        tx.commit().await.context("committing the commands")
    }

    /// Every unfinished (queued or delivered) command of `kind`, of any host, oldest first:
    /// (host id, command id, payload JSON).
    pub async fn open_commands_of_kind(
        &self,
        kind: &str,
    ) -> anyhow::Result<Vec<(String, String, String)>> {
        let rows = sqlx::query(
            "SELECT host_id, id, payload FROM commands
             WHERE kind = $1 AND state IN ('queued', 'delivered') ORDER BY created_at, id",
        )
        .bind(kind)
        .fetch_all(self.pool())
        .await
        .with_context(|| format!("reading open {kind} commands"))?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("host_id")?,
                    r.try_get("id")?,
                    r.try_get("payload")?,
                ))
            })
            .collect()
    }

    /// Commands of the host not finished yet, oldest first; marks queued ones delivered.
    /// Delivered but unfinished commands are handed out again (the agent dedups by id).
    pub async fn take_open_commands(&self, host_id: &str) -> anyhow::Result<Vec<CommandRow>> {
        let rows = self.open_commands(host_id).await?;
        let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        self.mark_delivered(&ids, Timestamp::now()).await?;
        Ok(rows)
    }

    /// Commands of the host not finished yet (queued or delivered), oldest first: what its
    /// long-poll hands out. Marking them delivered is [`Store::mark_delivered`]'s, which the
    /// controller does after answering (a command handed out twice is answered by the agent's
    /// journal), so that no answer waits for a write.
    pub async fn open_commands(&self, host_id: &str) -> anyhow::Result<Vec<CommandRow>> {
        let rows = sqlx::query(
            "SELECT * FROM commands WHERE host_id = $1 AND state IN ('queued', 'delivered')
             ORDER BY created_at, id",
        )
        .bind(host_id)
        .fetch_all(self.pool())
        .await
        .with_context(|| format!("reading open commands of host {host_id}"))?;
        rows.iter().map(command_row).collect()
    }

    /// Marks these commands delivered at `at`, those still queued (a finished or already
    /// delivered one keeps its state and time): any hosts' commands, several per statement, in
    /// one write.
    pub async fn mark_delivered(&self, ids: &[&str], at: Timestamp) -> anyhow::Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let at = at.to_string();
        let mut tx = self.begin_immediate().await?;
        for chunk in ids.chunks(DELIVERED_PER_STATEMENT) {
            let sql = format!(
                "UPDATE commands SET state = 'delivered', delivered_at = $1
                 WHERE state = 'queued' AND id IN ({})",
                crate::db::placeholders(2, chunk.len())
            );
            // Only numbered placeholders are formatted into the text.
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(&at);
            for id in chunk {
                query = query.bind(*id);
            }
            query
                .execute(&mut *tx)
                .await
                .context("marking commands delivered")?;
        }
        tx.commit().await.context("committing the deliveries")
    }

    /// Records the agent's result for a command of that host. A second result for a finished
    /// command changes nothing.
    pub async fn finish_command(
        &self,
        host_id: &str,
        id: &str,
        state: CommandState,
        message: &str,
        finished_at: Timestamp,
    ) -> anyhow::Result<FinishOutcome> {
        let result = (state, message, finished_at);
        self.finish_command_with_report(host_id, id, result, None)
            .await
    }

    /// [`Store::finish_command`] with the report the agent sent with the result (a change,
    /// checks or restart report), kept under the command's id in the same write: the
    /// scheduler finds a finished command's report with it. A report for a command that is
    /// not this host's is not kept; one for a command finished before is kept if it has none.
    pub async fn finish_command_with_report(
        &self,
        host_id: &str,
        id: &str,
        (state, message, finished_at): (CommandState, &str, Timestamp),
        report_json: Option<&str>,
    ) -> anyhow::Result<FinishOutcome> {
        let mut tx = self.begin_immediate().await?;
        let outcome = finish_in(&mut tx, host_id, id, state, message, finished_at).await?;
        let report = report_json.filter(|_| !matches!(outcome, FinishOutcome::NotFound));
        if let Some(report) = report {
            crate::rollouts::insert_change_report(&mut tx, id, report).await?;
        }
        if matches!(outcome, FinishOutcome::Recorded) || report.is_some() {
            tx.commit().await.context("committing the command result")?;
        }
        Ok(outcome)
    }

    /// One command, if it exists.
    pub async fn command(&self, id: &str) -> anyhow::Result<Option<CommandRow>> {
        let row = sqlx::query("SELECT * FROM commands WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .with_context(|| format!("reading command {id}"))?;
        row.as_ref().map(command_row).transpose()
    }
}

/// Records a command's result inside `tx` (not committed: the caller commits, with whatever else
/// belongs to the result). Nothing is written unless the outcome is `Recorded`.
pub(crate) async fn finish_in(
    tx: &mut sqlx::AnyConnection,
    host_id: &str,
    id: &str,
    state: CommandState,
    message: &str,
    finished_at: Timestamp,
) -> anyhow::Result<FinishOutcome> {
    let row = sqlx::query("SELECT state FROM commands WHERE id = $1 AND host_id = $2")
        .bind(id)
        .bind(host_id)
        .fetch_optional(&mut *tx)
        .await
        .with_context(|| format!("reading command {id}"))?;
    let Some(row) = row else {
        return Ok(FinishOutcome::NotFound);
    };
    let current = CommandState::parse(&row.try_get::<String, _>("state")?)
        .with_context(|| format!("command {id}"))?;
    if !current.is_open() {
        return Ok(FinishOutcome::AlreadyFinished { state: current });
    }
    anyhow::ensure!(
        !state.is_open(),
        "command {id}: a result must finish it, not leave it {}",
        state.as_str()
    );
    sqlx::query(
        "UPDATE commands SET state = $1, finished_at = $2, result_message = $3 WHERE id = $4",
    )
    .bind(state.as_str())
    .bind(finished_at.to_string())
    .bind(message)
    .bind(id)
    .execute(&mut *tx)
    .await
    .with_context(|| format!("recording the result of command {id}"))?;
    let actor = format!("agent:{host_id}");
    let details = serde_json::json!({ "state": state.as_str(), "message": message });
    let entry = AuditEntry {
        actor: &actor,
        action: "command.finished",
        subject: id,
        details,
    };
    append(tx, &entry).await?;
    Ok(FinishOutcome::Recorded)
}

fn command_row(row: &AnyRow) -> anyhow::Result<CommandRow> {
    let id: String = row.try_get("id")?;
    Ok(CommandRow {
        state: CommandState::parse(&row.try_get::<String, _>("state")?)
            .with_context(|| format!("command {id}"))?,
        host_id: row.try_get("host_id")?,
        kind: row.try_get("kind")?,
        payload: row.try_get("payload")?,
        created_at: row.try_get("created_at")?,
        finished_at: row.try_get("finished_at")?,
        result_message: row.try_get("result_message")?,
        id,
    })
}
