//! The per-host state machine (DESIGN.md §5): `pending → claimed → protecting → applying →
//! verifying → done | rolling_back → rolled_back | failed`, and after a verified change that
//! still needs it `restarting → reboot_queued → rebooting → done` (`aftercare.rs`).

mod aftercare;
mod drilled;
mod halted;
mod reported;
mod rollback;
mod state;
mod step;

pub use state::{
    Action, AsHostState, Command, CommandKey, Decision, Event, EventName, FailCause, GateHalt,
    HostChange, HostState, Progress, Rejected, RollbackCause, StateName, Step,
};
pub use step::{next_deadline, on_tick, step};

#[cfg(test)]
mod aftercare_tests;
#[cfg(test)]
mod drill_tests;
#[cfg(test)]
pub(crate) mod fixtures;
#[cfg(test)]
mod halted_tests;
#[cfg(test)]
mod report_tests;
#[cfg(test)]
mod table_tests;
#[cfg(test)]
mod timeout_tests;
