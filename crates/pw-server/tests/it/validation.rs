//! One validator for every path that names a package (issue 14.4), shapes and lengths of
//! stored text (14.3), uniform JSON refusals (14.8).

use serde_json::{Value, json};

use crate::support::{TestController, tls_client};

/// An enrolled host: (host id, its agent's mTLS client).
async fn enrolled(tc: &TestController, hostname: &str) -> (String, reqwest::Client) {
    let token = tc.token().await;
    let (status, enrolled, key) = tc.enroll(&token, hostname).await;
    assert_eq!(status, 200, "{enrolled}");
    let cert = enrolled["certificate_pem"].as_str().unwrap();
    let agent = tls_client(&tc.ca_pem(), Some((cert, &key)));
    (enrolled["host_id"].as_str().unwrap().to_owned(), agent)
}

#[tokio::test]
async fn install_packages_is_checked_like_a_rollout_and_nothing_is_stored() {
    let tc = TestController::start().await;
    let (host_id, agent) = enrolled(&tc, "web-1").await;
    let path = format!("/api/v1/hosts/{host_id}/commands");
    let cases = [
        (
            json!([{"name": "<script>x", "version": "1.0"}]),
            "command.packages[0].name: package name \"<script>x\" has '<'",
        ),
        (
            json!([{"name": "bash", "version": "1;rm -rf /"}]),
            "command.packages[0].version: version \"1;rm -rf /\" has ';'",
        ),
        (
            json!([]),
            "command.packages: at least one package is needed",
        ),
        (
            json!([{"name": "bash", "version": "1"}, {"name": "bash", "version": "2"}]),
            "command.packages",
        ),
    ];
    for (packages, want) in cases {
        let body = json!({"command": {"kind": "install_packages", "packages": packages}});
        let (status, answer) = tc.post_json(&path, &body).await;
        assert_eq!(status, 422, "{packages}: {answer}");
        assert_eq!(answer["error"]["code"], "invalid_body", "{answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(want), "{message}");
    }
    // The same name is refused by a rollout with the same words.
    let rollout = json!({"hosts": [host_id], "targets": [{"name": "<script>x", "version": "1.0"}]});
    let (status, answer) = tc.post_json("/api/v1/rollouts", &rollout).await;
    assert!(status == 400 || status == 422, "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("package name \"<script>x\" has '<'"),
        "{message}"
    );
    // Nothing reached the agent.
    let batch: Value = tc.agent_poll(&agent).await;
    assert_eq!(batch["commands"], json!([]), "{batch}");
    tc.controller.shutdown().await;
}
