//! Rollouts: plans, per-host durable states (optimistic lock on `row_version`), versions blocked
//! fleet-wide and agents' change reports. A host's transition, the agent command it emits and
//! its audit record are written in one IMMEDIATE transaction, before anything is sent: the
//! command is only delivered after the commit, and its deterministic id makes a repeat a no-op.
//! JSON columns hold pw-rollout / pw-protocol documents; this crate does not interpret them.

use anyhow::Context;
use jiff::Timestamp;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::Store;
use crate::audit::{AuditEntry, append};
use crate::parse_time;

/// A rollout about to be created, with every host's initial state.
#[derive(Debug, Clone)]
pub struct NewRollout {
    pub id: String,
    pub plan_json: String,
    pub policy_json: String,
    pub checks_json: String,
    /// `pw_protocol::ProtectionStep` list.
    pub protection_steps_json: String,
    /// `(host id, initial state JSON, state name)` in plan order.
    pub hosts: Vec<(String, String, String)>,
    /// The stored change plan carried out, checked again inside the creating transaction.
    pub plan: Option<PlanLink>,
}

/// A rollout's change plan: its number and the version that was read (and approved).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanLink {
    pub id: i64,
    pub version: i64,
}

/// A rollout refused because some of its hosts are still in another active (running or
/// paused) rollout that has not finished them: two rollouts must never change one host at the
/// same time. Nothing was written. Reaches callers inside `anyhow::Error` (`downcast_ref`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostsBusy {
    /// `(host id, rollout id)` pairs.
    pub hosts: Vec<(String, String)>,
}

impl std::fmt::Display for HostsBusy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hosts: Vec<String> = self
            .hosts
            .iter()
            .map(|(host, rollout)| format!("{host} (in rollout {rollout})"))
            .collect();
        write!(
            f,
            "host(s) still in another active rollout: {}; wait for it to finish or stop it",
            hosts.join(", ")
        )
    }
}

impl std::error::Error for HostsBusy {}

/// A stored rollout.
#[derive(Debug, Clone, PartialEq)]
pub struct RolloutRow {
    pub id: String,
    pub created_at: String,
    pub created_by: String,
    pub status: String,
    pub plan: String,
    pub policy: String,
    pub checks: String,
    pub detail: String,
    pub updated_at: String,
    pub protection_steps: String,
    /// `pw_rollout::RolloutControl` JSON.
    pub control: String,
    /// The stored change plan this rollout carries out.
    pub change_plan: Option<PlanLink>,
    /// The sum of its hosts' lock versions (`row_version`): a host's version only grows (every
    /// write of its state adds one) and no host leaves a rollout, so an equal sum means no
    /// host's state was written since it was read — by this scheduler, an operator or another
    /// replica (pw-controller's `scheduler_load.rs`; migration 0049).
    pub host_versions: i64,
}

/// One host of a rollout.
#[derive(Debug, Clone, PartialEq)]
pub struct RolloutHostRow {
    pub host_id: String,
    pub hostname: String,
    pub state: String,
    pub state_name: String,
    pub row_version: i64,
    pub command_id: Option<String>,
    pub updated_at: String,
}

/// A version blocked fleet-wide.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockedRow {
    pub package: String,
    pub version: String,
    pub reason: String,
    pub rollout_id: String,
    pub host_id: String,
    pub blocked_at: String,
}

/// An agent command emitted by a transition.
#[derive(Debug, Clone)]
pub struct TransitionCommand {
    pub id: String,
    pub kind: String,
    pub payload_json: String,
}

/// One host's transition, to write atomically.
#[derive(Debug, Clone)]
pub struct HostTransition<'a> {
    pub rollout_id: &'a str,
    pub host_id: &'a str,
    /// The `row_version` the transition was computed from.
    pub expected_version: i64,
    pub state_json: &'a str,
    pub state_name: &'a str,
    /// The event's name and anything worth keeping, for the audit record.
    pub event: serde_json::Value,
    /// The command the new state waits for (`None` keeps the previous one).
    pub command: Option<TransitionCommand>,
    pub blocks: Vec<BlockedRow>,
    /// Who caused it, for the audit record: `controller` or `agent:<host id>`.
    pub actor: &'a str,
    /// The host's finished change, when the transition ends it (`change_results`).
    pub result: Option<pw_planner::staging::HostChangeResult>,
}

