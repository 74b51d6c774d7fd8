//! A controller over a real SQLite store with a clock the test sets, enrolled hosts, and the
//! agent's side of a command as the agent endpoints store it.

#![allow(dead_code)]

use std::sync::Arc;

use pw_controller::{Controller, NoObserver};
use pw_store::{NewHost, Store};
use pw_testkit::ManualClock;
use serde_json::{Value, json};

pub use pw_testkit::at as t;

pub struct Harness {
    pub controller: Controller,
    clock: ManualClock,
    _dir: tempfile::TempDir,
}

impl Harness {
    pub async fn start(now: &str) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("patchwarden.db"))
            .await
            .unwrap();
        let clock = ManualClock::new(t(now));
        let controller = Controller::new(store, Arc::new(clock.clone()), Arc::new(NoObserver));
        Harness {
            controller,
            clock,
            _dir: dir,
        }
    }

    pub fn store(&self) -> &Store {
        &self.controller.store
    }

    pub fn set_now(&self, now: &str) {
        self.clock.set(t(now));
    }

    pub async fn apply_fleet(&self, document: &str) {
        pw_fleet::parse_fleet(document).unwrap();
        let now = self.controller.now();
        self.store()
            .apply_fleet(document, "alice", None, &[], now)
            .await
            .unwrap();
    }

    /// Enrolls hosts by name; returns their ids.
    pub async fn enroll(&self, names: &[&str]) -> Vec<String> {
        let mut ids = Vec::new();
        for name in names {
            let id = format!("h-{name}");
            let token = format!("token-{name}");
            let expires = t("2100-01-01T00:00:00Z");
            self.store()
                .create_enrollment_token(&format!("tok-{name}"), &token, expires, None, "alice")
                .await
                .unwrap();
            let host = NewHost {
                id: &id,
                hostname: name,
                fingerprint: &format!("fp-{name}"),
                not_after: expires,
            };
            self.store()
                .enroll(&token, self.controller.now(), &host)
                .await
                .unwrap()
                .unwrap();
            ids.push(id);
        }
        ids
    }

    /// An ad-hoc rollout of pw-demo 1.0-2 over `hosts` with `extra` request fields.
    pub async fn rollout(&self, hosts: &[String], extra: Value) -> String {
        let mut request = json!({
            "hosts": hosts,
            "targets": [{"name": "pw-demo", "version": "1.0-2"}],
        });
        for (key, value) in extra.as_object().unwrap() {
            request[key] = value.clone();
        }
        let request = serde_json::from_value(request).unwrap();
        let view = pw_controller::rollouts::create(&self.controller, "alice", &request)
            .await
            .unwrap();
        view.id
    }

    /// One scheduler pass at the clock's time.
    pub async fn pass(&self) {
        pw_controller::scheduler::tick(&self.controller)
            .await
            .unwrap();
    }

    pub async fn view(&self, id: &str) -> pw_protocol::RolloutView {
        pw_controller::rollouts::load(&self.controller, id)
            .await
            .unwrap()
    }

    pub async fn states(&self, id: &str) -> Vec<String> {
        self.view(id)
            .await
            .hosts
            .into_iter()
            .map(|h| h.state)
            .collect()
    }

    pub async fn detail(&self, id: &str) -> Value {
        self.view(id).await.detail
    }

    pub async fn status(&self, id: &str) -> String {
        self.view(id).await.status
    }

    /// Every open `apply_change` answered done (the guard's report for pw-demo 1.0-2).
    pub async fn answer_all_done(&self) {
        self.answer_all("succeeded", done_report()).await;
    }

    /// One host's open `apply_change` answered `done`, as [`Harness::answer_all_done`] does.
    #[allow(dead_code)]
    pub async fn answer_done(&self, host: &str) -> usize {
        self.answer_host(host, "succeeded", &done_report()).await
    }

    /// Every open `apply_change` of every host answered with `status` and `report`.
    pub async fn answer_all(&self, status: &str, report: Value) {
        for host in self.store().hosts().await.unwrap() {
            self.answer_host(&host.id, status, &report).await;
        }
    }

    /// The open `apply_change` (or `late_rollback`) commands of one host answered; returns
    /// how many.
    pub async fn answer_host(&self, host: &str, status: &str, report: &Value) -> usize {
        let commands = self.store().take_open_commands(host).await.unwrap();
        for command in &commands {
            assert!(
                matches!(command.kind.as_str(), "apply_change" | "late_rollback"),
                "{}",
                command.kind
            );
            self.store()
                .record_change_report(&command.id, &report.to_string())
                .await
                .unwrap();
            self.store()
                .finish_command(
                    host,
                    &command.id,
                    pw_store::CommandState::parse(status).unwrap(),
                    "fake guard",
                    self.controller.now(),
                )
                .await
                .unwrap();
        }
        commands.len()
    }
}

/// The guard's report of an install that failed and was rolled back (dpkg: disk full).
pub fn apply_failed() -> Value {
    json!({"outcome": "rolled_back", "reason": "apply_failed", "detail": "dpkg: disk full",
        "recorded": [{"name": "pw-demo", "version": "1.0-1"}],
        "final_versions": [{"name": "pw-demo", "version": "1.0-1"}],
        "installed_at": null, "passed_checks": [], "failed_check": null})
}

/// A guard's report of an install of pw-demo 1.0-2 that is done.
fn done_report() -> Value {
    json!({"outcome": "done",
        "recorded": [{"name": "pw-demo", "version": "1.0-1"}],
        "final_versions": [{"name": "pw-demo", "version": "1.0-2"}],
        "installed_at": "2026-12-01T00:00:00Z", "passed_checks": [],
        "failed_check": null})
}
