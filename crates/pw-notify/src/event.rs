//! The event vocabulary: what happened, where (group, tier) and the facts a message needs.
//!
//! An [`Event`] carries a stable `id` chosen where it happens (`plan:<id>:approved`,
//! `rollout:<id>:finished`, `finding:<host>:<key>:new`): the outbox's idempotency key is this id
//! × the channel, so an event emitted twice (a retried request, a restarted controller) is
//! still one message per channel.

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use pw_model::Tier;
use serde::{Deserialize, Serialize};

/// One event to tell people about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Stable id of this occurrence (see the module doc).
    pub id: String,
    pub at: Timestamp,
    /// The groups the event concerns (a host's group; every group a plan or rollout touches);
    /// routes filter on them, and email to `owners` goes to their owners.
    pub groups: Vec<String>,
    /// The tier, for finding events (routes filter on it).
    pub tier: Option<Tier>,
    pub detail: Detail,
}

/// What happened, with the facts a message shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Detail {
    /// A new T0/T1 finding on a host.
    NewFinding {
        host: String,
        package: String,
        to_version: Option<String>,
        advisories: Vec<String>,
        deadline: Option<Timestamp>,
    },
    /// A finding's deadline is near (`[notifications].deadline_near` before it).
    DeadlineNear {
        host: String,
        package: String,
        deadline: Timestamp,
        /// The advisories (CVE ids where known) of the package's findings at this deadline.
        #[serde(default)]
        advisories: Vec<String>,
    },
    /// A finding's deadline has passed.
    Overdue {
        host: String,
        package: String,
        deadline: Timestamp,
        /// The advisories (CVE ids where known) of the package's findings at this deadline.
        #[serde(default)]
        advisories: Vec<String>,
    },
    PlanNeedsApproval {
        plan_id: String,
        title: String,
        author: String,
    },
    PlanApproved {
        plan_id: String,
        title: String,
        approver: String,
    },
    PlanRejected {
        plan_id: String,
        title: String,
        by: String,
        reason: String,
    },
    RolloutStarted {
        rollout_id: String,
        hosts: usize,
    },
    CanaryPassed {
        rollout_id: String,
        hosts: usize,
    },
    RolloutFailed {
        rollout_id: String,
        reason: String,
    },
    RolledBack {
        rollout_id: String,
        host: String,
        reason: String,
    },
    RolloutFinished {
        rollout_id: String,
        done: usize,
        failed: usize,
        rolled_back: usize,
    },
    VersionBlocked {
        package: String,
        version: String,
        host: String,
    },
    AgentSilent {
        host: String,
        last_seen: Timestamp,
    },
    ObservationAlert {
        rollout_id: String,
        host: String,
        check: String,
        detail: String,
    },
    /// `patchwarden notify test` and `POST /api/v1/notifications/test`.
    Test {
        requested_by: String,
    },
}

/// The name of an event kind, as routes write it (`events = ["plan.needs_approval"]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum EventKind {
    #[serde(rename = "finding.new")]
    NewFinding,
    #[serde(rename = "finding.deadline_near")]
    DeadlineNear,
    #[serde(rename = "finding.overdue")]
    Overdue,
    #[serde(rename = "plan.needs_approval")]
    PlanNeedsApproval,
    #[serde(rename = "plan.approved")]
    PlanApproved,
    #[serde(rename = "plan.rejected")]
    PlanRejected,
    #[serde(rename = "rollout.started")]
    RolloutStarted,
    #[serde(rename = "rollout.canary_passed")]
    CanaryPassed,
    #[serde(rename = "rollout.failed")]
    RolloutFailed,
    #[serde(rename = "rollout.rolled_back")]
    RolledBack,
    #[serde(rename = "rollout.finished")]
    RolloutFinished,
    #[serde(rename = "version.blocked")]
    VersionBlocked,
    #[serde(rename = "agent.silent")]
    AgentSilent,
    #[serde(rename = "observation.alert")]
    ObservationAlert,
    #[serde(rename = "test")]
    Test,
}

