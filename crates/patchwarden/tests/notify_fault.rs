//! The outbox survives a SIGKILL (issue 12 item 4): a real `patchwarden server` process
//! enqueues a notification whose receiver is down (the first attempt fails and is recorded),
//! is SIGKILLed before any delivery, the receiver comes up, the server is started again on the
//! same data directory — and the receiver, counting deliveries by idempotency key, gets the
//! message exactly once.

mod common;
#[path = "notify/receivers.rs"]
mod receivers;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use pw_testkit::http::free_port;
use pw_testkit::wait_until;
use receivers::{Received, SECRET};
use serde_json::{Value, json};

/// The server process; SIGKILLed when dropped (also when the test panics).
struct Server(Child);

impl Server {
    /// SIGKILL, and wait for it to be gone.
    fn kill(&mut self) {
        self.0.kill().unwrap();
        self.0.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `patchwarden server` on `port` with the retry base at 1 s (the default is 30 s).
fn server(dir: &std::path::Path, port: u16) -> Server {
    let child = Command::new(env!("CARGO_BIN_EXE_patchwarden"))
        .args([
            "server",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir)
        .env("PATCHWARDEN_NOTIFY_RETRY_BASE_SECS", "1")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Server(child)
}

struct Api {
    base: String,
    client: reqwest::Client,
}

impl Api {
    async fn up(&self) {
        let url = format!("{}/api/v1/openapi.json", self.base);
        wait_until(
            "the controller up",
            Duration::from_secs(10),
            Duration::from_millis(50),
            async || self.client.get(&url).send().await.map(drop),
        )
        .await;
    }

    async fn outbox(&self) -> Value {
        let url = format!("{}/api/v1/notifications", self.base);
        let answer = self.client.get(url).send().await.unwrap();
        assert_eq!(answer.status(), 200);
        answer.json().await.unwrap()
    }

    /// Polls the outbox until `done` holds for its first row.
    async fn until(&self, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        wait_until(
            what,
            Duration::from_secs(15),
            Duration::from_millis(50),
            async || {
                let outbox = self.outbox().await;
                if done(&outbox["notifications"][0]) {
                    Ok(outbox)
                } else {
                    Err(outbox)
                }
            },
        )
        .await
    }
}

#[tokio::test]
async fn a_notification_enqueued_before_a_sigkill_is_delivered_once_after_restart() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let token = common::add_operator(dir.path(), "admin", "admin");
    let port = free_port();
    let receiver_port = free_port();
    let mut child = server(dir.path(), port);
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {token}").parse().unwrap(),
    );
    let api = Api {
        base: format!("http://127.0.0.1:{port}"),
        client: reqwest::Client::builder()
            .default_headers(headers)
            .build()
            .unwrap(),
    };
    api.up().await;
    let fleet = format!(
        r#"
[groups.web]
environment = "staging"
owners = ["web@example.com"]
windows = [{{ name = "always", rrule = "FREQ=DAILY", dtstart = "2026-01-01T00:00:00", tz = "UTC", duration = "23h" }}]

[[channels]]
name = "hook"
kind = "webhook"
url = "http://127.0.0.1:{receiver_port}/hook"
"#
    );
    let applied = api
        .client
        .put(format!("{}/api/v1/fleet", api.base))
        .header("content-type", "application/toml")
        .body(fleet)
        .send()
        .await
        .unwrap();
    assert_eq!(applied.status(), 200, "{}", applied.text().await.unwrap());
    let secret = api
        .client
        .put(format!(
            "{}/api/v1/notification-channels/hook/secret",
            api.base
        ))
        .json(&json!({ "secret": SECRET }))
        .send()
        .await
        .unwrap();
    assert_eq!(secret.status(), 204);
    let queued = api
        .client
        .post(format!(
            "{}/api/v1/notification-channels/hook/test",
            api.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(queued.status(), 202);
    let key = queued.json::<Value>().await.unwrap()["key"]
        .as_str()
        .unwrap()
        .to_owned();

    // The receiver is down: the first attempt fails and is stored with its error.
    let failed = api
        .until("a failed first attempt", |row| {
            row["attempts"] == 1 && row["status"] == "pending"
        })
        .await;
    let row = &failed["notifications"][0];
    assert_eq!(row["key"], key.as_str());
    assert!(
        row["last_error"]
            .as_str()
            .unwrap()
            .contains(&format!("127.0.0.1:{receiver_port}")),
        "{row}"
    );

    // SIGKILL between enqueue and delivery; the receiver comes up; the same server again.
    child.kill();
    let received = Received::default();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", receiver_port))
        .await
        .unwrap();
    receivers::start_on(listener, received.clone()).await;
    let _child = server(dir.path(), port);
    api.up().await;
    let sent = api
        .until("delivery after restart", |row| row["status"] == "sent")
        .await;
    assert_eq!(sent["notifications"][0]["attempts"], 2, "{sent:#}");
    // A few more dispatcher passes: nothing is sent again.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let by_key = received.by_key.lock().unwrap().clone();
    assert_eq!(by_key.get(&key), Some(&1), "{by_key:?}");
    assert_eq!(received.vendors(), ["webhook"]);
    assert_eq!(api.outbox().await["counts"]["sent"], 1);
}
