//! A controller in a temporary directory and HTTP clients that speak to it like agents do.

use std::sync::Arc;

use pw_server::{Controller, ServerSettings};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::Value;

pub struct TestController {
    pub controller: Controller,
    /// API token of `test-admin` (role admin), created at start: the one token of the tests.
    pub admin_token: String,
    _dir: tempfile::TempDir,
}

/// The operator every test acts as unless it says otherwise.
pub const ADMIN: &str = "test-admin";

impl TestController {
    pub async fn start() -> TestController {
        TestController::start_with(|_| {}).await
    }

    /// A controller whose settings `adjust` changed first (limits for the robustness tests).
    pub async fn start_with(adjust: impl FnOnce(&mut ServerSettings)) -> TestController {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir().unwrap();
        let mut settings = ServerSettings::loopback(dir.path());
        adjust(&mut settings);
        let controller = pw_server::start(&settings).await.unwrap();
        let admin_token = pw_server::create_operator(
            &controller.state.store,
            ADMIN,
            pw_server::Role::Admin,
            "controller",
        )
        .await
        .unwrap();
        TestController {
            controller,
            admin_token,
            _dir: dir,
        }
    }

    /// A client that sends the admin's `Authorization: Bearer` header on every request.
    pub fn api(&self) -> reqwest::Client {
        client_with_token(&self.admin_token)
    }

    /// A new operator with `role`; returns its token.
    pub async fn operator(&self, name: &str, role: pw_server::Role) -> String {
        pw_server::create_operator(&self.controller.state.store, name, role, ADMIN)
            .await
            .unwrap()
    }

