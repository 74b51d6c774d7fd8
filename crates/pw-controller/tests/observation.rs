//! Observation after the last batch through the real scheduler pass, time driven by the
//! injected clock: a completed rollout's hosts of a group with `observation` get rounds of
//! `run_checks` (tightened), a failing round alerts (audited `observation.alert`) and —
//! by `late_rollback = "auto"` or an operator's request — sends `late_rollback` to the exact
//! recorded versions; the rollout view shows it. Real SQLite; the agents' side is the store
//! calls the agent endpoints make.

mod common;

use common::Harness;
use pw_controller::observe::{OperatorAction, request};
use serde_json::{Value, json};

fn fleet(late_rollback: &str) -> String {
    format!(
        r#"
[groups.web]
environment = "production"
owners = ["web-team@example.com"]
windows = [{{ name = "always", rrule = "FREQ=DAILY", dtstart = "2026-12-01T00:00:00", tz = "UTC", duration = "24h" }}]
observation = "60s"
observation_interval = "10s"
late_rollback = "{late_rollback}"
[groups.web.members]
hostnames = ["web-*"]

[[channels]]
name = "web-hook"
kind = "webhook"
url = "http://127.0.0.1:9/hook"
language = "zh-CN"

[[routes]]
events = ["observation.alert"]
groups = ["web"]
channels = ["web-hook"]
"#
    )
}

/// The outbox rows of `observation.alert` (the dispatcher does not run here: rows stay queued),
/// as (event id, rendered message).
async fn alerts_queued(h: &Harness) -> Vec<(String, Value)> {
    let rows = h.store().notifications(None, 50).await.unwrap();
    (rows.into_iter())
        .filter(|r| r.event == "observation.alert")
        .map(|r| (r.event_id, r.payload["message"].clone()))
        .collect()
}

/// The open commands of a host, as (kind, payload).
async fn open(h: &Harness, host: &str) -> Vec<(String, String, Value)> {
    let rows = h.store().take_open_commands(host).await.unwrap();
    rows.into_iter()
        .map(|c| (c.id, c.kind, serde_json::from_str(&c.payload).unwrap()))
        .collect()
}

async fn answer(h: &Harness, host: &str, id: &str, report: Value) {
    h.store()
        .record_change_report(id, &report.to_string())
        .await
        .unwrap();
    h.store()
        .finish_command(
            host,
            id,
            pw_store::CommandState::Succeeded,
            "agent",
            h.controller.now(),
        )
        .await
        .unwrap();
}

async fn observation(h: &Harness, rollout: &str) -> Value {
    serde_json::to_value(&h.view(rollout).await.hosts[0].observation).unwrap()
}

async fn completed_rollout(h: &Harness) -> (String, String) {
    let hosts = h.enroll(&["web-1"]).await;
    let id = h
        .rollout(
            &hosts,
            json!({"canary_size": 0, "checks": [{"kind": "log_lines", "name": "demo-log",
                "path": "/var/log/pw-demo.log", "pattern": "ERROR", "max_matches": 3}]}),
        )
        .await;
    h.pass().await;
    let report = json!({"outcome": "done",
        "recorded": [{"name": "pw-demo", "version": "1.0-1"}],
        "final_versions": [{"name": "pw-demo", "version": "1.0-2"}],
        "installed_at": "2026-12-02T10:00:00Z", "passed_checks": ["demo-log"],
        "failed_check": null});
    h.answer_all("succeeded", report).await;
    h.pass().await;
    assert_eq!(h.status(&id).await, "completed");
    (id, hosts[0].clone())
}

