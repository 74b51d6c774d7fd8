//! Notifications through a real controller (issue 12 items 3–4): channels and routes in the
//! fleet document, a channel's secret stored through the API (admin only, audited without the
//! value, never in the fleet document or an answer), plan workflow events routed to a real
//! webhook receiver on 127.0.0.1 that checks the HMAC itself, the outbox (`GET
//! /api/v1/notifications`) showing deliveries and failures with the receiver's answer, and the
//! `/metrics` counters.

use std::time::Duration;

use pw_testkit::wait_until;
use pw_testkit::webhook::{Receiver, signed};
use serde_json::{Value, json};

use crate::plans_api::{document, enroll, post};
use crate::support::{TestController, client_with_token};

const SECRET: &str = "whsec-test-0123456789";

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

/// Waits (bounded: 10 s, the dispatcher runs as its own task) until the outbox has `count`
/// rows in `status`; returns the list.
pub(crate) async fn outbox_until(t: &TestController, status: &str, count: usize) -> Value {
    let what = format!("{count} {status} notifications");
    let path = format!("/api/v1/notifications?status={status}");
    wait_until(
        &what,
        Duration::from_secs(10),
        Duration::from_millis(50),
        async || {
            let (code, list) = t.get_json(&path).await;
            assert_eq!(code, 200, "{list}");
            match list["notifications"].as_array().unwrap().len() >= count {
                true => Ok(list),
                false => Err(list),
            }
        },
    )
    .await
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
    let received = Receiver::default();
    let url = received.start().await;
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
    assert!(signed(SECRET, headers, body), "bad signature: {headers:?}");
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
    received.answer(500);
    let bob = t.operator("bob", pw_server::Role::Approver).await;
    let reason = json!({"reason": "wrong window"});
    let (status, rejected) = post(&t, &bob, &format!("/api/v1/plans/{id}/reject"), &reason).await;
    assert_eq!(status, 200, "{rejected}");
    let what = "the rejection's first failed attempt";
    let failed = wait_until(
        what,
        Duration::from_secs(10),
        Duration::from_millis(50),
        async || {
            let (_, list) = t.get_json("/api/v1/notifications?status=pending").await;
            match list["notifications"][0]["attempts"] == 1 {
                true => Ok(list),
                false => Err(list),
            }
        },
    )
    .await;
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
