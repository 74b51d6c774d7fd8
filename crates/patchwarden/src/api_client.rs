//! The controller's HTTP API as the CLI verbs use it (`fleet`, and every verb that talks to a
//! running controller): one operator token, one base URL, JSON or text bodies, and error answers
//! turned into [`ApiFailure`] with the server's message and every listed problem.
//!
//! Where things come from (docs/fleet.md, *CLI*):
//! - the URL: `--server URL`, else `$PATCHWARDEN_SERVER`, else `http://127.0.0.1:8420` (the
//!   address `patchwarden up` listens on);
//! - the token: `--token-file PATH`, else `$PATCHWARDEN_TOKEN`, else `admin.token` in the data
//!   directory (`$PATCHWARDEN_DATA_DIR`, see `paths.rs`), written by `patchwarden up`;
//! - for `https://` URLs, the CA to trust: `--ca-cert FILE`, else the data directory's
//!   `ca/ca.pem` (the controller's own CA).
//!
//! The token never appears on a command line or in an error message.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use pw_protocol::{ErrorBody, Problem};
use reqwest::{Method, RequestBuilder, StatusCode, header};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::cmd::operators::ADMIN_TOKEN_FILE;
use crate::paths::default_data_dir;

/// Where `patchwarden up` and `patchwarden server` listen by default.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8420";

/// How to reach the controller; flatten into a verb's arguments (`#[command(flatten)]`).
#[derive(clap::Args, Debug, Clone)]
pub struct ApiArgs {
    /// The controller's URL.
    #[arg(long, global = true, value_name = "URL", env = "PATCHWARDEN_SERVER", default_value = DEFAULT_SERVER)]
    pub server: String,
    /// A file holding an operator token [else $PATCHWARDEN_TOKEN, else the data directory's
    /// admin.token written by `patchwarden up`].
    #[arg(long, global = true, value_name = "PATH")]
    pub token_file: Option<PathBuf>,
    /// The CA certificate to trust for an https:// URL [default: the data directory's
    /// ca/ca.pem].
    #[arg(long, global = true, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
}

/// An operator's connection to the controller's API.
pub struct ApiClient {
    base: String,
    token: String,
    http: reqwest::Client,
}

/// An error answer of the controller: status, stable code, message and the problems it listed.
/// Reaches callers inside `anyhow::Error` (`downcast_ref::<ApiFailure>()` tells a 409 from a 422).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiFailure {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub problems: Vec<Problem>,
}

impl fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (HTTP {}, {})",
            self.message,
            self.status.as_u16(),
            self.code
        )?;
        for problem in &self.problems {
            write!(f, "\n  - {}: {}", problem.path, problem.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiFailure {}

impl ApiClient {
    /// A client from the verb's arguments and the environment (see the module doc).
    pub fn from_args(args: &ApiArgs) -> anyhow::Result<ApiClient> {
        let token = match &args.token_file {
            Some(path) => read_token(path)?,
            None => match std::env::var("PATCHWARDEN_TOKEN") {
                Ok(token) if !token.trim().is_empty() => token.trim().to_owned(),
                _ => read_token(&default_data_dir().join(ADMIN_TOKEN_FILE)).context(
                    "no operator token: pass --token-file PATH or set PATCHWARDEN_TOKEN \
                     (patchwarden up writes admin.token in its data directory)",
                )?,
            },
        };
        let base = args.server.trim_end_matches('/').to_owned();
        let http = if base.starts_with("https://") {
            let ca = args
                .ca_cert
                .clone()
                .unwrap_or_else(|| default_data_dir().join("ca").join("ca.pem"));
            https_client(&ca)?
        } else if base.starts_with("http://") {
            client_builder()
                .build()
                .context("setting up the HTTP client")?
        } else {
            bail!("--server must be an http:// or https:// URL, not {base:?}");
        };
        Ok(ApiClient { base, token, http })
    }

    /// A request to `path` (starting with `/api/v1/…`) carrying the operator token.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }

    /// `GET path`, decoding a JSON answer.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        self.send(self.request(Method::GET, path)).await
    }

    /// `method path` with a JSON body, decoding a JSON answer.
    pub async fn send_json<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &B,
    ) -> anyhow::Result<T> {
        self.send(self.request(method, path).json(body)).await
    }

    /// `method path` with a text body of `content_type` (e.g. `application/toml`), decoding a
    /// JSON answer.
    pub async fn send_text<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: String,
    ) -> anyhow::Result<T> {
        let request = self
            .request(method, path)
            .header(header::CONTENT_TYPE, content_type)
            .body(body);
        self.send(request).await
    }

    /// `GET path` answered with any media type (a report as CSV, HTML or PDF): the body's
    /// bytes; an error answer becomes an [`ApiFailure`] as with [`ApiClient::send`].
    pub async fn get_bytes(&self, path: &str) -> anyhow::Result<Vec<u8>> {
        self.send_raw(self.request(Method::GET, path)).await
    }

    /// Sends a request; a 2xx answer's body, anything else an [`ApiFailure`] (or a connection
    /// error naming the URL).
    async fn send_raw(&self, request: RequestBuilder) -> anyhow::Result<Vec<u8>> {
        // `{:#}` (how `main` prints errors) shows reqwest's causes, where the useful part is.
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach the controller at {}", self.base))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .context("reading the controller's answer")?;
        if !status.is_success() {
            return Err(failure(status, &body).into());
        }
        Ok(body.to_vec())
    }

    /// Sends a request built by [`ApiClient::request`]; a 2xx JSON answer is decoded, anything
    /// else becomes an [`ApiFailure`] (or a connection error naming the URL).
    pub async fn send<T: DeserializeOwned>(&self, request: RequestBuilder) -> anyhow::Result<T> {
        let body = self.send_raw(request).await?;
        serde_json::from_slice(&body).with_context(|| {
            format!(
                "the controller's answer is not the expected JSON: {}",
                String::from_utf8_lossy(&body[..body.len().min(200)])
            )
        })
    }
}

