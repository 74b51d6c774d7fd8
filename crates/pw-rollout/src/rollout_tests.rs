//! Rollout decisions: canary first, budgets, the failure budget, pauses, blocks, gates, retry.

use std::collections::BTreeMap;

use jiff::Timestamp;
use pw_model::PackageName;

use super::*;
use crate::block::Block;
use crate::host::{FailCause, Progress, RollbackCause};
use crate::model::{ExactVersion, Recorded};
use crate::plan::FailurePolicy;

fn target(spec: &str) -> Target {
    let (package, version) = spec.split_once('=').unwrap();
    Target {
        package: PackageName::parse(package).unwrap(),
        version: ExactVersion::parse(version).unwrap(),
    }
}

fn id(host: &str) -> HostId {
    HostId(host.into())
}

/// Batches of `(kind, hosts)` in group `web`, every host targeting `nginx=1.2` except `db*`
/// hosts, which also target `libpq5=16.1`.
fn plan(batches: &[(BatchKind, &[&str])], budget: usize) -> RolloutPlan {
    let batches: Vec<BatchSpec> = batches
        .iter()
        .map(|(kind, hosts)| BatchSpec {
            group: "web".into(),
            kind: *kind,
            hosts: hosts
                .iter()
                .map(|h| HostSpec {
                    id: id(h),
                    targets: if h.starts_with("db") {
                        vec![target("libpq5=16.1"), target("nginx=1.2")]
                    } else {
                        vec![target("nginx=1.2")]
                    },
                })
                .collect(),
            not_before: None,
            not_after: None,
            drill: false,
        })
        .collect();
    RolloutPlan {
        id: RolloutId("r1".into()),
        failure: FailurePolicy::default_for(&batches),
        batches,
        budgets: [("web".to_string(), budget)].into_iter().collect(),
        mode: crate::plan::Mode::Batches,
    }
}

fn at() -> Timestamp {
    Timestamp::UNIX_EPOCH
}

fn claimed() -> HostState {
    HostState::Claimed {
        targets: vec![target("nginx=1.2")],
        progress: Progress {
            attempt: 1,
            tries: 1,
            deadline: at(),
        },
        halted: None,
    }
}

fn applying() -> HostState {
    HostState::Applying {
        targets: vec![target("nginx=1.2")],
        recorded: Vec::<Recorded>::new(),
        progress: Progress {
            attempt: 1,
            tries: 1,
            deadline: at(),
        },
    }
}

fn done() -> HostState {
    HostState::Done {
        targets: vec![],
        recorded: vec![],
        at: at(),
        passed: BTreeMap::new(),
        drilled: false,
        cleared: None,
    }
}

fn rolled_back() -> HostState {
    HostState::RolledBack {
        targets: vec![],
        recorded: vec![],
        cause: RollbackCause::ApplyTimedOut,
        at: at(),
    }
}

fn failed() -> HostState {
    HostState::Failed {
        targets: vec![],
        cause: FailCause::Unreachable,
        at: at(),
    }
}

fn states(list: &[(&str, HostState)]) -> BTreeMap<HostId, HostState> {
    list.iter().map(|(h, s)| (id(h), s.clone())).collect()
}

fn blocked(spec: &str) -> BlockList {
    let mut list = BlockList::new();
    let t = target(spec);
    list.insert(Block {
        package: t.package,
        version: t.version,
        reason: "health check web failed".into(),
        rollout: RolloutId("r0".into()),
        host: id("x"),
        at: at(),
    });
    list
}

fn run(plan: &RolloutPlan, states: &BTreeMap<HostId, HostState>) -> RolloutDecision {
    decide(
        plan,
        states,
        &RolloutControl::default(),
        &BlockList::new(),
        &Gates::default(),
    )
    .unwrap()
}

fn claimed_hosts(decision: &RolloutDecision) -> Vec<&str> {
    decision.claim.iter().map(|c| c.host.0.as_str()).collect()
}

const CANARY: BatchKind = BatchKind::Canary;
const WAVE: BatchKind = BatchKind::Wave;

#[test]
fn the_canary_goes_alone_first() {
    let p = plan(&[(CANARY, &["c1"]), (WAVE, &["w1", "w2", "w3"])], 2);
    let d = run(&p, &BTreeMap::new());
    assert_eq!(d.status, RolloutStatus::Running);
    assert_eq!((d.batch, claimed_hosts(&d)), (Some(1), vec!["c1"]));
    let d = run(&p, &states(&[("c1", applying())]));
    assert!(d.claim.is_empty());
    assert_eq!(d.waiting, [WaitReason::BatchInProgress { batch: 1 }]);
    let d = run(&p, &states(&[("c1", done())]));
    assert_eq!((d.batch, claimed_hosts(&d)), (Some(2), vec!["w1", "w2"]));
    assert!(matches!(
        &d.waiting[..],
        [WaitReason::BudgetFull { budget: 2, .. }]
    ));
}

