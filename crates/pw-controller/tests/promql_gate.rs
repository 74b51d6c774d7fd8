//! A failing PromQL gate stops the batch in flight (its verified changes rolled back by the
//! controller, its running ones halted) and holds the next batch until it passes, through the
//! real scheduler pass: a real
//! Prometheus (Debian's `prometheus`, started here with a temporary config and TSDB on a free
//! loopback port) scrapes a real exposition endpoint this test serves, whose value the test
//! sets. The fleet document gives group `web` a `promql` check; the controller queries
//! Prometheus's HTTP API on its passes, at most once per the check's interval of the injected
//! clock. Real SQLite; the agents' side is the store calls the agent endpoints make.

mod common;

#[path = "common/prometheus.rs"]
mod prometheus;

use common::Harness;
use prometheus::{Exporter, Prometheus, free_port};
use pw_rollout::ControlAction;
use serde_json::{Value, json};

fn fleet(prometheus: &str) -> String {
    format!(
        r#"
[health_checks.errors]
kind = "promql"
target = 'pw_demo_error_ratio{{job="demo"}}'
condition = "< 0.05"
prometheus = "{prometheus}"
interval = "10s"
timeout = "5s"

[groups.web]
environment = "test"
owners = ["web-team@example.com"]
windows = [{{ name = "always", rrule = "FREQ=DAILY", dtstart = "2026-12-01T00:00:00", tz = "UTC", duration = "24h" }}]
health_checks = ["errors"]
[groups.web.members]
hostnames = ["web-*"]
"#
    )
}

fn red_of(detail: &Value) -> Option<String> {
    let wait = detail["waiting"]
        .as_array()?
        .iter()
        .find(|w| w["kind"] == "health_gate" && w["group"] == "web")?;
    Some(wait["red"][0].as_str()?.to_owned())
}

