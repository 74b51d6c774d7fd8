//! A rollout aimed at a real read-only agent (`patchwarden up`'s agent for this machine): the
//! agent refuses `apply_change` with an explicit report and the controller ends the host at once
//! (`failed`, cause `refused`, nothing touched, nobody paged) instead of waiting out the claim's
//! long timeout; the canary failure stops the rollout. Also visible in the operation log.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn get(client: &reqwest::Client, url: &str) -> Value {
    client.get(url).send().await.unwrap().json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_agent_refuses_and_the_host_fails_at_once() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let child = Command::new(env!("CARGO_BIN_EXE_patchwarden"))
        .args(["up", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = Killed(child);
    let mut first_line = String::new();
    BufReader::new(child.0.stdout.as_mut().unwrap())
        .read_line(&mut first_line)
        .unwrap();
    let url = first_line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL printed: {first_line:?}"));
    let base = url[..url["http://".len()..].find('/').unwrap() + "http://".len()].to_owned();
    let token = std::fs::read_to_string(data.join("admin.token")).unwrap();
    let mut headers = reqwest::header::HeaderMap::new();
    let bearer = format!("Bearer {}", token.trim()).parse().unwrap();
    headers.insert(reqwest::header::AUTHORIZATION, bearer);
    let api = reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap();
    // The local agent enrolls and reports within seconds (bounded).
    let mut host_id = None;
    for _ in 0..300 {
        let hosts = get(&api, &format!("{base}/api/v1/hosts")).await;
        if let Some(host) = hosts["hosts"].as_array().and_then(|h| h.first()) {
            host_id = host["id"].as_str().map(str::to_owned);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let host_id = host_id.expect("the local agent never enrolled");
    let body = json!({"hosts": [host_id], "targets": [{"name": "pw-demo", "version": "1.0-2"}],
                      "verification_seconds": 5});
    let started = Instant::now();
    let answer = api
        .post(format!("{base}/api/v1/rollouts"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 201);
    let id = answer.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut view = Value::Null;
    // The claim's own timeout is over 15 minutes; the refusal must end it within seconds.
    while started.elapsed() < Duration::from_secs(30) {
        view = get(&api, &format!("{base}/api/v1/rollouts/{id}")).await;
        if view["status"] == "stopped" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "read-only refusal ended the rollout after {:?}",
        started.elapsed()
    );
    assert_eq!(view["status"], "stopped", "{view}");
    let host = &view["hosts"][0];
    assert_eq!(host["state"], "failed", "{view}");
    let cause = &host["detail"]["cause"];
    assert_eq!(cause["kind"], "refused", "{view}");
    assert!(
        cause["detail"].as_str().unwrap().contains("read-only"),
        "{view}"
    );
    assert_eq!(view["detail"]["status"]["reason"]["kind"], "canary_failed");
    let command_id = host["command_id"].as_str().unwrap();
    let command = get(&api, &format!("{base}/api/v1/commands/{command_id}")).await;
    assert_eq!(command["state"], "refused", "{command}");
    let log = get(&api, &format!("{base}/api/v1/rollouts/{id}/log")).await;
    let refusal = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["step"] == "not_started")
        .unwrap_or_else(|| panic!("{log}"));
    assert_eq!(refusal["actor"], format!("agent:{host_id}"));
    assert_eq!(refusal["result"], "failed");
    assert!(
        refusal["detail"].as_str().unwrap().contains("read-only"),
        "{log}"
    );
}