#[test]
fn the_budget_counts_holders_here_and_elsewhere_and_terminal_hosts_give_slots_back() {
    let p = plan(&[(WAVE, &["w1", "w2", "w3", "w4"])], 2);
    let d = run(&p, &states(&[("w1", applying()), ("w2", claimed())]));
    assert!(d.claim.is_empty());
    let WaitReason::BudgetFull { holders, .. } = &d.waiting[0] else {
        panic!("{:?}", d.waiting);
    };
    assert_eq!(holders, &[id("w1"), id("w2")]);
    // w1 timed out into failed: its slot is free again.
    let mut p = p;
    p.failure.max_failures = 5;
    p.failure.continue_after_failed_batch = true;
    let d = run(&p, &states(&[("w1", failed()), ("w2", claimed())]));
    assert_eq!(claimed_hosts(&d), ["w3"]);
    let gates = Gates {
        busy_elsewhere: [("web".to_string(), 1)].into_iter().collect(),
        ..Gates::default()
    };
    let d = decide(
        &p,
        &states(&[("w2", claimed())]),
        &Default::default(),
        &BlockList::new(),
        &gates,
    )
    .unwrap();
    assert!(d.claim.is_empty(), "one slot here, one in another rollout");
}

#[test]
fn any_canary_failure_stops_and_nothing_more_is_claimed() {
    let p = plan(&[(CANARY, &["c1", "c2"]), (WAVE, &["w1"])], 2);
    let d = run(&p, &states(&[("c1", rolled_back()), ("c2", claimed())]));
    assert_eq!(
        d.status,
        RolloutStatus::Stopped {
            reason: StopReason::CanaryFailed {
                failures: 1,
                allowed: 0
            }
        }
    );
    assert!(d.claim.is_empty());
    assert_eq!(d.release.len(), 1, "the claimed canary is given back");
    assert_eq!(d.release[0].host, id("c2"));
}

#[test]
fn one_failure_budget_for_the_whole_rollout() {
    // 20 wave hosts: 10% = 2 failures tolerated over all batches together.
    let w1: Vec<String> = (0..10).map(|i| format!("a{i}")).collect();
    let w2: Vec<String> = (0..10).map(|i| format!("b{i}")).collect();
    let w1: Vec<&str> = w1.iter().map(String::as_str).collect();
    let w2: Vec<&str> = w2.iter().map(String::as_str).collect();
    let mut p = plan(&[(CANARY, &["c1"]), (WAVE, &w1), (WAVE, &w2)], 10);
    p.failure.continue_after_failed_batch = true;
    assert_eq!(p.failure.max_failures, 2);
    let mut s = states(&[("c1", done())]);
    for h in &w1 {
        s.insert(id(h), done());
    }
    s.insert(id("a0"), failed());
    s.insert(id("a1"), rolled_back());
    let d = run(&p, &s);
    assert_eq!(
        d.status,
        RolloutStatus::Running,
        "2 failures: within budget"
    );
    assert_eq!(
        d.failures,
        Failures {
            canary: 0,
            total: 2
        }
    );
    s.insert(id("b0"), rolled_back());
    s.insert(id("b1"), claimed());
    let d = run(&p, &s);
    assert_eq!(
        d.status,
        RolloutStatus::Stopped {
            reason: StopReason::FailureBudgetExceeded {
                failures: 3,
                allowed: 2
            }
        }
    );
    assert!(d.claim.is_empty());
    assert_eq!(d.release[0].host, id("b1"));
}

#[test]
fn a_failed_batch_pauses_unless_accepted_or_the_policy_continues() {
    let mut p = plan(&[(WAVE, &["w1", "w2"]), (WAVE, &["w3"])], 2);
    p.failure.max_failures = 1;
    let s = states(&[("w1", done()), ("w2", rolled_back())]);
    let d = run(&p, &s);
    assert_eq!(
        d.status,
        RolloutStatus::Paused {
            reason: PauseReason::BatchFailed {
                batch: 1,
                failures: 1
            }
        }
    );
    assert!(d.claim.is_empty());
    let accepted = RolloutControl {
        accepted_failed_batches: [1].into_iter().collect(),
        ..Default::default()
    };
    let d = decide(&p, &s, &accepted, &BlockList::new(), &Gates::default()).unwrap();
    assert_eq!(claimed_hosts(&d), ["w3"]);
    p.failure.continue_after_failed_batch = true;
    assert_eq!(claimed_hosts(&run(&p, &s)), ["w3"]);
}

