//! Whole plans: batches and gates, risks, summary, approvals, determinism, the Markdown snapshot.

use std::collections::BTreeMap;

use jiff::SignedDuration;
use pw_planner::plan::NotificationKind;
use pw_planner::risk::{Level, RiskKind};
use pw_planner::schedule::BatchKind;
use pw_planner::{ApprovalEvent, StagingRun, build_plan, to_markdown, transition};

use crate::fixture::{input, now, policy};

fn passed_drill() -> StagingRun {
    StagingRun {
        group: "web-staging".into(),
        packages: BTreeMap::from([
            ("libssl3".to_owned(), "3.0.22-1~deb12u2".to_owned()),
            ("openssl".to_owned(), "3.0.22-1~deb12u2".to_owned()),
        ]),
        passed: true,
        rollback_drill: true,
        finished_at: Some("2026-11-24T22:00:00Z".parse().unwrap()),
    }
}

#[test]
fn batches_follow_canary_budget_anti_affinity_and_staging_first() {
    let plan = build_plan(&input(vec![]), &policy(), now());
    assert!(plan.problems.is_empty(), "{:?}", plan.problems);
    assert!(plan.unscheduled.is_empty(), "{:?}", plan.unscheduled);
    let shape: Vec<(&str, BatchKind, Vec<&str>, String)> = plan
        .batches
        .iter()
        .map(|b| {
            (
                b.group.as_str(),
                b.kind,
                b.hosts.iter().map(String::as_str).collect(),
                b.start.to_string(),
            )
        })
        .collect();
    assert_eq!(
        shape,
        vec![
            (
                "web-staging",
                BatchKind::Canary,
                vec!["stg-1"],
                "2026-11-23T20:00:00Z".to_owned()
            ),
            (
                "web-staging",
                BatchKind::Wave,
                vec!["stg-2"],
                "2026-11-23T20:20:00Z".to_owned()
            ),
            (
                "web-prod",
                BatchKind::Canary,
                vec!["web-01"],
                "2026-11-29T01:00:00Z".to_owned()
            ),
            (
                "web-prod",
                BatchKind::Wave,
                vec!["web-02", "web-03"],
                "2026-11-29T01:20:00Z".to_owned()
            ),
            (
                "web-prod",
                BatchKind::Wave,
                vec!["web-04", "web-05"],
                "2026-11-29T01:40:00Z".to_owned()
            ),
            (
                "web-prod",
                BatchKind::Wave,
                vec!["web-06", "web-07"],
                "2026-11-29T02:00:00Z".to_owned()
            ),
            (
                "web-prod",
                BatchKind::Wave,
                vec!["web-08"],
                "2026-11-29T02:20:00Z".to_owned()
            ),
        ]
    );
    // 2 packages × 2m + 1m overhead = 5m apply, + 15m verification.
    assert_eq!(plan.batches[0].apply_seconds, 300);
    assert_eq!(plan.batches[0].end.to_string(), "2026-11-23T20:20:00Z");
    assert_eq!(plan.batches[0].max_failures, Some(0));
    assert_eq!(plan.batches[3].max_failures, None);
    let prod = plan.groups.iter().find(|g| g.name == "web-prod").unwrap();
    assert_eq!(
        (prod.max_in_flight, prod.canary_size, prod.max_failures),
        (2, 1, 0)
    );
    assert!(prod.protection_required);
    assert_eq!(prod.protection_steps[1], "take a snapshot");
    assert_eq!(plan.failure_policy.rollout_max_failures, 0);
    let host = plan.hosts.iter().find(|h| h.id == "web-03").unwrap();
    assert_eq!(host.batch, Some(4));
    assert_eq!(
        host.rollback_to,
        ["libssl3=3.0.19-1~deb12u2", "openssl=3.0.19-1~deb12u2"]
    );
}

#[test]
fn risks_and_summary_come_from_the_evidence_and_findings() {
    let plan = build_plan(&input(vec![]), &policy(), now());
    let level = |kind| plan.risks.iter().find(|r| r.risk == kind).unwrap().level;
    assert_eq!(level(RiskKind::Compatibility), Level::Ok);
    assert_eq!(level(RiskKind::ServiceInterruption), Level::Warn);
    assert_eq!(level(RiskKind::RollbackFailure), Level::Block);
    let rollback = plan
        .risks
        .iter()
        .find(|r| r.risk == RiskKind::RollbackFailure)
        .unwrap();
    let texts: Vec<&str> = rollback.evidence.iter().map(|e| e.text.as_str()).collect();
    assert!(
        texts
            .iter()
            .any(|t| t.starts_with("web-staging: installed versions no longer downloadable")),
        "{texts:#?}"
    );
    assert!(
        texts
            .iter()
            .any(|t| t.starts_with("web-prod: web-prod: not yet passed on staging counterpart")),
        "{texts:#?}"
    );

    let s = &plan.summary;
    assert_eq!(
        (s.hosts_in_scope, s.hosts_with_changes, s.hosts_scheduled),
        (10, 10, 10)
    );
    assert_eq!(s.package_changes, 20);
    assert_eq!(
        (
            s.by_tier[0].findings,
            s.by_tier[0].advisories,
            s.by_tier[0].hosts
        ),
        (20, 1, 10)
    );
    assert_eq!(
        (s.kev_advisories, s.kev_hosts, s.no_fix_findings),
        (1, 10, 10)
    );
    assert_eq!(
        (
            s.cvss_max,
            s.cvss_critical_advisories,
            s.epss_high_advisories
        ),
        (Some(9.8), 1, 1)
    );
    // Published 2026-11-13, now 2026-11-23 09:00: 10.375 days per finding, 20 findings.
    assert_eq!(s.exposure_max_days, 10.4);
    assert_eq!(s.exposure_host_days_now, 207.5);
    // Deadline 2026-11-24: the production hosts (16 findings) are patched on 2026-11-29.
    assert_eq!((s.overdue_findings, s.planned_after_deadline), (0, 16));
    let kinds: Vec<NotificationKind> = plan.notifications.iter().map(|n| n.kind).collect();
    assert_eq!(kinds.len(), 6);
    assert_eq!(plan.notifications[0].at, now(), "never in the past");
    assert_eq!(plan.notifications[3].at.to_string(), "2026-11-28T01:00:00Z");
}

