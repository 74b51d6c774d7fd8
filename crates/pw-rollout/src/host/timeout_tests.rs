//! Timeouts, retries and backoff of the waiting states.

use jiff::{SignedDuration, Timestamp};

use super::fixtures::*;
use super::state::*;
use super::step::{next_deadline, on_tick, step};
use crate::policy::Policy;

fn secs(n: i64) -> SignedDuration {
    SignedDuration::from_secs(n)
}

/// Feeds `TimedOut` at each deadline until the state leaves `name`; returns the decisions.
fn time_out_until_leaving(mut state: HostState, policy: &Policy) -> Vec<(Timestamp, Decision)> {
    let name = state.name();
    let mut out = Vec::new();
    for _ in 0..20 {
        let at = next_deadline(&state).unwrap();
        assert_eq!(on_tick(&state, at), Some(Event::TimedOut));
        let decision = step(&change(state.clone()), &Event::TimedOut, at, policy).unwrap();
        state = decision.next.clone();
        out.push((at, decision));
        if state.name() != name {
            return out;
        }
    }
    panic!("{name:?} never gave up");
}

#[test]
fn tick_fires_exactly_at_the_deadline() {
    let claimed = change(HostState::default());
    let event = Event::Claimed { targets: targets() };
    let decision = step(&claimed, &event, now(), &policy()).unwrap();
    let deadline = now() + secs(120);
    assert_eq!(next_deadline(&decision.next), Some(deadline));
    assert_eq!(on_tick(&decision.next, deadline - secs(1)), None);
    assert_eq!(on_tick(&decision.next, deadline), Some(Event::TimedOut));
    assert_eq!(
        step(
            &change(decision.next.clone()),
            &Event::TimedOut,
            deadline - secs(1),
            &policy()
        ),
        Err(Rejected::NotDue {
            event: EventName::TimedOut,
            due: deadline
        })
    );
}

#[test]
fn verification_ends_with_its_period() {
    // An older controller's `verifying` host, verifying until 5 minutes from now.
    let mut verifying = every_state().remove(4);
    let until = now() + secs(300);
    if let HostState::Verifying { until: u, .. } = &mut verifying {
        *u = until;
    }
    assert_eq!(next_deadline(&verifying), Some(until));
    assert_eq!(on_tick(&verifying, until - secs(1)), None);
    assert_eq!(
        on_tick(&verifying, until),
        Some(Event::VerificationPeriodElapsed)
    );
    let early = step(
        &change(verifying),
        &Event::VerificationPeriodElapsed,
        until - secs(1),
        &policy(),
    );
    assert!(matches!(early, Err(Rejected::NotDue { .. })));
}

#[test]
fn pending_and_terminal_states_have_no_deadline() {
    for state in every_state() {
        // `reboot_queued` waits for the reboot budget: the hosts holding it have deadlines.
        let waits = !matches!(
            state,
            HostState::Pending { .. } | HostState::RebootQueued { .. }
        ) && !state.is_terminal();
        assert_eq!(next_deadline(&state).is_some(), waits, "{:?}", state.name());
        assert_eq!(on_tick(&state, Timestamp::MAX).is_some(), waits);
    }
}

#[test]
fn recording_retries_with_backoff_then_fails_without_paging() {
    let claimed = every_state().remove(1);
    let decisions = time_out_until_leaving(claimed, &policy());
    assert_eq!(decisions.len(), 3, "3 tries in all");
    let (at, first_retry) = &decisions[0];
    let command = &first_retry.commands[0];
    assert_eq!(command.key.attempt, 4);
    assert_eq!(command.not_before, *at + secs(10), "first backoff");
    assert_eq!(
        next_deadline(&first_retry.next),
        Some(*at + secs(10 + 120)),
        "the deadline counts from the end of the backoff"
    );
    let (at, second_retry) = &decisions[1];
    assert_eq!(second_retry.commands[0].not_before, *at + secs(20));
    let (_, last) = &decisions[2];
    assert!(matches!(
        last.next,
        HostState::Failed {
            cause: FailCause::Unreachable,
            ..
        }
    ));
    assert!(
        last.commands.is_empty(),
        "an unreachable agent changed nothing"
    );
}

#[test]
fn protection_gives_up_after_two_tries_and_pages() {
    let decisions = time_out_until_leaving(every_state().remove(2), &policy());
    assert_eq!(decisions.len(), 2);
    assert_eq!(decisions[0].1.commands[0].key.step, Step::Protect);
    let last = &decisions[1].1;
    assert_eq!(last.next.name(), StateName::Failed);
    assert_eq!(steps(last), [Step::Page]);
}

#[test]
fn install_is_retried_under_a_new_key_then_rolled_back() {
    let decisions = time_out_until_leaving(every_state().remove(3), &policy());
    assert_eq!(decisions.len(), 2);
    let retry = &decisions[0].1.commands[0];
    assert_eq!((retry.key.step, retry.key.attempt), (Step::Install, 4));
    let last = &decisions[1].1;
    assert!(matches!(
        last.next,
        HostState::RollingBack {
            cause: RollbackCause::ApplyTimedOut,
            ..
        }
    ));
    assert_eq!(steps(last), [Step::Rollback]);
    assert_eq!(last.commands[0].key.attempt, 4);
}

#[test]
fn rollback_is_retried_three_times_then_fails_and_pages() {
    let decisions = time_out_until_leaving(every_state().remove(5), &policy());
    assert_eq!(decisions.len(), 3);
    let attempts: Vec<u32> = decisions[..2]
        .iter()
        .map(|(_, d)| d.commands[0].key.attempt)
        .collect();
    assert_eq!(attempts, [4, 5]);
    let last = &decisions[2].1;
    assert!(matches!(
        last.next,
        HostState::Failed {
            cause: FailCause::RollbackFailed { .. },
            ..
        }
    ));
    assert_eq!(steps(last), [Step::Page]);
}

#[test]
fn limits_are_data() {
    let mut policy = policy();
    policy.timeouts.apply.max_tries = 4;
    policy.timeouts.backoff.initial_seconds = 1;
    policy.timeouts.backoff.max_seconds = 3;
    let decisions = time_out_until_leaving(every_state().remove(3), &policy);
    assert_eq!(decisions.len(), 4);
    let delays: Vec<i64> = decisions[..3]
        .iter()
        .map(|(at, d)| (d.commands[0].not_before - *at).get_seconds())
        .collect();
    assert_eq!(delays, [1, 2, 3], "doubling, capped at 3");
}

#[test]
fn zero_tries_still_tries_once() {
    let mut policy = policy();
    policy.timeouts.rollback.max_tries = 0;
    let decisions = time_out_until_leaving(every_state().remove(5), &policy);
    assert_eq!(decisions.len(), 1);
    assert_eq!(decisions[0].1.next.name(), StateName::Failed);
}