#[test]
fn operators_pause_and_stop() {
    let p = plan(&[(WAVE, &["w1", "w2", "w3"])], 3);
    let s = states(&[("w1", claimed()), ("w2", applying())]);
    let paused = RolloutControl {
        paused_by: Some("alice".into()),
        ..Default::default()
    };
    let d = decide(&p, &s, &paused, &BlockList::new(), &Gates::default()).unwrap();
    assert!(matches!(d.status, RolloutStatus::Paused { .. }));
    assert!(
        d.claim.is_empty() && d.release.is_empty(),
        "in-flight hosts carry on"
    );
    let stopped = RolloutControl {
        stopped_by: Some("bob".into()),
        ..Default::default()
    };
    let d = decide(&p, &s, &stopped, &BlockList::new(), &Gates::default()).unwrap();
    assert!(matches!(d.status, RolloutStatus::Stopped { .. }));
    assert!(d.claim.is_empty());
    let released: Vec<&HostId> = d.release.iter().map(|r| &r.host).collect();
    assert_eq!(released, [&id("w1")], "applying hosts are not interrupted");
}

#[test]
fn blocked_versions_skip_pending_hosts_and_release_unstarted_claims() {
    let p = plan(&[(WAVE, &["db1", "w1"]), (WAVE, &["db2", "w2"])], 2);
    let blocks = blocked("libpq5=16.1");
    let s = states(&[("db1", claimed()), ("w1", done())]);
    let d = decide(&p, &s, &Default::default(), &blocks, &Gates::default()).unwrap();
    assert_eq!(d.release.len(), 1);
    assert_eq!(d.release[0].host, id("db1"));
    assert!(d.release[0].reason.contains("libpq5=16.1"));
    assert_eq!(d.batch, Some(1), "batch 1 waits for the release");
    // Released: db1 is pending and skipped; batch 1 is complete, batch 2 runs without db2.
    let s = states(&[("w1", done())]);
    let d = decide(&p, &s, &Default::default(), &blocks, &Gates::default()).unwrap();
    assert_eq!((d.batch, claimed_hosts(&d)), (Some(2), vec!["w2"]));
    let skipped: Vec<&HostId> = d.skipped.iter().map(|s| &s.host).collect();
    assert_eq!(skipped, [&id("db1"), &id("db2")]);
    assert_eq!(d.skipped[0].blocked, [target("libpq5=16.1")]);
    assert_eq!(d.failures.total, 0, "a skip is not a failure");
    let s = states(&[("w1", done()), ("w2", done())]);
    let d = decide(&p, &s, &Default::default(), &blocks, &Gates::default()).unwrap();
    assert_eq!(d.status, RolloutStatus::Completed);
    assert_eq!(d.skipped.len(), 2);
}

#[test]
fn completed_when_every_host_is_terminal_and_stopped_wins_over_completed() {
    let p = plan(&[(CANARY, &["c1"]), (WAVE, &["w1"])], 1);
    let d = run(&p, &states(&[("c1", done()), ("w1", done())]));
    assert_eq!((d.status, d.batch), (RolloutStatus::Completed, None));
    let d = run(&p, &states(&[("c1", done()), ("w1", failed())]));
    assert!(matches!(d.status, RolloutStatus::Stopped { .. }));
    assert_eq!(
        run(&plan(&[], 1), &BTreeMap::new()).status,
        RolloutStatus::Completed
    );
}

#[test]
fn invalid_plans_are_refused() {
    let check = |p: RolloutPlan, expected: PlanError| {
        assert_eq!(p.validate(), Err(expected.clone()));
        assert_eq!(
            decide(
                &p,
                &BTreeMap::<HostId, HostState>::new(),
                &Default::default(),
                &BlockList::new(),
                &Gates::default()
            ),
            Err(expected)
        );
    };
    check(
        plan(&[(WAVE, &["w1"]), (CANARY, &["c1"])], 1),
        PlanError::CanaryAfterWave { batch: 2 },
    );
    check(plan(&[(WAVE, &[])], 1), PlanError::EmptyBatch { batch: 1 });
    check(
        plan(&[(WAVE, &["w1"]), (WAVE, &["w1"])], 1),
        PlanError::DuplicateHost {
            host: id("w1"),
            first: 1,
            second: 2,
        },
    );
    check(
        plan(&[(WAVE, &["w1"])], 0),
        PlanError::NoBudget {
            group: "web".into(),
            batch: 1,
        },
    );
    let mut p = plan(&[(WAVE, &["w1"])], 1);
    p.batches[0].hosts[0].targets.clear();
    check(
        p,
        PlanError::NoTargets {
            host: id("w1"),
            batch: 1,
        },
    );
}