#[tokio::test]
async fn a_failing_promql_gate_stops_the_batch_in_flight_and_holds_the_next_until_it_passes() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let exporter = Exporter::start().await;
    let prometheus = Prometheus::start(exporter.port).await;
    prometheus.wait_for(0.01).await;

    let h = Harness::start("2026-12-02T10:00:00Z").await;
    h.apply_fleet(&fleet(&prometheus.url)).await;
    let hosts = h.enroll(&["web-1", "web-2", "web-3", "web-4"]).await;
    // Waves [web-1, web-2] and [web-3, web-4]; 10 s verification; two failures allowed.
    let request = json!({"canary_size": 0, "batch_size": 2, "max_failures": 2,
        "verification_seconds": 10});
    let id = h.rollout(&hosts, request).await;

    // The gate is green (1 % errors < 5 %): the first wave starts.
    h.pass().await;
    assert_eq!(
        h.states(&id).await,
        ["claimed", "claimed", "pending", "pending"]
    );
    // web-1's guard verified its change; web-2's still runs.
    assert_eq!(
        h.answer_host(&hosts[0], "succeeded", &done_report()).await,
        1
    );

    // The service starts failing: Prometheus scrapes 50 % errors. Within the check's interval
    // (10 s of the injected clock) the last answer (green) stands. web-1's verified change is
    // verified by the controller too: the group has a PromQL gate, so web-1 stays `verifying`
    // for the period (the batch is not complete).
    exporter.set(0.5);
    prometheus.wait_for(0.5).await;
    h.set_now("2026-12-02T10:00:05Z");
    h.pass().await;
    assert_eq!(
        h.states(&id).await,
        ["verifying", "claimed", "pending", "pending"]
    );

    // The interval passed: queried again, red. The batch in flight is stopped: web-1, in its
    // verification period, is rolled back by the controller (`late_rollback` to exactly the
    // recorded 1.0-1); web-2's claim is halted (its guard is still running).
    h.set_now("2026-12-02T10:00:10Z");
    h.pass().await;
    assert_eq!(
        h.states(&id).await,
        ["rolling_back", "claimed", "pending", "pending"]
    );
    let view = h.view(&id).await;
    let red_detail = "promql check errors (pw_demo_error_ratio{job=\"demo\"}) failed at 2026-12-02T10:00:10Z: value 0.5 is not < 0.05";
    let cause = &view.hosts[0].detail["cause"];
    assert_eq!(
        (&cause["kind"], &cause["check"], &cause["detail"]),
        (&json!("gate_failed"), &json!("errors"), &json!(red_detail))
    );
    assert_eq!(view.hosts[1].detail["halted"]["check"], "errors");
    let commands = h.store().take_open_commands(&hosts[0]).await.unwrap();
    assert_eq!(commands.len(), 1);
    assert_eq!(commands[0].kind, "late_rollback");
    let payload: Value = serde_json::from_str(&commands[0].payload).unwrap();
    assert_eq!(
        payload["recorded"],
        json!([{"name": "pw-demo", "version": "1.0-1"}]),
        "exactly the recorded versions: {payload}"
    );
    let rolled_back = rolled_back_report();
    assert_eq!(h.answer_host(&hosts[0], "succeeded", &rolled_back).await, 1);
    // web-2's guard reports its verified change: rolled back at once.
    h.answer_host(&hosts[1], "succeeded", &done_report()).await;
    h.set_now("2026-12-02T10:00:11Z");
    h.pass().await;
    assert_eq!(
        h.states(&id).await,
        ["rolled_back", "rolling_back", "pending", "pending"]
    );
    assert_eq!(h.answer_host(&hosts[1], "succeeded", &rolled_back).await, 1);
    h.set_now("2026-12-02T10:00:12Z");
    h.pass().await;
    assert_eq!(
        h.states(&id).await,
        ["rolled_back", "rolled_back", "pending", "pending"]
    );
    // Two failures are within the budget: the batch's failures pause the rollout; no next
    // batch starts.
    let detail = h.detail(&id).await;
    assert_eq!(detail_status(&detail), "paused", "{detail}");
    assert_eq!(
        detail["status"]["reason"]["kind"], "batch_failed",
        "{detail}"
    );
    assert_eq!(detail["failures"]["total"], 2, "{detail}");

    // An operator accepts the failed batch; the gate is still red: the next wave stays held.
    pw_controller::rollout_ops::control(&h.controller, "alice", &id, ControlAction::Resume)
        .await
        .unwrap();
    h.set_now("2026-12-02T10:00:13Z");
    h.pass().await;
    let detail = h.detail(&id).await;
    let red = red_of(&detail).unwrap_or_else(|| panic!("no red health gate: {detail}"));
    assert_eq!(red, red_detail);
    assert_eq!(detail_status(&detail), "running");

    // Recovered, but the answer is not asked again before the interval: still held.
    exporter.set(0.0);
    prometheus.wait_for(0.0).await;
    h.set_now("2026-12-02T10:00:15Z");
    h.pass().await;
    assert_eq!(
        h.states(&id).await,
        ["rolled_back", "rolled_back", "pending", "pending"]
    );
    // Ten seconds after the red answer: green again, the next wave starts.
    h.set_now("2026-12-02T10:00:21Z");
    h.pass().await;
    assert_eq!(
        h.states(&id).await,
        ["rolled_back", "rolled_back", "claimed", "claimed"]
    );
    assert!(red_of(&h.detail(&id).await).is_none());
}

/// The agent's `late_rollback` report: back on exactly pw-demo 1.0-1.
fn rolled_back_report() -> Value {
    json!({"outcome": "rolled_back", "reason": "health_check_failed",
        "detail": "healthy on the recorded versions",
        "recorded": [{"name": "pw-demo", "version": "1.0-1"}],
        "final_versions": [{"name": "pw-demo", "version": "1.0-1"}],
        "installed_at": "2026-12-01T00:00:00Z", "passed_checks": [], "failed_check": null})
}

/// The guard's report of pw-demo 1.0-2 installed and verified.
fn done_report() -> Value {
    json!({"outcome": "done",
        "recorded": [{"name": "pw-demo", "version": "1.0-1"}],
        "final_versions": [{"name": "pw-demo", "version": "1.0-2"}],
        "installed_at": "2026-12-01T00:00:00Z", "passed_checks": [], "failed_check": null})
}

#[tokio::test]
async fn an_unanswerable_promql_gate_holds_the_group() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Nothing listens on this port: the gate cannot be evaluated and fails closed.
    let h = Harness::start("2026-12-02T10:00:00Z").await;
    h.apply_fleet(&fleet(&format!("http://127.0.0.1:{}", free_port())))
        .await;
    let hosts = h.enroll(&["web-1"]).await;
    let id = h.rollout(&hosts, json!({"canary_size": 0})).await;
    h.pass().await;
    assert_eq!(h.states(&id).await, ["pending"]);
    let red = red_of(&h.detail(&id).await).unwrap();
    assert!(red.contains("querying http://127.0.0.1:"), "{red}");
}

fn detail_status(detail: &Value) -> &str {
    detail["status"]["status"].as_str().unwrap_or_default()
}