impl EventKind {
    /// Every kind, in the order the docs list them.
    pub const ALL: [EventKind; 15] = [
        EventKind::NewFinding,
        EventKind::DeadlineNear,
        EventKind::Overdue,
        EventKind::PlanNeedsApproval,
        EventKind::PlanApproved,
        EventKind::PlanRejected,
        EventKind::RolloutStarted,
        EventKind::CanaryPassed,
        EventKind::RolloutFailed,
        EventKind::RolledBack,
        EventKind::RolloutFinished,
        EventKind::VersionBlocked,
        EventKind::AgentSilent,
        EventKind::ObservationAlert,
        EventKind::Test,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::NewFinding => "finding.new",
            EventKind::DeadlineNear => "finding.deadline_near",
            EventKind::Overdue => "finding.overdue",
            EventKind::PlanNeedsApproval => "plan.needs_approval",
            EventKind::PlanApproved => "plan.approved",
            EventKind::PlanRejected => "plan.rejected",
            EventKind::RolloutStarted => "rollout.started",
            EventKind::CanaryPassed => "rollout.canary_passed",
            EventKind::RolloutFailed => "rollout.failed",
            EventKind::RolledBack => "rollout.rolled_back",
            EventKind::RolloutFinished => "rollout.finished",
            EventKind::VersionBlocked => "version.blocked",
            EventKind::AgentSilent => "agent.silent",
            EventKind::ObservationAlert => "observation.alert",
            EventKind::Test => "test",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventKind {
    type Err = String;

    fn from_str(text: &str) -> Result<EventKind, String> {
        EventKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| {
                let names: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
                format!(
                    "unknown event {text:?}; expected one of {}",
                    names.join(", ")
                )
            })
    }
}

impl Event {
    pub fn kind(&self) -> EventKind {
        match &self.detail {
            Detail::NewFinding { .. } => EventKind::NewFinding,
            Detail::DeadlineNear { .. } => EventKind::DeadlineNear,
            Detail::Overdue { .. } => EventKind::Overdue,
            Detail::PlanNeedsApproval { .. } => EventKind::PlanNeedsApproval,
            Detail::PlanApproved { .. } => EventKind::PlanApproved,
            Detail::PlanRejected { .. } => EventKind::PlanRejected,
            Detail::RolloutStarted { .. } => EventKind::RolloutStarted,
            Detail::CanaryPassed { .. } => EventKind::CanaryPassed,
            Detail::RolloutFailed { .. } => EventKind::RolloutFailed,
            Detail::RolledBack { .. } => EventKind::RolledBack,
            Detail::RolloutFinished { .. } => EventKind::RolloutFinished,
            Detail::VersionBlocked { .. } => EventKind::VersionBlocked,
            Detail::AgentSilent { .. } => EventKind::AgentSilent,
            Detail::ObservationAlert { .. } => EventKind::ObservationAlert,
            Detail::Test { .. } => EventKind::Test,
        }
    }

    /// The console path the message links to (relative to the console's base URL).
    pub fn console_path(&self) -> String {
        match &self.detail {
            Detail::NewFinding { host, .. }
            | Detail::DeadlineNear { host, .. }
            | Detail::Overdue { host, .. } => format!("/findings?host={}", query_escape(host)),
            Detail::PlanNeedsApproval { plan_id, .. }
            | Detail::PlanApproved { plan_id, .. }
            | Detail::PlanRejected { plan_id, .. } => format!("/plans/{plan_id}"),
            Detail::RolloutStarted { rollout_id, .. }
            | Detail::CanaryPassed { rollout_id, .. }
            | Detail::RolloutFailed { rollout_id, .. }
            | Detail::RolledBack { rollout_id, .. }
            | Detail::RolloutFinished { rollout_id, .. }
            | Detail::ObservationAlert { rollout_id, .. } => format!("/rollouts/{rollout_id}"),
            Detail::VersionBlocked { .. } => "/rollouts".to_owned(),
            Detail::AgentSilent { host, .. } => format!("/hosts?q={}", query_escape(host)),
            Detail::Test { .. } => "/".to_owned(),
        }
    }
}

fn query_escape(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}
