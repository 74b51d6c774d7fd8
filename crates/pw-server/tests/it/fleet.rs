//! Fake agents over real mTLS that answer `apply_change` like the agent's guard would, with the
//! change report a test chooses.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{TestController, tls_client};
use pw_testkit::wait_until;

pub struct FakeAgent {
    pub host_id: String,
    pub client: reqwest::Client,
}

pub async fn enroll_fleet(t: &TestController, n: usize) -> Vec<FakeAgent> {
    let mut agents = Vec::new();
    for i in 0..n {
        let token = t.token().await;
        let (status, enrolled, key) = t.enroll(&token, &format!("web-{i}")).await;
        assert_eq!(status, 200, "{enrolled}");
        let cert = enrolled["certificate_pem"].as_str().unwrap();
        agents.push(FakeAgent {
            host_id: enrolled["host_id"].as_str().unwrap().to_owned(),
            client: tls_client(&t.ca_pem(), Some((cert, &key))),
        });
    }
    agents
}

/// The guard's answer for a target: done for 1.0-2, rolled back after a failing health check
/// for anything else.
pub fn guard_answer(command: &Value) -> (String, Option<Value>) {
    let target = command["targets"][0]["version"].as_str().unwrap();
    let recorded = json!([{"name": "pw-demo", "version": "1.0-1"}]);
    let protection: Vec<Value> = command["protection_steps"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| json!({"name": s["name"], "ok": true, "detail": "exited 0"}))
        .collect();
    if target == "1.0-2" {
        let change = json!({"outcome": "done", "recorded": recorded,
            "final_versions": [{"name": "pw-demo", "version": "1.0-2"}],
            "installed_at": "2026-11-01T00:00:00Z", "passed_checks": ["http"],
            "failed_check": null, "protection": protection});
        ("succeeded".into(), Some(change))
    } else {
        let change = json!({"outcome": "rolled_back", "reason": "health_check_failed",
            "detail": "500 FAIL", "recorded": recorded, "final_versions": recorded,
            "installed_at": "2026-11-01T00:00:00Z", "passed_checks": ["http"],
            "failed_check": "http", "protection": protection});
        ("failed".into(), Some(change))
    }
}

/// Polls once and answers every `apply_change` with `answer(command)` = (status, change
/// report). Returns the command ids seen.
pub async fn serve_with(
    t: &TestController,
    agent: &FakeAgent,
    answer: impl Fn(&Value) -> (String, Option<Value>),
) -> Vec<String> {
    let batch = poll(t, agent, 0).await;
    let mut seen = Vec::new();
    for command in batch["commands"].as_array().unwrap() {
        seen.push(report(t, agent, command, &answer).await);
    }
    seen
}

/// One command long-poll that waits up to `wait` seconds; the `CommandBatch` answer.
pub async fn poll(t: &TestController, agent: &FakeAgent, wait: u64) -> Value {
    agent
        .client
        .get(t.https(&format!("/api/v1/agent/commands?wait={wait}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Posts `answer`'s result for one delivered `apply_change` envelope; returns its id.
pub async fn report(
    t: &TestController,
    agent: &FakeAgent,
    envelope: &Value,
    answer: impl Fn(&Value) -> (String, Option<Value>),
) -> String {
    let id = envelope["id"].as_str().unwrap().to_owned();
    assert_eq!(envelope["command"]["kind"], "apply_change");
    let (status, change) = answer(&envelope["command"]);
    let mut result = json!({"status": status, "message": format!("fake guard: {status}"),
        "finished_at": "2026-11-01T00:00:01Z"});
    if let Some(change) = change {
        result["change"] = change;
    }
    let reply = agent
        .client
        .post(t.https(&format!("/api/v1/agent/commands/{id}/result")))
        .json(&result)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    id
}

/// Answers like the guard.
pub async fn serve_once(t: &TestController, agent: &FakeAgent) -> Vec<String> {
    serve_with(t, agent, guard_answer).await
}

/// Creates a rollout of pw-demo `version` over the agents (canary 1, batches of 2); `extra`
/// fields are merged into the request.
pub async fn create_rollout_with(
    t: &TestController,
    agents: &[FakeAgent],
    version: &str,
    extra: Value,
) -> String {
    let mut body = json!({
        "hosts": agents.iter().map(|a| a.host_id.clone()).collect::<Vec<_>>(),
        "targets": [{"name": "pw-demo", "version": version}],
        "canary_size": 1, "batch_size": 2, "verification_seconds": 1,
        "checks": [{"kind": "http", "name": "http", "addr": "127.0.0.1:18080",
                    "path": "/cgi-bin/health"}],
    });
    for (key, value) in extra.as_object().unwrap() {
        body[key] = value.clone();
    }
    let (status, view) = t.post_json("/api/v1/rollouts", &body).await;
    assert_eq!(status, 201, "{view}");
    assert!(
        view["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["state"] == "pending")
    );
    view["id"].as_str().unwrap().to_owned()
}

pub async fn create_rollout(t: &TestController, agents: &[FakeAgent], version: &str) -> String {
    create_rollout_with(t, agents, version, json!({})).await
}

/// Serves every agent until the rollout leaves `running` (bounded).
pub async fn run_to_end(
    t: &TestController,
    agents: &[FakeAgent],
    id: &str,
) -> (Value, Vec<String>) {
    let mut seen = Vec::new();
    for _ in 0..150 {
        for agent in agents {
            seen.extend(serve_once(t, agent).await);
        }
        let (_, view) = t.get_json(&format!("/api/v1/rollouts/{id}")).await;
        if view["status"] != "running" {
            return (view, seen);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("rollout {id} did not finish");
}

/// Waits (bounded) until `done(view)` holds for the rollout and returns the view.
pub async fn wait_for(t: &TestController, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    // Up to 30 s: the scheduler's passes run on real time in these tests, and CI runs them
    // beside the whole suite on two cores.
    let what = format!("rollout {id} in the expected state");
    let path = format!("/api/v1/rollouts/{id}");
    wait_until(
        &what,
        Duration::from_secs(30),
        Duration::from_millis(100),
        async || {
            let (_, view) = t.get_json(&path).await;
            if done(&view) { Ok(view) } else { Err(view) }
        },
    )
    .await
}
