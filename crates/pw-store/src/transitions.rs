//! Rollout hosts' transitions written: each host's new state under its optimistic lock
//! (`row_version`), with the agent command it emits, the versions it blocks, its finished
//! change and its audit record, in one IMMEDIATE transaction before anything is delivered.
//!
//! A batch of transitions (a scheduler pass's results or claims) is written with a few
//! multi-row statements, not one statement per host: each statement is a round trip to the
//! database (on SQLite, two thread switches to sqlx's worker), and a batch of 1,000 claims was
//! 1,000 `UPDATE`s in the writers' line (issue 15: per-batch overhead at 10,000 hosts). The
//! hosts' rows are updated [`TRANSITIONS_PER_UPDATE`] at a time by an `UPDATE … FROM (VALUES
//! …) RETURNING`, which names the rows whose version still matched: only those transitions'
//! commands, blocks, results and audit records are written.

use std::collections::HashSet;

use anyhow::Context;
use jiff::Timestamp;
use sqlx::Row;

use crate::Store;
use crate::audit::AuditEntry;
use crate::commands::{Duplicates, NewCommand, insert_commands};
use crate::rollouts::HostTransition;

/// Host rows per `UPDATE` (6 parameters each).
const TRANSITIONS_PER_UPDATE: usize = 128;

impl Store {
    /// Writes one host transition with its command, blocks and audit record. Returns `false`
    /// (and writes nothing) when the row changed since `expected_version` was read.
    pub async fn transition_host(&self, t: &HostTransition<'_>) -> anyhow::Result<bool> {
        Ok(self.transition_hosts(std::slice::from_ref(t)).await?[0])
    }

    /// Writes several host transitions in one transaction, in order, each as
    /// [`Store::transition_host`] would: per transition `false` (and nothing written for it)
    /// when its row changed since its `expected_version` was read. An error writes nothing.
    pub async fn transition_hosts(&self, all: &[HostTransition<'_>]) -> anyhow::Result<Vec<bool>> {
        let now = Timestamp::now().to_string();
        let mut tx = self.begin_immediate_ahead().await?;
        let mut written = Vec::with_capacity(all.len());
        for chunk in update_chunks(all) {
            written.extend(update_rows(&mut tx, chunk, &now).await?);
        }
        let done: Vec<&HostTransition<'_>> = (all.iter().zip(&written))
            .filter(|(_, written)| **written)
            .map(|(t, _)| t)
            .collect();
        count_versions(&mut tx, &done).await?;
        let results: Vec<_> = done.iter().filter_map(|t| t.result.as_ref()).collect();
        crate::change_results::record(&mut tx, &results).await?;
        for t in &done {
            block_versions(&mut tx, t).await?;
        }
        // The commands of the written transitions, several per statement.
        let commands: Vec<NewCommand<'_>> = (done.iter())
            .filter_map(|t| {
                t.command.as_ref().map(|c| NewCommand {
                    id: &c.id,
                    host_id: t.host_id,
                    kind: &c.kind,
                    payload_json: &c.payload_json,
                })
            })
            .collect();
        insert_commands(&mut tx, &commands, &now, Duplicates::Kept).await?;
        // The audit records of the written transitions, in order (the chain's head read once,
        // many records per statement: `audit::append_many`).
        let subjects: Vec<String> = (done.iter())
            .map(|t| format!("{}/{}", t.rollout_id, t.host_id))
            .collect();
        let entries = done.iter().zip(&subjects).map(|(t, subject)| AuditEntry {
            actor: t.actor,
            action: "rollout.host.transition",
            subject,
            details: audit_details(t),
        });
        crate::audit::append_many(&mut tx, entries).await?;
        // Agents long-polling another replica hear of their new commands at commit.
        let queued: Vec<&str> = (done.iter())
            .filter(|t| t.command.is_some())
            .map(|t| t.host_id)
            .collect();
        crate::wakeups::announce_in(&mut tx, self.backend, &queued).await?;
        tx.commit()
            .await
            .context("committing the host transitions")?;
        Ok(written)
    }
}

/// A transition's row: (rollout, host).
fn key<'a>(t: &HostTransition<'a>) -> (&'a str, &'a str) {
    (t.rollout_id, t.host_id)
}

/// `all` cut into runs of at most [`TRANSITIONS_PER_UPDATE`] in which no row appears twice: a
/// row's second transition in one statement would be applied in no defined order, while in a
/// later statement it finds the version the first one wrote (and is refused, as one by one).
fn update_chunks<'s, 'a>(all: &'s [HostTransition<'a>]) -> Vec<&'s [HostTransition<'a>]> {
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut seen = HashSet::new();
    for (at, t) in all.iter().enumerate() {
        if at - start == TRANSITIONS_PER_UPDATE || !seen.insert(key(t)) {
            chunks.push(&all[start..at]);
            start = at;
            seen.clear();
            seen.insert(key(t));
        }
    }
    if start < all.len() {
        chunks.push(&all[start..]);
    }
    chunks
}

