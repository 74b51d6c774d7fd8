//! The change report on a small plan with known answers: three hosts in two batches — web-0
//! done (a restart observed as predicted), web-1 rolled back by a failed health check, web-2
//! failed to roll back —, web-3 planned and never reached; then variations, table-driven.

use jiff::Timestamp;
use pw_protocol::{
    ChangeOutcome, ChangeReport as AgentReport, DowngradeReport, FileState, RestartStatus,
    RollbackReason, StaleProcess, VersionSeen,
};

use super::facts::*;
use super::model::{ChangeReport, ChangeSubject};
use super::{change_html, change_report};
use crate::change::text::{CHANGE_EN, CHANGE_ZH};

mod variations;

fn t(s: &str) -> Timestamp {
    format!("2026-12-04T{s}Z").parse().unwrap()
}

fn seen(name: &str, version: Option<&str>) -> VersionSeen {
    VersionSeen {
        name: name.into(),
        version: version.map(Into::into),
    }
}

fn agent(outcome: ChangeOutcome, after: &str, failed_check: Option<&str>) -> AgentReport {
    AgentReport {
        outcome,
        recorded: vec![seen("pw-demo", Some("1.0-1"))],
        final_versions: vec![seen("pw-demo", Some(after))],
        installed_at: Some(t("02:01:00")),
        passed_checks: vec!["demo-http".into()],
        failed_check: failed_check.map(Into::into),
        protection: vec![],
        drill: None,
        restart: None,
        downgrade: None,
        hooks: None,
        restored: vec![],
        resumed: vec![],
    }
}

fn restart_status(units: &[&str], reboot_flag: bool) -> Box<RestartStatus> {
    Box::new(RestartStatus {
        collected_at: t("02:02:00"),
        boot: None,
        running_kernel: None,
        newest_kernel: None,
        reboot_flag,
        reboot_flag_packages: vec![],
        stale_processes: units
            .iter()
            .enumerate()
            .map(|(i, unit)| StaleProcess {
                pid: 100 + i as u32,
                command: "demo".into(),
                unit: Some((*unit).into()),
                deleted: vec!["/usr/lib/libdemo.so".into()],
            })
            .collect(),
        dpkg_audit: Some(vec![]),
        problems: vec![],
    })
}

fn planned_host(id: &str, batch: usize, restarts: &[&str]) -> PlannedHost {
    PlannedHost {
        host_id: format!("fleet-{id}"),
        hostname: id.into(),
        group: "web".into(),
        batch: Some(batch),
        changes: vec![PlannedChange {
            package: "pw-demo".into(),
            from: Some("1.0-1".into()),
            to: "1.0-2".into(),
        }],
        restarts: restarts.iter().map(|u| (*u).to_owned()).collect(),
        reboot: false,
    }
}

fn run(id: &str, state: &str, finished: Option<&str>, report: Option<AgentReport>) -> HostRun {
    HostRun {
        host_id: format!("h-{id}"),
        hostname: id.into(),
        group: "web".into(),
        targets: vec![("pw-demo".into(), "1.0-2".into())],
        state: state.into(),
        finished_at: finished.map(t),
        cause_kind: None,
        cause: None,
        restarted: vec![],
        rebooted: false,
        deferred: None,
        drilled: false,
        report,
        rescan: None,
    }
}

fn line(seq: i64, at: &str, host: Option<&str>, step: &str, result: &str) -> LogLine {
    LogLine {
        seq,
        at: t(at),
        actor: if host.is_some() {
            "controller"
        } else {
            "alice"
        }
        .into(),
        host_id: host.map(|h| format!("h-{h}")),
        step: step.into(),
        result: result.into(),
        detail: String::new(),
    }
}

