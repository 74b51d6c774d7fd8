//! Change planning for patchwarden (DESIGN.md §2–4): findings + fleet + policy + window slots →
//! a change plan with batches, capacity, risk checklist, protection, health checks, rollback plan,
//! notifications and approvals.
//!
//! Pure: no file system, environment, clock, async runtime or network. `now` is always a
//! parameter, window slots come in already expanded (pw-calendar does RRULE and blackouts; the
//! binary glues them), tool output comes in as text. The same input gives the same plan: every
//! collection is ordered (`BTreeMap`, sorted vectors), nothing is hashed or random.
//!
//! Quirks of the subject honoured here:
//! - the seed's capacity formula `usable = total − (verification + rollback_buffer)` with a
//!   rollback buffer of at least 30% of each window, configurable upward only ([`schedule`]);
//! - hosts of one batch change in parallel, batches of a group one after another, each waiting for
//!   the previous batch's verification; a batch never mixes groups, so it has one set of windows;
//! - percents of a group (budget, canary, failures) are of the group's hosts in the fleet file
//!   (budget, rounded down but at least one) or of the hosts being changed (canary, rounded up,
//!   at least one; failures, rounded down);
//! - Debian advisories name source packages but the plan installs binary packages: targets are
//!   per binary (`Finding::binary`) at the finding's fixed version;
//! - apt output is parsed in the C locale only, by pw-inventory (`pw_inventory::apt`,
//!   `pw_inventory::dpkg_query`), the one home of package-tool parsers.

pub mod approval;
pub mod batch;
pub mod build;
pub mod duration;
pub mod fleet;
pub mod knowledge;
pub mod plan;
pub mod policy;
pub mod render;
pub mod risk;
pub mod schedule;
pub mod staging;
pub mod summary;
pub mod targets;
pub mod wire;

pub use approval::{
    ApprovalEvent, ApprovalGates, ApprovalState, Rejected, RiskAcceptance, transition,
};
pub use build::build_plan;
pub use fleet::{
    Evidence, EvidenceFiles, FleetFile, Host, HostEntry, PlanInput, ScanFile, Scope, StagingRun,
    WindowSlot,
};
pub use plan::Plan;
pub use policy::{Policy, PolicyError, PolicyErrors};
pub use render::to_markdown;
