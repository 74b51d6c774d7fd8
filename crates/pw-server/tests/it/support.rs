//! A controller in a temporary directory and HTTP clients that speak to it like agents do.

use std::sync::Arc;
use std::time::Duration;

use pw_server::{Controller, ServerSettings};
use pw_testkit::{ManualClock, wait_until};
use serde_json::Value;

pub use pw_testkit::fixtures::inventory_body;
pub use pw_testkit::http::{browser, client_with_token, set_cookie, tls_client};
pub use pw_testkit::pdf::pdf_words;

pub struct TestController {
    pub controller: Controller,
    /// API token of `test-admin` (role admin), created at start: the one token of the tests.
    pub admin_token: String,
    /// The use-cases' clock when the test drives it ([`TestController::start_with_manual_clock`]).
    pub clock: Option<ManualClock>,
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
        TestController::start_inner(adjust, None).await
    }

    /// A controller whose use-cases (scheduler, scans, deadlines) read a clock that stands at
    /// the machine's time of the start until the test moves it ([`TestController::advance`]).
    pub async fn start_with_manual_clock() -> TestController {
        TestController::start_inner(|_| {}, Some(ManualClock::at_system_time())).await
    }

    async fn start_inner(
        adjust: impl FnOnce(&mut ServerSettings),
        clock: Option<ManualClock>,
    ) -> TestController {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir().unwrap();
        let mut settings = ServerSettings::loopback(dir.path());
        adjust(&mut settings);
        let controller = match &clock {
            Some(clock) => pw_server::start_with_clock(&settings, Arc::new(clock.clone())).await,
            None => pw_server::start(&settings).await,
        }
        .unwrap();
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
            clock,
            _dir: dir,
        }
    }

    /// Sets the manual clock to `now` (RFC 3339). Enroll hosts first: enrollment tokens expire
    /// by the controller's clock but are checked by the machine's.
    pub fn set_now(&self, now: &str) {
        let clock = self.clock.as_ref().expect("started without a manual clock");
        clock.set(pw_testkit::at(now));
    }

    /// Moves the manual clock forward by `secs` seconds.
    pub fn advance(&self, secs: i64) {
        let clock = self.clock.as_ref().expect("started without a manual clock");
        clock.advance(jiff::SignedDuration::from_secs(secs));
    }

    /// One rollout scheduler pass now, at the controller's clock (the background loop runs
    /// too; a pass is what it would do next).
    pub async fn pass(&self) {
        pw_server::scheduler::tick(&self.controller.state.controller)
            .await
            .unwrap();
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
        let https = format!("https://127.0.0.1:{}", self.controller.addr.port());
        pw_testkit::agent::enroll(&https, &self.ca_pem(), token, hostname).await
    }

    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        pw_testkit::http::get_json(&self.api(), &self.http(path)).await
    }

    /// A text resource (the page, `/metrics`): (status, body).
    pub async fn get_text(&self, path: &str) -> (u16, String) {
        let answer = self.api().get(self.http(path)).send().await.unwrap();
        let status = answer.status().as_u16();
        (status, answer.text().await.unwrap())
    }

    /// An operator request with a JSON body: (status, body).
    pub async fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        pw_testkit::http::post_json(&self.api(), &self.http(path), body).await
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

/// An enrolled host: (id, its agent's mTLS client).
pub async fn enrolled(t: &TestController, hostname: &str) -> (String, reqwest::Client) {
    let token = t.token().await;
    let (status, enrolled, key) = t.enroll(&token, hostname).await;
    assert_eq!(status, 200, "{enrolled}");
    let client = pw_testkit::agent::agent_client(&t.ca_pem(), &enrolled, &key);
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

/// Waits (bounded: 30 s, the background scan runs as its own task) for findings of `host`
/// computed after `after` (`Value::Null`: any).
pub async fn findings_after(t: &TestController, host: &str, after: &Value) -> Value {
    let what = format!("findings of {host} computed after {after}");
    let path = format!("/api/v1/hosts/{host}/findings");
    wait_until(
        &what,
        Duration::from_secs(30),
        Duration::from_millis(50),
        async || {
            let (_, body) = t.get_json(&path).await;
            match body["computed_at"].is_string() && body["computed_at"] != *after {
                true => Ok(body),
                false => Err(body),
            }
        },
    )
    .await
}