/// The known-answer fleet.
fn facts() -> ChangeFacts {
    let mut web0 = run(
        "web-0",
        "done",
        Some("02:03:00"),
        Some(agent(ChangeOutcome::Done, "1.0-2", None)),
    );
    web0.report.as_mut().unwrap().restart = Some(restart_status(&["nginx.service"], false));
    web0.restarted = vec!["nginx.service".into()];
    let mut web1 = run(
        "web-1",
        "rolled_back",
        Some("03:05:00"),
        Some(agent(
            ChangeOutcome::RolledBack {
                reason: RollbackReason::HealthCheckFailed,
                detail: "demo-http answered 500".into(),
            },
            "1.0-1",
            Some("demo-http"),
        )),
    );
    web1.cause_kind = Some("health_check_failed".into());
    web1.cause = Some("health_check_failed: demo-http: answered 500".into());
    let mut web2 = run(
        "web-2",
        "failed",
        Some("03:09:00"),
        Some(agent(
            ChangeOutcome::Failed {
                detail: "apt-get could not reinstall 1.0-1".into(),
            },
            "1.0-2",
            Some("demo-http"),
        )),
    );
    web2.cause_kind = Some("rollback_failed".into());
    ChangeFacts {
        subject: ChangeSubject::Plan(7),
        plan: Some(PlanFacts {
            id: 7,
            name: "plan-web".into(),
            author: "alice".into(),
            state: "approved".into(),
            version: 4,
            created_at: t("00:00:00"),
            downgrade: false,
            batches: vec![
                batch(1, "canary", &["fleet-web-0"], "02:00:00", "02:30:00"),
                batch(
                    2,
                    "wave",
                    &["fleet-web-1", "fleet-web-2", "fleet-web-3"],
                    "03:00:00",
                    "03:30:00",
                ),
            ],
            hosts: vec![
                planned_host("web-0", 1, &["nginx"]),
                planned_host("web-1", 2, &[]),
                planned_host("web-2", 2, &[]),
                planned_host("web-3", 2, &[]),
            ],
            risks: vec![
                risk("service_interruption", "warn"),
                risk("rollback_failure", "ok"),
                risk("performance", "ok"),
            ],
            history: vec![
                event("00:00:00", "alice", "saved"),
                event("00:10:00", "alice", "submitted"),
                event("00:20:00", "bob", "approved"),
                event("01:59:00", "alice", "rolled_out"),
            ],
            reintroduced: vec![],
        }),
        rollouts: vec![RolloutFacts {
            id: "ro-1".into(),
            created_at: t("01:59:00"),
            created_by: "alice".into(),
            status: "completed".into(),
            updated_at: t("03:09:00"),
            plan_version: Some(4),
            batches: vec![
                rollout_batch("canary", &["h-web-0"], "02:00:00", "02:40:00"),
                rollout_batch("wave", &["h-web-1", "h-web-2"], "03:00:00", "03:40:00"),
            ],
            hosts: vec![web0, web1, web2],
            log: vec![
                line(1, "01:59:00", None, "created", "running"),
                line(2, "02:00:05", Some("web-0"), "claimed", "claimed"),
                line(3, "02:03:00", Some("web-0"), "guard_reported", "done"),
                line(4, "03:00:05", Some("web-1"), "claimed", "claimed"),
                line(
                    5,
                    "03:05:00",
                    Some("web-1"),
                    "guard_reported",
                    "rolled_back",
                ),
                line(6, "03:05:10", Some("web-2"), "claimed", "claimed"),
                line(7, "03:09:00", Some("web-2"), "guard_reported", "failed"),
                line(8, "03:09:01", None, "status", "completed"),
            ],
            protection_records: None,
            observation: None,
        }],
    }
}

fn batch(number: usize, kind: &str, hosts: &[&str], start: &str, slot_end: &str) -> PlannedBatch {
    PlannedBatch {
        number,
        group: "web".into(),
        kind: kind.into(),
        hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
        window: "nightly".into(),
        slot_start: t(start),
        slot_end: t(slot_end),
        start: t(start),
        end: t(start) + jiff::SignedDuration::from_mins(10),
    }
}

fn rollout_batch(kind: &str, hosts: &[&str], start: &str, end: &str) -> RolloutBatch {
    RolloutBatch {
        group: "web".into(),
        kind: kind.into(),
        hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
        not_before: Some(t(start)),
        not_after: Some(t(end)),
    }
}

fn risk(kind: &str, level: &str) -> PlannedRisk {
    PlannedRisk {
        risk: kind.into(),
        level: level.into(),
        evidence: vec![format!("{kind} evidence")],
    }
}

fn event(at: &str, actor: &str, name: &str) -> PlanEventFact {
    PlanEventFact {
        at: t(at),
        actor: actor.into(),
        event: name.into(),
        to_state: "approved".into(),
        comment: None,
    }
}

fn build(facts: &ChangeFacts) -> ChangeReport {
    change_report(facts, t("04:00:00"))
}

fn host<'a>(report: &'a ChangeReport, name: &str) -> &'a super::model::HostRow {
    report.hosts.iter().find(|h| h.hostname == name).unwrap()
}

