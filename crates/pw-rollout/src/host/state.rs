//! A host change's states, the events that move it, the commands it asks the controller to run,
//! and the refusals.
//!
//! Every variant carries only the data valid there: no recorded versions before `protecting`, no
//! deadline in a terminal state. `attempt` is one counter per host change that never goes down:
//! it grows on every retry and every re-claim, so `(rollout, host, step, attempt)` names each
//! command once (docs/design/rollout-engine.md "Idempotency keys").

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::aftercare::{Aftercare, BootMark, Cleared, RestartResult, Verified};
use crate::model::{HostId, Recorded, RolloutId, Target};
use crate::report::{DrillStage, GuardReport};

/// One host's part of a rollout: the persisted record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostChange {
    pub rollout: RolloutId,
    pub host: HostId,
    pub state: HostState,
}

impl HostChange {
    /// A host change not claimed yet.
    pub fn new(rollout: RolloutId, host: HostId) -> Self {
        HostChange {
            rollout,
            host,
            state: HostState::default(),
        }
    }
}

/// Where a waiting step stands: the attempt counter, how often this step was tried, and when
/// waiting ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    pub attempt: u32,
    /// Tries of the current step, from 1.
    pub tries: u32,
    /// When the current try times out.
    pub deadline: Timestamp,
}

/// Why a host is being (or was) rolled back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RollbackCause {
    ApplyFailed {
        detail: String,
    },
    ApplyTimedOut,
    /// The agent said the install succeeded but reported other versions than the targets (an
    /// older controller's step-by-step events; kept so stored rows read back).
    VersionMismatch,
    HealthCheckFailed {
        check: String,
        detail: String,
    },
    /// The verification period ended without a pass from these checks.
    ChecksMissing {
        checks: Vec<String>,
    },
    /// A check of the host's group that the controller evaluates (a PromQL gate) failed while
    /// the host's change was in flight: the controller rolled it back. The group's health is
    /// not proof against these versions, so they are not blocked fleet-wide.
    GateFailed {
        check: String,
        detail: String,
    },
}

impl RollbackCause {
    /// Whether the cause proves the versions bad, so they are blocked fleet-wide.
    pub fn blocks_versions(&self) -> bool {
        matches!(self, RollbackCause::HealthCheckFailed { .. })
    }
}

/// Why a host ended `failed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FailCause {
    /// The agent never answered the version recording: nothing was changed.
    Unreachable,
    /// The agent refused the change (a read-only agent): nothing was changed.
    Refused { detail: String },
    /// The change failed before the versions were recorded: nothing was changed.
    NotStarted { detail: String },
    /// A protection hook failed or timed out: nothing was installed, but a hook (pause writes)
    /// may have left the service degraded.
    ProtectionFailed { detail: String },
    /// The rollback failed or timed out: the host is in an unknown state.
    RollbackFailed {
        cause: RollbackCause,
        detail: String,
    },
    /// The rollback reported success but the versions differ from the recorded ones.
    RollbackMismatch { cause: RollbackCause },
    /// The agent's report does not prove its outcome (done on other versions than the targets
    /// or without every check passed; a change that touched the host without the recorded
    /// version of every target; an outcome the host's state contradicts), or the controller
    /// could not read it. The host may have been changed: a human looks.
    BadReport { detail: String },
    /// The rollback drill failed at `stage` (`None`: the rollout asked for a drill and the agent
    /// reported none). `ended_on` are the versions the host ended on; `back_on_recorded` says
    /// whether those are the recorded ones (a re-apply that failed after a good rollback was
    /// rolled back again). A human looks: the host's rollback path is not proven.
    DrillFailed {
        stage: Option<DrillStage>,
        detail: String,
        ended_on: Vec<Recorded>,
        back_on_recorded: bool,
    },
    /// The change is verified, but restarting the units that run replaced code failed or did
    /// not clear them. The packages are fine; the services still run old code.
    RestartFailed { units: Vec<String>, detail: String },
    /// The change is verified, but the reboot it needs could not be proven: the agent did not
    /// come back from a new boot in time, or the reboot did not clear the need.
    RebootFailed { detail: String },
}

impl FailCause {
    /// Whether a human must look at the host: not when nothing was touched (unreachable,
    /// refused, failed before the change).
    pub fn pages(&self) -> bool {
        !matches!(
            self,
            FailCause::Unreachable | FailCause::Refused { .. } | FailCause::NotStarted { .. }
        )
    }
}

