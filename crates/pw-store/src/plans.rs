//! Stored change plans and their approval workflow (DESIGN.md §4, §9.11, §9.13).
//!
//! A plan is saved as a `draft` with its JSON and Markdown; every later change goes through
//! [`Store::apply_plan_event`] (the pure `pw_planner::transition` decides) or
//! [`Store::revise_plan`] (new content, back to draft). Both run in one `BEGIN IMMEDIATE`
//! transaction guarded by the plan's `version` column: the caller names the version it read, and
//! a plan that moved on since is refused with [`PlanRefusal::Stale`] and nothing changes — so an
//! approval given on what a reviewer saw cannot land on a plan that was reopened or revised since.
//! Each change appends a `plan_events` row (the approval history) and an `audit` record
//! (`plan.<event>`, subject `plan:<id>`) in the same transaction.

use anyhow::Context;
use jiff::Timestamp;
use pw_planner::{ApprovalEvent, ApprovalGates, ApprovalState, Plan};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::Store;
use crate::audit::{AuditEntry, append};

mod refusal;
mod rollout_link;
pub use refusal::PlanRefusal;
use refusal::{refusal, stale};
pub(crate) use rollout_link::record_rollout;

/// A stored plan with everything needed to show it and act on it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPlan {
    /// The database id ("plan 7").
    pub id: i64,
    /// The plan's own id (`plan-20261123T0000Z`).
    pub name: String,
    pub author: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// The current approval state; `approval.name()` is the `state` column.
    pub approval: ApprovalState,
    /// Optimistic-concurrency version: pass it back to act on the plan.
    pub version: i64,
    pub environments: Vec<String>,
    pub production: bool,
    pub gates: ApprovalGates,
    /// The plan as built (`pw_planner::Plan` JSON; its `approval` is the state at build time).
    pub plan: serde_json::Value,
    pub markdown: String,
    /// What a plan built by the controller was built from (its request and the live versions),
    /// as JSON; `None` for plans saved from files.
    pub source: Option<String>,
}

/// One line of `plans list`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PlanListing {
    pub id: i64,
    pub name: String,
    pub author: String,
    pub state: String,
    pub version: i64,
    pub environments: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// One entry of a plan's history (saved, submitted, approved, declined, …).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PlanEvent {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub event: String,
    pub from_state: Option<String>,
    pub to_state: String,
    /// The plan's version after the event.
    pub version: i64,
    pub comment: Option<String>,
}

impl Store {
    /// Stores a freshly built plan as a `draft` (whatever its `approval` says) and returns it.
    pub async fn save_plan(
        &self,
        plan: &Plan,
        markdown: &str,
        now: Timestamp,
    ) -> anyhow::Result<StoredPlan> {
        self.save_plan_from(plan, markdown, None, now).await
    }

