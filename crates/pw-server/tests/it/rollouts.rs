//! The rollout loop in-process with fake agents over real mTLS: canary first, then batches;
//! a health failure on the canary stops the rollout, blocks the version and touches nothing
//! else; command ids are deterministic and every transition is audited.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{TestController, tls_client};

struct FakeAgent {
    host_id: String,
    client: reqwest::Client,
}

async fn enroll_fleet(t: &TestController, n: usize) -> Vec<FakeAgent> {
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

/// Polls once; answers every `apply_change` like a guard would: done for 1.0-2, rolled back
/// after a failing health check for anything else. Returns the command ids seen.
async fn serve_once(t: &TestController, agent: &FakeAgent) -> Vec<String> {
    let batch: Value = agent
        .client
        .get(t.https("/api/v1/agent/commands?wait=0"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut seen = Vec::new();
    for command in batch["commands"].as_array().unwrap() {
        let id = command["id"].as_str().unwrap().to_owned();
        assert_eq!(command["command"]["kind"], "apply_change");
        let target = command["command"]["targets"][0]["version"]
            .as_str()
            .unwrap();
        let recorded = json!([{"name": "pw-demo", "version": "1.0-1"}]);
        let (status, change) = if target == "1.0-2" {
            let change = json!({"outcome": "done", "recorded": recorded,
                "final_versions": [{"name": "pw-demo", "version": "1.0-2"}],
                "installed_at": "2026-11-01T00:00:00Z", "passed_checks": ["http"],
                "failed_check": null});
            ("succeeded", change)
        } else {
            let change = json!({"outcome": "rolled_back", "reason": "health_check_failed",
                "detail": "500 FAIL", "recorded": recorded, "final_versions": recorded,
                "installed_at": "2026-11-01T00:00:00Z", "passed_checks": ["http"],
                "failed_check": "http"});
            ("failed", change)
        };
        let result = json!({"status": status, "message": "guard", "change": change,
            "finished_at": "2026-11-01T00:00:01Z"});
        let answer = agent
            .client
            .post(t.https(&format!("/api/v1/agent/commands/{id}/result")))
            .json(&result)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        seen.push(id);
    }
    seen
}

async fn create_rollout(t: &TestController, agents: &[FakeAgent], version: &str) -> String {
    let body = json!({
        "hosts": agents.iter().map(|a| a.host_id.clone()).collect::<Vec<_>>(),
        "targets": [{"name": "pw-demo", "version": version}],
        "canary_size": 1, "batch_size": 2, "verification_seconds": 1,
        "checks": [{"kind": "http", "name": "http", "addr": "127.0.0.1:18080",
                    "path": "/cgi-bin/health"}],
    });
    let answer = t
        .api()
        .post(t.http("/api/v1/rollouts"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 201);
    let view: Value = answer.json().await.unwrap();
    assert!(
        view["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["state"] == "pending")
    );
    view["id"].as_str().unwrap().to_owned()
}

/// Serves every agent until the rollout leaves `running` (bounded).
async fn run_to_end(t: &TestController, agents: &[FakeAgent], id: &str) -> (Value, Vec<String>) {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_version_goes_canary_then_batches_and_every_host_ends_done() {
    let t = TestController::start().await;
    let agents = enroll_fleet(&t, 5).await;
    let id = create_rollout(&t, &agents, "1.0-2").await;
    let (view, seen) = run_to_end(&t, &agents, &id).await;
    assert_eq!(view["status"], "completed", "{view}");
    for host in view["hosts"].as_array().unwrap() {
        assert_eq!(host["state"], "done", "{view}");
    }
    // One command per host, with the deterministic id, never repeated.
    assert_eq!(seen.len(), 5, "{seen:?}");
    assert!(seen[0].starts_with(&format!("{id}:{}:record_versions:", agents[0].host_id)));
    let (_, audit) = t.get_json("/api/v1/audit").await;
    let transitions = audit["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "rollout.host.transition")
        .count();
    // Per host: claimed, applying, verifying, done (HealthCheckPassed stays in verifying).
    assert!(transitions >= 5 * 4, "{transitions}");
    let page = t.page("/").await;
    assert!(page.contains(&id) && page.contains("done"), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_health_failure_on_the_canary_stops_the_rollout_and_blocks_the_version() {
    let t = TestController::start().await;
    let agents = enroll_fleet(&t, 3).await;
    let id = create_rollout(&t, &agents, "1.0-3").await;
    let (view, seen) = run_to_end(&t, &agents, &id).await;
    assert_eq!(view["status"], "stopped", "{view}");
    assert_eq!(view["hosts"][0]["state"], "rolled_back", "{view}");
    assert_eq!(view["hosts"][1]["state"], "pending");
    assert_eq!(view["hosts"][2]["state"], "pending");
    assert_eq!(seen.len(), 1, "only the canary got a command: {seen:?}");
    let (_, list) = t.get_json("/api/v1/rollouts").await;
    assert_eq!(list["blocked"][0]["package"], "pw-demo");
    assert_eq!(list["blocked"][0]["version"], "1.0-3");
    // A new rollout of the blocked version claims nobody.
    let again = create_rollout(&t, &agents, "1.0-3").await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(serve_once(&t, &agents[0]).await.is_empty());
    let (_, view) = t.get_json(&format!("/api/v1/rollouts/{again}")).await;
    assert!(
        view["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["state"] == "pending"),
        "{view}"
    );
}

#[tokio::test]
async fn rollout_requests_are_checked() {
    let t = TestController::start().await;
    let post = |body: Value| t.api().post(t.http("/api/v1/rollouts")).json(&body).send();
    let answer = post(json!({"hosts": ["nope"], "targets": [{"name": "pw-demo", "version": "1"}]}))
        .await
        .unwrap();
    assert_eq!(answer.status(), 404);
    let answer =
        post(json!({"hosts": ["x"], "targets": [{"name": "pw-demo", "version": "-1;rm"}]}))
            .await
            .unwrap();
    assert_eq!(answer.status(), 400);
    let (status, body) = t.get_json("/api/v1/rollouts/ro-unknown").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("rollout_not_found"))
    );
}
