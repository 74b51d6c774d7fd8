//! "Patched means patched" (DESIGN.md §9.5) as the engine sees it: what a verified change left
//! to do on the host — service units still running replaced code, a reboot — and how it was
//! cleared: restarted, rebooted (proven by a changed boot mark), or deferred by an operator.
//! Built from the agent's facts by `crate::wire` (unit names validated there).
//!
//! A host whose change needs a restart or a reboot is not `done` until that happened or an
//! operator deferred it (`restarting` → `reboot_queued` → `rebooting` → `done`, docs/restarts.md).
//! At most `Policy::reboot_budget` hosts of a rollout reboot at once ([`reboot_grants`]).

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::host::{AsHostState, HostState};
use crate::model::{HostId, Recorded, Target};

/// Which boot the host is in: the kernel's boot id and when PID 1 started (clock ticks after
/// boot). A reboot changes the boot id; a container restart (containers share the host's kernel)
/// changes only `init_started`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BootMark {
    pub boot_id: String,
    pub init_started: u64,
}

/// What the host needs after a verified change, from the agent's facts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Aftercare {
    /// Service units running replaced code, sorted.
    #[serde(default)]
    pub units: Vec<String>,
    /// Why a reboot is needed; empty: none.
    #[serde(default)]
    pub reboot: Vec<String>,
    /// The boot the facts were read in; `None` when the agent could not read it.
    #[serde(default)]
    pub boot: Option<BootMark>,
}

impl Aftercare {
    /// Nothing left to do.
    pub fn is_clear(&self) -> bool {
        self.units.is_empty() && self.reboot.is_empty()
    }
}

/// A host change verified on its targets, carried through the restart and reboot states into
/// `done`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verified {
    pub targets: Vec<Target>,
    pub recorded: Vec<Recorded>,
    /// When the guard's report proved the change.
    pub at: Timestamp,
    pub passed: BTreeMap<String, Timestamp>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub drilled: bool,
}

/// How the restart and reboot a change needed were cleared, kept in `done`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cleared {
    /// Units restarted by `restart_services`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restarted: Vec<String>,
    /// The reboot and the boot marks that prove it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rebooted: Option<Rebooted>,
    /// An operator deferred what was left.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deferred: Option<Deferral>,
}

/// A proven reboot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rebooted {
    pub from: BootMark,
    pub to: BootMark,
    /// The boot id stayed and PID 1 restarted: a container restart stood in for the reboot.
    pub container_restart: bool,
    pub reasons: Vec<String>,
}

/// An operator's deferral of a restart or reboot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deferral {
    pub by: String,
    pub reason: String,
    pub at: Timestamp,
    /// What was left undone (`restart nginx.service`, `reboot: kernel … is installed`).
    pub left: Vec<String>,
}

/// What the agent's `restart_services` reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestartResult {
    pub ok: bool,
    pub detail: String,
    pub restarted: Vec<String>,
    /// The facts read after the restart.
    pub after: Aftercare,
}

/// Hosts in `reboot_queued` that may start rebooting now: at most `budget` (0 counts as 1)
/// rebooting at once in the rollout, queued hosts in host-id order.
pub fn reboot_grants<S: AsHostState>(states: &BTreeMap<HostId, S>, budget: u32) -> Vec<HostId> {
    let budget = usize::try_from(budget.max(1)).unwrap_or(usize::MAX);
    let rebooting = (states.values())
        .filter(|s| matches!(s.host_state(), HostState::Rebooting { .. }))
        .count();
    states
        .iter()
        .filter(|(_, s)| matches!(s.host_state(), HostState::RebootQueued { .. }))
        .map(|(id, _)| id.clone())
        .take(budget.saturating_sub(rebooting))
        .collect()
}