    /// [`Store::save_plan`] with what the plan was built from (`source`, JSON; see
    /// [`StoredPlan::source`]).
    pub async fn save_plan_from(
        &self,
        plan: &Plan,
        markdown: &str,
        source: Option<&str>,
        now: Timestamp,
    ) -> anyhow::Result<StoredPlan> {
        let approval = ApprovalState::draft(plan.author.clone());
        let content = Content::of(plan)?;
        let mut tx = self.begin_immediate().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO plans (name, author, created_at, updated_at, state, approval, version,
                                environments, production, gates, plan, markdown, source)
             VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8, $9, $10, $11, $12) RETURNING id",
        )
        .bind(&plan.id)
        .bind(&plan.author)
        .bind(now.to_string())
        .bind(now.to_string())
        .bind(approval.name())
        .bind(to_json(&approval)?)
        .bind(&content.environments)
        .bind(i64::from(plan.gates.production))
        .bind(&content.gates)
        .bind(&content.plan)
        .bind(markdown)
        .bind(source)
        .fetch_one(&mut *tx)
        .await
        .with_context(|| format!("saving plan {}", plan.id))?;
        let change = Change {
            id,
            actor: &plan.author,
            event: "saved",
            from: None,
            to: &approval,
            version: 1,
            comment: None,
            now,
        };
        record(&mut tx, &change).await?;
        tx.commit()
            .await
            .with_context(|| format!("committing plan {id}"))?;
        self.plan(id).await
    }

    /// One plan; [`PlanRefusal::NotFound`] when there is none.
    pub async fn plan(&self, id: i64) -> anyhow::Result<StoredPlan> {
        let row = sqlx::query("SELECT * FROM plans WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .with_context(|| format!("reading plan {id}"))?;
        match row {
            Some(row) => stored_plan(&row),
            None => Err(PlanRefusal::NotFound { id }.into()),
        }
    }

    /// Every plan, newest first.
    pub async fn plans(&self) -> anyhow::Result<Vec<PlanListing>> {
        let rows = sqlx::query(
            "SELECT id, name, author, state, version, environments, created_at, updated_at
             FROM plans ORDER BY id DESC",
        )
        .fetch_all(self.pool())
        .await
        .context("listing plans")?;
        rows.iter()
            .map(|row| {
                let id: i64 = row.try_get("id")?;
                Ok(PlanListing {
                    id,
                    name: row.try_get("name")?,
                    author: row.try_get("author")?,
                    state: row.try_get("state")?,
                    version: row.try_get("version")?,
                    environments: from_json(row.try_get("environments")?, id, "environments")?,
                    created_at: row.try_get("created_at")?,
                    updated_at: row.try_get("updated_at")?,
                })
            })
            .collect()
    }

    /// A plan's history, oldest first ([`PlanRefusal::NotFound`] for an unknown plan).
    pub async fn plan_events(&self, id: i64) -> anyhow::Result<Vec<PlanEvent>> {
        self.plan(id).await?;
        let rows = sqlx::query("SELECT * FROM plan_events WHERE plan_id = $1 ORDER BY seq")
            .bind(id)
            .fetch_all(self.pool())
            .await
            .with_context(|| format!("reading the history of plan {id}"))?;
        rows.iter()
            .map(|row| {
                Ok(PlanEvent {
                    seq: row.try_get("seq")?,
                    at: row.try_get("at")?,
                    actor: row.try_get("actor")?,
                    event: row.try_get("event")?,
                    from_state: row.try_get("from_state")?,
                    to_state: row.try_get("to_state")?,
                    version: row.try_get("version")?,
                    comment: row.try_get("comment")?,
                })
            })
            .collect()
    }

    /// Applies one workflow event to plan `id` as read at `expected_version`: the pure
    /// `pw_planner::transition` decides, the new state, the history entry and the audit record
    /// are committed together, and the version goes up by one. Refusals ([`PlanRefusal`]) change
    /// nothing.
    pub async fn apply_plan_event(
        &self,
        id: i64,
        expected_version: i64,
        actor: &str,
        event: &ApprovalEvent,
        comment: Option<&str>,
        now: Timestamp,
    ) -> anyhow::Result<StoredPlan> {
        let mut tx = self.begin_immediate().await?;
        let current = current(&mut tx, id, expected_version).await?;
        let next = pw_planner::transition(&current.approval, event, now)
            .map_err(|rejected| refusal(&current, event, &rejected))?;
        let version = update(&mut tx, id, expected_version, &next, None, now).await?;
        let change = Change {
            id,
            actor,
            event: event.name(),
            from: Some(&current.approval),
            to: &next,
            version,
            comment,
            now,
        };
        record(&mut tx, &change).await?;
        tx.commit()
            .await
            .with_context(|| format!("committing the change of plan {id}"))?;
        self.plan(id).await
    }

    /// Replaces the content of plan `id` (read at `expected_version`) with a newly built plan and
    /// puts it back to `draft`. Only its author revises it, and only in draft, rejected or
    /// expired: a plan under review or approved must be rejected or expire first, so an approval
    /// always refers to the content it was given on.
    pub async fn revise_plan(
        &self,
        id: i64,
        expected_version: i64,
        plan: &Plan,
        markdown: &str,
        now: Timestamp,
    ) -> anyhow::Result<StoredPlan> {
        self.revise_plan_from(id, expected_version, plan, markdown, None, now)
            .await
    }

    /// [`Store::revise_plan`] with what the new content was built from (replacing the old
    /// source).
    pub async fn revise_plan_from(
        &self,
        id: i64,
        expected_version: i64,
        plan: &Plan,
        markdown: &str,
        source: Option<&str>,
        now: Timestamp,
    ) -> anyhow::Result<StoredPlan> {
        let mut tx = self.begin_immediate().await?;
        let current = current(&mut tx, id, expected_version).await?;
        let state = current.approval.name();
        if plan.author != current.author {
            return Err(PlanRefusal::Refused {
                id,
                reason: format!(
                    "plan {id} was authored by {}; {} cannot revise it",
                    current.author, plan.author
                ),
            }
            .into());
        }
        if !matches!(state, "draft" | "rejected" | "expired") {
            return Err(PlanRefusal::Refused {
                id,
                reason: format!(
                    "plan {id} is {state}; only a draft, rejected or expired plan can be revised \
                     (a plan under review is rejected first)"
                ),
            }
            .into());
        }
        let next = ApprovalState::draft(current.author.clone());
        let content = Content::of(plan)?;
        let version = update(
            &mut tx,
            id,
            expected_version,
            &next,
            Some((&content, markdown, source)),
            now,
        )
        .await?;
        let change = Change {
            id,
            actor: &plan.author,
            event: "revised",
            from: Some(&current.approval),
            to: &next,
            version,
            comment: None,
            now,
        };
        record(&mut tx, &change).await?;
        tx.commit()
            .await
            .with_context(|| format!("committing the revision of plan {id}"))?;
        self.plan(id).await
    }
}