#[test]
fn approval_flow_with_four_eyes_and_the_staging_gate() {
    let plan = build_plan(&input(vec![]), &policy(), now());
    assert!(plan.gates.production);
    assert_eq!(
        plan.gates.staging_problems.len(),
        2,
        "{:?}",
        plan.gates.staging_problems
    );
    let deadline = now() + SignedDuration::from_hours(48);
    let review = transition(
        &plan.approval,
        &ApprovalEvent::Submitted {
            by: "alice".into(),
            review_deadline: deadline,
        },
        now(),
    )
    .unwrap();
    let approve = |by: &str, gates| ApprovalEvent::Approved {
        by: by.into(),
        gates,
        valid_until: deadline,
        risk_acceptance: None,
    };
    let refused = transition(&review, &approve("bob", plan.gates.clone()), now()).unwrap_err();
    assert!(refused.reason.contains("staging-first gate"), "{refused}");

    let gated = build_plan(&input(vec![passed_drill()]), &policy(), now());
    assert!(
        gated.gates.staging_problems.is_empty(),
        "{:?}",
        gated.gates.staging_problems
    );
    assert!(transition(&review, &approve("alice", gated.gates.clone()), now()).is_err());
    let approved = transition(&review, &approve("bob", gated.gates.clone()), now()).unwrap();
    let start = gated.batches[0].start;
    let scheduled = transition(&approved, &ApprovalEvent::Scheduled { start }, now()).unwrap();
    assert_eq!(scheduled.name(), "scheduled");
}

#[test]
fn the_same_input_in_any_order_gives_the_same_plan() {
    let first = build_plan(&input(vec![]), &policy(), now());
    let mut shuffled = input(vec![]);
    shuffled.hosts.reverse();
    shuffled.hosts.swap(1, 6);
    let second = build_plan(&shuffled, &policy(), now());
    assert_eq!(first.to_json(), second.to_json());
}

#[test]
fn a_stored_plan_reads_back_as_the_same_plan() {
    let plan = build_plan(&input(vec![passed_drill()]), &policy(), now());
    assert!(!plan.batches.is_empty() && !plan.hosts.is_empty());
    let back: pw_planner::Plan = serde_json::from_str(&plan.to_json()).unwrap();
    assert_eq!(back.to_json(), plan.to_json());
    let step = &plan.groups[0].protection_steps[0];
    assert_eq!(step, pw_planner::policy::RECORD_VERSIONS_STEP);
    for group in &plan.groups {
        for step in &group.protection_steps[1..] {
            let protection = pw_planner::policy::Protection::from_step_text(step).unwrap();
            assert_eq!(protection.step_text(), step);
        }
    }
}

#[test]
fn bad_input_becomes_problems_not_failures() {
    let mut input = input(vec![]);
    input.hosts.push(input.hosts[0].clone());
    let mut stray = input.hosts[1].clone();
    stray.id = "stray".into();
    stray.group = "unknown".into();
    input.hosts.push(stray);
    let mut odd = input.hosts[2].clone();
    odd.id = "odd".into();
    odd.os = "plan9:4".into();
    input.hosts.push(odd);
    input.slots.remove("web-prod");
    let plan = build_plan(&input, &policy(), now());
    assert_eq!(plan.problems.len(), 3, "{:#?}", plan.problems);
    assert!(plan.problems[0].contains("listed more than once"));
    assert!(plan.problems[1].contains("\"unknown\" is not defined"));
    assert!(plan.problems[2].contains("plan9"));
    assert_eq!(
        plan.unscheduled
            .iter()
            .map(|u| u.hosts.len())
            .sum::<usize>(),
        8
    );
    assert!(
        plan.unscheduled
            .iter()
            .all(|u| u.reason == "no open window slot in the planning horizon")
    );
}

#[test]
fn markdown_for_management() {
    let plan = build_plan(&input(vec![passed_drill()]), &policy(), now());
    let markdown = to_markdown(&plan);
    insta::assert_snapshot!("plan_markdown", markdown);
    let json: serde_json::Value = serde_json::from_str(&plan.to_json()).unwrap();
    assert_eq!(json["approval"]["state"], "draft");
    assert_eq!(json["batches"][0]["kind"], "canary");
    assert_eq!(json["risks"][0]["risk"], "compatibility");
    assert_eq!(json["groups"][0]["health_checks"][0]["kind"], "http");
}
