//! Observation after the last batch, end to end on a real Debian 12 container (pw-testbed): the
//! built `patchwarden server` (its real scheduler) and a host running `patchwarden agent`, real
//! apt. The fleet document gives the host's group a short observation (40 s, a round every 3 s,
//! `late_rollback = "auto"`). The rollout of pw-demo 1.0-2 completes; during observation the
//! service logs an ERROR line (a late failure); the next round's tightened log check sees it,
//! the controller alerts and sends `late_rollback`, and the agent reinstalls exactly the
//! recorded version 1.0-1. Real time (the controller is a separate process with the system
//! clock); about a minute. Needs Docker and mmdebstrap.

mod common;

use std::time::{Duration, Instant};

use common::*;
use pw_testbed::repo::packages::{BASELINE, DEMO_LOG, SECURITY_FIX};
use pw_testbed::{Mount, Suite, Testbed};
use serde_json::{Value, json};

/// The fleet document: a six-hour window that opened this minute (the window gate wants the
/// slot's 30 % rollback buffer left), a short observation.
fn document() -> String {
    let now = jiff::Timestamp::now().as_second() / 60 * 60;
    let start = jiff::Timestamp::from_second(now)
        .unwrap()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .datetime();
    format!(
        r#"
[groups.lab]
environment = "test"
owners = ["lab@example.com"]
windows = [{{ name = "now", rrule = "FREQ=DAILY", dtstart = "{start}", tz = "UTC", duration = "6h" }}]
observation = "40s"
observation_interval = "3s"
late_rollback = "auto"
[groups.lab.members]
hostnames = ["*"]
"#
    )
}

/// Polls the rollout until its host's observation satisfies `done` (bounded).
async fn wait_observation(
    controller: &Controller,
    id: &str,
    limit: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let started = Instant::now();
    loop {
        let view = controller.get(&format!("/api/v1/rollouts/{id}")).await;
        let observation = &view["hosts"][0]["observation"];
        if done(observation) {
            return view;
        }
        assert!(
            started.elapsed() < limit,
            "observation never got there: {view:#}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_failure_during_observation_rolls_back_to_the_recorded_version() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let testbed = Testbed::shared();
    let mount = Mount {
        source: env!("CARGO_BIN_EXE_patchwarden").into(),
        target: AGENT_BIN.into(),
    };
    let fleet = testbed.fleet_with_mounts(1, &Suite::ALL, &[mount]).unwrap();
    let gateway = fleet.network.gateway().unwrap().to_string();
    let controller = start_controller(&gateway);
    let hosts = fleet_with_agents(&controller, &fleet, &gateway).await;
    let host = &fleet.hosts[0];
    assert_eq!(demo_version(host), BASELINE);
    let answer = controller
        .api()
        .put(controller.url("/api/v1/fleet"))
        .header("content-type", "application/toml")
        .body(document())
        .send()
        .await
        .unwrap();
    let status = answer.status().as_u16();
    let body: Value = answer.json().await.unwrap();
    assert_eq!(status, 200, "{body:#}");

    let mut request = rollout_body_verifying(&hosts, SECURITY_FIX, 3);
    request["checks"] = json!([{"kind": "log_lines", "name": "demo-log", "path": DEMO_LOG,
        "pattern": "ERROR", "max_matches": 2}]);
    let (status, created) = controller.post("/api/v1/rollouts", request).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let view = controller.wait_rollout(&id, Duration::from_secs(120)).await;
    assert_eq!(view["status"], "completed", "{view:#}");
    assert_eq!(demo_version(host), SECURITY_FIX);

    // Observed; a first quiet round marks the log.
    let started = Instant::now();
    wait_observation(&controller, &id, Duration::from_secs(30), |o| {
        o["rounds"].as_u64() >= Some(1)
    })
    .await;
    // A late failure: one ERROR line (the change's own check allowed two; observation none).
    let appended = host
        .exec(
            "sh",
            [
                "-c",
                &format!("echo 'late ERROR: cache corrupted' >> {DEMO_LOG}"),
            ],
        )
        .unwrap();
    assert!(appended.success());
    let view = wait_observation(&controller, &id, Duration::from_secs(120), |o| {
        matches!(o["phase"].as_str(), Some("rolled_back" | "rollback_failed"))
    })
    .await;
    eprintln!("late failure rolled back after {:?}", started.elapsed());
    let observation = &view["hosts"][0]["observation"];
    assert_eq!(observation["phase"], "rolled_back", "{view:#}");
    assert_eq!(observation["alerts"][0]["check"], "demo-log", "{view:#}");
    assert!(
        observation["alerts"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("1 line"),
        "{view:#}"
    );
    assert_eq!(observation["detail"]["phase"]["by"], "policy", "{view:#}");
    assert_eq!(
        demo_version(host),
        BASELINE,
        "back on the exact recorded version"
    );
    // The agent's late rollback report: exactly the recorded versions.
    let log = controller.get("/api/v1/audit?limit=200").await;
    let text = log.to_string();
    assert!(text.contains("observation.alert"), "{log:#}");
    assert!(text.contains("late_rollback"), "{log:#}");
}