/// The state of one host change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum HostState {
    /// Not claimed; `attempt` is the counter the next claim starts from.
    Pending { attempt: u32 },
    /// Claimed by the controller, waiting for the host's exact installed versions.
    Claimed {
        targets: Vec<Target>,
        progress: Progress,
        /// A gate of the host's group failed while its change was in flight: whatever the
        /// guard reports as verified is rolled back to the recorded versions.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        halted: Option<GateHalt>,
    },
    /// Versions recorded, protection hooks running.
    Protecting {
        targets: Vec<Target>,
        recorded: Vec<Recorded>,
        progress: Progress,
    },
    /// Installing the exact target versions.
    Applying {
        targets: Vec<Target>,
        recorded: Vec<Recorded>,
        progress: Progress,
    },
    /// Installed; health checks run until `until`. The guard verifies on its own, so this is
    /// the controller's verification of a change the guard verified, in a group with checks
    /// the controller evaluates (`Policy::gate_checks`), and older controllers' rows.
    Verifying {
        targets: Vec<Target>,
        recorded: Vec<Recorded>,
        attempt: u32,
        since: Timestamp,
        until: Timestamp,
        /// When each check last passed.
        passed: BTreeMap<String, Timestamp>,
        /// A rollback drill passed in the guard's change.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        drilled: bool,
        /// What the guard said the host still needs (restarts, a reboot), for after it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        aftercare: Option<Aftercare>,
    },
    /// Returning to the recorded versions, then checking health again.
    RollingBack {
        targets: Vec<Target>,
        recorded: Vec<Recorded>,
        cause: RollbackCause,
        progress: Progress,
    },
    /// Terminal: on the target versions and healthy.
    Done {
        targets: Vec<Target>,
        recorded: Vec<Recorded>,
        at: Timestamp,
        /// When each check last passed.
        passed: BTreeMap<String, Timestamp>,
        /// A rollback drill passed on this host: rolled back to exactly `recorded`, healthy
        /// there, re-applied and healthy again.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        drilled: bool,
        /// The restarts and reboot the change needed, and how they were cleared.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cleared: Option<Cleared>,
    },
    /// Verified; the agent restarts the units still running replaced code (`restart_services`).
    Restarting {
        verified: Verified,
        units: Vec<String>,
        progress: Progress,
    },
    /// Verified (and restarted); waiting for a slot of the rollout's reboot budget.
    RebootQueued {
        verified: Verified,
        reasons: Vec<String>,
        #[serde(default)]
        cleared: Cleared,
        /// The attempt counter the reboot command will carry.
        attempt: u32,
    },
    /// The reboot was asked for; waiting for the agent to come back from a new boot. `boot` is
    /// the mark the agent read right before (`None` until its answer).
    Rebooting {
        verified: Verified,
        reasons: Vec<String>,
        #[serde(default)]
        cleared: Cleared,
        boot: Option<BootMark>,
        progress: Progress,
    },
    /// Terminal: back on the recorded versions.
    RolledBack {
        targets: Vec<Target>,
        recorded: Vec<Recorded>,
        cause: RollbackCause,
        at: Timestamp,
    },
    /// Terminal: could not be protected, reached or rolled back.
    Failed {
        targets: Vec<Target>,
        cause: FailCause,
        at: Timestamp,
    },
}

/// Why a claimed host's change is stopped: the group's check that failed, when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateHalt {
    pub check: String,
    pub detail: String,
    pub at: Timestamp,
}

impl Default for HostState {
    fn default() -> Self {
        HostState::Pending { attempt: 1 }
    }
}

/// A state's name, for refusals, logs and the UI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateName {
    Pending,
    Claimed,
    Protecting,
    Applying,
    Verifying,
    RollingBack,
    Done,
    RolledBack,
    Failed,
    Restarting,
    RebootQueued,
    Rebooting,
}

impl HostState {
    pub fn name(&self) -> StateName {
        match self {
            HostState::Pending { .. } => StateName::Pending,
            HostState::Claimed { .. } => StateName::Claimed,
            HostState::Protecting { .. } => StateName::Protecting,
            HostState::Applying { .. } => StateName::Applying,
            HostState::Verifying { .. } => StateName::Verifying,
            HostState::RollingBack { .. } => StateName::RollingBack,
            HostState::Done { .. } => StateName::Done,
            HostState::RolledBack { .. } => StateName::RolledBack,
            HostState::Failed { .. } => StateName::Failed,
            HostState::Restarting { .. } => StateName::Restarting,
            HostState::RebootQueued { .. } => StateName::RebootQueued,
            HostState::Rebooting { .. } => StateName::Rebooting,
        }
    }

