//! Compliance and risk reports (issue 11 item 6; DESIGN.md §2 and §7): a pure model built from
//! the controller's stored facts and `now` — no I/O, no clock — and its renderings as JSON
//! (serde), CSV ([`csv_out`]) and HTML in English or Simplified Chinese ([`html`]). The
//! controller reads the facts (pw-controller `reports.rs`) and prints the HTML to PDF
//! (pw-server, headless Chromium; docs/design/decisions.md).
//!
//! - [`compliance_report`]: per group and host, open and overdue findings per tier, the oldest
//!   overdue one, time to remediate over the period, accepted risks with approver, reason and
//!   expiry, and the GB/T 22239-2019 controls the figures are evidence for ([`controls`]).
//! - [`risk_report`]: the management summary — exposure by KEV, EPSS and CVSS, per tier and
//!   group, host-days exposed, and the updates that remove the most of it.
//! - [`change_report`]: a plan's or rollout's plan vs actual, a downgrade's post-verify and the
//!   postmortem draft ([`change`]).

mod assess;
pub mod change;
pub mod compliance;
pub mod controls;
pub mod csv_out;
pub mod facts;
pub mod html;
mod html_risk;
pub mod risk;
pub mod text;

#[cfg(test)]
mod tests;

pub use change::facts::{
    ChangeFacts, HostRescan, HostRun, LogLine, Observation, OpenAdvisory, PlanEventFact, PlanFacts,
    PlannedBatch, PlannedChange, PlannedHost, PlannedRisk, PredictedAdvisory, ProtectionRecord,
    RolloutBatch, RolloutFacts,
};
pub use change::model::{ChangeReport, ChangeSubject};
pub use change::text::{CHANGE_EN, CHANGE_ZH, ChangeText, change_text_for};
pub use change::{change_html, change_report};
pub use compliance::{ComplianceReport, compliance_report};
pub use csv_out::{CsvTable, compliance_csv, risk_csv};
pub use facts::{
    CurrentFinding, FixedEpisode, GroupFacts, HostFacts, ReportError, ReportFacts, ReportScope,
    RiskFact,
};
pub use html::{compliance_html, risk_html};
pub use risk::{RiskReport, risk_report};
pub use text::{EN, Text, ZH_CN, text_for};
