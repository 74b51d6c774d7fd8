//! Change reports (issue 13 item 5; DESIGN.md §6 and §7): per stored plan and per rollout, plan
//! vs actual — planned batches and slots against actual start and end times, each host's exact
//! versions before and after, failures, rollbacks, checks, the operation log from the audit
//! chain —, a downgrade's post-verify results (seed 003; its vulnerability re-scan against
//! the plan's prediction in `rescan.rs`), and a postmortem draft (timeline,
//! what failed, the risk checklist's accuracy). Pure: facts and `now` in, report out; JSON is
//! the model serialised, HTML in English or Simplified Chinese renders it.

mod build;
pub mod facts;
mod html;
mod html_rescan;
mod html_review;
pub mod model;
mod post_verify;
mod rescan;
mod review;
pub mod text;

#[cfg(test)]
mod tests;

pub use build::change_report;
pub use html::{HTML_LOG_LINES, change_html};
