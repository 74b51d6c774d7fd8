//! End to end on real Debian 12 containers: a change plan built from the hosts' real dpkg
//! databases (`patchwarden scan` of each host's /var/lib/dpkg/status with the test advisory →
//! `patchwarden plan --save`) is submitted by alice, refused for rollout while under review,
//! approved by bob (four eyes), and rolled out by `POST /api/v1/rollouts {"plan": N}`: every
//! host ends on the exact target version, including one whose agent runs `--read-only
//! --allow-approved-plans` (which refuses an ad-hoc rollout). Needs Docker and mmdebstrap (see
//! docs/testbed.md).

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::*;
use pw_testbed::repo::packages::{BASELINE, DEMO, SECURITY_FIX, advisory_json};
use serde_json::{Value, json};

const POLICY: &str = r#"
[rollout]
verification = "5s"
canary_percent = 1
max_in_flight = 2

[estimates]
apply = "1s"
rollback = "1s"
host_overhead = "1s"

[health_checks.demo-http]
kind = "http"
target = "http://127.0.0.1:18080/cgi-bin/health"

[groups.demo]
environment = "production"
owners = ["ops@example.com"]
windows = [{ name = "always", rrule = "FREQ=DAILY", dtstart = "2026-01-01T00:00:00", tz = "UTC", duration = "25h" }]
health_checks = ["demo-http"]
"#;

fn patchwarden(args: &[&str], db: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_patchwarden"))
        .args(args)
        .arg("--db")
        .arg(db)
        .env_remove("PATCHWARDEN_DB")
        .output()
        .unwrap()
}

fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approved_plan_from_real_inventories_rolls_out_to_exact_versions() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (fleet, gateway, controller) = fleet_with_controller(3);
    let read_only: &[&str] = &["--read-only", "--allow-approved-plans"];
    let ids = fleet_with_agent_args(&controller, &fleet, &gateway, &[read_only]).await;
    let db = controller.dir.path().join("patchwarden.db");
    let work = tempfile::tempdir().unwrap();
    let advisory = work.path().join("pw-demo-advisory.json");
    std::fs::write(&advisory, advisory_json()).unwrap();

    // The plan: each host's real dpkg database scanned with the advisory, hosts named by the
    // hostname their agent reported (fleet ids are our own).
    let listed = controller.get("/api/v1/hosts").await;
    let mut fleet_toml = String::new();
    for (index, (host, id)) in fleet.hosts.iter().zip(&ids).enumerate() {
        let status = work.path().join(format!("status-{index}"));
        std::fs::write(&status, host.read_file("/var/lib/dpkg/status").unwrap()).unwrap();
        let scan = Command::new(env!("CARGO_BIN_EXE_patchwarden"))
            .args([
                "scan",
                "--os",
                "debian:12",
                "--format",
                "json",
                "--dpkg-status",
            ])
            .arg(&status)
            .arg("--advisories")
            .arg(&advisory)
            .env_remove("PATCHWARDEN_DB")
            .output()
            .unwrap();
        let scan = ok(scan, "scan");
        assert!(scan.contains("PWTEST-2025-0001"), "{scan}");
        std::fs::write(work.path().join(format!("scan-{index}.json")), scan).unwrap();
        let hostname = listed["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["id"] == id.as_str())
            .unwrap()["hostname"]
            .as_str()
            .unwrap()
            .to_owned();
        fleet_toml.push_str(&format!(
            "[[hosts]]\nid = \"demo-{index}\"\nhostname = \"{hostname}\"\ngroup = \"demo\"\n\
             os = \"debian:12\"\nscan = \"scan-{index}.json\"\n\n"
        ));
    }
    std::fs::write(work.path().join("fleet.toml"), fleet_toml).unwrap();
    std::fs::write(work.path().join("policy.toml"), POLICY).unwrap();
    let fleet_path = work.path().join("fleet.toml");
    let policy_path = work.path().join("policy.toml");
    let saved = patchwarden(
        &[
            "plan",
            "--fleet",
            fleet_path.to_str().unwrap(),
            "--policy",
            policy_path.to_str().unwrap(),
            "--save",
            "--author",
            "alice",
        ],
        &db,
    );
    let plan = ok(saved, "plan --save").trim().to_owned();
    ok(
        patchwarden(&["plans", "submit", &plan, "--actor", "alice"], &db),
        "submit",
    );

    // Under review: refused, nothing stored.
    let (status, refused) = controller
        .post("/api/v1/rollouts", json!({"plan": plan}))
        .await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["error"]["code"], "plan_refused");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("is in_review"),
        "{refused}"
    );
    // The read-only agent takes no ad-hoc change.
    let (status, refused) = controller
        .post("/api/v1/rollouts", rollout_body(&ids, SECURITY_FIX))
        .await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["error"]["code"], "host_read_only");
    let list = controller.get("/api/v1/rollouts").await;
    assert_eq!(list["rollouts"].as_array().unwrap().len(), 0, "{list}");

    ok(
        patchwarden(&["plans", "approve", &plan, "--actor", "bob"], &db),
        "approve",
    );
    let started = Instant::now();
    let (status, created) = controller
        .post("/api/v1/rollouts", json!({"plan": plan}))
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["plan"]["approver"], "bob");
    let id = created["id"].as_str().unwrap();
    let view = controller.wait_rollout(id, Duration::from_secs(180)).await;
    eprintln!(
        "plan rollout: {} hosts done in {:?}",
        ids.len(),
        started.elapsed()
    );
    assert_eq!(view["status"], "completed", "{view:#}");
    for host in view["hosts"].as_array().unwrap() {
        assert_eq!(host["state"], "done", "{view:#}");
        assert_eq!(
            host["targets"],
            json!([{"name": DEMO, "version": SECURITY_FIX}]),
            "{view:#}"
        );
        assert_eq!(
            host["detail"]["recorded"][0]["version"], BASELINE,
            "{view:#}"
        );
    }
    for host in &fleet.hosts {
        assert_eq!(demo_version(host), SECURITY_FIX, "{}", host.name);
        let journal = agent_journal(host);
        assert!(journal.contains("\"plan\":{\"id\":"), "{journal}");
    }
    // The plan's history links it to the rollout.
    let shown = ok(
        patchwarden(&["plans", "show", &plan, "--format", "json"], &db),
        "show",
    );
    let shown: Value = serde_json::from_str(&shown).unwrap();
    let last = shown["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["event"], "rolled_out", "{last}");
    assert_eq!(last["comment"], format!("rollout {id}"));
    assert!(audit_verify(&controller) > 0);
}
