//! The console's outbox page (issue 12): a message a real webhook receiver refused shows with
//! its status, attempts and the receiver's answer, in English and Chinese; a viewer sees no
//! retry; a retry without the session's CSRF token changes nothing; an operator's retry sends it
//! at once (the dispatcher woken), audited; a sent message cannot be retried (API 409), an
//! unknown one is 404.

use serde_json::Value;

use crate::console_support::{get, outcome, post_form, session_of};
use crate::notifications::outbox_until;
use crate::plans_api::document;
use crate::support::{ADMIN, TestController, form_field};
use pw_testkit::webhook::Receiver;

fn fleet(url: &str) -> String {
    format!(
        "{}\n[[channels]]\nname = \"ops-hook\"\nkind = \"webhook\"\nurl = \"{url}\"\n",
        document(false)
    )
}

/// Status and outbox row `id` as the API shows it.
async fn row(t: &TestController, id: i64) -> Value {
    let (_, list) = t.get_json("/api/v1/notifications").await;
    let rows = list["notifications"].as_array().unwrap();
    rows.iter().find(|r| r["id"] == id).unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_message_is_shown_and_retried_from_the_console() {
    let t = TestController::start().await;
    let received = Receiver::default();
    let url = received.start().await;
    received.answer(500);
    t.apply_fleet(&fleet(&url)).await;
    let (status, _) = t
        .post_json(
            "/api/v1/notification-channels/ops-hook/test",
            &serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 202);
    // Refused once, waiting for its next attempt (30 s later by default).
    let list = outbox_until(&t, "pending", 1).await;
    let mut first = list["notifications"][0].clone();
    for _ in 0..200 {
        if first["attempts"] == 1 && !first["last_error"].is_null() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        first = row(&t, first["id"].as_i64().unwrap()).await;
    }
    let id = first["id"].as_i64().unwrap();
    assert_eq!(first["attempts"], 1, "{first}");

    t.operator("vic", pw_server::Role::Viewer).await;
    let viewer = session_of(&t, "vic").await;
    let (status, page) = get(&t, &viewer, "/notifications?status=pending").await;
    assert_eq!(status, 200);
    assert!(page.contains(&format!("id=\"n-{id}\"")), "{page}");
    assert!(
        page.contains("boom: receiver is down"),
        "the receiver's answer: {page}"
    );
    assert!(
        !page.contains(&format!("id=\"retry-{id}\"")),
        "a viewer may not retry"
    );
    assert!(page.contains("id=\"count-pending\">1<"), "{page}");

    let admin = session_of(&t, ADMIN).await;
    let (_, zh) = get(&t, &admin, "/notifications?lang=zh-CN").await;
    assert!(zh.contains("通知：发件箱") && zh.contains("立即重试") && zh.contains("待发送"));
    let (_, page) = get(&t, &admin, "/notifications?lang=en").await;
    assert!(page.contains(&format!("id=\"retry-{id}\"")), "{page}");
    let csrf = form_field(&page, "csrf");
    let path = format!("/notifications/{id}/retry");
    let forged = post_form(&t, &admin, &path, &[("csrf", "pwc_forged")]).await;
    assert_eq!(forged.status(), 403);
    assert_eq!(
        row(&t, id).await["attempts"],
        1,
        "a forged retry changed it"
    );

    // The receiver takes messages again; the retry sends it now, not 30 s later.
    received.answer(200);
    let answer = post_form(&t, &admin, &path, &[("csrf", csrf.as_str())]).await;
    assert_eq!(outcome(answer).await, (303, "/notifications".to_owned()));
    outbox_until(&t, "sent", 1).await;
    assert_eq!(received.requests.lock().unwrap().len(), 2);
    let (_, page) = get(&t, &admin, "/notifications?status=sent").await;
    assert!(page.contains(&format!("id=\"n-{id}\"")), "{page}");
    assert!(
        !page.contains(&format!("id=\"retry-{id}\"")),
        "a sent message is not retried"
    );
    let (_, audit) = t.get_json("/api/v1/audit").await;
    assert!(
        audit.to_string().contains("notification.retry"),
        "{audit:#}"
    );

    let (status, body) = t
        .post_json(&format!("/api/v1/notifications/{id}/retry"), &Value::Null)
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("notification_not_retryable")),
        "{body}"
    );
    let (status, body) = t
        .post_json("/api/v1/notifications/999999/retry", &Value::Null)
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("notification_not_found"))
    );
}
