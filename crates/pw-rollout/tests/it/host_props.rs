//! Property tests of one host change over random event sequences (including nonsense ones and
//! guard reports of every outcome, from pending or from a waiting state an older controller
//! left): command keys are never reused, `Install` only comes with recorded versions, attempts
//! never go down, terminal states absorb everything, and ticking alone always ends a waiting
//! state.

use std::collections::BTreeSet;

use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use pw_rollout::{
    Action, Event, GuardOutcome, GuardReason, GuardReport, HostChange, HostId, HostState, Policy,
    Progress, RollbackCause, RolloutId, StepLimits, Target, next_deadline, on_tick, step,
};

use crate::support::{after, before, start, target};

fn targets() -> Vec<Target> {
    vec![target("nginx", "1.2"), target("newlib", "3")]
}

/// An event from a kind and a variant that picks a fitting or unfitting payload; kind 6 is a
/// pure tick (see [`run`]).
fn event(kind: u8, variant: u8) -> Event {
    let t = targets();
    match kind {
        0 => Event::Claimed {
            targets: match variant % 3 {
                0 => t,
                1 => Vec::new(),
                _ => vec![t[0].clone(), t[0].clone()],
            },
        },
        1 => Event::Released {
            reason: "test".into(),
        },
        2 => Event::TimedOut,
        3 => Event::VerificationPeriodElapsed,
        4 => Event::GuardReported {
            report: guard_report(variant),
        },
        _ => Event::ReportRefused { detail: "x".into() },
    }
}

/// The state a run starts from: pending, or (for rows an older controller left mid-replay) a
/// waiting state with its deadline at `start()`.
fn initial(pick: u8) -> HostState {
    let t = targets();
    let progress = Progress {
        attempt: 1,
        tries: 1,
        deadline: start(),
    };
    match pick % 6 {
        0 => HostState::default(),
        1 => HostState::Claimed {
            targets: t,
            progress,
            halted: None,
        },
        2 => HostState::Protecting {
            recorded: before(&t),
            targets: t,
            progress,
        },
        3 => HostState::Applying {
            recorded: before(&t),
            targets: t,
            progress,
        },
        4 => HostState::Verifying {
            recorded: before(&t),
            targets: t,
            attempt: 1,
            since: start(),
            until: start(),
            passed: [("web".to_string(), start())].into_iter().collect(),
            drilled: false,
            aftercare: None,
        },
        _ => HostState::RollingBack {
            recorded: before(&t),
            targets: t,
            cause: RollbackCause::HealthCheckFailed {
                check: "web".into(),
                detail: "x".into(),
            },
            progress,
        },
    }
}

/// A guard's report: every outcome, with fitting or unfitting versions and checks.
fn guard_report(variant: u8) -> GuardReport {
    let t = targets();
    let detail = || "x".to_string();
    let outcome = match variant % 6 {
        0 => GuardOutcome::Done,
        1 => GuardOutcome::RolledBack {
            reason: [
                GuardReason::HealthCheckFailed,
                GuardReason::ApplyFailed,
                GuardReason::Interrupted,
            ][usize::from(variant / 6 % 3)],
            detail: detail(),
        },
        2 => GuardOutcome::Failed { detail: detail() },
        3 => GuardOutcome::ProtectionFailed {
            step: "snapshot".into(),
            detail: detail(),
        },
        4 => GuardOutcome::NotStarted { detail: detail() },
        _ => GuardOutcome::Refused { detail: detail() },
    };
    let fits = (variant / 18).is_multiple_of(2);
    GuardReport {
        recorded: if fits { before(&t) } else { before(&t[..1]) },
        final_versions: match (&outcome, fits) {
            (GuardOutcome::Done, true) => after(&t),
            (_, true) => before(&t),
            (_, false) => after(&t[..1]),
        },
        passed_checks: if (variant / 36).is_multiple_of(2) {
            vec!["web".into(), "db".into()]
        } else {
            vec![]
        },
        failed_check: Some("web".into()),
        ..GuardReport::untouched(outcome)
    }
}

fn policy_strategy() -> impl Strategy<Value = Policy> {
    (0u32..4, 0u32..4, 0u32..4, 0u32..4, any::<bool>(), 0usize..3).prop_map(
        |(record, protect, apply, rollback, protection, checks)| {
            let mut policy = Policy::default();
            policy.timeouts.record_versions = StepLimits::new(60, record);
            policy.timeouts.protect = StepLimits::new(600, protect);
            policy.timeouts.apply = StepLimits::new(600, apply);
            policy.timeouts.rollback = StepLimits::new(600, rollback);
            if protection {
                policy.protection_steps = vec!["snapshot".into()];
            }
            policy.health_checks = ["web", "db"][..checks]
                .iter()
                .map(|c| c.to_string())
                .collect();
            policy
        },
    )
}

