//! A stored plan carried out by a rollout: the checks made, and the history and audit entries
//! written, inside the rollout's creating transaction.

use anyhow::Context;
use jiff::Timestamp;
use pw_planner::ApprovalState;

use super::{Change, PlanRefusal, current, record};

/// Inside a rollout's creating transaction: checks that plan `link.id` is still approved or
/// scheduled at `link.version`, that its approval has not lapsed and that no other rollout of
/// it is running or paused, then records `rolled_out` in its history and the audit chain (the
/// state and version stay). Refusals are [`PlanRefusal`]s.
pub(crate) async fn record_rollout(
    tx: &mut sqlx::AnyConnection,
    link: crate::PlanLink,
    actor: &str,
    rollout_id: &str,
    now: Timestamp,
) -> anyhow::Result<()> {
    let id = link.id;
    let current = current(tx, id, link.version).await?;
    let refuse = |reason: String| -> anyhow::Error { PlanRefusal::Refused { id, reason }.into() };
    match &current.approval {
        ApprovalState::Approved { valid_until, .. } if *valid_until <= now => {
            return Err(refuse(format!(
                "plan {id}'s approval lapsed at {valid_until} (it was never scheduled); the \
                 author reopens, resubmits and it is approved again"
            )));
        }
        ApprovalState::Approved { .. } | ApprovalState::Scheduled { .. } => {}
        other => {
            return Err(refuse(format!(
                "plan {id} is {}: only an approved or scheduled plan is rolled out",
                other.name()
            )));
        }
    }
    let active: Option<String> = sqlx::query_scalar(
        "SELECT id FROM rollouts WHERE plan_id = $1 AND status IN ('running', 'paused') LIMIT 1",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await
    .with_context(|| format!("looking for rollouts of plan {id}"))?;
    if let Some(active) = active {
        return Err(refuse(format!(
            "plan {id} is already being rolled out by {active}; it finishes or is stopped first"
        )));
    }
    let comment = format!("rollout {rollout_id}");
    let change = Change {
        id,
        actor,
        event: "rolled_out",
        from: Some(&current.approval),
        to: &current.approval,
        version: current.version,
        comment: Some(&comment),
        now,
    };
    record(tx, &change).await
}
