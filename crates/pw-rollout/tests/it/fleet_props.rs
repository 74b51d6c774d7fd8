//! Property tests over random fleets: a small controller loop drives `decide` and every host's
//! `step` with random agent behaviour, operator actions and time, and checks after every round
//! that the budget is never exceeded, batches never overlap (the canary completes first), a
//! stopped rollout claims nothing, blocked versions are never claimed, and no command key is used
//! twice.

use std::collections::{BTreeMap, BTreeSet};

use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use pw_rollout::{
    Action, BatchKind, BatchSpec, BlockList, Event, FailurePolicy, Gates, GuardOutcome,
    GuardReason, GuardReport, HostChange, HostId, HostSpec, HostState, Policy, RolloutControl,
    RolloutId, RolloutPlan, RolloutStatus, Target, decide, next_deadline, on_tick, step,
};

use crate::support::{after, before, start, target};

/// A random fleet: per group a budget and batch sizes (the first batch is its canary).
#[derive(Debug, Clone)]
struct Fleet {
    groups: Vec<(usize, Vec<usize>)>,
    /// Target choice per host (indexes a small pool, so blocks hit other hosts).
    picks: Vec<u8>,
    failure: FailurePolicy,
    protection: bool,
}

fn fleet_strategy() -> impl Strategy<Value = Fleet> {
    (
        prop::collection::vec((1usize..4, prop::collection::vec(1usize..5, 1..4)), 1..4),
        prop::collection::vec(any::<u8>(), 64),
        (0usize..2, 0usize..4, any::<bool>()),
        any::<bool>(),
    )
        .prop_map(|(groups, picks, (canary, max, cont), protection)| Fleet {
            groups,
            picks,
            failure: FailurePolicy {
                canary_max_failures: canary,
                max_failures: max,
                continue_after_failed_batch: cont,
            },
            protection,
        })
}

fn plan(fleet: &Fleet) -> RolloutPlan {
    let pool = [
        vec![target("nginx", "1.2")],
        vec![target("nginx", "1.3")],
        vec![target("nginx", "1.2"), target("libssl3", "3.0.2")],
        vec![target("newtool", "1")],
    ];
    let mut canaries = Vec::new();
    let mut waves = Vec::new();
    let mut budgets = BTreeMap::new();
    let mut n = 0;
    for (g, (budget, sizes)) in fleet.groups.iter().enumerate() {
        let group = format!("g{g}");
        budgets.insert(group.clone(), *budget);
        for (b, size) in sizes.iter().enumerate() {
            let hosts = (0..*size)
                .map(|_| {
                    n += 1;
                    let pick = fleet.picks[n % fleet.picks.len()];
                    HostSpec {
                        id: HostId(format!("{group}-h{n}")),
                        targets: pool[usize::from(pick) % pool.len()].clone(),
                    }
                })
                .collect();
            let kind = if b == 0 {
                BatchKind::Canary
            } else {
                BatchKind::Wave
            };
            let batch = BatchSpec {
                group: group.clone(),
                kind,
                hosts,
                not_before: None,
                not_after: None,
                drill: false,
            };
            if b == 0 {
                canaries.push(batch)
            } else {
                waves.push(batch)
            }
        }
    }
    canaries.extend(waves);
    RolloutPlan {
        id: RolloutId("r1".into()),
        batches: canaries,
        budgets,
        failure: fleet.failure,
        mode: pw_rollout::Mode::Batches,
    }
}

/// What a random agent does with a host in `state` given a choice byte: mostly the guard's one
/// report, sometimes silence until the deadline, sometimes a report the controller refuses.
fn agent(state: &HostState, choice: u8, now: Timestamp) -> Option<(Event, Timestamp)> {
    let targets = state.targets().to_vec();
    let late = next_deadline(state).map_or(now, |d| d.max(now));
    let event = match (state, choice % 8) {
        (HostState::Claimed { .. }, 6 | 7) => return Some((Event::TimedOut, late)),
        (HostState::Claimed { .. }, 5) if (choice / 8).is_multiple_of(2) => {
            Event::ReportRefused { detail: "x".into() }
        }
        (HostState::Claimed { .. }, what) => Event::GuardReported {
            report: guard_report(&targets, what),
        },
        _ => return None,
    };
    Some((event, now))
}

/// The agent guard's one report for a change (`what` < 6): mostly done, else rolled back after a
/// health or apply failure, failed, or refused.
fn guard_report(targets: &[Target], what: u8) -> GuardReport {
    let rolled_back = |reason| GuardOutcome::RolledBack {
        reason,
        detail: "x".into(),
    };
    let outcome = match what {
        0..=2 => GuardOutcome::Done,
        3 => rolled_back(GuardReason::HealthCheckFailed),
        4 => rolled_back(GuardReason::ApplyFailed),
        _ => GuardOutcome::Failed { detail: "x".into() },
    };
    let done = outcome == GuardOutcome::Done;
    GuardReport {
        recorded: before(targets),
        final_versions: if done {
            after(targets)
        } else {
            before(targets)
        },
        passed_checks: vec!["web".into()],
        failed_check: Some("web".into()),
        ..GuardReport::untouched(outcome)
    }
}

/// The controller loop with its checks.
struct Sim {
    plan: RolloutPlan,
    policy: Policy,
    changes: BTreeMap<HostId, HostChange>,
    control: RolloutControl,
    blocks: BlockList,
    now: Timestamp,
    keys: BTreeSet<String>,
}

