//! A failing PromQL gate stops the batch in flight (its verified changes rolled back by the
//! controller, its running ones halted) and holds the next batch until it passes, through the
//! real scheduler pass: a real
//! Prometheus (Debian's `prometheus`, started here with a temporary config and TSDB on a free
//! loopback port) scrapes a real exposition endpoint this test serves, whose value the test
//! sets. The fleet document gives group `web` a `promql` check; the controller queries
//! Prometheus's HTTP API on its passes, at most once per the check's interval of the injected
//! clock. Real SQLite; the agents' side is the store calls the agent endpoints make.

mod common;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::Harness;
use pw_rollout::ControlAction;
use serde_json::{Value, json};

/// The gauge the test controls, served as Prometheus's text exposition format.
struct Exporter {
    port: u16,
    ratio: Arc<AtomicU64>,
}

impl Exporter {
    async fn start() -> Exporter {
        let ratio = Arc::new(AtomicU64::new(0.01f64.to_bits()));
        let shared = ratio.clone();
        let app = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || {
                let value = f64::from_bits(shared.load(Ordering::SeqCst));
                async move {
                    format!(
                        "# HELP pw_demo_error_ratio Share of failed requests.\n\
                         # TYPE pw_demo_error_ratio gauge\npw_demo_error_ratio {value}\n"
                    )
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Exporter { port, ratio }
    }

    fn set(&self, value: f64) {
        self.ratio.store(value.to_bits(), Ordering::SeqCst);
    }
}

/// A Prometheus server of this test's own, killed on drop.
struct Prometheus {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Prometheus {
    async fn start(scrape_port: u16) -> Prometheus {
        let binary = which("prometheus").unwrap_or_else(|| {
            panic!(
                "prometheus is not installed (Debian package `prometheus`; \
                 scripts/install-test-deps.sh installs it)"
            )
        });
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: demo\n    static_configs:\n      \
                 - targets: ['127.0.0.1:{scrape_port}']\n"
            ),
        )
        .unwrap();
        let port = free_port();
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.path().join("prometheus.log")).unwrap(),
            ))
            .spawn()
            .expect("starting prometheus");
        let prometheus = Prometheus {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        };
        let client = reqwest::Client::new();
        let started = Instant::now();
        loop {
            let ready = client
                .get(format!("{}/-/ready", prometheus.url))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "prometheus did not become ready: {}",
                std::fs::read_to_string(prometheus._dir.path().join("prometheus.log"))
                    .unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        prometheus
    }

    /// Waits (bounded) until Prometheus's latest scrape shows `value`.
    async fn wait_for(&self, value: f64) {
        let client = reqwest::Client::new();
        let url = format!("{}/api/v1/query", self.url);
        let started = Instant::now();
        loop {
            let query =
                url::Url::parse_with_params(&url, [("query", "pw_demo_error_ratio")]).unwrap();
            let answer: Value = client
                .get(query)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let seen = answer["data"]["result"][0]["value"][1]
                .as_str()
                .and_then(|v| v.parse::<f64>().ok());
            if seen == Some(value) {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "Prometheus never saw {value}: {answer}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

fn which(program: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| std::path::Path::new(dir).join(program))
        .find(|path| path.is_file())
}

fn fleet(prometheus: &str) -> String {
    format!(
        r#"
[health_checks.errors]
kind = "promql"
target = 'pw_demo_error_ratio{{job="demo"}}'
condition = "< 0.05"
prometheus = "{prometheus}"
interval = "10s"
timeout = "5s"

[groups.web]
environment = "test"
owners = ["web-team@example.com"]
windows = [{{ name = "always", rrule = "FREQ=DAILY", dtstart = "2026-12-01T00:00:00", tz = "UTC", duration = "24h" }}]
health_checks = ["errors"]
[groups.web.members]
hostnames = ["web-*"]
"#
    )
}

fn red_of(detail: &Value) -> Option<String> {
    let wait = detail["waiting"]
        .as_array()?
        .iter()
        .find(|w| w["kind"] == "health_gate" && w["group"] == "web")?;
    Some(wait["red"][0].as_str()?.to_owned())
}

#[tokio::test]
async fn a_failing_promql_gate_stops_the_batch_in_flight_and_holds_the_next_until_it_passes() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let exporter = Exporter::start().await;
    let prometheus = Prometheus::start(exporter.port).await;
    prometheus.wait_for(0.01).await;

    let h = Harness::start("2026-12-02T10:00:00Z").await;
    h.apply_fleet(&fleet(&prometheus.url)).await;
    let hosts = h.enroll(&["web-1", "web-2", "web-3", "web-4"]).await;
    // Canary web-1, then waves [web-2, web-3] and [web-4]; two failures allowed.
    let id = h
        .rollout(
            &hosts,
            json!({"canary_size": 1, "batch_size": 2, "max_failures": 2}),
        )
        .await;

    // The gate is green (1 % errors < 5 %): the canary starts.
    h.pass().await;
    assert_eq!(
        h.states(&id).await,
        ["claimed", "pending", "pending", "pending"]
    );
    h.answer_all_done().await;

    // The service starts failing: Prometheus scrapes 50 % errors. Within the check's interval
    // (10 s of the injected clock) the last answer (green) stands: the wave starts.
    exporter.set(0.5);
    prometheus.wait_for(0.5).await;
    h.set_now("2026-12-02T10:00:05Z");
    h.pass().await;
    assert_eq!(
        h.states(&id).await,
        ["done", "claimed", "claimed", "pending"]
    );
    // web-2's guard verified its change; web-3's is still verifying.
    let done = h.view(&id).await;
    let done_report = json!({"outcome": "done",
        "recorded": [{"name": "pw-demo", "version": "1.0-1"}],
        "final_versions": [{"name": "pw-demo", "version": "1.0-2"}],
        "installed_at": "2026-12-01T00:00:00Z", "passed_checks": [], "failed_check": null});
    assert_eq!(
        h.answer_host(&hosts[1], "succeeded", &done_report).await,
        1,
        "{:?}",
        done.hosts
    );

    // The interval passed: queried again, red. The batch in flight is stopped: web-2's
    // verified change is rolled back by the controller (`late_rollback` to 1.0-1), web-3's
    // claim is halted (its guard is still running).
    h.set_now("2026-12-02T10:00:16Z");
    h.pass().await;
    assert_eq!(
        h.states(&id).await,
        ["done", "rolling_back", "claimed", "pending"]
    );
    let view = h.view(&id).await;
    let red_detail = "promql check errors (pw_demo_error_ratio{job=\"demo\"}) failed at 2026-12-02T10:00:16Z: value 0.5 is not < 0.05";
    assert_eq!(view.hosts[1].detail["cause"]["kind"], "gate_failed");
    assert_eq!(view.hosts[1].detail["cause"]["check"], "errors");
    assert_eq!(view.hosts[1].detail["cause"]["detail"], red_detail);
    assert_eq!(view.hosts[2].detail["halted"]["check"], "errors");
    let commands = h.store().take_open_commands(&hosts[1]).await.unwrap();
    assert_eq!(commands.len(), 1);
    assert_eq!(commands[0].kind, "late_rollback");
    let payload: Value = serde_json::from_str(&commands[0].payload).unwrap();
    assert_eq!(
        payload["recorded"],
        json!([{"name": "pw-demo", "version": "1.0-1"}]),
        "exactly the recorded versions: {payload}"
    );
    h.answer_host(
        &hosts[1],
        "succeeded",
        &json!({"outcome": "rolled_back", "reason": "health_check_failed",
            "detail": "healthy on the recorded versions",
            "recorded": [{"name": "pw-demo", "version": "1.0-1"}],
            "final_versions": [{"name": "pw-demo", "version": "1.0-1"}],
            "installed_at": "2026-12-01T00:00:00Z", "passed_checks": [], "failed_check": null}),
    )
    .await;
    // web-3's guard reports its verified change: rolled back too.
    h.answer_host(&hosts[2], "succeeded", &done_report).await;
    h.set_now("2026-12-02T10:00:17Z");
    h.pass().await;
    assert_eq!(
        h.states(&id).await,
        ["done", "rolled_back", "rolling_back", "pending"]
    );
    h.answer_all_rolled_back().await;
    h.set_now("2026-12-02T10:00:18Z");
    h.pass().await;
    assert_eq!(
        h.states(&id).await,
        ["done", "rolled_back", "rolled_back", "pending"]
    );
    // Two failures are within the budget: the batch's failures pause the rollout; no next
    // batch starts.
    let detail = h.detail(&id).await;
    assert_eq!(detail_status(&detail), "paused", "{detail}");
    assert_eq!(
        detail["status"]["reason"]["kind"], "batch_failed",
        "{detail}"
    );
    assert_eq!(detail["failures"]["total"], 2, "{detail}");

    // An operator accepts the failed batch; the gate is still red: web-4 stays held.
    pw_controller::rollout_ops::control(&h.controller, "alice", &id, ControlAction::Resume)
        .await
        .unwrap();
    h.set_now("2026-12-02T10:00:19Z");
    h.pass().await;
    let detail = h.detail(&id).await;
    let red = red_of(&detail).unwrap_or_else(|| panic!("no red health gate: {detail}"));
    assert_eq!(red, red_detail);
    assert_eq!(detail_status(&detail), "running");

    // Recovered, but the answer is not asked again before the interval: still held.
    exporter.set(0.0);
    prometheus.wait_for(0.0).await;
    h.set_now("2026-12-02T10:00:20Z");
    h.pass().await;
    assert_eq!(
        h.states(&id).await,
        ["done", "rolled_back", "rolled_back", "pending"]
    );
    // Ten seconds after the red answer: green again, the last batch starts.
    h.set_now("2026-12-02T10:00:26Z");
    h.pass().await;
    assert_eq!(
        h.states(&id).await,
        ["done", "rolled_back", "rolled_back", "claimed"]
    );
    assert!(red_of(&h.detail(&id).await).is_none());
}

#[tokio::test]
async fn an_unanswerable_promql_gate_holds_the_group() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Nothing listens on this port: the gate cannot be evaluated and fails closed.
    let h = Harness::start("2026-12-02T10:00:00Z").await;
    h.apply_fleet(&fleet(&format!("http://127.0.0.1:{}", free_port())))
        .await;
    let hosts = h.enroll(&["web-1"]).await;
    let id = h.rollout(&hosts, json!({"canary_size": 0})).await;
    h.pass().await;
    assert_eq!(h.states(&id).await, ["pending"]);
    let red = red_of(&h.detail(&id).await).unwrap();
    assert!(red.contains("querying http://127.0.0.1:"), "{red}");
}

fn detail_status(detail: &Value) -> &str {
    detail["status"]["status"].as_str().unwrap_or_default()
}
