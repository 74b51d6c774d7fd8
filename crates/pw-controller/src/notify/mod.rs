//! Notifications (docs/notifications.md): events are emitted where they happen ([`emit`]), routed
//! by the current fleet document's `[[routes]]` to its `[[channels]]`, rendered in each
//! channel's language and enqueued in the durable outbox (pw-store) under the idempotency key
//! event id × channel. The dispatcher ([`dispatch`]) delivers them with retries; the operator
//! API lists the outbox, stores channel secrets and sends a test through the outbox.
//!
//! Emitting never fails the use-case that emits: a notification that cannot be enqueued is
//! logged and counted, the plan is still approved.

pub mod dispatch;
mod finding_events;
mod rollout_events;
pub mod send;
pub mod watch;

#[cfg(test)]
mod events_tests;

use std::sync::Arc;

use jiff::Timestamp;
use pw_notify::{Channel, ChannelKind, Detail, Event, RetryPolicy};
use pw_store::{ChannelSecret, NewNotification, OutboxCounts, OutboxRow};
use serde::Serialize;
use tokio::sync::Notify;

pub use finding_events::{MAX_PER_HOST, is_new_urgent, new_findings};
pub use rollout_events::{RolloutNotes, observation_alert, version_blocked};
pub use send::{Payload, SendError, Sender};

use crate::{Controller, Refusal};

/// How the controller notifies.
#[derive(Clone)]
pub struct NotifySettings {
    /// The console's base URL for links in messages (`https://patchwarden.example.com`).
    pub console_url: String,
    pub retry: RetryPolicy,
    pub sender: Sender,
    /// Wakes the dispatcher when rows are enqueued.
    pub wake: Arc<Notify>,
}

impl NotifySettings {
    pub fn new(console_url: String, retry: RetryPolicy, sender: Sender) -> NotifySettings {
        NotifySettings {
            console_url,
            retry,
            sender,
            wake: Arc::default(),
        }
    }
}

/// Routes `events` and enqueues one row per event × channel; logs what fails.
pub async fn emit(controller: &Controller, events: Vec<Event>) {
    if events.is_empty() {
        return;
    }
    if let Err(error) = enqueue(controller, &events).await {
        tracing::warn!(
            error = format!("{error:#}"),
            events = events.len(),
            "notifications could not be enqueued"
        );
        controller.observer().notifications_failed(events.len());
    }
}

async fn enqueue(controller: &Controller, events: &[Event]) -> anyhow::Result<u64> {
    let Some((_, document)) = crate::fleet::current_document(&controller.store).await? else {
        return Ok(0);
    };
    let console = controller.notify().console_url.clone();
    let mut rows = Vec::new();
    for event in events {
        for channel in pw_notify::channels_for(&document.channels, &document.routes, event) {
            let to = recipients(channel, event, |group| document.owners(group));
            rows.push(row(channel, event, &console, to)?);
        }
    }
    if rows.is_empty() {
        return Ok(0);
    }
    let new = controller
        .store
        .enqueue_notifications(&rows, controller.now())
        .await?;
    controller.notify().wake.notify_one();
    Ok(new)
}

/// An email channel's recipients for `event`: its addresses, `owners` replaced by the owners of
/// the event's groups; each once.
fn recipients(
    channel: &Channel,
    event: &Event,
    owners: impl Fn(&str) -> Vec<String>,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for to in &channel.to {
        let more = if to == "owners" {
            event.groups.iter().flat_map(|g| owners(g)).collect()
        } else {
            vec![to.clone()]
        };
        for address in more {
            if !out.iter().any(|seen| seen.eq_ignore_ascii_case(&address)) {
                out.push(address);
            }
        }
    }
    out
}

fn row(
    channel: &Channel,
    event: &Event,
    console: &str,
    to: Vec<String>,
) -> anyhow::Result<NewNotification> {
    let payload = Payload {
        event: event.clone(),
        message: pw_notify::render(event, channel.language, console),
        to,
    };
    Ok(NewNotification {
        key: pw_notify::outbox_key(&event.id, &channel.name),
        event_id: event.id.clone(),
        event_kind: event.kind().as_str().to_owned(),
        channel: channel.name.clone(),
        payload: serde_json::to_value(&payload)?,
    })
}

/// `GET /api/v1/notifications`.
#[derive(Debug, Clone, Serialize)]
pub struct NotificationList {
    pub counts: OutboxCounts,
    pub notifications: Vec<OutboxRow>,
}

/// The outbox, newest first (`status`: only rows with it).
pub async fn list(
    controller: &Controller,
    status: Option<&str>,
    limit: u32,
) -> Result<NotificationList, Refusal> {
    if let Some(status) = status
        && !["pending", "sending", "sent", "failed"].contains(&status)
    {
        return Err(Refusal::InvalidRequest(format!(
            "status: {status:?} is not one of pending, sending, sent, failed"
        )));
    }
    Ok(NotificationList {
        counts: controller.store.notification_counts().await?,
        notifications: controller.store.notifications(status, limit).await?,
    })
}