/// Reads the plan inside the transaction and checks the caller's version.
async fn current(
    tx: &mut sqlx::AnyConnection,
    id: i64,
    expected_version: i64,
) -> anyhow::Result<StoredPlan> {
    let row = sqlx::query("SELECT * FROM plans WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .with_context(|| format!("reading plan {id}"))?;
    let Some(row) = row else {
        return Err(PlanRefusal::NotFound { id }.into());
    };
    let current = stored_plan(&row)?;
    if current.version != expected_version {
        return Err(stale(tx, id, expected_version).await?.into());
    }
    Ok(current)
}

/// The serialised parts of a plan that go into their own columns.
struct Content {
    environments: String,
    production: bool,
    gates: String,
    plan: String,
}

impl Content {
    fn of(plan: &Plan) -> anyhow::Result<Content> {
        let environments: std::collections::BTreeSet<&str> =
            plan.groups.iter().map(|g| g.environment.as_str()).collect();
        Ok(Content {
            environments: to_json(&environments)?,
            production: plan.gates.production,
            gates: to_json(&plan.gates)?,
            plan: to_json(plan)?,
        })
    }
}

/// One history entry to write.
struct Change<'a> {
    id: i64,
    actor: &'a str,
    event: &'a str,
    from: Option<&'a ApprovalState>,
    to: &'a ApprovalState,
    version: i64,
    comment: Option<&'a str>,
    now: Timestamp,
}

