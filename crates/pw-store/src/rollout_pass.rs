//! What one scheduler pass reads of a rollout's hosts, in two queries whatever the rollout's
//! size (issue 15: per-batch overhead at 9,000 hosts): every host's lock version with its last
//! command's state (so finished results are found without a query per host), then the state
//! JSON of only the hosts whose version the scheduler has not parsed yet (`row_version` grows
//! with every write of a host's state, so an unchanged version is an unchanged state).

use std::collections::HashMap;

use anyhow::Context;
use sqlx::Row;

use crate::{CommandState, Store};

/// One host of a rollout as a pass sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct PassHostRow {
    pub host_id: String,
    pub row_version: i64,
    pub command_id: Option<String>,
    /// The host's last command when it has finished (`None`: none, or still open).
    pub finished: Option<FinishedCommand>,
    /// The state JSON, read only for hosts not known at this version.
    pub state: Option<String>,
}

/// A finished command's outcome, as the scheduler maps it to an event.
#[derive(Debug, Clone, PartialEq)]
pub struct FinishedCommand {
    pub kind: String,
    pub state: CommandState,
    pub result_message: Option<String>,
}

/// Host ids per `IN (…)` list.
const IDS_PER_STATEMENT: usize = 128;

impl Store {
    /// The rollout's hosts in plan order with their last command's outcome; the state JSON of
    /// each host whose version is not `known[host]`.
    pub async fn rollout_pass_hosts(
        &self,
        id: &str,
        known: &HashMap<String, i64>,
    ) -> anyhow::Result<Vec<PassHostRow>> {
        let rows = sqlx::query(
            "SELECT r.host_id, r.row_version, r.command_id, c.kind AS command_kind,
                    c.state AS command_state, c.result_message
             FROM rollout_hosts r LEFT JOIN commands c ON c.id = r.command_id
             WHERE r.rollout_id = $1 ORDER BY r.position",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await
        .with_context(|| format!("reading the hosts of rollout {id}"))?;
        let mut hosts = Vec::with_capacity(rows.len());
        for row in &rows {
            let finished = finished_command(row)?;
            hosts.push(PassHostRow {
                host_id: row.try_get("host_id")?,
                row_version: row.try_get("row_version")?,
                command_id: row.try_get("command_id")?,
                finished,
                state: None,
            });
        }
        let stale: Vec<usize> = (0..hosts.len())
            .filter(|&i| known.get(&hosts[i].host_id) != Some(&hosts[i].row_version))
            .collect();
        if stale.is_empty() {
            return Ok(hosts);
        }
        let states = if stale.len() * 2 > hosts.len() {
            self.host_states(id, None).await?
        } else {
            let mut states = HashMap::new();
            for chunk in stale.chunks(IDS_PER_STATEMENT) {
                let ids: Vec<&str> = chunk.iter().map(|&i| hosts[i].host_id.as_str()).collect();
                states.extend(self.host_states(id, Some(&ids)).await?);
            }
            states
        };
        for i in stale {
            let host = &mut hosts[i];
            // Written between the two reads: the newer state under the version read first, so
            // a write from it fails its lock and the next pass reads the host again.
            if let Some((_, state)) = states.get(&host.host_id) {
                host.state = Some(state.clone());
            }
        }
        Ok(hosts)
    }

    /// Those of these commands that have finished, with their outcome, by id (open and unknown
    /// ones are absent): the results a pass takes, one statement per 128 commands in flight.
    pub async fn finished_commands(
        &self,
        command_ids: &[&str],
    ) -> anyhow::Result<HashMap<String, FinishedCommand>> {
        let mut finished = HashMap::new();
        for chunk in command_ids.chunks(IDS_PER_STATEMENT) {
            let sql = format!(
                "SELECT id, kind AS command_kind, state AS command_state, result_message
                 FROM commands WHERE id IN ({}) AND state NOT IN ('queued', 'delivered')",
                crate::db::placeholders(1, chunk.len())
            );
            // Only numbered placeholders are formatted into the text.
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                query = query.bind(*id);
            }
            let rows = (query.fetch_all(self.pool()).await).context("reading finished commands")?;
            for row in &rows {
                if let Some(command) = finished_command(row)? {
                    finished.insert(row.try_get("id")?, command);
                }
            }
        }
        Ok(finished)
    }

    /// The change reports agents sent with these commands' results, by command id (commands
    /// without one are absent): a pass's finished results in one statement per 128, not one
    /// each.
    pub async fn change_reports(
        &self,
        command_ids: &[&str],
    ) -> anyhow::Result<HashMap<String, String>> {
        let mut reports = HashMap::new();
        for chunk in command_ids.chunks(IDS_PER_STATEMENT) {
            let sql = format!(
                "SELECT command_id, report FROM change_reports WHERE command_id IN ({})",
                crate::db::placeholders(1, chunk.len())
            );
            // Only numbered placeholders are formatted into the text.
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                query = query.bind(*id);
            }
            let rows = (query.fetch_all(self.pool()).await).context("reading change reports")?;
            for row in rows {
                reports.insert(row.try_get("command_id")?, row.try_get("report")?);
            }
        }
        Ok(reports)
    }

    /// `host → (row_version, state JSON)` of the rollout's hosts (`only`: of these).
    async fn host_states(
        &self,
        id: &str,
        only: Option<&[&str]>,
    ) -> anyhow::Result<HashMap<String, (i64, String)>> {
        let sql = match only {
            None => "SELECT host_id, row_version, state FROM rollout_hosts WHERE rollout_id = $1"
                .to_owned(),
            Some(ids) => format!(
                "SELECT host_id, row_version, state FROM rollout_hosts
                 WHERE rollout_id = $1 AND host_id IN ({})",
                crate::db::placeholders(2, ids.len())
            ),
        };
        // Only numbered placeholders are formatted into the text.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id);
        for host in only.unwrap_or_default() {
            query = query.bind(*host);
        }
        let rows = query
            .fetch_all(self.pool())
            .await
            .with_context(|| format!("reading the host states of rollout {id}"))?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("host_id")?,
                    (row.try_get("row_version")?, row.try_get("state")?),
                ))
            })
            .collect()
    }
}

/// A row's command (`command_kind`, `command_state`, `result_message`) when it has finished.
fn finished_command(row: &sqlx::any::AnyRow) -> anyhow::Result<Option<FinishedCommand>> {
    let Some(state) = row.try_get::<Option<String>, _>("command_state")? else {
        return Ok(None);
    };
    let state = CommandState::parse(&state)?;
    if state.is_open() {
        return Ok(None);
    }
    Ok(Some(FinishedCommand {
        kind: row.try_get("command_kind")?,
        state,
        result_message: row.try_get("result_message")?,
    }))
}