    /// `done`, `rolled_back` and `failed` accept no event.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            HostState::Done { .. } | HostState::RolledBack { .. } | HostState::Failed { .. }
        )
    }

    /// Whether the host holds a slot of its group's disruption budget (claimed and not terminal).
    pub fn holds_slot(&self) -> bool {
        !self.is_terminal() && !matches!(self, HostState::Pending { .. })
    }

    /// Claimed but nothing installed yet: the claim may still be given back.
    pub fn before_install(&self) -> bool {
        matches!(
            self,
            HostState::Claimed { .. } | HostState::Protecting { .. }
        )
    }

    /// A terminal state that counts against the failure budget.
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            HostState::RolledBack { .. } | HostState::Failed { .. }
        )
    }

    /// The targets the host is changing to (empty while pending).
    pub fn targets(&self) -> &[Target] {
        match self {
            HostState::Pending { .. } => &[],
            HostState::Claimed { targets, .. }
            | HostState::Protecting { targets, .. }
            | HostState::Applying { targets, .. }
            | HostState::Verifying { targets, .. }
            | HostState::RollingBack { targets, .. }
            | HostState::Done { targets, .. }
            | HostState::RolledBack { targets, .. }
            | HostState::Failed { targets, .. } => targets,
            HostState::Restarting { verified, .. }
            | HostState::RebootQueued { verified, .. }
            | HostState::Rebooting { verified, .. } => &verified.targets,
        }
    }

    /// The versions recorded before the change, where the state holds them.
    pub fn recorded(&self) -> Option<&[Recorded]> {
        match self {
            HostState::Protecting { recorded, .. }
            | HostState::Applying { recorded, .. }
            | HostState::Verifying { recorded, .. }
            | HostState::RollingBack { recorded, .. }
            | HostState::Done { recorded, .. }
            | HostState::RolledBack { recorded, .. } => Some(recorded),
            HostState::Restarting { verified, .. }
            | HostState::RebootQueued { verified, .. }
            | HostState::Rebooting { verified, .. } => Some(&verified.recorded),
            _ => None,
        }
    }
}

/// Something that happened to a host change, in the past tense.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The rollout claimed the host for these exact targets.
    Claimed { targets: Vec<Target> },
    /// The rollout gave the claim back before anything was installed (rollout stopped, a target
    /// blocked fleet-wide).
    Released { reason: String },
    /// The current step's deadline passed (made by [`crate::on_tick`]).
    TimedOut,
    /// The verification period of an older controller's `verifying` host ended (made by
    /// [`crate::on_tick`]).
    VerificationPeriodElapsed,
    /// The agent's guard finished the change and reported what it did: the host goes straight
    /// to the outcome the report proves.
    GuardReported { report: GuardReport },
    /// The controller could not take the agent's report (unreadable, invalid names or
    /// versions): the host fails with the reason.
    ReportRefused { detail: String },
    /// The agent's `restart_services` finished.
    RestartReported { result: RestartResult },
    /// The rollout's reboot budget has a slot for this host (made by the controller from
    /// [`crate::reboot_grants`]).
    RebootGranted,
    /// The agent answered `reboot`: with the boot mark read right before asking for the reboot,
    /// or why it could not.
    RebootRequested {
        ok: bool,
        detail: String,
        boot: Option<BootMark>,
    },
    /// The agent reported fresh facts (its inventory after a start): accepted while rebooting
    /// when the boot mark differs from the one before.
    HostSeen { after: Aftercare },
    /// An operator deferred the restart or reboot this host still needs: the host is done with
    /// the deferral recorded.
    Deferred { by: String, reason: String },
    /// A check of the host's group that the controller evaluates (a PromQL gate) failed while
    /// the host was claimed (made by the controller from [`crate::gate_halts`]).
    GateFailed { check: String, detail: String },
    /// The controller's own rollback (the agent's `late_rollback`) finished: `ok` when apt and
    /// the agent succeeded, `final_versions` what dpkg shows afterwards.
    RollbackReported {
        ok: bool,
        final_versions: Vec<Recorded>,
        detail: String,
    },
}

/// An event's name, for refusals and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventName {
    Claimed,
    Released,
    TimedOut,
    VerificationPeriodElapsed,
    GuardReported,
    ReportRefused,
    RestartReported,
    RebootGranted,
    RebootRequested,
    HostSeen,
    Deferred,
    GateFailed,
    RollbackReported,
}