/// `POST /api/v1/notifications/{id}/retry` and the console's retry: a failed (or waiting) row
/// is due now with a fresh round of attempts, and the dispatcher is woken. A row already sent
/// or being sent is refused (sending it again would be a second message).
pub async fn retry(controller: &Controller, actor: &str, id: i64) -> Result<(), Refusal> {
    match controller
        .store
        .retry_notification(id, actor, controller.now())
        .await?
    {
        None => Err(Refusal::NotificationNotFound(id)),
        Some(status) if status == "sent" || status == "sending" => {
            Err(Refusal::NotificationNotRetryable(format!(
                "notification {id} is {status}: only a failed or waiting notification is retried"
            )))
        }
        Some(_) => {
            controller.notify().wake.notify_one();
            Ok(())
        }
    }
}

/// The channel `name` of the current fleet document.
async fn channel(controller: &Controller, name: &str) -> Result<Channel, Refusal> {
    let document = crate::fleet::current_document(&controller.store)
        .await?
        .map(|(_, document)| document);
    document
        .and_then(|d| d.channels.into_iter().find(|c| c.name == name))
        .ok_or_else(|| Refusal::ChannelNotFound(name.to_owned()))
}

/// `PUT /api/v1/notification-channels/{name}/secret`: stores the channel's secret and token
/// (replacing both), audited without their values.
pub async fn set_secret(
    controller: &Controller,
    actor: &str,
    name: &str,
    secret: ChannelSecret,
) -> Result<(), Refusal> {
    let channel = channel(controller, name).await?;
    let blank = |v: &Option<String>| {
        v.as_deref()
            .is_some_and(|t| t.trim().is_empty() || t.len() > 4096)
    };
    if blank(&secret.secret) || blank(&secret.token) {
        return Err(Refusal::InvalidRequest(
            "secret and token: each is 1–4096 characters when given".into(),
        ));
    }
    if secret.secret.is_some() && !channel.kind.takes_secret() {
        return Err(Refusal::InvalidRequest(format!(
            "a {} channel takes no secret (its credential is the token in its URL)",
            channel.kind
        )));
    }
    if secret.token.is_some() && !channel.url.contains(pw_fleet::TOKEN_PLACEHOLDER) {
        return Err(Refusal::InvalidRequest(format!(
            "channel {name}'s URL has no {} to put a token in",
            pw_fleet::TOKEN_PLACEHOLDER
        )));
    }
    if let Some(token) = &secret.token
        && !token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.~/".contains(c))
    {
        return Err(Refusal::InvalidRequest(
            "token: only letters, digits and - _ . ~ / (it goes into the URL as it is)".into(),
        ));
    }
    controller
        .store
        .set_channel_secret(name, &secret, actor, controller.now())
        .await?;
    Ok(())
}

/// `POST /api/v1/notification-channels/{name}/test`: one test message to the channel through the
/// outbox (its row shows in `GET /api/v1/notifications`). Returns the outbox key.
pub async fn test(controller: &Controller, actor: &str, name: &str) -> Result<String, Refusal> {
    let channel = channel(controller, name).await?;
    let now = controller.now();
    let event = test_event(actor, now);
    let to = if channel.kind == ChannelKind::Email {
        channel
            .to
            .iter()
            .filter(|t| *t != "owners")
            .cloned()
            .collect()
    } else {
        Vec::new()
    };
    let row = row(&channel, &event, &controller.notify().console_url, to)?;
    let key = row.key.clone();
    controller.store.enqueue_notifications(&[row], now).await?;
    controller.notify().wake.notify_one();
    Ok(key)
}

/// The events of a plan's workflow step: `view` is the plan after it; one event for every
/// group the plan touches.
pub fn plan_event(
    view: &pw_protocol::PlanView,
    detail: Detail,
    step: &str,
    now: Timestamp,
) -> Event {
    let mut groups: Vec<String> = view.hosts.iter().map(|h| h.group.clone()).collect();
    groups.sort();
    groups.dedup();
    Event {
        id: format!("plan:{}:{step}:v{}", view.id, view.version),
        at: now,
        groups,
        tier: None,
        detail,
    }
}

/// The test event (`patchwarden notify test`, the test API).
pub fn test_event(actor: &str, now: Timestamp) -> Event {
    Event {
        id: format!("test:{}", uuid::Uuid::now_v7()),
        at: now,
        groups: Vec::new(),
        tier: None,
        detail: Detail::Test {
            requested_by: actor.to_owned(),
        },
    }
}
