//! Retry failed hosts, skip a host and the T0 emergency start through the API of the real
//! controller: status codes, roles, refusals with their reason, audit and metrics.

use serde_json::json;

use crate::fleet::{create_rollout, enroll_fleet, run_to_end};
use crate::support::{TestController, client_with_token};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_skip_and_emergency_through_the_api() {
    let t = TestController::start().await;
    let agents = enroll_fleet(&t, 3).await;
    // 1.0-3 fails its health check on the canary: the rollout stops, the version is blocked.
    let id = create_rollout(&t, &agents, "1.0-3").await;
    let (view, _) = run_to_end(&t, &agents, &id).await;
    assert_eq!(view["status"], "stopped", "{view}");
    let retry = format!("/api/v1/rollouts/{id}/retry");
    let (status, body) = t.post_json(&retry, &json!({})).await;
    assert_eq!(status, 409, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("blocked fleet-wide"), "{message}");
    let (status, _) = t
        .delete_json("/api/v1/blocked-versions/pw-demo/1.0-3")
        .await;
    assert_eq!(status, 200);
    let (status, retried) = t.post_json(&retry, &json!({})).await;
    assert_eq!(status, 201, "{retried}");
    assert_eq!(retried["detail"]["retry_of"], id.as_str());
    assert_eq!(retried["hosts"].as_array().unwrap().len(), 1);
    assert_eq!(retried["hosts"][0]["host_id"], agents[0].host_id.as_str());
    let (status, _) = t
        .post_json("/api/v1/rollouts/ro-unknown/retry", &json!({}))
        .await;
    assert_eq!(status, 404);

    // Skip: a pending host of a new rollout, by an operator; a finished one is refused.
    let second = create_rollout(&t, &agents[1..], "1.0-2").await;
    let skip = |host: &str| format!("/api/v1/rollouts/{second}/hosts/{host}/skip");
    let (status, view) = t.post_json(&skip(&agents[2].host_id), &json!({})).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(
        view["control"]["skipped_hosts"][&agents[2].host_id],
        crate::support::ADMIN
    );
    let (view, _) = run_to_end(&t, &agents, &second).await;
    assert_eq!(view["status"], "completed", "{view}");
    let (status, body) = t.post_json(&skip(&agents[1].host_id), &json!({})).await;
    assert_eq!(status, 409, "{body}");

    // Emergency: admins only, with a reason.
    let third = create_rollout(&t, &agents[2..], "1.0-2").await;
    let emergency = format!("/api/v1/rollouts/{third}/emergency");
    let operator = t.operator("olga", pw_server::Role::Operator).await;
    let answer = client_with_token(&operator)
        .post(t.http(&emergency))
        .json(&json!({"reason": "CVE-2026-0001"}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 403);
    let (status, body) = t.post_json(&emergency, &json!({"reason": ""})).await;
    assert_eq!(status, 400, "{body}");
    let (status, view) = t
        .post_json(&emergency, &json!({"reason": "CVE-2026-0001 exploited"}))
        .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(
        view["control"]["emergency"]["reason"],
        "CVE-2026-0001 exploited"
    );
    let (_, log) = t.get_json(&format!("/api/v1/rollouts/{third}/log")).await;
    let steps: Vec<&str> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["step"].as_str())
        .collect();
    assert!(steps.contains(&"emergency"), "{steps:?}");
    let (_, metrics) = t.get_text("/metrics").await;
    for action in ["emergency", "skip_host", "retry"] {
        let line = format!("patchwarden_rollout_operator_controls_total{{action=\"{action}\"}} 1");
        assert!(metrics.contains(&line), "{action}: {metrics}");
    }
}