#[test]
fn retry_takes_only_failed_hosts_without_blocked_versions() {
    let p = plan(
        &[
            (CANARY, &["c1"]),
            (WAVE, &["w1", "db1", "w2"]),
            (WAVE, &["w3"]),
        ],
        2,
    );
    let s = states(&[
        ("c1", done()),
        ("w1", rolled_back()),
        ("db1", failed()),
        ("w2", done()),
        ("w3", failed()),
    ]);
    let (retry, left_out) = retry_failed(&p, &s, &blocked("libpq5=16.1"), RolloutId("r2".into()));
    assert_eq!(retry.id, RolloutId("r2".into()));
    let hosts: Vec<Vec<&str>> = retry
        .batches
        .iter()
        .map(|b| b.hosts.iter().map(|h| h.id.0.as_str()).collect())
        .collect();
    assert_eq!(hosts, [vec!["w1"], vec!["w3"]]);
    assert_eq!(left_out.len(), 1);
    assert_eq!(left_out[0].host, id("db1"));
    assert!(retry.validate().is_ok());
    let (none, _) = retry_failed(
        &p,
        &BTreeMap::<HostId, HostState>::new(),
        &BlockList::new(),
        RolloutId("r3".into()),
    );
    assert!(none.batches.is_empty());
}

#[test]
fn a_batch_waits_for_its_start_time() {
    let start = at() + jiff::SignedDuration::from_hours(1);
    let mut p = plan(&[(BatchKind::Canary, &["a"]), (BatchKind::Wave, &["b"])], 2);
    p.batches[1].not_before = Some(start);
    let done = BTreeMap::from([(id("a"), done())]);
    for now in [
        None,
        Some(at()),
        Some(start - jiff::SignedDuration::from_secs(1)),
    ] {
        let gates = Gates {
            now,
            ..Gates::default()
        };
        let d = decide(&p, &done, &Default::default(), &BlockList::new(), &gates).unwrap();
        assert!(d.claim.is_empty(), "{now:?}: {d:?}");
        assert_eq!(
            d.waiting,
            vec![WaitReason::BatchNotStarted { batch: 2, start }]
        );
    }
    // The first batch has no start time: claimed without a clock.
    let d = decide(
        &p,
        &BTreeMap::<HostId, HostState>::new(),
        &Default::default(),
        &BlockList::new(),
        &Gates::default(),
    )
    .unwrap();
    assert_eq!(d.claim.len(), 1);
    let gates = Gates {
        now: Some(start),
        ..Gates::default()
    };
    let d = decide(&p, &done, &Default::default(), &BlockList::new(), &gates).unwrap();
    assert_eq!(d.claim[0].host, id("b"));
    // A T0 emergency does not wait for the planned slot.
    let emergency = Gates {
        now: Some(at()),
        emergency: true,
        ..Gates::default()
    };
    let d = decide(
        &p,
        &done,
        &Default::default(),
        &BlockList::new(),
        &emergency,
    )
    .unwrap();
    assert_eq!(d.claim[0].host, id("b"));
}

#[test]
fn another_groups_canary_may_follow_a_wave() {
    let mut p = plan(&[(CANARY, &["s1"]), (WAVE, &["s2"]), (CANARY, &["p1"])], 1);
    p.batches[2].group = "prod".into();
    p.budgets.insert("prod".into(), 1);
    assert_eq!(p.validate(), Ok(()));
    p.batches[2].group = "web".into();
    assert_eq!(p.validate(), Err(PlanError::CanaryAfterWave { batch: 3 }));
}

#[test]
fn a_batch_past_its_planned_slot_carries_over() {
    let end = at() + jiff::SignedDuration::from_hours(1);
    let mut p = plan(
        &[(BatchKind::Canary, &["a"]), (BatchKind::Wave, &["b", "c"])],
        1,
    );
    p.batches[1].not_after = Some(end);
    let done = BTreeMap::from([(id("a"), done())]);
    let decide_at = |now: Option<Timestamp>| {
        let gates = Gates {
            now,
            ..Gates::default()
        };
        decide(&p, &done, &Default::default(), &BlockList::new(), &gates).unwrap()
    };
    // In its slot: claimed (budget 1: one host), not carried over.
    let d = decide_at(Some(end));
    assert_eq!((d.claim.len(), &d.carried_over), (1, &None), "{d:?}");
    // Later: still claimed (the live window gate decides), marked as carried over.
    let later = end + jiff::SignedDuration::from_secs(1);
    let d = decide_at(Some(later));
    assert_eq!(d.claim.len(), 1, "{d:?}");
    assert_eq!(
        d.carried_over,
        Some(CarriedOver {
            batch: 2,
            planned_end: end
        })
    );
    assert_eq!(d.status, RolloutStatus::Running);
}

#[path = "rollout_gate_tests.rs"]
mod gates;
