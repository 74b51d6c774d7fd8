//! The rollout engine's decisions (DESIGN.md §5, docs/design/rollout-engine.md): a per-host state
//! machine and the rollout-level choices above it. The controller persists states and runs
//! commands; this crate only decides.
//!
//! Pure: no I/O, no clock reads (`now` is a parameter), no async runtime, no randomness. The same
//! input gives the same decision.
//!
//! Quirks of the subject honoured here:
//! - exact versions are recorded before anything is installed: `Install` is only made by a
//!   transition whose next state holds the recorded versions of every target package; a package
//!   recorded as absent is removed by the rollback;
//! - every command carries the key `(rollout, host, step, attempt)`; `attempt` never goes down
//!   within a host change, so a restarted controller that re-runs a committed command repeats a
//!   key the agent has already seen and does nothing new;
//! - the agent's guard records, protects, installs, verifies and rolls back on its own within
//!   one command and reports once: that report is the event (`Event::GuardReported`, judged
//!   on its evidence); the controller invents no intermediate events. The intermediate states
//!   stay for rows an older controller left, and leave by the report or by their timeouts;
//! - "success" means the agent reported the exact target versions *and* every health check
//!   passed within the verification period; a rollback counts only when the reported versions
//!   equal the recorded ones;
//! - a health failure blocks the host's target versions fleet-wide; apply failures do not (they
//!   are often the host's own: full disk, broken mirror) but count against the failure budget.

pub mod ad_hoc;
pub mod aftercare;
pub mod block;
mod claim;
pub mod control;
pub mod gate;
pub mod host;
pub mod model;
pub mod observe;
pub mod persist;
pub mod plan;
pub mod policy;
pub mod report;
pub mod rollout;
pub mod wire;

pub use aftercare::{
    Aftercare, BootMark, Cleared, Deferral, Rebooted, RestartResult, Verified, reboot_grants,
};
pub use block::{Block, BlockList};
pub use control::{ControlAction, ControlError, retry_plan, slots_by_group};
pub use gate::{
    BlackoutNote, FailingCheck, Halt, HealthGate, NextSlot, WindowGate, WindowHold, WindowWait,
    gate_halts, window_allows,
};
pub use host::{
    Action, AsHostState, Command, CommandKey, Decision, Event, EventName, FailCause, GateHalt,
    HostChange, HostState, Progress, Rejected, RollbackCause, StateName, Step, next_deadline,
    on_tick, step,
};
pub use model::{ExactVersion, HostId, Recorded, RolloutId, Target, VersionError};
pub use observe::{
    Alert as ObservationAlert, Observation, ObserveAction, ObserveEvent, ObserveRejected, Phase,
    next_due as observation_due, observe,
};
pub use persist::{SCHEMA_VERSION, SchemaError, from_json, to_json};
pub use plan::{BatchKind, BatchSpec, FailurePolicy, HostSpec, Mode, PlanError, RolloutPlan};
pub use policy::{Backoff, Policy, StepLimits, Timeouts};
pub use report::{
    DrillRun, DrillStage, DrillVerdict, GuardOutcome, GuardReason, GuardReport, ProtectionRun,
};
pub use rollout::{
    CarriedOver, Claim, EmergencyStart, Failures, Gates, PauseReason, Release, RolloutControl,
    RolloutDecision, RolloutStatus, Skip, StopReason, WaitReason, decide, retry_failed,
};
pub use wire::WireError;