impl Store {
    /// Creates a rollout and its hosts, audited as `rollout.created`. A rollout of a stored plan
    /// is refused ([`crate::PlanRefusal`], nothing written) unless the plan is still approved or
    /// scheduled at the version read and no other rollout of it is running or paused; the plan's
    /// history and the audit chain record `rolled_out` in the same transaction. A rollout naming a
    /// host that another running or paused rollout has not finished is refused ([`HostsBusy`]).
    pub async fn create_rollout(&self, rollout: &NewRollout, actor: &str) -> anyhow::Result<()> {
        let at = Timestamp::now();
        let now = at.to_string();
        let mut tx = self.begin_immediate().await?;
        if let Some(link) = rollout.plan {
            crate::plans::record_rollout(&mut tx, link, actor, &rollout.id, at).await?;
        }
        let mut busy = Vec::new();
        for (host, _, _) in &rollout.hosts {
            let row = sqlx::query(
                "SELECT rh.rollout_id FROM rollout_hosts rh JOIN rollouts r ON r.id = rh.rollout_id
                 WHERE rh.host_id = $1 AND r.status IN ('running', 'paused')
                   AND rh.state_name NOT IN ('done', 'rolled_back', 'failed')
                 LIMIT 1",
            )
            .bind(host)
            .fetch_optional(&mut *tx)
            .await
            .context("checking hosts of active rollouts")?;
            if let Some(row) = row {
                busy.push((host.clone(), row.try_get::<String, _>("rollout_id")?));
            }
        }
        if !busy.is_empty() {
            return Err(HostsBusy { hosts: busy }.into());
        }
        sqlx::query(
            "INSERT INTO rollouts (id, created_at, created_by, status, plan, policy, checks,
                                   protection_steps, updated_at, plan_id, plan_version,
                                   host_versions)
             VALUES ($1, $2, $3, 'running', $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&rollout.id)
        .bind(&now)
        .bind(actor)
        .bind(&rollout.plan_json)
        .bind(&rollout.policy_json)
        .bind(&rollout.checks_json)
        .bind(&rollout.protection_steps_json)
        .bind(&now)
        .bind(rollout.plan.map(|p| p.id))
        .bind(rollout.plan.map(|p| p.version))
        // Every host starts at version 1.
        .bind(i64::try_from(rollout.hosts.len())?)
        .execute(&mut *tx)
        .await
        .with_context(|| format!("creating rollout {}", rollout.id))?;
        for (position, (host, state, name)) in rollout.hosts.iter().enumerate() {
            sqlx::query(
                "INSERT INTO rollout_hosts (rollout_id, host_id, position, state, state_name, row_version, updated_at)
                 VALUES ($1, $2, $3, $4, $5, 1, $6)",
            )
            .bind(&rollout.id)
            .bind(host)
            .bind(position as i64)
            .bind(state)
            .bind(name)
            .bind(&now)
            .execute(&mut *tx)
            .await
            .with_context(|| format!("adding host {host} to rollout {}", rollout.id))?;
        }
        let plan: serde_json::Value = serde_json::from_str(&rollout.plan_json)?;
        let entry = AuditEntry {
            actor,
            action: "rollout.created",
            subject: &rollout.id,
            details: serde_json::json!({
                "plan": plan,
                "change_plan": rollout.plan.map(|p| serde_json::json!({"id": p.id, "version": p.version})),
            }),
        };
        append(&mut tx, &entry).await?;
        tx.commit().await.context("committing the rollout")
    }

    /// The newest rollout carrying out stored plan `plan_id`, if any.
    pub async fn rollout_of_plan(&self, plan_id: i64) -> anyhow::Result<Option<String>> {
        sqlx::query_scalar(
            "SELECT id FROM rollouts WHERE plan_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1",
        )
        .bind(plan_id)
        .fetch_optional(self.pool())
        .await
        .with_context(|| format!("reading the rollout of plan {plan_id}"))
    }

