//! The controller's fleet document (docs/fleet.md): ONE TOML file — the planner's policy file
//! (groups with environment, staging counterpart, owners, RTO/RPO, windows, blackouts,
//! protection, health checks, rollout policy; `[priority]`) extended with each group's
//! membership (`[groups.<name>.members]`) and operator emergency flags scoped to hosts or groups
//! (`[[emergency]]`, the seeds' manual 0-day advisory).
//!
//! Pure: no I/O, no clock (`now` is a parameter). Parsing validates the document as a whole —
//! policy (pw-planner), priority (pw-priority), windows and blackouts (pw-calendar), membership
//! emergency flags and notification channels and routes (`[[channels]]`, `[[routes]]`, here)
//! — and reports every problem with its key path at once.
//!
//! Quirks of the subject honoured here:
//! - membership resolves in three levels, most specific first: explicit `hosts`, then
//!   `hostnames` glob patterns, then `labels` selectors; the first level where any group
//!   matches decides, and two groups matching at that level are a conflict (the host is in no
//!   group until the document is fixed) — never "the first group in the file wins";
//! - host names compare ASCII case-insensitively (DNS), labels case-sensitively;
//! - an emergency flag counts only until its `expires` instant and only for the hosts it names or
//!   the hosts of the groups it names.

mod calendar;
mod diff;
mod document;
mod emergency;
mod gate;
mod glob;
mod members;
mod notify;

use std::fmt;

pub use calendar::{group_calendar, window_slots};
pub use diff::{Change, ChangeKind, diff};
pub use document::{FleetDocument, document_table, parse_fleet};
pub use emergency::ScopedEmergency;
pub use glob::glob_matches;
pub use members::{HostFacts, Level, Membership, Resolution};
pub use notify::{TOKEN_PLACEHOLDER, check_url, valid_channel_name};

/// One problem of a fleet document: the dotted key path (`groups.web.members.hostnames[1]`,
/// `emergency[0].expires`, `priority.tiers.t0.deadline`) and what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct FleetError {
    pub path: String,
    pub message: String,
}

impl FleetError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> FleetError {
        FleetError {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// Every problem of a fleet document, in document order per part (policy, priority, calendars,
/// membership, emergency flags).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct FleetErrors(pub Vec<FleetError>);

impl fmt::Display for FleetErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.0.len();
        write!(
            f,
            "the fleet document has {count} problem{}:",
            if count == 1 { "" } else { "s" }
        )?;
        for error in &self.0 {
            write!(f, "\n  - {error}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod notify_tests;
