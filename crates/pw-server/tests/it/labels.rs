//! Labels agents report with their inventory: stored on the host, shown in `GET /api/v1/hosts`,
//! and a bad one refuses the whole report (422 naming it, nothing stored).

use serde_json::json;

use crate::support::{TestController, inventory_body, tls_client};

/// Enrolls a fake agent for `hostname`; returns its host id and mTLS client.
pub async fn agent(t: &TestController, hostname: &str) -> (String, reqwest::Client) {
    let token = t.token().await;
    let (status, enrolled, key) = t.enroll(&token, hostname).await;
    assert_eq!(status, 200, "{enrolled}");
    let cert = enrolled["certificate_pem"].as_str().unwrap();
    (
        enrolled["host_id"].as_str().unwrap().to_owned(),
        tls_client(&t.ca_pem(), Some((cert, &key))),
    )
}

/// Posts an inventory of `hostname` with `labels`; the status and answer.
pub async fn report_labels(
    t: &TestController,
    client: &reqwest::Client,
    hostname: &str,
    labels: serde_json::Value,
) -> (u16, serde_json::Value) {
    let mut body = inventory_body(hostname);
    body["labels"] = labels;
    let answer = client
        .post(t.https("/api/v1/agent/inventory"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap())
}

#[tokio::test]
async fn reported_labels_are_stored_shown_and_checked() {
    let t = TestController::start().await;
    let (host_id, client) = agent(&t, "web-1").await;
    let (status, _) =
        report_labels(&t, &client, "web-1", json!({"role": "web", "rack": "r1"})).await;
    assert_eq!(status, 200);
    let (_, host) = t.get_json(&format!("/api/v1/hosts/{host_id}")).await;
    assert_eq!(host["labels"], json!({"rack": "r1", "role": "web"}));

    let (status, answer) =
        report_labels(&t, &client, "web-1", json!({"role": "web", "Bad Key": "x"})).await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["error"]["code"], "invalid_label");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("\"Bad Key\""),
        "{answer}"
    );
    let (status, answer) = report_labels(&t, &client, "web-1", json!({"role": "a b"})).await;
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("\"a b\"")
    );
    let (_, hosts) = t.get_json("/api/v1/hosts").await;
    assert_eq!(
        hosts["hosts"][0]["labels"],
        json!({"rack": "r1", "role": "web"}),
        "refused reports changed nothing"
    );

    // An older agent (no labels field) leaves them; an empty map clears them.
    assert_eq!(
        t.agent_post(&client, "inventory", &inventory_body("web-1"))
            .await,
        200
    );
    let (_, host) = t.get_json(&format!("/api/v1/hosts/{host_id}")).await;
    assert_eq!(host["labels"]["role"], "web");
    let (status, _) = report_labels(&t, &client, "web-1", json!({})).await;
    assert_eq!(status, 200);
    let (_, host) = t.get_json(&format!("/api/v1/hosts/{host_id}")).await;
    assert_eq!(host["labels"], json!({}));
}
