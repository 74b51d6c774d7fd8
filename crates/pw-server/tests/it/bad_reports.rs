//! Issue 14.1, "a bad agent report never wedges a rollout", against the real controller with
//! fake agents over real mTLS: a report naming a package `<script>alert(1)</script>` is refused
//! at the edge (422 naming the field, nothing stored); a stored report that cannot be applied
//! (an older controller stored it) fails that host with the reason, audited, while the other
//! hosts, the operator's stop, the shared disruption budget and a new rollout on that host all
//! carry on.

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

fn state_of<'a>(view: &'a Value, host: &str) -> &'a Value {
    view["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["host_id"] == host)
        .unwrap_or_else(|| panic!("{host} not in {view}"))
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
    // Open still (queued, or delivered once the long-poll's answer was marked: that write
    // comes after the answer, so either may be read here): the result was not recorded.
    assert!(
        stored.state.is_open() && stored.result_message.is_none(),
        "the result was not recorded: {:?}",
        stored.state
    );
    let view = wait_for(&t, &id, |v| v["hosts"][0]["state"] == "claimed").await;
    assert_eq!(view["status"], "running");
    // The same agent's valid answer is then taken as usual.
    report(&t, &agents[0], &command, guard_answer).await;
    let view = wait_for(&t, &id, |v| v["status"] == "completed").await;
    assert_eq!(view["hosts"][0]["state"], "done", "{view}");
}

/// Stores the result of `command` with `change` as an older controller would have, bypassing
/// the route's validation, and wakes the scheduler.
async fn store_unchecked(t: &TestController, agent: &FakeAgent, command: &Value, change: &Value) {
    let store = &t.controller.state.store;
    let id = command["id"].as_str().unwrap();
    store
        .record_change_report(id, &change.to_string())
        .await
        .unwrap();
    let at = "2026-11-01T00:00:01Z".parse().unwrap();
    store
        .finish_command(
            &agent.host_id,
            id,
            pw_store::CommandState::Succeeded,
            "done",
            at,
        )
        .await
        .unwrap();
    t.controller.state.wake_scheduler();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_report_that_cannot_be_applied_fails_that_host_and_nothing_else() {
    let t = TestController::start().await;
    let agents = enroll_fleet(&t, 3).await;
    let (bad, good, other) = (&agents[0], &agents[1], &agents[2]);
    // One wave of two hosts; failures within the budget do not stop it.
    let wave = json!({"canary_size": 0, "batch_size": 2, "max_failures": 5});
    let first = create_rollout_with(&t, &agents[..2], "1.0-2", wave).await;
    // A second rollout in the same group waits for the budget the first one holds.
    let one = json!({"canary_size": 0, "batch_size": 1});
    let second = create_rollout_with(&t, std::slice::from_ref(other), "1.0-2", one).await;
    let bad_command = command_for(&t, bad).await;
    let good_command = command_for(&t, good).await;
    let view = wait_for(&t, &second, |v| {
        v["detail"]["waiting"][0]["kind"] == "budget_full"
    })
    .await;
    assert_eq!(view["hosts"][0]["state"], "pending", "{view}");
    // The operator stops the first rollout while both changes run: it ends once they report.
    let (status, stopped) = t
        .post_json(&format!("/api/v1/rollouts/{first}/stop"), &json!({}))
        .await;
    assert_eq!(status, 200, "{stopped}");
    let change = poisoned(SCRIPT)["change"].clone();
    store_unchecked(&t, bad, &bad_command, &change).await;
    report(&t, good, &good_command, guard_answer).await;
    let view = wait_for(&t, &first, |v| v["status"] == "stopped").await;
    let failed = state_of(&view, &bad.host_id);
    assert_eq!(failed["state"], "failed", "{view}");
    assert_eq!(failed["detail"]["cause"]["kind"], "bad_report", "{view}");
    let reason = failed["detail"]["cause"]["detail"].as_str().unwrap();
    assert!(
        reason.contains("recorded[0].name: package name"),
        "{reason}"
    );
    assert_eq!(state_of(&view, &good.host_id)["state"], "done", "{view}");
    // Audited: the host's transition to failed, with the reason.
    let (_, audit) = t.get_json("/api/v1/audit").await;
    let audited = audit["records"].as_array().unwrap().iter().any(|r| {
        let event = &r["details"]["event"];
        r["action"] == "rollout.host.transition"
            && r["subject"].as_str().unwrap().ends_with(&bad.host_id)
            && r["actor"] == format!("agent:{}", bad.host_id)
            && r["details"]["to"] == "failed"
            && event["event"] == "report_refused"
            && event["detail"]
                .as_str()
                .is_some_and(|d| d.starts_with("recorded[0].name: package name"))
    });
    assert!(audited, "{audit}");
    // The budget is free again: the second rollout claims its host.
    let command = command_for(&t, other).await;
    report(&t, other, &command, guard_answer).await;
    let view = wait_for(&t, &second, |v| v["status"] == "completed").await;
    assert_eq!(view["hosts"][0]["state"], "done", "{view}");
    // And the host with the bad report can join a new rollout.
    let again = create_rollout_with(&t, std::slice::from_ref(bad), "1.0-2", json!({})).await;
    let command = command_for(&t, bad).await;
    report(&t, bad, &command, guard_answer).await;
    let view = wait_for(&t, &again, |v| v["status"] == "completed").await;
    assert_eq!(view["hosts"][0]["state"], "done", "{view}");
}