impl Sim {
    fn states(&self) -> BTreeMap<HostId, HostState> {
        self.changes
            .iter()
            .map(|(id, c)| (id.clone(), c.state.clone()))
            .collect()
    }

    /// Applies an event; commits the state and "runs" its commands.
    fn apply(&mut self, host: &HostId, event: &Event) {
        let change = &self.changes[host];
        let Ok(decision) = step(change, event, self.now, &self.policy) else {
            return;
        };
        for command in &decision.commands {
            assert!(
                self.keys.insert(command.key.to_string()),
                "reused {}",
                command.key
            );
            if let Action::Install { packages } = &command.action {
                assert!(decision.next.recorded().is_some());
                assert_eq!(packages.as_slice(), decision.next.targets());
            }
            self.blocks.apply(command, self.now);
        }
        if let Some(change) = self.changes.get_mut(host) {
            change.state = decision.next;
        }
    }

    fn check_budget(&self) {
        for (group, budget) in &self.plan.budgets {
            let holding = self
                .plan
                .batches
                .iter()
                .filter(|b| &b.group == group)
                .flat_map(|b| &b.hosts)
                .filter(|h| self.changes[&h.id].state.holds_slot())
                .count();
            assert!(
                holding <= *budget,
                "{group}: {holding} in flight, budget {budget}"
            );
        }
    }

    /// Every host of an earlier batch than `batch` (index) is terminal or skipped.
    fn earlier_batches_complete(&self, batch: usize) -> bool {
        self.plan.batches[..batch]
            .iter()
            .flat_map(|b| &b.hosts)
            .all(|h| {
                let state = &self.changes[&h.id].state;
                state.is_terminal()
                    || (matches!(state, HostState::Pending { .. })
                        && self.blocks.blocked(&h.targets).next().is_some())
            })
    }

    /// One controller round: ticks, decide, releases, claims, one agent reply, an operator act.
    fn round(&mut self, choice: (u8, u8, u8, u16)) -> bool {
        let (which, what, operator, advance) = choice;
        self.now += SignedDuration::from_secs(i64::from(advance));
        let hosts: Vec<HostId> = self.changes.keys().cloned().collect();
        for host in &hosts {
            if let Some(event) = on_tick(&self.changes[host].state, self.now) {
                self.apply(host, &event);
            }
        }
        let decision = decide(
            &self.plan,
            &self.states(),
            &self.control,
            &self.blocks,
            &Gates::default(),
        )
        .unwrap();
        if matches!(decision.status, RolloutStatus::Stopped { .. }) {
            assert!(decision.claim.is_empty(), "a stopped rollout claimed");
        }
        for release in &decision.release {
            self.apply(&release.host, &release.event());
        }
        for claim in &decision.claim {
            assert!(self.blocks.blocked(&claim.targets).next().is_none());
            assert!(
                self.earlier_batches_complete(claim.batch - 1),
                "batch {} started before the ones before it completed",
                claim.batch
            );
            assert_eq!(
                self.changes[&claim.host].state.name(),
                pw_rollout::StateName::Pending
            );
            self.apply(&claim.host, &claim.event());
        }
        self.check_budget();
        let busy: Vec<HostId> = hosts
            .iter()
            .filter(|h| self.changes[*h].state.holds_slot())
            .cloned()
            .collect();
        if !busy.is_empty() {
            let host = &busy[usize::from(which) % busy.len()];
            if let Some((event, at)) = agent(&self.changes[host].state, what, self.now) {
                self.now = at;
                self.apply(host, &event);
            }
        }
        match operator {
            0 => self.control.paused_by = Some("alice".into()),
            1 => self.control.paused_by = None,
            2 => {
                let first = self.blocks.iter().next().map(|b| b.target());
                if let Some(target) = first {
                    self.blocks.clear(&target);
                }
            }
            3 => {
                self.control
                    .accepted_failed_batches
                    .extend(1..=self.plan.batches.len());
            }
            _ => {}
        }
        let done = matches!(
            decision.status,
            RolloutStatus::Completed | RolloutStatus::Stopped { .. }
        );
        done && busy.is_empty()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_fleets_keep_the_rollout_invariants(
        fleet in fleet_strategy(),
        rounds in prop::collection::vec((any::<u8>(), any::<u8>(), 0u8..24, 0u16..400), 1..150),
        stop_at in prop::option::of(0usize..150),
    ) {
        let plan = plan(&fleet);
        let changes = plan
            .batches
            .iter()
            .flat_map(|b| &b.hosts)
            .map(|h| (h.id.clone(), HostChange::new(plan.id.clone(), h.id.clone())))
            .collect();
        let mut policy = Policy { health_checks: vec!["web".into()], ..Policy::default() };
        if fleet.protection {
            policy.protection_steps = vec!["snapshot".into()];
        }
        let mut sim = Sim {
            plan,
            policy,
            changes,
            control: RolloutControl::default(),
            blocks: BlockList::new(),
            now: start(),
            keys: BTreeSet::new(),
        };
        let mut stopped = false;
        for (index, choice) in rounds.into_iter().enumerate() {
            if stop_at == Some(index) {
                sim.control.stopped_by = Some("bob".into());
                stopped = true;
            }
            let claimed_before: usize = sim.changes.values().filter(|c| c.state.holds_slot()).count();
            let finished = sim.round(choice);
            if stopped {
                // After a stop, no host newly holds a slot.
                let claimed_after = sim.changes.values().filter(|c| c.state.holds_slot()).count();
                prop_assert!(claimed_after <= claimed_before);
            }
            if finished {
                break;
            }
        }
    }
}
