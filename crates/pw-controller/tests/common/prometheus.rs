//! A real Prometheus for PromQL gate tests: Debian's `prometheus` started on a free loopback
//! port with a temporary config and TSDB, scraping a gauge (`pw_demo_error_ratio`) that the
//! test serves and sets. Shared by pw-controller's `promql_gate` (the scheduler pass with an
//! injected clock) and patchwarden's `promql_gate_e2e` (the built server and agents on real
//! Debian containers), which includes this file by path.
#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub use pw_testkit::http::free_port;
use serde_json::Value;

/// The gauge the test controls, served as Prometheus's text exposition format.
pub struct Exporter {
    pub port: u16,
    ratio: Arc<AtomicU64>,
}

impl Exporter {
    pub async fn start() -> Exporter {
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

    pub fn set(&self, value: f64) {
        self.ratio.store(value.to_bits(), Ordering::SeqCst);
    }
}

/// A Prometheus server of this test's own, killed on drop.
pub struct Prometheus {
    child: Child,
    pub url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    pub async fn start(scrape_port: u16) -> Prometheus {
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
    pub async fn wait_for(&self, value: f64) {
        let client = reqwest::Client::new();
        let url = format!("{}/api/v1/query", self.url);
        let started = Instant::now();
        loop {
            let query =
                reqwest::Url::parse_with_params(&url, [("query", "pw_demo_error_ratio")]).unwrap();
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