#[tokio::test]
async fn a_late_failure_alerts_and_by_policy_rolls_back_to_the_recorded_versions() {
    let h = Harness::start("2026-12-02T10:00:00Z").await;
    h.apply_fleet(&fleet("auto")).await;
    let (id, host) = completed_rollout(&h).await;
    let seen = observation(&h, &id).await;
    assert_eq!(seen["phase"], "observing", "{seen}");
    assert_eq!(seen["until"], "2026-12-02T10:01:00Z");

    // Not yet due: no round.
    h.set_now("2026-12-02T10:00:09Z");
    h.pass().await;
    assert!(open(&h, &host).await.is_empty());
    // The first round: the rollout's checks, tightened (no matching line allowed).
    h.set_now("2026-12-02T10:00:10Z");
    h.pass().await;
    let commands = open(&h, &host).await;
    let (round_id, kind, payload) = &commands[0];
    assert_eq!((commands.len(), kind.as_str()), (1, "run_checks"));
    assert_eq!(payload["checks"][0]["max_matches"], 0, "{payload}");
    answer(&h, &host, round_id, json!({"results": [{"name": "demo-log", "ok": true,
        "detail": "0 lines"}], "marks": [{"path": "/var/log/pw-demo.log", "size": 10, "inode": 7}]}))
        .await;
    h.pass().await;
    assert_eq!(observation(&h, &id).await["rounds"], 1);

    // The second round carries the marks and fails: alert, and the late rollback at once.
    h.set_now("2026-12-02T10:00:21Z");
    h.pass().await;
    let commands = open(&h, &host).await;
    let (round_id, _, payload) = &commands[0];
    assert_eq!(payload["marks"][0]["size"], 10, "{payload}");
    answer(
        &h,
        &host,
        round_id,
        json!({"results": [{"name": "demo-log", "ok": false,
        "detail": "1 line(s) match ERROR"}], "marks": []}),
    )
    .await;
    h.pass().await;
    let seen = observation(&h, &id).await;
    assert_eq!(seen["phase"], "rolling_back", "{seen}");
    assert_eq!(seen["alerts"][0]["check"], "demo-log");
    let audit = h.store().audit_tail(50).await.unwrap();
    assert!(audit.iter().any(|r| r.action == "observation.alert"));
    // The owners' channel is told once, in its language, naming the host as operators know it
    // and the failed check.
    let queued = alerts_queued(&h).await;
    assert_eq!(queued.len(), 1, "{queued:?}");
    let text = queued[0].1.to_string();
    assert!(
        text.contains("web-1") && text.contains("demo-log"),
        "{text}"
    );
    assert!(
        !text.contains(&host),
        "the host id instead of its name: {text}"
    );
    assert!(
        queued[0]
            .0
            .starts_with(&format!("rollout:{id}:host:{host}:observation:demo-log:"))
    );
    let commands = open(&h, &host).await;
    let (rollback_id, kind, payload) = &commands[0];
    assert_eq!(kind, "late_rollback");
    assert_eq!(
        payload["recorded"],
        json!([{"name": "pw-demo", "version": "1.0-1"}])
    );
    answer(
        &h,
        &host,
        rollback_id,
        json!({"outcome": "rolled_back",
        "reason": "health_check_failed", "detail": "healthy on the recorded versions",
        "recorded": [{"name": "pw-demo", "version": "1.0-1"}],
        "final_versions": [{"name": "pw-demo", "version": "1.0-1"}],
        "installed_at": "2026-12-02T10:00:30Z", "passed_checks": ["demo-log"],
        "failed_check": null}),
    )
    .await;
    h.pass().await;
    let seen = observation(&h, &id).await;
    assert_eq!(seen["phase"], "rolled_back", "{seen}");
    assert_eq!(seen["detail"]["phase"]["by"], "policy");

    // The rollout's change report tells the observation period and what happened in it.
    let report = pw_controller::change_reports::for_rollout(&h.controller, &id)
        .await
        .unwrap();
    let report = serde_json::to_value(&report).unwrap();
    let observed = report["rollouts"][0]["observation"].clone();
    assert_eq!(observed["state"], "rolled_back", "{observed:#}");
    assert_eq!(observed["until"], "2026-12-02T10:01:00Z", "{observed:#}");
    let events: Vec<&str> = observed["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(
        events[0].contains(": check demo-log failed: 1 line(s) match ERROR"),
        "{events:?}"
    );
    assert!(
        events[1].contains(": rolled back late to the recorded versions (by policy)"),
        "{events:?}"
    );
}

#[tokio::test]
async fn a_failure_is_offered_to_an_operator_and_a_quiet_period_passes() {
    let h = Harness::start("2026-12-02T10:00:00Z").await;
    h.apply_fleet(&fleet("offer")).await;
    let (id, host) = completed_rollout(&h).await;
    h.set_now("2026-12-02T10:00:10Z");
    h.pass().await;
    let (round_id, _, _) = open(&h, &host).await.remove(0);
    answer(
        &h,
        &host,
        &round_id,
        json!({"results": [{"name": "demo-log", "ok": false,
        "detail": "2 line(s) match ERROR"}], "marks": []}),
    )
    .await;
    h.pass().await;
    let seen = observation(&h, &id).await;
    assert_eq!(
        (seen["phase"].as_str(), seen["rollback_offered"].as_bool()),
        (Some("alerted"), Some(true)),
        "{seen}"
    );
    assert!(open(&h, &host).await.is_empty(), "offered, not done");
    assert_eq!(alerts_queued(&h).await.len(), 1, "the operator is told");
    // The operator keeps the change; observation goes on, and a quiet period ends it.
    request(&h.controller, &id, &host, "alice", OperatorAction::Dismiss)
        .await
        .unwrap();
    assert_eq!(observation(&h, &id).await["phase"], "observing");
    let refused = request(&h.controller, &id, &host, "alice", OperatorAction::Dismiss).await;
    assert!(refused.is_err(), "nothing to dismiss");
    let mut t = 10;
    loop {
        t += 11;
        h.set_now(&format!("2026-12-02T10:{:02}:{:02}Z", t / 60, t % 60));
        h.pass().await;
        let commands = open(&h, &host).await;
        if commands.is_empty() {
            break;
        }
        answer(
            &h,
            &host,
            &commands[0].0,
            json!({"results": [], "marks": []}),
        )
        .await;
        h.pass().await;
    }
    let seen = observation(&h, &id).await;
    assert_eq!(seen["phase"], "passed", "{seen}");
    assert_eq!(
        alerts_queued(&h).await.len(),
        1,
        "quiet rounds alert nobody"
    );
    // Over: no late rollback any more.
    let late = request(&h.controller, &id, &host, "alice", OperatorAction::Rollback).await;
    assert!(late.is_err());
}
