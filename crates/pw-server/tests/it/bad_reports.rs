//! Issue 14.1, "a bad agent report never wedges a rollout", against the real controller with
//! fake agents over real mTLS: a report naming a package `<script>alert(1)</script>` is refused
//! at the edge (422 naming the field, nothing stored).

use serde_json::{Value, json};

use crate::fleet::{
    FakeAgent, create_rollout_with, enroll_fleet, guard_answer, poll, report, wait_for,
};
use crate::support::TestController;

const SCRIPT: &str = "<script>alert(1)</script>";

/// The guard's answer for a good change, with the first recorded package renamed to `name`.
fn poisoned(name: &str) -> Value {
    let recorded = json!([{"name": name, "version": "1.0-1"}]);
    json!({"status": "succeeded", "message": "done", "finished_at": "2026-11-01T00:00:01Z",
        "change": {"outcome": "done", "recorded": recorded,
            "final_versions": [{"name": "pw-demo", "version": "1.0-2"}],
            "installed_at": "2026-11-01T00:00:00Z", "passed_checks": ["http"],
            "failed_check": null, "protection": []}})
}

/// The one command delivered to `agent` (waits for it).
async fn command_for(t: &TestController, agent: &FakeAgent) -> Value {
    for _ in 0..10 {
        let batch = poll(t, agent, 5).await;
        if let Some(command) = batch["commands"].get(0) {
            return command.clone();
        }
    }
    panic!("no command for {}", agent.host_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_with_a_bad_package_name_is_refused_at_the_edge_and_nothing_is_stored() {
    let t = TestController::start().await;
    let agents = enroll_fleet(&t, 1).await;
    let id = create_rollout_with(&t, &agents, "1.0-2", json!({})).await;
    let command = command_for(&t, &agents[0]).await;
    let command_id = command["id"].as_str().unwrap();
    let path = format!("/api/v1/agent/commands/{command_id}/result");
    let answer = agents[0]
        .client
        .post(t.https(&path))
        .json(&poisoned(SCRIPT))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 422);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_body", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("change.recorded[0].name: package name"),
        "{message}"
    );
    let store = &t.controller.state.store;
    assert_eq!(store.change_report(command_id).await.unwrap(), None);
    let stored = store.command(command_id).await.unwrap().unwrap();
    assert_eq!(stored.state, "delivered", "the result was not recorded");
    let view = wait_for(&t, &id, |v| v["hosts"][0]["state"] == "claimed").await;
    assert_eq!(view["status"], "running");
    // The same agent's valid answer is then taken as usual.
    report(&t, &agents[0], &command, guard_answer).await;
    let view = wait_for(&t, &id, |v| v["status"] == "completed").await;
    assert_eq!(view["hosts"][0]["state"], "done", "{view}");
}