/// The rows of `chunk` whose version is still the one each transition was computed from,
/// updated to their new states; per transition, whether its row was.
async fn update_rows<'a>(
    tx: &mut sqlx::AnyConnection,
    chunk: &[HostTransition<'a>],
    now: &str,
) -> anyhow::Result<Vec<bool>> {
    // The VALUES columns are typed by casts: PostgreSQL would otherwise take a NULL command as
    // text only by luck of inference (see `db::value_rows_of`).
    let sql = format!(
        "UPDATE rollout_hosts SET state = v.column4, state_name = v.column5,
                row_version = rollout_hosts.row_version + 1,
                command_id = COALESCE(v.column6, rollout_hosts.command_id), updated_at = ${}
         FROM (VALUES {}) AS v
         WHERE rollout_hosts.rollout_id = v.column1 AND rollout_hosts.host_id = v.column2
           AND rollout_hosts.row_version = v.column3
         RETURNING rollout_hosts.rollout_id, rollout_hosts.host_id",
        chunk.len() * 6 + 1,
        crate::db::value_rows_of(
            chunk.len(),
            "(CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS BIGINT), CAST(? AS TEXT), \
             CAST(? AS TEXT), CAST(? AS TEXT))"
        )
    );
    let mut update = sqlx::query(sqlx::AssertSqlSafe(sql));
    for t in chunk {
        update = update
            .bind(t.rollout_id)
            .bind(t.host_id)
            .bind(t.expected_version)
            .bind(t.state_json)
            .bind(t.state_name)
            .bind(t.command.as_ref().map(|c| c.id.as_str()));
    }
    let rows = update
        .bind(now)
        .fetch_all(&mut *tx)
        .await
        .with_context(|| {
            format!(
                "updating hosts {} to {} of rollout {}",
                chunk[0].host_id,
                chunk[chunk.len() - 1].host_id,
                chunk[0].rollout_id
            )
        })?;
    let updated: HashSet<(String, String)> = (rows.iter())
        .map(|row| Ok((row.try_get("rollout_id")?, row.try_get("host_id")?)))
        .collect::<anyhow::Result<_>>()?;
    let was_updated =
        |t: &HostTransition<'_>| updated.contains(&(t.rollout_id.to_owned(), t.host_id.to_owned()));
    Ok(chunk.iter().map(was_updated).collect())
}

/// Each rollout's sum of its hosts' versions (`rollouts.host_versions`, migration 0049) moved
/// by the rows written: each is one version more. The scheduler compares it with the versions
/// it kept (pw-controller's `scheduler_load.rs`).
async fn count_versions(
    tx: &mut sqlx::AnyConnection,
    done: &[&HostTransition<'_>],
) -> anyhow::Result<()> {
    let mut per_rollout: std::collections::BTreeMap<&str, i64> = Default::default();
    for t in done {
        *per_rollout.entry(t.rollout_id).or_default() += 1;
    }
    for (rollout, written) in per_rollout {
        sqlx::query("UPDATE rollouts SET host_versions = host_versions + $1 WHERE id = $2")
            .bind(written)
            .bind(rollout)
            .execute(&mut *tx)
            .await
            .with_context(|| format!("counting the host versions of rollout {rollout}"))?;
    }
    Ok(())
}

/// The versions a written transition blocks fleet-wide (the first block of a version wins).
async fn block_versions(
    tx: &mut sqlx::AnyConnection,
    t: &HostTransition<'_>,
) -> anyhow::Result<()> {
    for block in &t.blocks {
        sqlx::query(
            "INSERT INTO blocked_versions (package, version, reason, rollout_id, host_id, blocked_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT(package, version) DO NOTHING",
        )
        .bind(&block.package)
        .bind(&block.version)
        .bind(&block.reason)
        .bind(&block.rollout_id)
        .bind(&block.host_id)
        .bind(&block.blocked_at)
        .execute(&mut *tx)
        .await
        .context("blocking a version")?;
    }
    Ok(())
}

/// A written transition's audit details.
fn audit_details(t: &HostTransition<'_>) -> serde_json::Value {
    serde_json::json!({
        "to": t.state_name,
        "event": t.event,
        "command": t.command.as_ref().map(|c| &c.id),
        "blocked": t.blocks.iter().map(|b| format!("{}={}", b.package, b.version)).collect::<Vec<_>>(),
    })
}