fn attempt(state: &HostState) -> Option<u32> {
    match state {
        HostState::Pending { attempt } | HostState::Verifying { attempt, .. } => Some(*attempt),
        HostState::Claimed { progress, .. }
        | HostState::Protecting { progress, .. }
        | HostState::Applying { progress, .. }
        | HostState::RollingBack { progress, .. } => Some(progress.attempt),
        _ => None,
    }
}

/// Runs the inputs from the `initial` state; `kind == 6` is a pure tick. Checks the invariants
/// after every accepted event and returns the final change and time.
fn run(policy: &Policy, from: u8, inputs: &[(u8, u8, u16)]) -> (HostChange, Timestamp) {
    let mut change = HostChange::new(RolloutId("r".into()), HostId("h".into()));
    change.state = initial(from);
    let mut now = start();
    let mut keys = BTreeSet::new();
    let mut highest = 1;
    for &(kind, variant, advance) in inputs {
        now += SignedDuration::from_secs(i64::from(advance));
        let event = if kind == 6 {
            match on_tick(&change.state, now) {
                Some(event) => event,
                None => continue,
            }
        } else {
            event(kind, variant)
        };
        let was_terminal = change.state.is_terminal();
        let Ok(decision) = step(&change, &event, now, policy) else {
            continue;
        };
        assert!(!was_terminal, "{:?} left a terminal state", event.name());
        for command in &decision.commands {
            assert!(
                keys.insert(command.key.clone()),
                "key reused: {}",
                command.key
            );
            assert!(command.not_before >= now);
            if let Action::Install { packages } = &command.action {
                let HostState::Applying {
                    recorded, targets, ..
                } = &decision.next
                else {
                    panic!("Install outside applying: {:?}", decision.next.name());
                };
                assert_eq!(packages, targets);
                for package in packages {
                    assert!(
                        recorded.iter().any(|r| r.package == package.package),
                        "{} installed without a recorded version",
                        package.package
                    );
                }
            }
        }
        if let Some(next) = attempt(&decision.next) {
            assert!(next >= highest, "attempt went down: {highest} -> {next}");
            highest = next;
        }
        change.state = decision.next;
    }
    (change, now)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_event_sequences_keep_the_invariants(
        policy in policy_strategy(),
        from in any::<u8>(),
        inputs in prop::collection::vec((0u8..7, any::<u8>(), 0u16..900), 0..60),
    ) {
        let (change, now) = run(&policy, from, &inputs);
        if change.state.is_terminal() {
            for kind in 0..6 {
                for variant in 0..72 {
                    prop_assert!(step(&change, &event(kind, variant), now, &policy).is_err());
                }
            }
            prop_assert!(on_tick(&change.state, Timestamp::MAX).is_none());
        }
    }

    #[test]
    fn mostly_well_behaved_agents_reach_the_end(
        policy in policy_strategy(),
        inputs in prop::collection::vec((prop::sample::select(vec![0u8, 4, 6]), 0u8..2, 0u16..400), 0..60),
    ) {
        run(&policy, 0, &inputs);
    }

    /// Never stuck: from any reachable state, ticks alone end every waiting state within a
    /// bounded number of steps (a held budget slot is always given back).
    #[test]
    fn ticking_alone_always_ends_a_waiting_state(
        policy in policy_strategy(),
        from in any::<u8>(),
        inputs in prop::collection::vec((0u8..7, any::<u8>(), 0u16..900), 0..40),
    ) {
        let (mut change, _) = run(&policy, from, &inputs);
        let mut ticks = 0;
        while let Some(deadline) = next_deadline(&change.state) {
            let event = on_tick(&change.state, deadline).unwrap();
            change.state = step(&change, &event, deadline, &policy).unwrap().next;
            ticks += 1;
            prop_assert!(ticks <= 16, "still waiting after {ticks} deadlines: {:?}", change.state.name());
        }
        let ended = change.state.is_terminal() || matches!(change.state, HostState::Pending { .. });
        prop_assert!(ended, "ended in {:?}", change.state.name());
    }
}
