//! The approval state machine of a change plan: draft → in_review → approved → scheduled, with
//! rejected and expired as ends that can be reopened into a new draft.
//!
//! All transitions sit in [`transition`], a pure function of `(state, event, now)`. Rules:
//! - only the author submits; a review has a deadline, after which only `Expired` is accepted
//!   (a stale review cannot be approved: DESIGN.md §9.13);
//! - production plans need an approver other than the author (four eyes);
//! - production plans whose groups have a staging counterpart need the staging gate satisfied:
//!   the same package versions passed on staging, including one rollback drill
//!   ([`crate::staging::staging_gate`] computes it; the caller passes the result in the event);
//! - a downgrade that brings back T0/T1 advisories (`gates.reintroduced`) needs an explicit risk
//!   acceptance by the approver: a reason and an expiry after the approval (docs/downgrade.md);
//!   it is kept in the approved state, so the audit record of the approval carries it;
//! - an approved plan is scheduled for a start that is not in the past; an approval also expires
//!   at its deadline if it was never scheduled.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// Where a plan stands. Each state carries the data valid there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ApprovalState {
    Draft {
        author: String,
    },
    InReview {
        author: String,
        submitted_at: Timestamp,
        /// After this instant the review can only expire.
        review_deadline: Timestamp,
    },
    Approved {
        author: String,
        approver: String,
        approved_at: Timestamp,
        /// The approval lapses if the plan is not scheduled by then.
        valid_until: Timestamp,
        /// The approver's acceptance of the T0/T1 advisories a downgrade brings back.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        risk_acceptance: Option<RiskAcceptance>,
    },
    Scheduled {
        author: String,
        approver: String,
        start: Timestamp,
    },
    Rejected {
        author: String,
        by: String,
        reason: String,
        at: Timestamp,
    },
    Expired {
        author: String,
        at: Timestamp,
    },
}

/// Facts about the plan an approval depends on, computed from the plan and staging evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalGates {
    /// Any production group in the plan: the approver must differ from the author.
    pub production: bool,
    /// Problems of the staging-first gate; empty when satisfied or not required.
    pub staging_problems: Vec<String>,
    /// The T0/T1 advisories a downgrade brings back (`host: binary target advisory (tier)`):
    /// approving needs an explicit risk acceptance. Empty for other plans.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reintroduced: Vec<String>,
}

/// An approver's explicit acceptance of the risk a downgrade brings back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskAcceptance {
    /// Why the risk is accepted (1 to 1,000 characters).
    pub reason: String,
    /// Until when; after the approval, at most 365 days later.
    pub expires_at: Timestamp,
}

/// Something that happened to a plan, in the past tense.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ApprovalEvent {
    Submitted {
        by: String,
        review_deadline: Timestamp,
    },
    Approved {
        by: String,
        gates: ApprovalGates,
        valid_until: Timestamp,
        /// Required when `gates.reintroduced` is not empty.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        risk_acceptance: Option<RiskAcceptance>,
    },
    /// A reviewer turned the plan down.
    Declined {
        by: String,
        reason: String,
    },
    Scheduled {
        start: Timestamp,
    },
    /// A deadline passed (review or approval).
    Expired,
    /// The author takes a rejected or expired plan back to draft.
    Reopened {
        by: String,
    },
}

/// Why an event was refused in a state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{event} refused in state {state}: {reason}")]
pub struct Rejected {
    pub state: &'static str,
    pub event: &'static str,
    pub reason: String,
}

impl ApprovalState {
    /// A new draft.
    pub fn draft(author: impl Into<String>) -> Self {
        ApprovalState::Draft {
            author: author.into(),
        }
    }

    /// The state's name as stored and shown (`draft`, `in_review`, …).
    pub fn name(&self) -> &'static str {
        match self {
            ApprovalState::Draft { .. } => "draft",
            ApprovalState::InReview { .. } => "in_review",
            ApprovalState::Approved { .. } => "approved",
            ApprovalState::Scheduled { .. } => "scheduled",
            ApprovalState::Rejected { .. } => "rejected",
            ApprovalState::Expired { .. } => "expired",
        }
    }

    pub fn author(&self) -> &str {
        match self {
            ApprovalState::Draft { author }
            | ApprovalState::InReview { author, .. }
            | ApprovalState::Approved { author, .. }
            | ApprovalState::Scheduled { author, .. }
            | ApprovalState::Rejected { author, .. }
            | ApprovalState::Expired { author, .. } => author,
        }
    }
}

impl ApprovalEvent {
    pub fn name(&self) -> &'static str {
        match self {
            ApprovalEvent::Submitted { .. } => "submitted",
            ApprovalEvent::Approved { .. } => "approved",
            ApprovalEvent::Declined { .. } => "declined",
            ApprovalEvent::Scheduled { .. } => "scheduled",
            ApprovalEvent::Expired => "expired",
            ApprovalEvent::Reopened { .. } => "reopened",
        }
    }
}

