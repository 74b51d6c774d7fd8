//! Why a plan change was refused, phrased for the person who tried: a stale expected version
//! (naming the last change) or a transition the workflow does not allow.

use anyhow::Context;
use pw_planner::{ApprovalEvent, ApprovalState};
use sqlx::Row;

use super::StoredPlan;

/// Why a plan change was refused; nothing was written. Reaches callers inside `anyhow::Error`
/// (use `downcast_ref::<PlanRefusal>()` to tell the cases apart).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanRefusal {
    NotFound {
        id: i64,
    },
    /// The plan changed since the caller read `expected`.
    Stale {
        id: i64,
        expected: i64,
        current: i64,
        /// The last change, e.g. "reopened by alice at 2026-11-23T12:00:00Z".
        last_change: String,
    },
    /// The workflow does not allow it (wrong state, four eyes, staging gate, deadline…).
    Refused {
        id: i64,
        reason: String,
    },
}

impl std::fmt::Display for PlanRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlanRefusal::NotFound { id } => write!(f, "there is no plan {id}"),
            PlanRefusal::Stale {
                id,
                expected,
                current,
                last_change,
            } => write!(
                f,
                "stale: plan {id} changed since version {expected} was reviewed; it is at version \
                 {current} now (last change: {last_change}); nothing was changed, review the \
                 current version and try again"
            ),
            PlanRefusal::Refused { reason, .. } => f.write_str(reason),
        }
    }
}

impl std::error::Error for PlanRefusal {}

/// The stale refusal, naming the last change so the caller knows what moved.
pub(super) async fn stale(
    tx: &mut sqlx::AnyConnection,
    id: i64,
    expected: i64,
) -> anyhow::Result<PlanRefusal> {
    let current: i64 = sqlx::query_scalar("SELECT version FROM plans WHERE id = $1")
        .bind(id)
        .fetch_one(&mut *tx)
        .await
        .with_context(|| format!("reading the version of plan {id}"))?;
    let last = sqlx::query(
        "SELECT event, actor, at FROM plan_events WHERE plan_id = $1
         ORDER BY seq DESC LIMIT 1",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await
    .with_context(|| format!("reading the last change of plan {id}"))?;
    let last_change = match last {
        Some(row) => format!(
            "{} by {} at {}",
            row.try_get::<String, _>("event")?,
            row.try_get::<String, _>("actor")?,
            row.try_get::<String, _>("at")?
        ),
        None => "unknown".to_owned(),
    };
    Ok(PlanRefusal::Stale {
        id,
        expected,
        current,
        last_change,
    })
}

/// A refusal of the pure transition, phrased for the person who tried.
pub(super) fn refusal(
    current: &StoredPlan,
    event: &ApprovalEvent,
    rejected: &pw_planner::Rejected,
) -> PlanRefusal {
    let id = current.id;
    let four_eyes = matches!(
        (&current.approval, event),
        (ApprovalState::InReview { .. }, ApprovalEvent::Approved { by, gates, .. })
            if gates.production && *by == current.author
    );
    let reason = if four_eyes {
        format!(
            "four-eyes: {} authored plan {id} and cannot approve it (a production plan needs a \
             second person)",
            current.author
        )
    } else {
        format!(
            "plan {id} is {}: cannot {}: {}",
            rejected.state,
            verb(event),
            rejected.reason
        )
    };
    PlanRefusal::Refused { id, reason }
}

fn verb(event: &ApprovalEvent) -> &'static str {
    match event {
        ApprovalEvent::Submitted { .. } => "submit",
        ApprovalEvent::Approved { .. } => "approve",
        ApprovalEvent::Declined { .. } => "reject",
        ApprovalEvent::Scheduled { .. } => "schedule",
        ApprovalEvent::Expired => "expire",
        ApprovalEvent::Reopened { .. } => "reopen",
    }
}