fn failure(status: StatusCode, body: &[u8]) -> ApiFailure {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(answer) => ApiFailure {
            status,
            code: answer.error.code,
            message: answer.error.message,
            problems: answer.error.problems,
        },
        Err(_) => ApiFailure {
            status,
            code: "unexpected_answer".into(),
            message: format!(
                "the controller answered {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(200)]).trim()
            ),
            problems: Vec::new(),
        },
    }
}

fn read_token(path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the token file {}", path.display()))?;
    let token = text.trim();
    if token.is_empty() {
        bail!("the token file {} is empty", path.display());
    }
    Ok(token.to_owned())
}

fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(120))
        .user_agent(concat!("patchwarden-cli/", env!("CARGO_PKG_VERSION")))
}

/// A client trusting only the controller CA in `ca_path`.
fn https_client(ca_path: &Path) -> anyhow::Result<reqwest::Client> {
    let pem = std::fs::read(ca_path).with_context(|| {
        format!(
            "cannot read the CA certificate {} (pass --ca-cert FILE for an https:// URL)",
            ca_path.display()
        )
    })?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        roots
            .add(cert.with_context(|| format!("reading {}", ca_path.display()))?)
            .context("trusting the CA certificate")?;
    }
    if roots.is_empty() {
        bail!("{} holds no certificate", ca_path.display());
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("choosing TLS versions")?
    .with_root_certificates(roots)
    .with_no_client_auth();
    client_builder()
        .tls_backend_preconfigured(config)
        .build()
        .context("setting up the HTTPS client")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_lists_the_message_and_every_problem() {
        let body =
            br#"{"error":{"code":"fleet_invalid","message":"the fleet document has 2 problems",
            "problems":[{"path":"groups.web.members.labels.Role","message":"bad key"},
                        {"path":"emergency[0].expires","message":"not RFC 3339"}]}}"#;
        let shown = failure(StatusCode::UNPROCESSABLE_ENTITY, body).to_string();
        assert_eq!(
            shown,
            "the fleet document has 2 problems (HTTP 422, fleet_invalid)\n  \
             - groups.web.members.labels.Role: bad key\n  - emergency[0].expires: not RFC 3339"
        );
    }

    #[test]
    fn a_non_json_answer_keeps_its_text() {
        let failure = failure(StatusCode::BAD_GATEWAY, b"proxy down\n");
        assert_eq!(failure.code, "unexpected_answer");
        assert!(
            failure.message.ends_with("proxy down"),
            "{}",
            failure.message
        );
    }
}