/// The one transition function.
pub fn transition(
    state: &ApprovalState,
    event: &ApprovalEvent,
    now: Timestamp,
) -> Result<ApprovalState, Rejected> {
    use ApprovalEvent as E;
    use ApprovalState as S;
    let refuse = |reason: String| Rejected {
        state: state.name(),
        event: event.name(),
        reason,
    };
    let author = state.author().to_owned();
    match (state, event) {
        (
            S::Draft { .. },
            E::Submitted {
                by,
                review_deadline,
            },
        ) => {
            if *by != author {
                return Err(refuse(format!(
                    "only the author {author:?} submits, not {by:?}"
                )));
            }
            if *review_deadline <= now {
                return Err(refuse(format!(
                    "review deadline {review_deadline} is not in the future"
                )));
            }
            Ok(S::InReview {
                author,
                submitted_at: now,
                review_deadline: *review_deadline,
            })
        }
        (
            S::InReview {
                review_deadline, ..
            },
            E::Approved {
                by,
                gates,
                valid_until,
                risk_acceptance,
            },
        ) => {
            if now >= *review_deadline {
                return Err(refuse(format!(
                    "the review expired at {review_deadline}; a stale review cannot be approved"
                )));
            }
            if gates.production && *by == author {
                return Err(refuse(format!(
                    "four eyes: a production plan needs an approver other than its author {author:?}"
                )));
            }
            if !gates.staging_problems.is_empty() {
                return Err(refuse(format!(
                    "staging-first gate not met: {}",
                    gates.staging_problems.join("; ")
                )));
            }
            if *valid_until <= now {
                return Err(refuse(format!(
                    "approval validity {valid_until} is not in the future"
                )));
            }
            let risk_acceptance = accepted(gates, risk_acceptance.as_ref(), now).map_err(refuse)?;
            Ok(S::Approved {
                author,
                approver: by.clone(),
                approved_at: now,
                valid_until: *valid_until,
                risk_acceptance,
            })
        }
        (
            S::InReview {
                review_deadline, ..
            },
            E::Declined { by, reason },
        ) => {
            if now >= *review_deadline {
                return Err(refuse(format!("the review expired at {review_deadline}")));
            }
            if reason.trim().is_empty() {
                return Err(refuse("a rejection needs a reason".into()));
            }
            Ok(S::Rejected {
                author,
                by: by.clone(),
                reason: reason.clone(),
                at: now,
            })
        }
        (
            S::InReview {
                review_deadline: deadline,
                ..
            },
            E::Expired,
        )
        | (
            S::Approved {
                valid_until: deadline,
                ..
            },
            E::Expired,
        ) => {
            if now < *deadline {
                return Err(refuse(format!(
                    "the deadline {deadline} has not passed yet"
                )));
            }
            Ok(S::Expired { author, at: now })
        }
        (
            S::Approved {
                approver,
                valid_until,
                ..
            },
            E::Scheduled { start },
        ) => {
            if now >= *valid_until {
                return Err(refuse(format!("the approval lapsed at {valid_until}")));
            }
            if *start < now {
                return Err(refuse(format!("start {start} is in the past")));
            }
            Ok(S::Scheduled {
                author,
                approver: approver.clone(),
                start: *start,
            })
        }
        (S::Rejected { .. } | S::Expired { .. }, E::Reopened { by }) => {
            if *by != author {
                return Err(refuse(format!(
                    "only the author {author:?} reopens, not {by:?}"
                )));
            }
            Ok(S::Draft { author })
        }
        (S::Scheduled { .. }, _) => Err(refuse(
            "a scheduled plan is handed to the rollout engine; pause or cancel the rollout instead"
                .into(),
        )),
        _ => Err(refuse("not a transition of the approval workflow".into())),
    }
}

/// The risk acceptance an approval keeps: required (and checked) when the plan brings back
/// T0/T1 advisories, refused when there is nothing to accept.
fn accepted(
    gates: &ApprovalGates,
    acceptance: Option<&RiskAcceptance>,
    now: Timestamp,
) -> Result<Option<RiskAcceptance>, String> {
    match acceptance {
        None if gates.reintroduced.is_empty() => Ok(None),
        None => Err(format!(
            "the downgrade brings back T0/T1 advisories ({}); approving needs an explicit risk \
             acceptance (risk_acceptance: reason and expires_at)",
            gates.reintroduced.join("; ")
        )),
        Some(_) if gates.reintroduced.is_empty() => Err(
            "risk_acceptance: the plan brings back no T0/T1 advisory, there is nothing to accept"
                .into(),
        ),
        Some(a) => {
            // Reason and expiry follow the one rule of accepted risks (pw-model); the advisories
            // are the gate's list.
            pw_model::check_acceptance("downgrade", &a.reason, a.expires_at, now)
                .map_err(|e| format!("risk_acceptance.{e}"))?;
            Ok(Some(RiskAcceptance {
                reason: a.reason.trim().to_owned(),
                expires_at: a.expires_at,
            }))
        }
    }
}

#[cfg(test)]
#[path = "approval_tests.rs"]
mod tests;
