//! The exact HTTP request each vendor takes (always a `POST` of JSON), with its signature, and
//! how each vendor says a request failed. Building is pure: the sender (pw-controller) takes the
//! [`HttpRequest`] as it is, and the time a signature needs is a parameter.
//!
//! - **generic webhook**: the event as JSON; with a secret, `X-Patchwarden-Signature:
//!   sha256=<hex HMAC-SHA256 of the body, keyed with the secret>`.
//! - **DingTalk robot**: `{"msgtype":"markdown",…}`; with a secret, the query parameters
//!   `timestamp` (milliseconds) and `sign` = urlencode(base64(HMAC-SHA256(key = secret,
//!   message = timestamp + "\n" + secret))). Answers HTTP 200 with `errcode` ≠ 0 on failure.
//! - **Feishu/Lark bot**: `{"msg_type":"text",…}`; with a secret, `timestamp` (seconds, as a
//!   string) and `sign` = base64(HMAC-SHA256(key = timestamp + "\n" + secret, message = empty))
//!   in the body. Answers HTTP 200 with `code` ≠ 0 (older: `StatusCode`) on failure.
//! - **WeCom group robot**: `{"msgtype":"markdown",…}`, no signature (the `key` in the URL is
//!   the credential). Answers `errcode` ≠ 0 on failure.
//! - **Slack incoming webhook**: `{"text":…}` with Slack's `<url|label>` link. Answers a non-2xx
//!   status with a plain-text reason (`invalid_payload`, `no_service`).
//!
//! Every request also carries `X-Patchwarden-Idempotency-Key`: the outbox key (event id ×
//! channel), so a receiver can drop a repeat.

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::event::Event;
use crate::render::Message;

/// Where a channel delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    Webhook,
    Dingtalk,
    Feishu,
    Wecom,
    Slack,
    Email,
}

impl ChannelKind {
    pub const ALL: [ChannelKind; 6] = [
        ChannelKind::Webhook,
        ChannelKind::Dingtalk,
        ChannelKind::Feishu,
        ChannelKind::Wecom,
        ChannelKind::Slack,
        ChannelKind::Email,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Webhook => "webhook",
            ChannelKind::Dingtalk => "dingtalk",
            ChannelKind::Feishu => "feishu",
            ChannelKind::Wecom => "wecom",
            ChannelKind::Slack => "slack",
            ChannelKind::Email => "email",
        }
    }

    /// Whether a secret means something for this kind (a signing key, or the SMTP password).
    pub fn takes_secret(self) -> bool {
        !matches!(self, ChannelKind::Wecom | ChannelKind::Slack)
    }
}

impl fmt::Display for ChannelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ChannelKind {
    type Err = String;

    fn from_str(text: &str) -> Result<ChannelKind, String> {
        ChannelKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| {
                format!(
                    "unknown channel kind {text:?}; expected one of webhook, dingtalk, feishu, wecom, slack, email"
                )
            })
    }
}

/// One HTTP `POST`: the URL with its query, the headers and the body, exactly as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpRequest {
    /// The value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What one delivery sends.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    /// The outbox's idempotency key.
    pub key: &'a str,
    pub event: &'a Event,
    pub message: &'a Message,
    /// The channel's signing secret, if it has one.
    pub secret: Option<&'a str>,
}

/// Why a request could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VendorError {
    #[error("{url:?} is not an http:// or https:// URL: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("an email channel is not sent over HTTP")]
    NotHttp,
}

/// Header carrying the generic webhook's signature.
pub const SIGNATURE_HEADER: &str = "X-Patchwarden-Signature";
/// Header carrying the outbox key on every HTTP delivery.
pub const IDEMPOTENCY_HEADER: &str = "X-Patchwarden-Idempotency-Key";

/// The request for a channel of `kind` at `url`; `now` dates DingTalk's and Feishu's signatures.
pub fn build_request(
    kind: ChannelKind,
    url: &str,
    delivery: &Delivery<'_>,
    now: Timestamp,
) -> Result<HttpRequest, VendorError> {
    let parsed = http_url(url)?;
    match kind {
        ChannelKind::Webhook => Ok(webhook_request(parsed, delivery)),
        ChannelKind::Dingtalk => Ok(dingtalk_request(parsed, delivery, now.as_millisecond())),
        ChannelKind::Feishu => Ok(feishu_request(parsed, delivery, now.as_second())),
        ChannelKind::Wecom => Ok(wecom_request(parsed, delivery)),
        ChannelKind::Slack => Ok(slack_request(parsed, delivery)),
        ChannelKind::Email => Err(VendorError::NotHttp),
    }
}

