//! Notifications, pure (no I/O, no clock): the event vocabulary ([`Event`], [`EventKind`]),
//! messages in English and Simplified Chinese with a link into the console ([`render`]),
//! channels and routes as the fleet document declares them ([`Channel`], [`Route`],
//! [`channels_for`]), and the exact HTTP request of each vendor with its signature
//! ([`build_request`]) — generic webhook, DingTalk, Feishu/Lark, WeCom and Slack — and how each
//! vendor says no ([`check_response`]). Sending (HTTP, SMTP) and the outbox are edges:
//! pw-controller and pw-store (docs/notifications.md).
//!
//! Quirks of the subject honoured here:
//! - DingTalk signs `timestamp + "\n" + secret` keyed with the secret and wants the base64
//!   URL-encoded in the query; Feishu keys the HMAC with `timestamp + "\n" + secret` over an
//!   EMPTY message and wants `timestamp` (seconds, a string) and `sign` in the body;
//! - DingTalk, WeCom and Feishu answer HTTP 200 for refused messages: the error is the
//!   `errcode` / `code` in the body, so a 200 is not yet a delivery.

mod event;
mod outbox;
mod render;
mod routes;
mod vendor;

pub use event::{Detail, Event, EventKind};
pub use outbox::{RetryPolicy, outbox_key};
pub use render::{Language, Message, render};
pub use routes::{Channel, Route, channels_for};
pub use vendor::{
    ChannelKind, Delivery, HttpRequest, IDEMPOTENCY_HEADER, ReceiverError, SIGNATURE_HEADER,
    VendorError, build_request, check_response, dingtalk_sign, feishu_sign, http_url,
    webhook_signature,
};

#[cfg(test)]
mod tests;
