//! HTTPS clients: one trusting only the controller CA (enrollment), one also presenting the
//! agent's certificate (everything after). ring is the only crypto provider.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::identity::Identity;

/// For enrollment: server authentication against `ca_pem` only.
pub fn enrollment_client(ca_pem: &str) -> anyhow::Result<reqwest::Client> {
    let config = with_alpn(builder(ca_pem)?.with_no_client_auth());
    build(config, Duration::from_secs(30))
}

/// For everything after enrollment: mutual TLS.
pub fn mtls_client(identity: &Identity) -> anyhow::Result<reqwest::Client> {
    // Long-polls wait up to 30 s on the controller; leave room for that.
    build(mtls_config(identity)?, Duration::from_secs(90))
}

/// The TLS settings of [`mtls_client`]: the controller CA only, presenting the agent's
/// certificate (pw-loadgen builds its own HTTP client around them).
pub fn mtls_config(identity: &Identity) -> anyhow::Result<rustls::ClientConfig> {
    let certs = CertificateDer::pem_slice_iter(identity.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .context("reading agent.crt")?;
    let key =
        PrivateKeyDer::from_pem_slice(identity.key_pem.as_bytes()).context("reading agent.key")?;
    let config = builder(&identity.ca_pem)?
        .with_client_auth_cert(certs, key)
        .context("loading the agent certificate")?;
    Ok(with_alpn(config))
}

/// HTTP/2 when the controller offers it (ALPN), else HTTP/1.1: over HTTP/2 the long-poll,
/// heartbeats and reports share one connection, so an agent holds one socket on the
/// controller instead of two while it reports (docs/agent.md, "Connection").
fn with_alpn(mut config: rustls::ClientConfig) -> rustls::ClientConfig {
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config
}

fn builder(
    ca_pem: &str,
) -> anyhow::Result<rustls::ConfigBuilder<rustls::ClientConfig, rustls::client::WantsClientCert>> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots
            .add(cert.context("reading the CA certificate")?)
            .context("trusting the CA certificate")?;
    }
    if roots.is_empty() {
        anyhow::bail!("the CA file holds no certificate");
    }
    Ok(rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("choosing TLS versions")?
    .with_root_certificates(roots))
}

fn build(config: rustls::ClientConfig, timeout: Duration) -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .connect_timeout(Duration::from_secs(10))
        .timeout(timeout)
        .user_agent(concat!("patchwarden-agent/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("setting up the HTTPS client")
}

/// Sends a request and decodes a JSON answer; an error answer becomes its message.
pub async fn send_json<T: serde::de::DeserializeOwned>(
    request: reqwest::RequestBuilder,
) -> anyhow::Result<T> {
    let response = request.send().await.map_err(|e| {
        let mut text = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        anyhow::anyhow!(text)
    })?;
    let status = response.status();
    let body = response.bytes().await.context("reading the answer")?;
    if !status.is_success() {
        let message = serde_json::from_slice::<pw_protocol::ErrorBody>(&body)
            .map(|e| format!("{} ({})", e.error.message, e.error.code))
            .unwrap_or_else(|_| String::from_utf8_lossy(&body).into_owned());
        return Err(Refused { status, message }.into());
    }
    serde_json::from_slice(&body).context("the controller's answer is not the expected JSON")
}

/// An error answer of the controller (the error of [`send_json`], for callers that act on
/// its status).
#[derive(Debug)]
pub struct Refused {
    pub status: reqwest::StatusCode,
    pub message: String,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the controller answered {}: {}",
            self.status, self.message
        )
    }
}

impl std::error::Error for Refused {}