#[test]
fn plan_vs_actual_per_host_with_a_rollback_and_a_failed_host() {
    let report = build(&facts());
    let s = &report.summary;
    assert_eq!(
        (
            s.hosts_planned,
            s.host_changes,
            s.done,
            s.rolled_back,
            s.failed,
            s.not_reached
        ),
        (4, 3, 1, 1, 1, 1)
    );
    assert_eq!((s.as_planned, s.checks_passed, s.checks_failed), (1, 3, 2));
    assert_eq!(
        (s.started_at, s.finished_at),
        (Some(t("02:00:05")), Some(t("03:09:00")))
    );
    assert_eq!(s.planned_start, Some(t("02:00:00")));
    // Matched to the plan by hostname (the plan's ids are a fleet file's).
    let rows: Vec<(&str, &str, Option<usize>, Option<usize>)> = report
        .hosts
        .iter()
        .map(|h| {
            (
                h.hostname.as_str(),
                h.result.as_str(),
                h.planned_batch,
                h.batch,
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("web-0", "done", Some(1), Some(1)),
            ("web-1", "rolled_back", Some(2), Some(2)),
            ("web-2", "failed", Some(2), Some(2)),
            ("web-3", "not_reached", Some(2), None),
        ]
    );
    let v = &host(&report, "web-1").versions[0];
    assert_eq!(
        (
            v.planned_from.as_deref(),
            v.planned_to.as_deref(),
            v.before.as_deref(),
            v.after.as_deref(),
            v.as_planned
        ),
        (
            Some("1.0-1"),
            Some("1.0-2"),
            Some("1.0-1"),
            Some("1.0-1"),
            Some(false)
        )
    );
    assert_eq!(host(&report, "web-0").started_at, Some(t("02:00:05")));
    assert_eq!(
        host(&report, "web-1").check_failed.as_deref(),
        Some("demo-http")
    );
    // web-2 has no engine cause detail: the agent's words stand in.
    assert_eq!(
        host(&report, "web-2").failure.as_deref(),
        Some("apt-get could not reinstall 1.0-1")
    );
}

#[test]
fn batches_compare_the_slot_with_the_actual_times() {
    let report = build(&facts());
    let got: Vec<_> = report
        .batches
        .iter()
        .map(|b| {
            (
                b.number,
                b.planned_number,
                b.started_at,
                b.finished_at,
                b.on_schedule,
                (b.done, b.rolled_back, b.failed),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                1,
                Some(1),
                Some(t("02:00:05")),
                Some(t("02:03:00")),
                Some(true),
                (1, 0, 0)
            ),
            (
                2,
                Some(2),
                Some(t("03:00:05")),
                Some(t("03:09:00")),
                Some(true),
                (0, 1, 1)
            ),
        ]
    );
}

#[test]
fn failures_say_whether_the_host_is_back_on_its_recorded_versions() {
    let report = build(&facts());
    let got: Vec<_> = report
        .postmortem
        .failures
        .iter()
        .map(|f| {
            (
                f.hostname.as_str(),
                f.result.as_str(),
                f.cause_kind.as_deref(),
                f.back_on_recorded,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "web-1",
                "rolled_back",
                Some("health_check_failed"),
                Some(true)
            ),
            ("web-2", "failed", Some("rollback_failed"), Some(false)),
        ]
    );
}

#[test]
fn the_timeline_orders_the_plan_history_and_the_rollout() {
    let report = build(&facts());
    let events: Vec<&str> = report
        .postmortem
        .timeline
        .iter()
        .map(|e| e.event.as_str())
        .collect();
    assert_eq!(
        events,
        [
            "plan.saved",
            "plan.submitted",
            "plan.approved",
            "plan.rolled_out",
            "rollout.created",
            "host.claimed",
            "host.done",
            "host.claimed",
            "host.rolled_back",
            "host.claimed",
            "host.failed",
            "rollout.completed",
        ]
    );
    assert_eq!(report.log.len(), 8);
    assert_eq!(
        report.plan.as_ref().unwrap().approved_by.as_deref(),
        Some("bob")
    );
}

fn file(path: &str, mode: &str, modified: bool) -> FileState {
    FileState {
        path: path.into(),
        mode: Some(mode.into()),
        owner: Some("root".into()),
        group: Some("root".into()),
        modified,
    }
}

#[test]
fn a_downgrade_reports_permissions_before_and_after_and_conffile_accuracy() {
    let mut f = facts();
    let plan = f.plan.as_mut().unwrap();
    plan.downgrade = true;
    plan.risks.push(risk("config_overwrite", "ok"));
    let report = f.rollouts[0].hosts[0].report.as_mut().unwrap();
    report.downgrade = Some(Box::new(DowngradeReport {
        simulation: vec!["Inst pw-demo [1.0-2] (1.0-1 local)".into()],
        available: vec!["pw-demo=1.0-1".into()],
        files_before: vec![
            file("/etc/pw-demo.conf", "644", false),
            file("/etc/pw-demo/keep", "600", false),
        ],
        files_after: vec![
            file("/etc/pw-demo.conf", "640", false),
            file("/etc/pw-demo/keep", "600", false),
        ],
        files_changed: vec!["/etc/pw-demo.conf: mode 644 → 640".into()],
        ..Default::default()
    }));
    let report = build(&f);
    let verify = host(&report, "web-0").post_verify.as_ref().unwrap();
    let files: Vec<(&str, bool)> = verify
        .files
        .iter()
        .map(|f| (f.path.as_str(), f.changed))
        .collect();
    assert_eq!(
        files,
        [("/etc/pw-demo.conf", true), ("/etc/pw-demo/keep", false)]
    );
    assert_eq!(verify.checks_passed, ["demo-http"]);
    let conffiles = &report.postmortem.accuracy[2];
    assert_eq!(
        (
            conffiles.verdict.as_str(),
            conffiles.observed,
            conffiles.compared
        ),
        ("under", 1, 1)
    );
    let review = report
        .postmortem
        .checklist
        .iter()
        .find(|c| c.risk == "config_overwrite")
        .unwrap();
    assert_eq!(
        (review.materialised, review.observed.as_slice()),
        (Some(true), &["web-0".to_owned()][..])
    );
    let html = change_html(&report, &CHANGE_EN);
    assert!(html.contains("Downgrade post-verify"), "{html}");
    assert!(html.contains("644 root:root"));
    assert!(html.contains("640 root:root"));
}

#[test]
fn html_in_both_languages_names_hosts_results_and_the_questions() {
    let report = build(&facts());
    let en = change_html(&report, &CHANGE_EN);
    for needle in [
        "Change report — Plan 7 (plan-web)",
        "Hosts planned: 4 · Host changes: 3 (1 on the planned versions)",
        "rolled back",
        "pw-demo 1.0-1 → 1.0-1 ≠ (1.0-1 → 1.0-2)",
        "How did execution depart from the plan?",
        "approved by bob",
        "Risk checklist accuracy",
    ] {
        assert!(en.contains(needle), "{needle:?} not in {en}");
    }
    let zh = change_html(&report, &CHANGE_ZH);
    for needle in [
        "变更报告",
        "实际执行与计划的偏差？",
        "已回滚",
        "风险评估是否准确？",
    ] {
        assert!(zh.contains(needle), "{needle:?} not in {zh}");
    }
    // Escaped: an agent's detail cannot inject markup.
    let mut f = facts();
    f.rollouts[0].hosts[1].cause = Some("<script>x</script>".into());
    let html = change_html(&build(&f), &CHANGE_EN);
    assert!(!html.contains("<script>x"));
    assert!(html.contains("&#60;script&#62;x") || html.contains("&lt;script&gt;x"));
}

#[test]
fn optional_sections_appear_only_with_their_facts() {
    let mut f = facts();
    let html = change_html(&build(&f), &CHANGE_EN);
    assert!(!html.contains("Backups and snapshots") && !html.contains("Observation period"));
    let json = serde_json::to_value(build(&f)).unwrap();
    assert!(json["rollouts"][0].get("observation").is_none());
    f.rollouts[0].protection_records = Some(vec![ProtectionRecord {
        host_id: "h-web-0".into(),
        kind: "backup".into(),
        name: "pg".into(),
        at: t("02:00:30"),
        size_bytes: Some(4096),
        status: "verified".into(),
        retention: Some("7d".into()),
        detail: String::new(),
    }]);
    f.rollouts[0].observation = Some(Observation {
        from: t("03:10:00"),
        until: t("05:10:00"),
        state: "observing".into(),
        events: vec![],
    });
    let html = change_html(&build(&f), &CHANGE_EN);
    assert!(html.contains("Backups and snapshots") && html.contains("Observation period"));
}