impl Event {
    pub fn name(&self) -> EventName {
        match self {
            Event::Claimed { .. } => EventName::Claimed,
            Event::Released { .. } => EventName::Released,
            Event::TimedOut => EventName::TimedOut,
            Event::VerificationPeriodElapsed => EventName::VerificationPeriodElapsed,
            Event::GuardReported { .. } => EventName::GuardReported,
            Event::ReportRefused { .. } => EventName::ReportRefused,
            Event::RestartReported { .. } => EventName::RestartReported,
            Event::RebootGranted => EventName::RebootGranted,
            Event::RebootRequested { .. } => EventName::RebootRequested,
            Event::HostSeen { .. } => EventName::HostSeen,
            Event::Deferred { .. } => EventName::Deferred,
            Event::GateFailed { .. } => EventName::GateFailed,
            Event::RollbackReported { .. } => EventName::RollbackReported,
        }
    }
}

/// The step a command belongs to (part of its idempotency key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    RecordVersions,
    Protect,
    Install,
    RunChecks,
    Rollback,
    Page,
    BlockVersion,
    RestartServices,
    Reboot,
}

/// Names a command once: executing a key twice must do nothing the second time.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CommandKey {
    pub rollout: RolloutId,
    pub host: HostId,
    pub step: Step,
    pub attempt: u32,
}

impl std::fmt::Display for CommandKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let step = serde_json::to_value(self.step)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        write!(
            f,
            "{}/{}/{}/{}",
            self.rollout, self.host, step, self.attempt
        )
    }
}

/// What the controller must do, not before `not_before` (retries wait out their backoff).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    pub key: CommandKey,
    pub not_before: Timestamp,
    pub action: Action,
}

/// The work a command asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Ask the agent for the exact installed versions of these packages.
    RecordVersions {
        packages: Vec<pw_model::PackageName>,
    },
    /// Run the protection hooks in order.
    Snapshot { steps: Vec<String> },
    /// Install exactly these versions.
    Install { packages: Vec<Target> },
    /// Run the health checks until `until`; the agent guards the host meanwhile.
    RunChecks {
        checks: Vec<String>,
        until: Timestamp,
    },
    /// Return to the recorded versions (remove packages recorded as absent), then run the checks.
    Rollback {
        to: Vec<Recorded>,
        checks: Vec<String>,
    },
    /// Call a human.
    Page { reason: String },
    /// Block these versions fleet-wide until an operator clears them.
    BlockVersion {
        versions: Vec<Target>,
        reason: String,
    },
    /// Restart these service units (`systemctl restart`), then read the facts again.
    RestartServices { units: Vec<String> },
    /// Reboot the host.
    Reboot,
}

impl Action {
    pub fn step(&self) -> Step {
        match self {
            Action::RecordVersions { .. } => Step::RecordVersions,
            Action::Snapshot { .. } => Step::Protect,
            Action::Install { .. } => Step::Install,
            Action::RunChecks { .. } => Step::RunChecks,
            Action::Rollback { .. } => Step::Rollback,
            Action::Page { .. } => Step::Page,
            Action::BlockVersion { .. } => Step::BlockVersion,
            Action::RestartServices { .. } => Step::RestartServices,
            Action::Reboot => Step::Reboot,
        }
    }
}

/// The outcome of one step: the state to persist and the commands to run after committing it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub next: HostState,
    pub commands: Vec<Command>,
}

/// Why an event was refused; the state stays as it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    #[error("event {event:?} is not accepted in state {state:?}")]
    WrongState { state: StateName, event: EventName },
    #[error("{event:?} before its time: due at {due}")]
    NotDue { event: EventName, due: Timestamp },
    #[error("a claim needs at least one target")]
    NoTargets,
    #[error("package {0} is targeted twice")]
    DuplicateTarget(String),
    #[error("the host reported the same boot as before the reboot")]
    SameBoot,
    #[error("the host's change was already stopped by the failed check {check}")]
    AlreadyHalted { check: String },
}

/// What holds a host's state: the engine's functions over a rollout's hosts
/// ([`crate::decide`], [`crate::gate_halts`], [`crate::slots_by_group`],
/// [`crate::reboot_grants`]) read the states where the caller keeps them, so a caller holding
/// more per host (the controller's scheduler: lock version, last command) does not copy 10,000
/// states into a map of their own for each call.
pub trait AsHostState {
    fn host_state(&self) -> &HostState;
}

impl AsHostState for HostState {
    fn host_state(&self) -> &HostState {
        self
    }
}