/// Checks that `url` is an absolute http(s) URL.
pub fn http_url(url: &str) -> Result<url::Url, VendorError> {
    let bad = |reason: String| VendorError::BadUrl {
        url: url.to_owned(),
        reason,
    };
    let parsed = url::Url::parse(url).map_err(|e| bad(e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(bad("expected http://host/… or https://host/…".to_owned()));
    }
    Ok(parsed)
}

fn json_request(url: url::Url, delivery: &Delivery<'_>, body: &serde_json::Value) -> HttpRequest {
    HttpRequest {
        url: url.to_string(),
        headers: vec![
            ("Content-Type".to_owned(), "application/json".to_owned()),
            (IDEMPOTENCY_HEADER.to_owned(), delivery.key.to_owned()),
        ],
        body: serde_json::to_vec(body).expect("a JSON value serializes"),
    }
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// `sha256=<hex HMAC-SHA256(key = secret, message = body)>`.
pub fn webhook_signature(secret: &str, body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex::encode(hmac_sha256(secret.as_bytes(), body))
    )
}

/// DingTalk's `sign` before URL encoding: base64(HMAC-SHA256(secret, "<ms>\n<secret>")).
pub fn dingtalk_sign(timestamp_ms: i64, secret: &str) -> String {
    let text = format!("{timestamp_ms}\n{secret}");
    STANDARD.encode(hmac_sha256(secret.as_bytes(), text.as_bytes()))
}

/// Feishu's `sign`: base64(HMAC-SHA256(key = "<s>\n<secret>", message = empty)).
pub fn feishu_sign(timestamp_s: i64, secret: &str) -> String {
    let key = format!("{timestamp_s}\n{secret}");
    STANDARD.encode(hmac_sha256(key.as_bytes(), b""))
}

fn webhook_request(url: url::Url, delivery: &Delivery<'_>) -> HttpRequest {
    let event = delivery.event;
    let message = delivery.message;
    let body = serde_json::json!({
        "id": delivery.key,
        "event_id": event.id,
        "event": event.kind().as_str(),
        "at": event.at.to_string(),
        "groups": event.groups,
        "tier": event.tier.map(|t| t.to_string()),
        "detail": event.detail,
        "language": message.language,
        "title": message.title,
        "text": message.lines.join("\n"),
        "link": message.link,
    });
    let mut request = json_request(url, delivery, &body);
    if let Some(secret) = delivery.secret {
        let signature = webhook_signature(secret, &request.body);
        request
            .headers
            .push((SIGNATURE_HEADER.to_owned(), signature));
    }
    request
}

fn dingtalk_request(mut url: url::Url, delivery: &Delivery<'_>, now_ms: i64) -> HttpRequest {
    if let Some(secret) = delivery.secret {
        url.query_pairs_mut()
            .append_pair("timestamp", &now_ms.to_string())
            .append_pair("sign", &dingtalk_sign(now_ms, secret));
    }
    let body = serde_json::json!({
        "msgtype": "markdown",
        "markdown": { "title": delivery.message.title, "text": delivery.message.markdown() },
    });
    json_request(url, delivery, &body)
}

fn feishu_request(url: url::Url, delivery: &Delivery<'_>, now_s: i64) -> HttpRequest {
    let mut body = serde_json::json!({
        "msg_type": "text",
        "content": { "text": delivery.message.plain_text() },
    });
    if let Some(secret) = delivery.secret {
        body["timestamp"] = now_s.to_string().into();
        body["sign"] = feishu_sign(now_s, secret).into();
    }
    json_request(url, delivery, &body)
}

fn wecom_request(url: url::Url, delivery: &Delivery<'_>) -> HttpRequest {
    let body = serde_json::json!({
        "msgtype": "markdown",
        "markdown": { "content": delivery.message.markdown() },
    });
    json_request(url, delivery, &body)
}

fn slack_request(url: url::Url, delivery: &Delivery<'_>) -> HttpRequest {
    let message = delivery.message;
    let escape = |text: &str| {
        text.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let mut text = format!("*{}*\n", escape(&message.title));
    for line in &message.lines {
        text.push_str(&escape(line));
        text.push('\n');
    }
    let open = match message.language {
        crate::Language::En => "Open in patchwarden",
        crate::Language::ZhCn => "在 patchwarden 中查看",
    };
    text.push_str(&format!("<{}|{open}>", message.link));
    json_request(url, delivery, &serde_json::json!({ "text": text }))
}

/// A receiver's refusal: its HTTP status and what it answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the receiver answered HTTP {status}: {body}")]
pub struct ReceiverError {
    pub status: u16,
    /// The answer's body (cut to 1,000 characters).
    pub body: String,
}

/// Whether the receiver accepted a delivery: a 2xx status and, for the chat robots that answer
/// 200 with an error code, a zero code.
pub fn check_response(kind: ChannelKind, status: u16, body: &str) -> Result<(), ReceiverError> {
    let refused = || ReceiverError {
        status,
        body: body.chars().take(1000).collect(),
    };
    if !(200..300).contains(&status) {
        return Err(refused());
    }
    let code_field: &[&str] = match kind {
        ChannelKind::Dingtalk | ChannelKind::Wecom => &["errcode"],
        ChannelKind::Feishu => &["code", "StatusCode"],
        _ => return Ok(()),
    };
    let Ok(answer) = serde_json::from_str::<serde_json::Value>(body) else {
        return Err(refused());
    };
    let code = code_field
        .iter()
        .find_map(|field| answer.get(*field).and_then(serde_json::Value::as_i64));
    match code {
        Some(0) => Ok(()),
        _ => Err(refused()),
    }
}