    /// Every rollout, newest first.
    pub async fn rollouts(&self) -> anyhow::Result<Vec<RolloutRow>> {
        let rows = sqlx::query("SELECT * FROM rollouts ORDER BY created_at DESC, id DESC")
            .fetch_all(self.pool())
            .await
            .context("reading rollouts")?;
        rows.iter().map(rollout_row).collect()
    }

    /// Rollouts the scheduler still drives (`running` or `paused`), each without its plan
    /// (`plan` empty): a plan never changes once stored and the scheduler keeps it parsed, and
    /// at 10,000 hosts reading its ~1 MB each pass was ~5 ms of it ([`Store::rollout_plan`]
    /// reads one).
    pub async fn active_rollouts_without_plans(&self) -> anyhow::Result<Vec<RolloutRow>> {
        let rows = sqlx::query(
            "SELECT id, created_at, created_by, status, '' AS plan, policy, checks, detail,
                    updated_at, protection_steps, control, host_versions, plan_id, plan_version
             FROM rollouts WHERE status IN ('running', 'paused') ORDER BY created_at, id",
        )
        .fetch_all(self.pool())
        .await
        .context("reading active rollouts")?;
        rows.iter().map(rollout_row).collect()
    }

    /// Rollout `id`'s plan as stored (`pw_rollout::RolloutPlan` JSON); `None` if there is no
    /// such rollout.
    pub async fn rollout_plan(&self, id: &str) -> anyhow::Result<Option<String>> {
        sqlx::query_scalar("SELECT plan FROM rollouts WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .with_context(|| format!("reading the plan of rollout {id}"))
    }

    pub async fn rollout(&self, id: &str) -> anyhow::Result<Option<RolloutRow>> {
        let row = sqlx::query("SELECT * FROM rollouts WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .with_context(|| format!("reading rollout {id}"))?;
        row.as_ref().map(rollout_row).transpose()
    }

    /// A rollout's hosts in plan order, with their host names.
    pub async fn rollout_hosts(&self, id: &str) -> anyhow::Result<Vec<RolloutHostRow>> {
        let rows = sqlx::query(
            "SELECT r.*, h.hostname FROM rollout_hosts r JOIN hosts h ON h.id = r.host_id
             WHERE r.rollout_id = $1 ORDER BY r.position",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await
        .with_context(|| format!("reading the hosts of rollout {id}"))?;
        rows.iter()
            .map(|row| {
                Ok(RolloutHostRow {
                    host_id: row.try_get("host_id")?,
                    hostname: row.try_get("hostname")?,
                    state: row.try_get("state")?,
                    state_name: row.try_get("state_name")?,
                    row_version: row.try_get("row_version")?,
                    command_id: row.try_get("command_id")?,
                    updated_at: row.try_get("updated_at")?,
                })
            })
            .collect()
    }

    /// The latest rollout state of every host that ended `failed` in some rollout, as
    /// `(host_id, state JSON)`, only where that failure is the host's latest rollout state (a
    /// later rollout of the host, a retry included, supersedes it). The health gate reads it.
    pub async fn hosts_failed_last(&self) -> anyhow::Result<Vec<(String, String)>> {
        let rows = sqlx::query(
            "SELECT host_id, state_name, state, updated_at FROM rollout_hosts
             WHERE host_id IN (SELECT host_id FROM rollout_hosts WHERE state_name = 'failed')",
        )
        .fetch_all(self.pool())
        .await
        .context("reading the hosts whose rollout failed")?;
        let mut latest: std::collections::BTreeMap<String, (Timestamp, String, String)> =
            std::collections::BTreeMap::new();
        for row in &rows {
            let host: String = row.try_get("host_id")?;
            let at = parse_time(&row.try_get::<String, _>("updated_at")?)?;
            if latest.get(&host).is_none_or(|(seen, ..)| at > *seen) {
                latest.insert(
                    host,
                    (at, row.try_get("state_name")?, row.try_get("state")?),
                );
            }
        }
        Ok(latest
            .into_iter()
            .filter(|(_, (_, name, _))| name == "failed")
            .map(|(host, (_, _, state))| (host, state))
            .collect())
    }

    /// Sets a rollout's status and decision summary; a status change is audited. The
    /// scheduler's write: ahead of the line of ordinary writers (`write_gate.rs`).
    pub async fn set_rollout_status(
        &self,
        id: &str,
        status: &str,
        detail_json: &str,
    ) -> anyhow::Result<()> {
        let mut tx = self.begin_immediate_ahead().await?;
        let current: Option<String> = sqlx::query("SELECT status FROM rollouts WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .map(|row| row.try_get("status"))
            .transpose()?;
        sqlx::query("UPDATE rollouts SET status = $1, detail = $2, updated_at = $3 WHERE id = $4")
            .bind(status)
            .bind(detail_json)
            .bind(Timestamp::now().to_string())
            .bind(id)
            .execute(&mut *tx)
            .await
            .with_context(|| format!("updating rollout {id}"))?;
        if current.as_deref() != Some(status) {
            let detail: serde_json::Value = serde_json::from_str(detail_json)?;
            let entry = AuditEntry {
                actor: "controller",
                action: "rollout.status",
                subject: id,
                details: serde_json::json!({ "from": current, "to": status, "detail": detail }),
            };
            append(&mut tx, &entry).await?;
        }
        tx.commit().await.context("committing the rollout status")
    }

    /// Every version blocked fleet-wide.
    pub async fn blocked_versions(&self) -> anyhow::Result<Vec<BlockedRow>> {
        let rows = sqlx::query("SELECT * FROM blocked_versions ORDER BY blocked_at, package")
            .fetch_all(self.pool())
            .await
            .context("reading blocked versions")?;
        rows.iter().map(blocked_row).collect()
    }

    /// Keeps the change report an agent sent with a command result (first one wins).
    pub async fn record_change_report(
        &self,
        command_id: &str,
        report_json: &str,
    ) -> anyhow::Result<()> {
        let _turn = self.single_write_turn().await;
        let mut conn = self.write_pool().acquire().await?;
        insert_change_report(&mut conn, command_id, report_json).await
    }

    pub async fn change_report(&self, command_id: &str) -> anyhow::Result<Option<String>> {
        let row = sqlx::query("SELECT report FROM change_reports WHERE command_id = $1")
            .bind(command_id)
            .fetch_optional(self.pool())
            .await
            .with_context(|| format!("reading the change report of {command_id}"))?;
        Ok(row.map(|row| row.try_get("report")).transpose()?)
    }
}

pub(crate) fn blocked_row(row: &AnyRow) -> anyhow::Result<BlockedRow> {
    Ok(BlockedRow {
        package: row.try_get("package")?,
        version: row.try_get("version")?,
        reason: row.try_get("reason")?,
        rollout_id: row.try_get("rollout_id")?,
        host_id: row.try_get("host_id")?,
        blocked_at: row.try_get("blocked_at")?,
    })
}

pub(crate) fn rollout_row(row: &AnyRow) -> anyhow::Result<RolloutRow> {
    let plan_version = row.try_get::<Option<i64>, _>("plan_version")?.unwrap_or(0);
    Ok(RolloutRow {
        id: row.try_get("id")?,
        created_at: row.try_get("created_at")?,
        created_by: row.try_get("created_by")?,
        status: row.try_get("status")?,
        plan: row.try_get("plan")?,
        policy: row.try_get("policy")?,
        checks: row.try_get("checks")?,
        detail: row.try_get("detail")?,
        updated_at: row.try_get("updated_at")?,
        protection_steps: row.try_get("protection_steps")?,
        control: row.try_get("control")?,
        host_versions: row.try_get("host_versions")?,
        change_plan: row
            .try_get::<Option<i64>, _>("plan_id")?
            .map(|id| PlanLink {
                id,
                version: plan_version,
            }),
    })
}

/// Keeps the report an agent sent with a command's result under the command's id (the first
/// one kept: a second changes nothing).
pub(crate) async fn insert_change_report(
    conn: &mut sqlx::AnyConnection,
    command_id: &str,
    report_json: &str,
) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO change_reports (command_id, report, received_at) VALUES ($1, $2, $3)
         ON CONFLICT(command_id) DO NOTHING",
    )
    .bind(command_id)
    .bind(report_json)
    .bind(Timestamp::now().to_string())
    .execute(&mut *conn)
    .await
    .with_context(|| format!("recording the change report of {command_id}"))?;
    Ok(())
}
