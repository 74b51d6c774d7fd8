//! Notifications through a real controller (issue 12 items 3–4): channels and routes in the
//! fleet document, a channel's secret stored through the API (admin only, audited without the
//! value, never in the fleet document or an answer), plan workflow events routed to a real
//! webhook receiver on 127.0.0.1 that checks the HMAC itself, the outbox (`GET
//! /api/v1/notifications`) showing deliveries and failures with the receiver's answer, and the
//! `/metrics` counters.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::plans_api::{document, enroll, post};
use crate::support::{TestController, client_with_token};

const SECRET: &str = "whsec-test-0123456789";

/// What the receiver got: each request's headers and body.
#[derive(Clone, Default)]
pub(crate) struct Received {
    pub(crate) requests: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
    /// The status the receiver answers with.
    pub(crate) status: Arc<Mutex<u16>>,
}

async fn receive(
    State(received): State<Received>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    received.requests.lock().unwrap().push((headers, body));
    let status = *received.status.lock().unwrap();
    (
        StatusCode::from_u16(status).unwrap(),
        if status == 200 {
            "ok"
        } else {
            "boom: receiver is down"
        },
    )
}

/// A webhook receiver on 127.0.0.1; returns its URL.
pub(crate) async fn receiver(received: Received) -> String {
    *received.status.lock().unwrap() = 200;
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(received);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/hook")
}

/// The webhook rule, checked here from its definition: `sha256=` + hex HMAC-SHA256(secret, body).
fn signature_ok(headers: &HeaderMap, body: &[u8]) -> bool {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body);
    let want = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    headers
        .get("x-patchwarden-signature")
        .is_some_and(|v| v.as_bytes() == want.as_bytes())
}

fn fleet(url: &str) -> String {
    format!(
        r#"{}
[[channels]]
name = "web-hook"
kind = "webhook"
url = "{url}"
language = "zh-CN"

[[routes]]
events = ["plan.needs_approval", "plan.rejected"]
groups = ["web"]
channels = ["web-hook"]
"#,
        document(false)
    )
}

/// Waits until the outbox has `count` rows in `status`; returns the list.
pub(crate) async fn outbox_until(t: &TestController, status: &str, count: usize) -> Value {
    for _ in 0..200 {
        let (code, list) = t
            .get_json(&format!("/api/v1/notifications?status={status}"))
            .await;
        assert_eq!(code, 200, "{list}");
        if list["notifications"].as_array().unwrap().len() >= count {
            return list;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, all) = t.get_json("/api/v1/notifications").await;
    panic!("no {count} {status} notifications: {all:#}");
}

async fn put_secret(t: &TestController, token: &str, channel: &str, body: &Value) -> (u16, Value) {
    let answer = client_with_token(token)
        .put(t.http(&format!("/api/v1/notification-channels/{channel}/secret")))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = answer.status().as_u16();
    let text = answer.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn plan_events_reach_a_signed_webhook_and_failures_show_in_the_outbox() {
    let t = TestController::start().await;
    let received = Received::default();
    let url = receiver(received.clone()).await;
    t.apply_fleet(&fleet(&url)).await;
    enroll(&t, "web-0").await;

    // The secret: admin only, unknown channels 404, never in the document or an answer.
    let operator = t.operator("olga", pw_server::Role::Approver).await;
    let (status, _) = put_secret(&t, &operator, "web-hook", &json!({"secret": SECRET})).await;
    assert_eq!(status, 403);
    let (status, body) = put_secret(&t, &t.admin_token, "nope", &json!({"secret": SECRET})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("channel_not_found"))
    );
    let (status, body) = put_secret(&t, &t.admin_token, "web-hook", &json!({"token": "x"})).await;
    assert_eq!(status, 400, "the URL has no {{token}}: {body}");
    let (status, _) = put_secret(&t, &t.admin_token, "web-hook", &json!({"secret": SECRET})).await;
    assert_eq!(status, 204);
    let (_, audit) = t.get_json("/api/v1/audit").await;
    let text = audit.to_string();
    assert!(text.contains("notification.secret_set"), "{audit:#}");
    assert!(!text.contains(SECRET), "the audit log holds the secret");
    let (_, fleet_view) = t.get_json("/api/v1/fleet").await;
    assert!(!fleet_view.to_string().contains(SECRET));

    // Submitting a plan of group web tells the web-hook channel, in Chinese, signed.
    let alice = t.operator("alice", pw_server::Role::Approver).await;
    let request = json!({"name": "2026-12 security", "group": "web", "updates": "security"});
    let (status, plan) = post(&t, &alice, "/api/v1/plans", &request).await;
    assert_eq!(status, 201, "{plan}");
    let id = plan["id"].as_i64().unwrap();
    let (status, submitted) = post(
        &t,
        &alice,
        &format!("/api/v1/plans/{id}/submit"),
        &json!({}),
    )
    .await;
    assert_eq!(status, 200, "{submitted}");
    let sent = outbox_until(&t, "sent", 1).await;
    let row = &sent["notifications"][0];
    assert_eq!(row["event"], "plan.needs_approval");
    assert_eq!(row["channel"], "web-hook");
    assert_eq!(row["attempts"], 1);
    let requests = received.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 1);
    let (headers, body) = &requests[0];
    assert!(signature_ok(headers, body), "bad signature: {headers:?}");
    assert_eq!(
        headers["x-patchwarden-idempotency-key"],
        row["key"].as_str().unwrap()
    );
    let message: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(message["event"], "plan.needs_approval");
    assert_eq!(message["title"], "变更计划待审批：2026-12 security");
    assert_eq!(message["groups"], json!(["web"]));
    assert!(
        message["link"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/plans/{id}"))
    );

    // The receiver fails: the rejection stays pending with the receiver's answer, counted.
    *received.status.lock().unwrap() = 500;
    let bob = t.operator("bob", pw_server::Role::Approver).await;
    let reason = json!({"reason": "wrong window"});
    let (status, rejected) = post(&t, &bob, &format!("/api/v1/plans/{id}/reject"), &reason).await;
    assert_eq!(status, 200, "{rejected}");
    let mut failed = Value::Null;
    for _ in 0..200 {
        let (_, list) = t.get_json("/api/v1/notifications?status=pending").await;
        if list["notifications"][0]["attempts"] == 1 {
            failed = list;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let row = &failed["notifications"][0];
    assert_eq!(row["event"], "plan.rejected", "{failed:#}");
    assert_eq!(
        row["last_error"],
        "the receiver answered HTTP 500: boom: receiver is down"
    );
    assert_eq!(failed["counts"]["sent"], 1);
    let (_, metrics) = t.get_text("/metrics").await;
    assert!(
        metrics.contains("patchwarden_notifications_sent_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("patchwarden_notifications_failed_total 1"),
        "{metrics}"
    );

    // The same event emitted again is the same row: rejecting twice is refused anyway, but a
    // test message is a new event each time.
    let (status, queued) = post(
        &t,
        &alice,
        "/api/v1/notification-channels/web-hook/test",
        &json!({}),
    )
    .await;
    assert_eq!(status, 202, "{queued}");
    let (status, bad) = t.get_json("/api/v1/notifications?status=gone").await;
    assert_eq!(status, 400, "{bad}");
}
