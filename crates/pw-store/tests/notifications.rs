//! The notification outbox on SQLite and PostgreSQL: enqueueing twice is one row, claims take only
//! due rows and take an expired lease back, failures keep the error and the next attempt, and a
//! channel's secret is audited without its value.

#[macro_use]
mod common;

use common::{at, store_with_host};
use pw_store::{Backend, ChannelSecret, NewNotification, OutboxCounts};

fn row(event: &str, channel: &str) -> NewNotification {
    NewNotification {
        key: format!("{event}/{channel}"),
        event_id: event.into(),
        event_kind: "plan.approved".into(),
        channel: channel.into(),
        payload: serde_json::json!({ "title": "t" }),
    }
}

async fn enqueue_is_idempotent_on_the_key(backend: Backend) {
    let (_dir, store) = store_with_host(backend).await;
    let now = at("2026-12-04T10:00:00Z");
    let rows = [row("e1", "ops"), row("e1", "dba")];
    assert_eq!(store.enqueue_notifications(&rows, now).await.unwrap(), 2);
    assert_eq!(store.enqueue_notifications(&rows, now).await.unwrap(), 0);
    assert_eq!(store.notifications(None, 100).await.unwrap().len(), 2);
}

async fn claim_send_fail_retry_and_lease(backend: Backend) {
    let (_dir, store) = store_with_host(backend).await;
    let t0 = at("2026-12-04T10:00:00Z");
    store
        .enqueue_notifications(&[row("e1", "ops"), row("e2", "ops")], t0)
        .await
        .unwrap();
    let lease = at("2026-12-04T10:01:00Z");
    let claimed = store.claim_notifications(t0, lease, 10).await.unwrap();
    assert_eq!(claimed.len(), 2);
    assert!(
        claimed
            .iter()
            .all(|r| r.status == "sending" && r.attempts == 1)
    );
    // Claimed rows are not claimed again while their lease runs.
    assert!(
        store
            .claim_notifications(t0, lease, 10)
            .await
            .unwrap()
            .is_empty()
    );
    store.notification_sent(claimed[0].id, t0).await.unwrap();
    let retry = at("2026-12-04T10:00:30Z");
    store
        .notification_failed(claimed[1].id, "HTTP 500: boom", Some(retry))
        .await
        .unwrap();
    assert!(
        store
            .claim_notifications(at("2026-12-04T10:00:29Z"), lease, 10)
            .await
            .unwrap()
            .is_empty(),
        "not due before its next attempt"
    );
    let again = store.claim_notifications(retry, lease, 10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 2);
    assert_eq!(again[0].last_error.as_deref(), Some("HTTP 500: boom"));
    // A dead dispatcher's lease runs out: the row is claimed again.
    let later = at("2026-12-04T10:01:00Z");
    let taken_back = store
        .claim_notifications(later, at("2026-12-04T10:02:00Z"), 10)
        .await
        .unwrap();
    assert_eq!(taken_back.len(), 1);
    assert_eq!(taken_back[0].attempts, 3);
    store
        .notification_failed(taken_back[0].id, "gave up", None)
        .await
        .unwrap();
    assert_eq!(
        store.notification_counts().await.unwrap(),
        OutboxCounts {
            pending: 0,
            sending: 0,
            sent: 1,
            failed: 1
        }
    );
    let failed = store.notifications(Some("failed"), 10).await.unwrap();
    assert_eq!(failed[0].last_error.as_deref(), Some("gave up"));
    let sent = store.notifications(Some("sent"), 10).await.unwrap();
    assert_eq!(sent[0].sent_at, Some(t0));
    assert_eq!(sent[0].last_error, None);
}

async fn a_channel_secret_is_stored_and_audited_without_its_value(backend: Backend) {
    let (_dir, store) = store_with_host(backend).await;
    assert_eq!(
        store.channel_secret("ops").await.unwrap(),
        ChannelSecret::default()
    );
    let secret = ChannelSecret {
        secret: Some("SEC-very-secret".into()),
        token: None,
    };
    store
        .set_channel_secret("ops", &secret, "admin", at("2026-12-04T10:00:00Z"))
        .await
        .unwrap();
    assert_eq!(store.channel_secret("ops").await.unwrap(), secret);
    let tail = store.audit_tail(1).await.unwrap();
    assert_eq!(tail[0].action, "notification.secret_set");
    assert_eq!(tail[0].subject, "ops");
    let text = serde_json::to_string(&tail[0].details).unwrap();
    assert!(!text.contains("very-secret"), "{text}");
    assert_eq!(tail[0].details["secret"], true);
}

on_both_backends!(
    enqueue_is_idempotent_on_the_key,
    claim_send_fail_retry_and_lease,
    a_channel_secret_is_stored_and_audited_without_its_value,
);
