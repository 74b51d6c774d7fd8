//! End to end on real Debian 12 containers (pw-testbed): the built `patchwarden server` on this
//! machine, six hosts each running `patchwarden agent` (the same binary, mounted read-only),
//! real apt against the fake repository. Scenario A: pw-demo 1.0-2 rolls out canary → batches
//! and every host ends on exactly 1.0-2. Scenario B: 1.0-3 fails its HTTP health check on the
//! canary → the guard rolls it back to the exact old version, the rollout stops, 1.0-3 is
//! blocked and no other host is touched. Needs Docker and mmdebstrap (see docs/testbed.md).

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use pw_testbed::repo::packages::{BAD_HEALTH, BASELINE, DEMO, SECURITY_FIX};
use pw_testbed::{Mount, Suite, Testbed};
use serde_json::Value;

/// From the audit chain: the canary is `done` before any other host is claimed, and never
/// more than `batch_size` (2) hosts hold a slot at once.
async fn assert_canary_first_and_budget(controller: &Controller, id: &str, hosts: &[String]) {
    let audit = controller.get("/api/v1/audit").await;
    let mut records: Vec<&Value> = audit["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["action"] == "rollout.host.transition"
                && r["subject"].as_str().unwrap().starts_with(id)
        })
        .collect();
    records.sort_by_key(|r| r["seq"].as_i64());
    let host_of = |r: &Value| {
        r["subject"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_owned()
    };
    let canary_done = records
        .iter()
        .position(|r| host_of(r) == hosts[0] && r["details"]["to"] == "done")
        .expect("canary done");
    let first_other_claim = records
        .iter()
        .position(|r| host_of(r) != hosts[0] && r["details"]["to"] == "claimed")
        .expect("other hosts claimed");
    assert!(canary_done < first_other_claim, "canary first");
    let mut in_flight = std::collections::BTreeSet::new();
    for record in &records {
        match record["details"]["to"].as_str().unwrap() {
            "claimed" => in_flight.insert(host_of(record)),
            "done" | "rolled_back" | "failed" | "pending" => in_flight.remove(&host_of(record)),
            _ => true,
        };
        assert!(in_flight.len() <= 2, "budget exceeded: {in_flight:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollouts_on_real_hosts_apply_verify_and_roll_back() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let testbed = Testbed::shared();
    let mount = Mount {
        source: env!("CARGO_BIN_EXE_patchwarden").into(),
        target: AGENT_BIN.into(),
    };
    let fleet = testbed.fleet_with_mounts(6, &Suite::ALL, &[mount]).unwrap();
    let gateway = fleet.network.gateway().unwrap().to_string();
    let controller = start_controller(&gateway);
    let hosts = fleet_with_agents(&controller, &fleet, &gateway).await;

    // Scenario A: the security fix, canary first, then batches of two.
    let started = Instant::now();
    let (status, created) = controller
        .post("/api/v1/rollouts", rollout_body(&hosts, SECURITY_FIX))
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap();
    let view = controller.wait_rollout(id, Duration::from_secs(120)).await;
    eprintln!(
        "scenario A: {} hosts done in {:?}",
        hosts.len(),
        started.elapsed()
    );
    assert_eq!(view["status"], "completed", "{view:#}");
    for (host, state) in fleet.hosts.iter().zip(view["hosts"].as_array().unwrap()) {
        assert_eq!(state["state"], "done", "{view:#}");
        assert_eq!(demo_version(host), SECURITY_FIX, "{}", host.name);
    }

    assert_canary_first_and_budget(&controller, id, &hosts).await;

    // Scenario B: a version whose service fails its health check.
    let started = Instant::now();
    let (status, created) = controller
        .post("/api/v1/rollouts", rollout_body(&hosts, BAD_HEALTH))
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap();
    let view = controller.wait_rollout(id, Duration::from_secs(120)).await;
    eprintln!("scenario B: stopped after {:?}", started.elapsed());
    assert_eq!(view["status"], "stopped", "{view:#}");
    let states = view["hosts"].as_array().unwrap();
    assert_eq!(states[0]["state"], "rolled_back", "{view:#}");
    assert_eq!(
        states[0]["detail"]["recorded"][0]["version"], SECURITY_FIX,
        "{view:#}"
    );
    for state in &states[1..] {
        assert_eq!(state["state"], "pending", "{view:#}");
    }
    for host in &fleet.hosts {
        assert_eq!(demo_version(host), SECURITY_FIX, "{}", host.name);
    }
    let list = controller.get("/api/v1/rollouts").await;
    let blocked = &list["blocked"][0];
    assert_eq!(
        (blocked["package"].as_str(), blocked["version"].as_str()),
        (Some(DEMO), Some(BAD_HEALTH))
    );
}

/// Scenario C: the canary's container is SIGKILLed while its guard verifies a bad version. When
/// the container and the agent come back, the agent finds the half-done change in its journal,
/// rolls back to the exact recorded version and reports; the controller records `rolled_back`
/// and stops the rollout. No other host is touched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_killed_during_verification_rolls_back_after_restart() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let testbed = Testbed::shared();
    let mount = Mount {
        source: env!("CARGO_BIN_EXE_patchwarden").into(),
        target: AGENT_BIN.into(),
    };
    let fleet = testbed.fleet_with_mounts(3, &Suite::ALL, &[mount]).unwrap();
    let gateway = fleet.network.gateway().unwrap().to_string();
    let controller = start_controller(&gateway);
    let hosts = fleet_with_agents(&controller, &fleet, &gateway).await;
    let started = Instant::now();
    let (status, created) = controller
        .post(
            "/api/v1/rollouts",
            rollout_body_verifying(&hosts, BAD_HEALTH, 60),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap();
    let canary = &fleet.hosts[0];
    // Wait (bounded) until dpkg has fully installed the bad version: the guard is verifying
    // now. (Killed while dpkg configures it, the host would need `dpkg --configure -a`.)
    while demo_configured_version(canary) != BAD_HEALTH {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "never installed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    canary.kill().unwrap();
    canary.start_again().unwrap();
    start_agent(canary, &agent_server(&controller, &gateway), None);
    let view = controller.wait_rollout(id, Duration::from_secs(90)).await;
    eprintln!("scenario C: stopped after {:?}", started.elapsed());
    assert_eq!(view["status"], "stopped", "{view:#}");
    let states = view["hosts"].as_array().unwrap();
    assert_eq!(states[0]["state"], "rolled_back", "{view:#}");
    assert_eq!(
        states[0]["detail"]["cause"]["kind"], "checks_missing",
        "{view:#}"
    );
    for state in &states[1..] {
        assert_eq!(state["state"], "pending", "{view:#}");
    }
    for host in &fleet.hosts {
        assert_eq!(demo_version(host), BASELINE, "{}", host.name);
    }
    let journal = canary
        .read_file(&format!("{AGENT_DIR}/journal.jsonl"))
        .unwrap();
    assert_eq!(
        journal.matches("\"event\":\"received\"").count(),
        1,
        "{journal}"
    );
    assert!(journal.contains("\"step\":\"rolling_back\""), "{journal}");
}

/// The controller is SIGKILLed in the middle of a rollout (canary done, a wave claimed) and
/// started again on the same data directory: the rollout resumes and finishes, every host is
/// upgraded exactly once (dpkg's log), each agent received its command once, and the audit
/// chain verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_controller_killed_mid_rollout_resumes_without_repeating_anything() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let testbed = Testbed::shared();
    let mount = Mount {
        source: env!("CARGO_BIN_EXE_patchwarden").into(),
        target: AGENT_BIN.into(),
    };
    let fleet = testbed.fleet_with_mounts(4, &Suite::ALL, &[mount]).unwrap();
    let gateway = fleet.network.gateway().unwrap().to_string();
    let mut controller = start_controller(&gateway);
    let hosts = fleet_with_agents(&controller, &fleet, &gateway).await;
    let started = Instant::now();
    let (status, created) = controller
        .post(
            "/api/v1/rollouts",
            rollout_body_verifying(&hosts, SECURITY_FIX, 4),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    loop {
        let view = controller.get(&format!("/api/v1/rollouts/{id}")).await;
        let states: Vec<&str> = view["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["state"].as_str().unwrap())
            .collect();
        if states[1..].iter().any(|s| *s != "pending") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{view:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    controller.kill_and_restart(&gateway);
    let restarted = Instant::now();
    while reqwest::get(controller.url("/api/v1/hosts")).await.is_err() {
        assert!(restarted.elapsed() < Duration::from_secs(20), "no restart");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let view = controller.wait_rollout(&id, Duration::from_secs(120)).await;
    eprintln!(
        "controller restart: rollout done after {:?}",
        started.elapsed()
    );
    assert_eq!(view["status"], "completed", "{view:#}");
    for (host, state) in fleet.hosts.iter().zip(view["hosts"].as_array().unwrap()) {
        assert_eq!(state["state"], "done", "{view:#}");
        assert_eq!(demo_version(host), SECURITY_FIX, "{}", host.name);
        let dpkg_log = host.read_file("/var/log/dpkg.log").unwrap();
        let upgrades = dpkg_log
            .lines()
            .filter(|l| l.contains(" upgrade pw-demo:") && l.contains(SECURITY_FIX))
            .count();
        assert_eq!(upgrades, 1, "{}: {dpkg_log}", host.name);
        let journal = host
            .read_file(&format!("{AGENT_DIR}/journal.jsonl"))
            .unwrap();
        let applies = journal.matches("\"kind\":\"apply_change\"").count();
        assert_eq!(applies, 1, "{}: {journal}", host.name);
    }
    let verify = Command::new(env!("CARGO_BIN_EXE_patchwarden"))
        .args(["audit", "verify", "--db"])
        .arg(controller.dir.path().join("patchwarden.db"))
        .output()
        .unwrap();
    assert!(verify.status.success(), "{verify:?}");
}
