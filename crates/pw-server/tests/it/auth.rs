//! Operator authentication of the API: 401 without a valid token, 403 when the role is too
//! low, revocation, the operator's name in the audit log, and no token in any audit record.

use pw_server::Role;
use serde_json::{Value, json};

use crate::support::{ADMIN, TestController, client_with_token};

async fn status_and_code(answer: reqwest::Response) -> (u16, String) {
    let status = answer.status().as_u16();
    let body: Value = answer.json().await.unwrap();
    (
        status,
        body["error"]["code"].as_str().unwrap_or("").to_owned(),
    )
}

async fn json_of(request: reqwest::RequestBuilder) -> Value {
    request.send().await.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn missing_malformed_and_unknown_tokens_get_401_with_a_clear_error() {
    let t = TestController::start().await;
    let answer = reqwest::get(t.http("/api/v1/hosts")).await.unwrap();
    assert_eq!(
        answer.headers()["www-authenticate"],
        "Bearer realm=\"patchwarden\""
    );
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["error"]["code"], "auth_required");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("Authorization: Bearer"), "{message}");

    let basic = reqwest::Client::new()
        .get(t.http("/api/v1/hosts"))
        .header("authorization", "Basic YWRtaW46eA==")
        .send();
    assert_eq!(
        status_and_code(basic.await.unwrap()).await,
        (401, "auth_malformed".into())
    );
    let unknown = client_with_token("pwo_0000").get(t.http("/api/v1/findings"));
    assert_eq!(
        status_and_code(unknown.send().await.unwrap()).await,
        (401, "operator_token_invalid".into())
    );
    // Every operator route refuses without a token; public ones answer.
    let post = reqwest::Client::new()
        .post(t.http("/api/v1/rollouts"))
        .json(&json!({}));
    assert_eq!(post.send().await.unwrap().status(), 401);
    let doc = reqwest::get(t.http("/api/v1/openapi.json")).await.unwrap();
    assert_eq!(doc.status(), 200);
    let metrics = reqwest::get(t.http("/metrics")).await.unwrap();
    assert_eq!(metrics.status(), 200);
}

#[tokio::test]
async fn each_role_gets_what_it_may_and_403_for_the_rest() {
    let t = TestController::start().await;
    let viewer = client_with_token(&t.operator("vera", Role::Viewer).await);
    let operator = client_with_token(&t.operator("otto", Role::Operator).await);
    let approver = client_with_token(&t.operator("anna", Role::Approver).await);
    let admin = t.api();
    let token_body = json!({"ttl_secs": 60});
    let operator_body = json!({"name": "x1", "role": "viewer"});
    // (client, method, path, body, expected status)
    let cases: Vec<(&reqwest::Client, &str, &str, Option<&Value>, u16)> = vec![
        (&viewer, "get", "/api/v1/hosts", None, 200),
        (&viewer, "get", "/api/v1/audit", None, 200),
        (&viewer, "get", "/api/v1/rollouts", None, 200),
        (
            &viewer,
            "post",
            "/api/v1/enrollment-tokens",
            Some(&token_body),
            403,
        ),
        (&viewer, "post", "/api/v1/rollouts", Some(&token_body), 403),
        (&viewer, "get", "/api/v1/operators", None, 403),
        (
            &operator,
            "post",
            "/api/v1/enrollment-tokens",
            Some(&token_body),
            201,
        ),
        (&operator, "get", "/api/v1/operators", None, 403),
        (
            &operator,
            "post",
            "/api/v1/operators",
            Some(&operator_body),
            403,
        ),
        (
            &approver,
            "post",
            "/api/v1/enrollment-tokens",
            Some(&token_body),
            201,
        ),
        (
            &approver,
            "post",
            "/api/v1/operators/vera/revoke",
            None,
            403,
        ),
        (&admin, "get", "/api/v1/operators", None, 200),
        (
            &admin,
            "post",
            "/api/v1/operators",
            Some(&operator_body),
            201,
        ),
    ];
    for (client, method, path, body, expected) in cases {
        let request = match method {
            "get" => client.get(t.http(path)),
            _ => client.post(t.http(path)),
        };
        let request = match body {
            Some(body) => request.json(body),
            None => request,
        };
        let answer = request.send().await.unwrap();
        let status = answer.status().as_u16();
        let text = answer.text().await.unwrap();
        assert_eq!(status, expected, "{method} {path}: {text}");
        if status == 403 {
            let body: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(body["error"]["code"], "role_too_low");
            let message = body["error"]["message"].as_str().unwrap();
            assert!(message.contains("or higher"), "{message}");
        }
    }
    let me = json_of(approver.get(t.http("/api/v1/me"))).await;
    assert_eq!(me, json!({"name": "anna", "role": "approver"}));
    // The operator's name, not a placeholder, is the actor of what it did.
    let audit = t.controller.state.store.audit_tail(100).await.unwrap();
    let actors: Vec<(&str, &str)> = audit
        .iter()
        .map(|r| (r.actor.as_str(), r.action.as_str()))
        .collect();
    assert!(
        actors.contains(&("otto", "enrollment_token.created")),
        "{actors:?}"
    );
    assert!(actors.contains(&("anna", "enrollment_token.created")));
    assert!(actors.contains(&(ADMIN, "operator.created")));
    assert!(!actors.iter().any(|(actor, _)| *actor == "operator"));
}

