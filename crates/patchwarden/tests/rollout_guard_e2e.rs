//! The agent's guard on real Debian 12 containers (pw-testbed), driven by the built
//! `patchwarden server`: protection steps run after the exact versions are recorded and before
//! apt installs anything — a failing step fails the canary (`protection_failed`) with nothing
//! installed, and the rollout stops; then a `log_lines` check alone catches the version that
//! logs an ERROR line after the change (the log's earlier lines do not count), the guard rolls
//! back to the exact old version and the version is blocked. Needs Docker and mmdebstrap.

mod common;

use std::time::{Duration, Instant};

use common::*;
use pw_testbed::repo::packages::{BAD_HEALTH, BASELINE, DEMO, DEMO_LOG, SECURITY_FIX};
use pw_testbed::{Mount, Suite, Testbed};
use serde_json::{Value, json};

const SNAPSHOT: &str = "/var/backups/pw-demo-etc";

fn body(hosts: &[String], version: &str, steps: Value, checks: Value) -> Value {
    json!({
        "hosts": hosts, "targets": [{"name": DEMO, "version": version}],
        "canary_size": 1, "batch_size": 1, "verification_seconds": 6,
        "protection_steps": steps, "checks": checks,
    })
}

fn upgrades(host: &pw_testbed::Host) -> usize {
    let dpkg_log = host.read_file("/var/log/dpkg.log").unwrap();
    dpkg_log
        .lines()
        .filter(|l| l.contains(&format!(" upgrade {DEMO}:")))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protection_steps_and_log_checks_on_real_hosts() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let testbed = Testbed::shared();
    let mount = Mount {
        source: env!("CARGO_BIN_EXE_patchwarden").into(),
        target: AGENT_BIN.into(),
    };
    let fleet = testbed.fleet_with_mounts(2, &Suite::ALL, &[mount]).unwrap();
    let gateway = fleet.network.gateway().unwrap().to_string();
    let controller = start_controller(&gateway);
    let hosts = fleet_with_agents(&controller, &fleet, &gateway).await;
    let canary = &fleet.hosts[0];
    assert_eq!(demo_version(canary), BASELINE);
    let before = upgrades(canary);

    // 1. A snapshot step that works, then a backup check that fails: nothing is installed.
    let steps = json!([
        {"name": "snapshot", "argv": ["cp", "-a", "/etc/pw-demo", SNAPSHOT], "timeout_seconds": 30},
        {"name": "backup-check", "argv": ["test", "-s", "/var/backups/pw-demo.dump"], "timeout_seconds": 30},
    ]);
    let started = Instant::now();
    let (status, created) = controller
        .post(
            "/api/v1/rollouts",
            body(&hosts, SECURITY_FIX, steps, json!([])),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let view = controller.wait_rollout(&id, Duration::from_secs(90)).await;
    eprintln!("protection failure: stopped after {:?}", started.elapsed());
    assert_eq!(view["status"], "stopped", "{view:#}");
    let cause = &view["hosts"][0]["detail"]["cause"];
    assert_eq!(view["hosts"][0]["state"], "failed", "{view:#}");
    assert_eq!(cause["kind"], "protection_failed", "{view:#}");
    assert!(
        cause["detail"].as_str().unwrap().contains("backup-check"),
        "{view:#}"
    );
    assert_eq!(view["hosts"][1]["state"], "pending", "{view:#}");
    assert_eq!(demo_version(canary), BASELINE, "nothing installed");
    assert_eq!(upgrades(canary), before, "dpkg changed nothing");
    assert!(
        canary
            .read_file(&format!("{SNAPSHOT}/pw-demo.conf"))
            .is_ok(),
        "the first step ran"
    );
    // The guard journaled each step before and after running it, before any install.
    let journal = agent_journal(canary);
    let protected = journal.find("\"step\":\"protected\"").unwrap();
    assert!(
        journal.find("\"step\":\"recorded\"").unwrap() < protected,
        "{journal}"
    );
    assert!(!journal.contains("\"step\":\"installing\""), "{journal}");
    let command = controller
        .get(&format!(
            "/api/v1/commands/{}",
            view["hosts"][0]["command_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(command["state"], "failed", "{command:#}");

    // 2. Only a log check: lines with ERROR written after the change started fail it.
    let old_errors = canary
        .read_file(DEMO_LOG)
        .unwrap_or_default()
        .matches("ERROR")
        .count();
    let checks = json!([{"kind": "log_lines", "name": "demo-log", "path": DEMO_LOG,
                         "pattern": "ERROR", "max_matches": 0}]);
    let steps = json!([{"name": "snapshot", "argv": ["cp", "-a", "/etc/pw-demo", SNAPSHOT]}]);
    let started = Instant::now();
    let (status, created) = controller
        .post("/api/v1/rollouts", body(&hosts, BAD_HEALTH, steps, checks))
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let view = controller.wait_rollout(&id, Duration::from_secs(120)).await;
    eprintln!("log check: stopped after {:?}", started.elapsed());
    assert_eq!(view["status"], "stopped", "{view:#}");
    let canary_view = &view["hosts"][0];
    assert_eq!(canary_view["state"], "rolled_back", "{view:#}");
    assert_eq!(
        canary_view["detail"]["cause"]["kind"], "health_check_failed",
        "{view:#}"
    );
    assert_eq!(
        canary_view["detail"]["cause"]["check"], "demo-log",
        "{view:#}"
    );
    assert_eq!(
        canary_view["detail"]["recorded"][0]["version"], BASELINE,
        "{view:#}"
    );
    assert_eq!(
        demo_version(canary),
        BASELINE,
        "rolled back to the exact old version"
    );
    assert_eq!(
        demo_version(&fleet.hosts[1]),
        BASELINE,
        "nothing else touched"
    );
    let errors = canary.read_file(DEMO_LOG).unwrap().matches("ERROR").count();
    assert!(errors > old_errors, "the bad version logged its ERROR line");
    let list = controller.get("/api/v1/rollouts").await;
    assert_eq!(list["blocked"][0]["version"], BAD_HEALTH, "{list:#}");
    let log = controller.get(&format!("/api/v1/rollouts/{id}/log")).await;
    let steps: Vec<&str> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["host_id"] == hosts[0].as_str())
        .map(|e| e["step"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["claimed", "guard_reported"], "{log:#}");
}
