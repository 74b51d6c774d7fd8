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

#[tokio::test]
async fn host_names_are_checked_like_enrollment_and_duplicates_flagged() {
    let tc = TestController::start().await;
    for bad in ["   ", &"a".repeat(5000), "<b>vm</b>"] {
        let token = tc.token().await;
        let (status, body, _) = tc.enroll(&token, bad).await;
        assert_eq!(status, 422, "{bad:.20}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("hostname: "), "{message:.200}");
    }
    let (first, agent) = enrolled(&tc, "vm").await;
    for bad in ["   ", &"b".repeat(5000), "vm 2"] {
        let mut report = crate::support::inventory_body("x");
        report["hostname"] = json!(bad);
        let status = tc.agent_post(&agent, "inventory", &report).await;
        assert_eq!(status, 422, "{bad:.20}");
    }
    let (_, host) = tc.get_json(&format!("/api/v1/hosts/{first}")).await;
    assert_eq!(host["hostname"], "vm");
    assert_eq!(host["duplicate_hostname"], false, "{host}");
    // A second host reporting the same name: both are flagged, in the API and on the page.
    let (second, other) = enrolled(&tc, "vm-2").await;
    let status = tc
        .agent_post(&other, "inventory", &crate::support::inventory_body(" vm "))
        .await;
    assert_eq!(status, 200);
    let (_, hosts) = tc.get_json("/api/v1/hosts").await;
    for host in hosts["hosts"].as_array().unwrap() {
        assert_eq!(host["hostname"], "vm", "{host}");
        assert_eq!(host["duplicate_hostname"], true, "{host}");
    }
    let (_, host) = tc.get_json(&format!("/api/v1/hosts/{second}")).await;
    assert_eq!(host["duplicate_hostname"], true, "{host}");
    let page = tc.page("/").await;
    assert_eq!(page.matches("same name as another host").count(), 2);
    tc.controller.shutdown().await;
}

#[tokio::test]
async fn free_text_fields_are_capped() {
    let tc = TestController::start().await;
    let (host_id, agent) = enrolled(&tc, "web-1").await;
    let beat = json!({"protocol_version": 1, "agent_version": "9".repeat(1000), "read_only": true,
        "sent_at": "2026-11-01T00:00:00Z"});
    assert_eq!(tc.agent_post(&agent, "heartbeat", &beat).await, 422);
    let (_, host) = tc.get_json(&format!("/api/v1/hosts/{host_id}")).await;
    assert_eq!(host["agent_version"], Value::Null, "{host}");

    let note = json!({"ttl_secs": 600, "note": "n".repeat(600)});
    let (status, body) = tc.post_json("/api/v1/enrollment-tokens", &note).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("note: 600 bytes; at most 500")
    );

    // A 5 MB result message is kept cut to 4 KiB (the agent would retry a refusal forever).
    let command = json!({"command": {"kind": "refresh_inventory"}});
    let (status, created) = tc
        .post_json(&format!("/api/v1/hosts/{host_id}/commands"), &command)
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap();
    let result = json!({"status": "failed", "message": "m".repeat(5_000_000),
        "finished_at": "2026-11-01T00:00:01Z"});
    let status = tc
        .agent_post(&agent, &format!("commands/{id}/result"), &result)
        .await;
    assert_eq!(status, 200);
    let (_, view) = tc.get_json(&format!("/api/v1/commands/{id}")).await;
    let message = view["result_message"].as_str().unwrap();
    assert!(message.len() <= 4096, "{}", message.len());
    assert!(message.ends_with("more bytes cut)"), "{message:.80}");
    let answer = tc.api().get(tc.http("/api/v1/audit")).send().await.unwrap();
    let size = answer.bytes().await.unwrap().len();
    assert!(size < 64 * 1024, "audit page is {size} bytes");
    tc.controller.shutdown().await;
}

#[tokio::test]
async fn the_audit_api_is_paged() {
    let tc = TestController::start().await;
    for _ in 0..5 {
        tc.token().await;
    }
    let (status, page) = tc.get_json("/api/v1/audit?limit=2").await;
    assert_eq!(status, 200, "{page}");
    let seqs = |page: &Value| -> Vec<i64> {
        page["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["seq"].as_i64().unwrap())
            .collect()
    };
    let first = seqs(&page);
    assert_eq!(first.len(), 2);
    let next = page["next_before"].as_i64().unwrap();
    assert_eq!(next, first[1]);
    let (_, older) = tc
        .get_json(&format!("/api/v1/audit?limit=2&before={next}"))
        .await;
    let second = seqs(&older);
    assert_eq!(second, vec![first[1] - 1, first[1] - 2]);
    // Walking to the end stops with next_before null.
    let (_, all) = tc.get_json("/api/v1/audit?limit=500").await;
    assert_eq!(all["next_before"], Value::Null, "{all}");
    for bad in [
        "limit=0",
        "limit=501",
        "limit=abc",
        "before=0",
        "colour=red",
    ] {
        let (status, body) = tc.get_json(&format!("/api/v1/audit?{bad}")).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["error"]["code"], "invalid_request", "{bad}: {body}");
    }
    tc.controller.shutdown().await;
}

/// An agent's inventory report is read without tracking paths when it reads (the hot route of
/// 10,000 agents); one that does not read is refused naming the value, the whole body read.
#[tokio::test]
async fn a_refused_inventory_names_the_package_and_a_good_one_is_stored() {
    let tc = TestController::start().await;
    let (host_id, agent) = enrolled(&tc, "web-1").await;
    let post = |body: Value| {
        let agent = agent.clone();
        let url = tc.https("/api/v1/agent/inventory");
        async move {
            let answer = agent.post(url).json(&body).send().await.unwrap();
            let status = answer.status().as_u16();
            (status, answer.json::<Value>().await.unwrap())
        }
    };
    let mut missing = crate::support::inventory_body("web-1");
    missing["packages"][1]
        .as_object_mut()
        .unwrap()
        .remove("version");
    let mut wrong = crate::support::inventory_body("web-1");
    wrong["packages"][0]["arch"] = json!(7);
    let mut unknown = crate::support::inventory_body("web-1");
    unknown["protocol_version"] = json!("one");
    let cases = [
        (missing, "packages[1]: missing field `version`"),
        (wrong, "packages[0].arch: invalid type: integer `7`"),
        (unknown, "protocol_version: invalid type: string \"one\""),
    ];
    for (body, want) in cases {
        let (status, answer) = post(body).await;
        assert_eq!(status, 422, "{answer}");
        assert_eq!(answer["error"]["code"], "invalid_body", "{answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(want), "{message}");
    }
    let (_, host) = tc.get_json(&format!("/api/v1/hosts/{host_id}")).await;
    assert_eq!(host["packages"], 0, "nothing stored: {host}");
    let (status, answer) = post(crate::support::inventory_body("web-1")).await;
    assert_eq!(status, 200, "{answer}");
    let (_, host) = tc.get_json(&format!("/api/v1/hosts/{host_id}")).await;
    assert_eq!(host["packages"], 2, "{host}");
    tc.controller.shutdown().await;
}
