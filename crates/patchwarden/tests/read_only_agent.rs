//! A real agent switched to `--read-only` while a rollout is under way: the controller knew the
//! host as changeable when the rollout was created (ad-hoc rollouts on read-only hosts are
//! refused up front), the agent, restarted read-only, refuses the `apply_change` with an explicit
//! `refused` change report, and the controller ends the host at once (`failed`, cause `refused`,
//! nothing touched, nobody paged) instead of waiting out the claim's 20-minute timeout; the
//! canary failure stops the rollout. Also visible in the operation log. The built
//! `patchwarden server` and `patchwarden agent` on this machine (no container needed: the
//! agent never changes anything).

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn agent(controller: &Controller, data: &std::path::Path, extra: &[&str]) -> Killed {
    let server = format!(
        "https://127.0.0.1:{}",
        controller.base.split(':').nth(1).unwrap()
    );
    let child = Command::new(env!("CARGO_BIN_EXE_patchwarden"))
        .args(["agent", "--server", &server, "--data-dir"])
        .arg(data)
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    Killed(child)
}

async fn host(controller: &Controller) -> Option<Value> {
    let hosts = controller.get("/api/v1/hosts").await;
    hosts["hosts"].as_array()?.first().cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_restarted_read_only_refuses_and_the_host_fails_at_once() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let controller = start_controller("127.0.0.1");
    wait_controller_up(&controller, Duration::from_secs(20)).await;
    let data = tempfile::tempdir().unwrap();
    let (status, token) = controller
        .post("/api/v1/enrollment-tokens", json!({"ttl_secs": 600}))
        .await;
    assert_eq!(status, 201, "{token}");
    let ca = data.path().join("ca.pem");
    std::fs::write(&ca, token["ca_certificate_pem"].as_str().unwrap()).unwrap();
    let agent_dir = data.path().join("agent");
    let token = token["token"].as_str().unwrap();
    // 1. The agent enrolls and reports as a changeable host; it is stopped before any rollout.
    let enrolled = agent(
        &controller,
        &agent_dir,
        &["--token", token, "--ca-cert", ca.to_str().unwrap()],
    );
    let started = Instant::now();
    let host_id = loop {
        // The controller lists the host as soon as it signed the certificate, a moment before
        // the agent has written its identity: killing it in between would lose the enrollment.
        if let Some(host) = host(&controller).await
            && host["read_only"] == false
            && agent_dir.join("identity.json").exists()
        {
            break host["id"].as_str().unwrap().to_owned();
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the agent never enrolled"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    drop(enrolled);
    // 2. A rollout is created for it; the canary claim waits for its `apply_change`.
    let body = json!({"hosts": [host_id], "targets": [{"name": "pw-demo", "version": "1.0-2"}],
                      "verification_seconds": 5});
    let (status, created) = controller.post("/api/v1/rollouts", body).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    // 3. The agent comes back read-only: it refuses, with a report, and the host ends at once.
    let started = Instant::now();
    let _read_only = agent(&controller, &agent_dir, &["--read-only"]);
    let view = controller.wait_rollout(&id, Duration::from_secs(30)).await;
    eprintln!(
        "read-only refusal ended the rollout {:?} after the agent started",
        started.elapsed()
    );
    assert_eq!(view["status"], "stopped", "{view:#}");
    let host = &view["hosts"][0];
    assert_eq!(host["state"], "failed", "{view:#}");
    let cause = &host["detail"]["cause"];
    assert_eq!(cause["kind"], "refused", "{view:#}");
    assert!(
        cause["detail"].as_str().unwrap().contains("read-only"),
        "{view:#}"
    );
    assert_eq!(view["detail"]["status"]["reason"]["kind"], "canary_failed");
    let command_id = host["command_id"].as_str().unwrap();
    let command = controller
        .get(&format!("/api/v1/commands/{command_id}"))
        .await;
    assert_eq!(command["state"], "refused", "{command:#}");
    let log = controller.get(&format!("/api/v1/rollouts/{id}/log")).await;
    let refusal = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["step"] == "guard_reported")
        .unwrap_or_else(|| panic!("{log:#}"));
    assert_eq!(refusal["actor"], format!("agent:{host_id}"));
    assert_eq!(refusal["result"], "failed");
    assert!(
        refusal["detail"].as_str().unwrap().contains("read-only"),
        "{log:#}"
    );
    // Now known as read-only, the host is refused for new ad-hoc rollouts up front.
    let body = json!({"hosts": [host_id], "targets": [{"name": "pw-demo", "version": "1.0-2"}]});
    let (status, refused) = controller.post("/api/v1/rollouts", body).await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (409, Some("host_read_only")),
        "{refused}"
    );
    assert!(audit_verify(&controller) > 0);
}