    /// Applies the fleet document `toml` as the admin (`PUT /api/v1/fleet`); it must be taken.
    pub async fn apply_fleet(&self, toml: &str) {
        let answer = self
            .api()
            .put(self.http("/api/v1/fleet"))
            .header("content-type", "application/toml")
            .body(toml.to_owned())
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200, "{}", answer.text().await.unwrap());
    }

    pub fn http(&self, path: &str) -> String {
        format!("http://{}{path}", self.controller.addr)
    }

    pub fn https(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.controller.addr.port())
    }

    pub fn ca_pem(&self) -> String {
        self.controller.state.ca.cert_pem().to_owned()
    }

    /// The page at `path` (HTML), as a signed-in browser would get it.
    pub async fn page(&self, path: &str) -> String {
        let cookie = self.session_cookie().await;
        let answer = browser()
            .get(self.http(path))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200, "{path}");
        answer.text().await.unwrap()
    }

    /// Signs the admin in through a single-use login link; returns `pw_session=…`.
    pub async fn session_cookie(&self) -> String {
        let store = &self.controller.state.store;
        let ticket = pw_server::issue_login_ticket(store, ADMIN).await.unwrap();
        let answer = browser()
            .get(self.http(&format!("/login?ticket={ticket}")))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        set_cookie(&answer, "pw_session").expect("no session cookie")
    }

    pub async fn token(&self) -> String {
        let answer = self
            .api()
            .post(self.http("/api/v1/enrollment-tokens"))
            .json(&serde_json::json!({"ttl_secs": 600}))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 201);
        answer.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Enrolls like an agent: returns (status, body, key PEM).
    pub async fn enroll(&self, token: &str, hostname: &str) -> (u16, Value, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let csr = rcgen::CertificateParams::default()
            .serialize_request(&key)
            .unwrap()
            .pem()
            .unwrap();
        let body = serde_json::json!({
            "protocol_version": 1, "token": token, "csr_pem": csr, "hostname": hostname,
        });
        let answer = tls_client(&self.ca_pem(), None)
            .post(self.https("/api/v1/enroll"))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = answer.status().as_u16();
        (status, answer.json().await.unwrap(), key.serialize_pem())
    }

    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let answer = self.api().get(self.http(path)).send().await.unwrap();
        let status = answer.status().as_u16();
        (status, answer.json().await.unwrap())
    }

    /// A text resource (the page, `/metrics`): (status, body).
    pub async fn get_text(&self, path: &str) -> (u16, String) {
        let answer = self.api().get(self.http(path)).send().await.unwrap();
        let status = answer.status().as_u16();
        (status, answer.text().await.unwrap())
    }

    /// An operator request with a JSON body: (status, body).
    pub async fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        let answer = self
            .api()
            .post(self.http(path))
            .json(body)
            .send()
            .await
            .unwrap();
        let status = answer.status().as_u16();
        (status, answer.json().await.unwrap())
    }

    /// An operator `DELETE`: (status, body).
    pub async fn delete_json(&self, path: &str) -> (u16, Value) {
        let answer = self.api().delete(self.http(path)).send().await.unwrap();
        let status = answer.status().as_u16();
        (status, answer.json().await.unwrap())
    }

    /// An agent's mTLS `POST` of a JSON body to `/api/v1/agent/{path}`: the status.
    pub async fn agent_post(&self, agent: &reqwest::Client, path: &str, body: &Value) -> u16 {
        let answer = agent
            .post(self.https(&format!("/api/v1/agent/{path}")))
            .json(body)
            .send()
            .await
            .unwrap();
        answer.status().as_u16()
    }

    /// An agent's poll for commands, without waiting.
    pub async fn agent_poll(&self, agent: &reqwest::Client) -> Value {
        agent
            .get(self.https("/api/v1/agent/commands?wait=0"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn host_count(&self) -> usize {
        let (_, hosts) = self.get_json("/api/v1/hosts").await;
        hosts["hosts"].as_array().unwrap().len()
    }
}

/// A plain-HTTP client that does not follow redirects (to see them), like a browser's first hop.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// `name=value` of the answer's `Set-Cookie` for `name`.
pub fn set_cookie(answer: &reqwest::Response, name: &str) -> Option<String> {
    answer
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
}

/// A plain-HTTP client sending `Authorization: Bearer <token>` on every request.
pub fn client_with_token(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    let value = format!("Bearer {token}").parse().unwrap();
    headers.insert(reqwest::header::AUTHORIZATION, value);
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap()
}

/// A client trusting `ca_pem`, presenting `identity` (cert PEM, key PEM) when given.
pub fn tls_client(ca_pem: &str, identity: Option<(&str, &str)>) -> reqwest::Client {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap())
        .unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    let config = match identity {
        Some((cert, key)) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_slice(cert.as_bytes()).unwrap()],
                PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .build()
        .unwrap()
}

/// An enrolled host: (id, its agent's mTLS client).
pub async fn enrolled(t: &TestController, hostname: &str) -> (String, reqwest::Client) {
    let token = t.token().await;
    let (status, enrolled, key) = t.enroll(&token, hostname).await;
    assert_eq!(status, 200, "{enrolled}");
    let client = tls_client(
        &t.ca_pem(),
        Some((enrolled["certificate_pem"].as_str().unwrap(), &key)),
    );
    (enrolled["host_id"].as_str().unwrap().to_owned(), client)
}

/// The value of the first `name="…" value="…"` input of a page.
pub fn form_field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

/// A small but real inventory report body.
pub fn inventory_body(hostname: &str) -> Value {
    serde_json::json!({
        "protocol_version": 1,
        "hostname": hostname,
        "os": "debian:12",
        "packages": [
            {"name": "libssl3", "version": "3.0.0-1", "arch": "amd64", "source": "openssl"},
            {"name": "bash", "version": "5.2.15-2+b2", "arch": "amd64"}
        ],
        "pending_updates": [{"package": "libssl3", "arch": "amd64", "from_version": "3.0.0-1",
            "to_version": "3.0.17-1~deb12u2", "origin": "Debian-Security", "suite": "bookworm-security"}],
        "reboot_required": false,
        "collected_at": "2026-11-01T00:00:00Z"
    })
}

/// Waits (bounded: 30 s, the background scan runs on real time) for findings of `host`
/// computed after `after` (`Value::Null`: any).
pub async fn findings_after(t: &TestController, host: &str, after: &Value) -> Value {
    for _ in 0..600 {
        let (_, body) = t.get_json(&format!("/api/v1/hosts/{host}/findings")).await;
        if body["computed_at"].is_string() && body["computed_at"] != *after {
            return body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no findings computed for {host} after {after}");
}

/// A PDF's text as `pdftotext` reads it, whitespace collapsed (it breaks long lines). Fails
/// when pdftotext is missing: scripts/install-test-deps.sh installs it (poppler-utils).
pub fn pdf_words(pdf: &[u8]) -> String {
    assert!(pdf.starts_with(b"%PDF-"), "not a PDF");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.pdf");
    std::fs::write(&file, pdf).unwrap();
    let output = std::process::Command::new("pdftotext")
        .arg(&file)
        .arg("-")
        .output()
        .expect("pdftotext (Debian package poppler-utils; scripts/install-test-deps.sh) must be installed");
    assert!(output.status.success(), "pdftotext failed: {output:?}");
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}