/// Writes the new state (and content) guarded by the version read; returns the new version.
async fn update(
    tx: &mut sqlx::AnyConnection,
    id: i64,
    expected_version: i64,
    next: &ApprovalState,
    content: Option<(&Content, &str, Option<&str>)>,
    now: Timestamp,
) -> anyhow::Result<i64> {
    let version = expected_version + 1;
    let result = match content {
        None => {
            sqlx::query(
                "UPDATE plans SET state = $1, approval = $2, version = $3, updated_at = $4
             WHERE id = $5 AND version = $6",
            )
            .bind(next.name())
            .bind(to_json(next)?)
            .bind(version)
            .bind(now.to_string())
            .bind(id)
            .bind(expected_version)
            .execute(&mut *tx)
            .await
        }
        Some((content, markdown, source)) => {
            sqlx::query(
                "UPDATE plans SET state = $1, approval = $2, version = $3, updated_at = $4,
                 environments = $5, gates = $6, production = $7, plan = $8, markdown = $9, source = $10
             WHERE id = $11 AND version = $12",
            )
            .bind(next.name())
            .bind(to_json(next)?)
            .bind(version)
            .bind(now.to_string())
            .bind(&content.environments)
            .bind(&content.gates)
            .bind(i64::from(content.production))
            .bind(&content.plan)
            .bind(markdown)
            .bind(source)
            .bind(id)
            .bind(expected_version)
            .execute(&mut *tx)
            .await
        }
    }
    .with_context(|| format!("updating plan {id}"))?;
    if result.rows_affected() != 1 {
        // Cannot happen under BEGIN IMMEDIATE after the version check; kept as the guard.
        return Err(stale(tx, id, expected_version).await?.into());
    }
    Ok(version)
}

/// Appends the history entry and the audit record.
async fn record(tx: &mut sqlx::AnyConnection, change: &Change<'_>) -> anyhow::Result<()> {
    let id = change.id;
    sqlx::query(
        "INSERT INTO plan_events (plan_id, seq, at, actor, event, from_state, to_state, version,
                                  comment)
         VALUES ($1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM plan_events WHERE plan_id = $2),
                 $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(id)
    .bind(id)
    .bind(change.now.to_string())
    .bind(change.actor)
    .bind(change.event)
    .bind(change.from.map(ApprovalState::name))
    .bind(change.to.name())
    .bind(change.version)
    .bind(change.comment)
    .execute(&mut *tx)
    .await
    .with_context(|| format!("recording {} of plan {id}", change.event))?;
    let subject = format!("plan:{id}");
    let action = format!("plan.{}", change.event);
    let details = serde_json::json!({
        "from": change.from.map(ApprovalState::name),
        "to": change.to,
        "version": change.version,
        "comment": change.comment,
    });
    let entry = AuditEntry {
        actor: change.actor,
        action: &action,
        subject: &subject,
        details,
    };
    append(tx, &entry).await?;
    Ok(())
}

fn stored_plan(row: &AnyRow) -> anyhow::Result<StoredPlan> {
    let id: i64 = row.try_get("id")?;
    let approval: ApprovalState = from_json(row.try_get("approval")?, id, "approval")?;
    let state: String = row.try_get("state")?;
    anyhow::ensure!(
        approval.name() == state,
        "plan {id}: state column {state:?} disagrees with its approval {:?}",
        approval.name()
    );
    let plan_text: String = row.try_get("plan")?;
    Ok(StoredPlan {
        id,
        name: row.try_get("name")?,
        author: row.try_get("author")?,
        created_at: crate::parse_time(row.try_get("created_at")?)?,
        updated_at: crate::parse_time(row.try_get("updated_at")?)?,
        approval,
        version: row.try_get("version")?,
        environments: from_json(row.try_get("environments")?, id, "environments")?,
        production: crate::flag(row, "production")?,
        gates: from_json(row.try_get("gates")?, id, "gates")?,
        plan: from_json(&plan_text, id, "plan")?,
        markdown: row.try_get("markdown")?,
        source: row.try_get("source")?,
    })
}

fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> anyhow::Result<String> {
    serde_json::to_string(value).context("serialising a plan column")
}

fn from_json<T: serde::de::DeserializeOwned>(
    text: &str,
    id: i64,
    column: &str,
) -> anyhow::Result<T> {
    serde_json::from_str(text).with_context(|| format!("plan {id}: stored {column} is not valid"))
}
