//! The dispatcher: when woken (rows enqueued) and at the latest every second, it claims the due
//! outbox rows under a lease, sends each to its channel as the current fleet document
//! declares it, and records the outcome — sent; failed and retried after the policy's backoff;
//! or failed for good (the retries used up, or a channel that cannot work as configured).
//!
//! Delivery is at least once with an idempotency key: a row is marked sent after the receiver
//! accepted it, so a controller killed between the receiver's answer and that mark sends the
//! row again after the lease (the receiver sees the same `X-Patchwarden-Idempotency-Key`). A
//! controller killed before sending sends it once, after restart.

use std::time::Duration;

use jiff::SignedDuration;
use pw_notify::Channel;
use pw_store::OutboxRow;
use tokio::sync::watch;

use super::send::{Payload, SendError};
use crate::Controller;

/// How long a claimed row is left to its sender before another pass may claim it again.
const LEASE: SignedDuration = SignedDuration::from_secs(120);
/// Rows sent per pass.
const BATCH: u32 = 50;

/// Runs the dispatcher until shutdown; a panicking pass is logged and the loop started again.
pub async fn run(controller: Controller, shutdown: watch::Receiver<bool>) {
    let observer = controller.clone();
    let start = move || passes(controller.clone(), shutdown.clone());
    let panicked = move || observer.observer().scheduler_panicked();
    crate::supervise::supervise(
        "notification dispatcher",
        Duration::from_secs(1),
        start,
        panicked,
    )
    .await;
}

async fn passes(controller: Controller, mut shutdown: watch::Receiver<bool>) {
    if *shutdown.borrow() {
        return;
    }
    let mut interval = tokio::time::interval(Duration::from_secs(1));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let wake = controller.notify().wake.clone();
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = wake.notified() => {}
            _ = shutdown.changed() => return,
        }
        if let Err(error) = dispatch_once(&controller).await {
            tracing::warn!(error = format!("{error:#}"), "notification pass failed");
        }
    }
}

/// One pass: claims the due rows at the controller's time and sends them. Returns how many
/// were sent.
pub async fn dispatch_once(controller: &Controller) -> anyhow::Result<usize> {
    let now = controller.now();
    let rows = controller
        .store
        .claim_notifications(now, now + LEASE, BATCH)
        .await?;
    let mut sent = 0;
    if !rows.is_empty() {
        let channels = crate::fleet::current_document(&controller.store)
            .await?
            .map(|(_, document)| document.channels)
            .unwrap_or_default();
        for row in rows {
            sent += usize::from(deliver(controller, &channels, &row).await?);
        }
    }
    let counts = controller.store.notification_counts().await?;
    controller
        .observer()
        .notifications_pending(counts.pending + counts.sending);
    Ok(sent)
}

/// Sends one claimed row and records the outcome; `true` when it was delivered.
async fn deliver(
    controller: &Controller,
    channels: &[Channel],
    row: &OutboxRow,
) -> anyhow::Result<bool> {
    let outcome = match channels.iter().find(|c| c.name == row.channel) {
        None => Err(SendError::Unusable(format!(
            "channel {} is no longer in the fleet document",
            row.channel
        ))),
        Some(channel) => match serde_json::from_value::<Payload>(row.payload.clone()) {
            Err(error) => Err(SendError::Unusable(format!("stored payload: {error}"))),
            Ok(payload) => {
                let secret = controller.store.channel_secret(&channel.name).await?;
                let sender = controller.notify().sender.clone();
                sender
                    .send(channel, &secret, &row.key, &payload, controller.now())
                    .await
            }
        },
    };
    let now = controller.now();
    match outcome {
        Ok(()) => {
            controller.store.notification_sent(row.id, now).await?;
            controller.observer().notifications_sent(1);
            tracing::info!(key = %row.key, channel = %row.channel, "notification sent");
            Ok(true)
        }
        Err(error) => {
            let attempts = u32::try_from(row.attempts).unwrap_or(u32::MAX);
            let retry_at = match &error {
                SendError::Unusable(_) => None,
                _ => controller
                    .notify()
                    .retry
                    .next_delay(attempts)
                    .map(|delay| now + delay),
            };
            let text = error.to_string();
            tracing::warn!(key = %row.key, channel = %row.channel, attempts, error = %text,
                retry_at = ?retry_at, "notification not delivered");
            controller
                .store
                .notification_failed(row.id, &text, retry_at)
                .await?;
            controller.observer().notifications_failed(1);
            Ok(false)
        }
    }
}
