//! Test fixtures: one sample of every state and every event, built around two targets
//! (`nginx` upgraded, `libssl3` newly installed) and one health check `web`.

use jiff::Timestamp;
use pw_model::PackageName;

use super::state::*;
use crate::aftercare::{Aftercare, BootMark, Cleared, RestartResult, Verified};
use crate::model::{ExactVersion, HostId, Recorded, RolloutId, Target};
use crate::policy::Policy;
use crate::report::{GuardOutcome, GuardReport};

pub fn now() -> Timestamp {
    "2025-03-01T02:00:00Z".parse().unwrap()
}

pub fn package(name: &str) -> PackageName {
    PackageName::parse(name).unwrap()
}

pub fn version(text: &str) -> ExactVersion {
    ExactVersion::parse(text).unwrap()
}

pub fn targets() -> Vec<Target> {
    vec![
        Target {
            package: package("libssl3"),
            version: version("3.0.2"),
        },
        Target {
            package: package("nginx"),
            version: version("1.2"),
        },
    ]
}

pub fn recorded() -> Vec<Recorded> {
    vec![
        Recorded {
            package: package("libssl3"),
            version: None,
        },
        Recorded {
            package: package("nginx"),
            version: Some(version("1.1")),
        },
    ]
}

/// What the agent reports after a successful install.
pub fn installed() -> Vec<Recorded> {
    targets()
        .into_iter()
        .map(|t| Recorded {
            package: t.package,
            version: Some(t.version),
        })
        .collect()
}

pub fn policy() -> Policy {
    Policy {
        health_checks: vec!["web".into()],
        protection_steps: vec!["snapshot".into()],
        ..Policy::default()
    }
}

/// A deadline that has just passed at [`now`].
pub fn progress() -> Progress {
    Progress {
        attempt: 3,
        tries: 1,
        deadline: now(),
    }
}

pub fn change(state: HostState) -> HostChange {
    HostChange {
        rollout: RolloutId("r1".into()),
        host: HostId("h1".into()),
        state,
    }
}

/// One sample of each state, every deadline due at [`now`], `web` already passed in verifying.
pub fn every_state() -> Vec<HostState> {
    let passed = [("web".to_string(), now())].into_iter().collect();
    vec![
        HostState::Pending { attempt: 3 },
        HostState::Claimed {
            targets: targets(),
            progress: progress(),
            halted: None,
        },
        HostState::Protecting {
            targets: targets(),
            recorded: recorded(),
            progress: progress(),
        },
        HostState::Applying {
            targets: targets(),
            recorded: recorded(),
            progress: progress(),
        },
        HostState::Verifying {
            targets: targets(),
            recorded: recorded(),
            attempt: 3,
            since: now(),
            until: now(),
            passed,
            drilled: false,
            aftercare: None,
        },
        HostState::RollingBack {
            targets: targets(),
            recorded: recorded(),
            cause: RollbackCause::ApplyFailed {
                detail: "dpkg error".into(),
            },
            progress: progress(),
        },
        HostState::Done {
            targets: targets(),
            recorded: recorded(),
            at: now(),
            passed: Default::default(),
            drilled: false,
            cleared: None,
        },
        HostState::RolledBack {
            targets: targets(),
            recorded: recorded(),
            cause: RollbackCause::ApplyTimedOut,
            at: now(),
        },
        HostState::Failed {
            targets: targets(),
            cause: FailCause::Unreachable,
            at: now(),
        },
        HostState::Restarting {
            verified: verified(),
            units: vec!["nginx.service".into()],
            progress: progress(),
        },
        HostState::RebootQueued {
            verified: verified(),
            reasons: vec!["/run/reboot-required".into()],
            cleared: Cleared::default(),
            attempt: 3,
        },
        HostState::Rebooting {
            verified: verified(),
            reasons: vec!["/run/reboot-required".into()],
            cleared: Cleared::default(),
            boot: Some(boot("a", 1)),
            progress: progress(),
        },
    ]
}

/// A change verified on the targets with `web` passed.
pub fn verified() -> Verified {
    Verified {
        targets: targets(),
        recorded: recorded(),
        at: now(),
        passed: [("web".to_string(), now())].into_iter().collect(),
        drilled: false,
    }
}

pub fn boot(id: &str, init_started: u64) -> BootMark {
    BootMark {
        boot_id: id.into(),
        init_started,
    }
}

/// Facts with nothing left to do, read in boot `id`.
pub fn clear(id: &str) -> Aftercare {
    Aftercare {
        boot: Some(boot(id, 1)),
        ..Aftercare::default()
    }
}

/// One sample of each event, with payloads that fit the samples of [`every_state`].
pub fn every_event() -> Vec<Event> {
    vec![
        Event::Claimed { targets: targets() },
        Event::Released {
            reason: "stopped".into(),
        },
        Event::TimedOut,
        Event::VerificationPeriodElapsed,
        Event::GuardReported {
            report: done_report(),
        },
        Event::ReportRefused {
            detail: "recorded[0].name: package name is empty".into(),
        },
        Event::RestartReported {
            result: RestartResult {
                ok: true,
                detail: "restarted nginx.service".into(),
                restarted: vec!["nginx.service".into()],
                after: clear("a"),
            },
        },
        Event::RebootGranted,
        Event::RebootRequested {
            ok: true,
            detail: "reboot requested".into(),
            boot: Some(boot("a", 1)),
        },
        Event::HostSeen { after: clear("b") },
        Event::Deferred {
            by: "operator:alice".into(),
            reason: "reboot in Sunday's window".into(),
        },
        Event::GateFailed {
            check: "errors".into(),
            detail: "value 0.5 is not < 0.05".into(),
        },
        Event::RollbackReported {
            ok: true,
            final_versions: recorded(),
            detail: "rolled back to the recorded versions".into(),
        },
    ]
}

/// The guard's report of a change that went well: recorded, installed exactly, `web` passed.
pub fn done_report() -> GuardReport {
    GuardReport {
        recorded: recorded(),
        final_versions: installed(),
        installed_at: Some(now()),
        passed_checks: vec!["web".into()],
        ..GuardReport::untouched(GuardOutcome::Done)
    }
}

/// The steps of a decision's commands, in order.
pub fn steps(decision: &Decision) -> Vec<Step> {
    decision.commands.iter().map(|c| c.key.step).collect()
}