#[tokio::test]
async fn a_revoked_operator_is_refused_and_no_token_reaches_the_audit_log() {
    let t = TestController::start().await;
    let admin = t.api();
    let answer = admin
        .post(t.http("/api/v1/operators"))
        .json(&json!({"name": "bob", "role": "operator"}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 201);
    let created: Value = answer.json().await.unwrap();
    let token = created["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("pwo_") && token.len() == 68, "{token}");
    let bob = client_with_token(&token);
    let enrollment = bob
        .post(t.http("/api/v1/enrollment-tokens"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(enrollment.status(), 201);
    let enrollment: Value = enrollment.json().await.unwrap();

    // Bad requests: duplicate, reserved or invalid names, unknown roles.
    for (body, status) in [
        (json!({"name": "bob", "role": "viewer"}), 409),
        (json!({"name": "controller", "role": "viewer"}), 422),
        (json!({"name": "a b", "role": "viewer"}), 422),
        (json!({"name": "eve", "role": "root"}), 422),
    ] {
        let answer = admin
            .post(t.http("/api/v1/operators"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), status, "{body}");
    }

    let revoke = admin.post(t.http("/api/v1/operators/bob/revoke")).send();
    assert_eq!(revoke.await.unwrap().status(), 204);
    let again = admin.post(t.http("/api/v1/operators/bob/revoke")).send();
    assert_eq!(again.await.unwrap().status(), 409);
    let nobody = admin.post(t.http("/api/v1/operators/nobody/revoke")).send();
    assert_eq!(nobody.await.unwrap().status(), 404);
    let refused = bob.get(t.http("/api/v1/hosts")).send().await.unwrap();
    assert_eq!(
        status_and_code(refused).await,
        (401, "operator_revoked".into())
    );
    let listed = json_of(admin.get(t.http("/api/v1/operators"))).await;
    let bob_row = listed["operators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "bob")
        .unwrap();
    assert!(bob_row["revoked_at"].is_string());
    assert!(bob_row.get("token").is_none());

    let audit =
        serde_json::to_string(&t.controller.state.store.audit_tail(1000).await.unwrap()).unwrap();
    let secrets = [
        token.as_str(),
        t.admin_token.as_str(),
        enrollment["token"].as_str().unwrap(),
    ];
    for secret in secrets {
        assert!(!audit.contains(secret), "a token is in the audit log");
        let hash = pw_server::token_sha256(secret);
        assert!(!audit.contains(&hash), "a token's hash is in the audit log");
    }
    assert!(audit.contains("operator.revoked"));
}
