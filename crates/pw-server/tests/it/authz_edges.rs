//! Authorization edges (issue 14.6): a revoked operator's enrollment tokens, the last admin,
//! the login form's CSRF value bound to the controller, the bearer scheme's case.

use serde_json::{Value, json};

use crate::support::{ADMIN, TestController, browser, client_with_token};

#[tokio::test]
async fn revoking_an_operator_revokes_the_enrollment_tokens_it_issued() {
    let tc = TestController::start().await;
    let ops = tc.operator("ops", pw_server::Role::Operator).await;
    let issued: Value = client_with_token(&ops)
        .post(tc.http("/api/v1/enrollment-tokens"))
        .json(&json!({"ttl_secs": 600}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = issued["token"].as_str().unwrap().to_owned();
    let admins_token = tc.token().await;
    let revoke = tc
        .api()
        .post(tc.http("/api/v1/operators/ops/revoke"))
        .send();
    assert_eq!(revoke.await.unwrap().status(), 204);
    let (status, body, _) = tc.enroll(&token, "late-1").await;
    assert_eq!(status, 410, "{body}");
    assert_eq!(body["error"]["code"], "token_revoked", "{body}");
    // Tokens of other operators still work.
    let (status, body, _) = tc.enroll(&admins_token, "web-1").await;
    assert_eq!(status, 200, "{body}");
    let (_, audit) = tc.get_json("/api/v1/audit?limit=10").await;
    let revoked = audit["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["action"] == "operator.revoked")
        .expect("no operator.revoked record");
    assert_eq!(
        revoked["details"]["enrollment_tokens_revoked"], 1,
        "{revoked}"
    );
    tc.controller.shutdown().await;
}

#[tokio::test]
async fn the_last_active_admin_cannot_be_revoked() {
    let tc = TestController::start().await;
    let own = format!("/api/v1/operators/{ADMIN}/revoke");
    let answer = tc.api().post(tc.http(&own)).send().await.unwrap();
    assert_eq!(answer.status(), 409);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["error"]["code"], "operator_conflict", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("last active admin")
    );
    // Still an admin: its token works.
    assert_eq!(tc.get_json("/api/v1/operators").await.0, 200);
    // With a second admin, one of them may go; then the other is the last.
    let second = tc.operator("second-admin", pw_server::Role::Admin).await;
    let answer = tc.api().post(tc.http(&own)).send().await.unwrap();
    assert_eq!(answer.status(), 204);
    let answer = client_with_token(&second)
        .post(tc.http("/api/v1/operators/second-admin/revoke"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 409);
    tc.controller.shutdown().await;
}

#[tokio::test]
async fn the_login_csrf_value_must_come_from_this_controller() {
    let tc = TestController::start().await;
    let token = &tc.admin_token;
    let post = |cookie: String, body: String| {
        browser()
            .post(tc.http("/login"))
            .header("cookie", cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    // A pair the client chose: cookie and field agree, but the controller never issued it.
    let chosen = post(
        "pw_login_csrf=pwc_chosen".into(),
        format!("csrf=pwc_chosen&token={token}"),
    )
    .await
    .unwrap();
    assert_eq!(chosen.status(), 403);
    // Another controller's value is refused too.
    let other = TestController::start().await;
    let form = browser().get(other.http("/login")).send().await.unwrap();
    let html = form.text().await.unwrap();
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).unwrap() + marker.len();
    let foreign = html[start..].split('"').next().unwrap().to_owned();
    let answer = post(
        format!("pw_login_csrf={foreign}"),
        format!("csrf={foreign}&token={token}"),
    )
    .await
    .unwrap();
    assert_eq!(answer.status(), 403);
    // Its own value signs in.
    let form = browser().get(tc.http("/login")).send().await.unwrap();
    let html = form.text().await.unwrap();
    let start = html.find(marker).unwrap() + marker.len();
    let own = html[start..].split('"').next().unwrap().to_owned();
    let answer = post(
        format!("pw_login_csrf={own}"),
        format!("csrf={own}&token={token}"),
    )
    .await
    .unwrap();
    assert_eq!(answer.status(), 303);
    other.controller.shutdown().await;
    tc.controller.shutdown().await;
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let tc = TestController::start().await;
    let token = &tc.admin_token;
    for (header, want) in [
        (format!("bearer {token}"), 200),
        (format!("BEARER {token}"), 200),
        (format!("Bearer {token}"), 200),
        (format!("Basic {token}"), 401),
        ("Bearer".to_owned(), 401),
    ] {
        let answer = reqwest::Client::new()
            .get(tc.http("/api/v1/me"))
            .header("authorization", &header)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), want, "{header:.12}");
    }
    tc.controller.shutdown().await;
}
