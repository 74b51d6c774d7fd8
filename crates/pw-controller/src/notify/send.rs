//! Sending one notification: HTTP for the webhooks and chat robots (reqwest, the request built
//! by pw-notify exactly as it goes out), SMTP with STARTTLS for email (lettre over rustls with
//! ring). The dispatcher and `patchwarden notify test` both send through [`Sender`].

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use jiff::Timestamp;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message as Mail};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use pw_notify::{Channel, ChannelKind, Delivery, Event, Message, ReceiverError};
use pw_store::ChannelSecret;
use serde::{Deserialize, Serialize};

/// What an outbox row carries: the event, its message in the channel's language and, for email,
/// the recipients (the group's owners resolved when it was enqueued). Never a secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Payload {
    pub event: Event,
    pub message: Message,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<String>,
}

/// Why a delivery failed.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The receiver answered and refused (its status and body; for SMTP its reply).
    #[error("{0}")]
    Refused(#[from] ReceiverError),
    /// The channel cannot be sent as configured (a missing token, a bad address): retrying
    /// will not help.
    #[error("{0}")]
    Unusable(String),
    /// The receiver could not be reached or the exchange broke off.
    #[error("{0}")]
    Unreachable(String),
}

/// Sends notifications; cheap to clone.
#[derive(Clone, Default)]
pub struct Sender {
    /// Built at the first HTTP send (it needs the process's TLS provider, installed by `main`).
    http: Arc<OnceLock<reqwest::Client>>,
    /// Extra trusted roots (PEM) for SMTP STARTTLS, e.g. an internal mail server's CA.
    smtp_roots: Option<Vec<u8>>,
}

/// How long one delivery may take, HTTP or SMTP.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

impl Sender {
    /// `smtp_roots`: PEM certificates trusted for SMTP besides the system's.
    pub fn new(smtp_roots: Option<Vec<u8>>) -> Sender {
        Sender {
            http: Arc::default(),
            smtp_roots,
        }
    }

    fn http(&self) -> Result<&reqwest::Client, SendError> {
        if let Some(client) = self.http.get() {
            return Ok(client);
        }
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(SEND_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("patchwarden/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SendError::Unusable(format!("setting up the HTTP client: {e}")))?;
        Ok(self.http.get_or_init(|| client))
    }

    /// Delivers `payload` to `channel` now; `key` is the outbox's idempotency key.
    pub async fn send(
        &self,
        channel: &Channel,
        secret: &ChannelSecret,
        key: &str,
        payload: &Payload,
        now: Timestamp,
    ) -> Result<(), SendError> {
        let url = channel_url(channel, secret)?;
        if channel.kind == ChannelKind::Email {
            return self.send_mail(&url, channel, secret, payload).await;
        }
        let delivery = Delivery {
            key,
            event: &payload.event,
            message: &payload.message,
            secret: secret.secret.as_deref(),
        };
        let request = pw_notify::build_request(channel.kind, &url, &delivery, now)
            .map_err(|e| SendError::Unusable(e.to_string()))?;
        let mut builder = self.http()?.post(&request.url).body(request.body.clone());
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        let response = builder.send().await.map_err(|e| {
            SendError::Unreachable(format!("{}: {}", redacted(&url), chain(&e.without_url())))
        })?;
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        pw_notify::check_response(channel.kind, status, &body)?;
        Ok(())
    }

    async fn send_mail(
        &self,
        url: &str,
        channel: &Channel,
        secret: &ChannelSecret,
        payload: &Payload,
    ) -> Result<(), SendError> {
        let unusable = |what: String| SendError::Unusable(what);
        let parsed = url::Url::parse(url).map_err(|e| unusable(format!("{url:?}: {e}")))?;
        let host = parsed
            .host_str()
            .ok_or_else(|| unusable(format!("{url:?} has no host")))?
            .to_owned();
        let port = parsed.port().unwrap_or(587);
        let from: Mailbox = channel
            .from
            .as_deref()
            .unwrap_or_default()
            .parse()
            .map_err(|e| unusable(format!("from {:?}: {e}", channel.from)))?;
        if payload.to.is_empty() {
            return Err(unusable(
                "no recipients (the group has no owners and the channel names no address)".into(),
            ));
        }
        let mut mail = Mail::builder().from(from).subject(&payload.message.title);
        for to in &payload.to {
            let mailbox: Mailbox = to
                .parse()
                .map_err(|e| unusable(format!("recipient {to:?}: {e}")))?;
            mail = mail.to(mailbox);
        }
        let mail = mail
            .header(ContentType::TEXT_PLAIN)
            .body(payload.message.plain_text())
            .map_err(|e| unusable(format!("building the mail: {e}")))?;
        let mut tls = TlsParameters::builder(host.clone());
        if let Some(pem) = &self.smtp_roots {
            let cert = Certificate::from_pem(pem)
                .map_err(|e| unusable(format!("the extra SMTP CA certificate: {e}")))?;
            tls = tls.add_root_certificate(cert);
        }
        let tls = tls
            .build_rustls()
            .map_err(|e| unusable(format!("TLS for {host}: {e}")))?;
        let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.as_str())
            .port(port)
            .tls(Tls::Required(tls))
            .timeout(Some(SEND_TIMEOUT));
        if !parsed.username().is_empty() {
            let password = secret.secret.clone().ok_or_else(|| {
                unusable(format!(
                    "{url:?} logs in as {:?} but the channel has no secret (its password) stored",
                    parsed.username()
                ))
            })?;
            transport = transport.credentials(Credentials::new(parsed.username().into(), password));
        }
        transport.build().send(mail).await.map_err(|e| {
            let text = chain(&e);
            match e.status() {
                Some(code) => SendError::Refused(ReceiverError {
                    status: smtp_code(code),
                    body: text,
                }),
                None => SendError::Unreachable(format!("smtp://{host}:{port}: {text}")),
            }
        })?;
        Ok(())
    }
}

fn smtp_code(code: lettre::transport::smtp::response::Code) -> u16 {
    code.to_string().parse().unwrap_or_default()
}

/// The channel's URL with its stored `{token}` put in.
pub fn channel_url(channel: &Channel, secret: &ChannelSecret) -> Result<String, SendError> {
    if !channel.url.contains(pw_fleet::TOKEN_PLACEHOLDER) {
        return Ok(channel.url.clone());
    }
    let token = secret.token.as_deref().ok_or_else(|| {
        SendError::Unusable(format!(
            "channel {} has {} in its URL but no token is stored \
             (PUT /api/v1/notification-channels/{}/secret)",
            channel.name,
            pw_fleet::TOKEN_PLACEHOLDER,
            channel.name
        ))
    })?;
    Ok(channel.url.replace(pw_fleet::TOKEN_PLACEHOLDER, token))
}

/// The URL without its path and query (where tokens live), for messages.
fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(parsed) => parsed.origin().ascii_serialization(),
        Err(_) => "(the channel's URL)".to_owned(),
    }
}

/// An error with its sources, on one line (a cause whose text is already there is not
/// repeated).
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}
