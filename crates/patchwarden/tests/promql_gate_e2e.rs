//! A failing PromQL gate stops a batch (issue 13's Done-when), end to end: the built
//! `patchwarden server` (its real scheduler and PromQL gate), two real Debian 12 containers
//! running `patchwarden agent` with real apt and dpkg, a real Prometheus (Debian's package)
//! scraping a gauge this test serves. A plan for group `lab` — whose health checks include the
//! PromQL check `errors` (`pw_demo_error_ratio < 0.05`) — canaries one host, then a wave. While
//! the canary's guard verifies pw-demo 1.0-2, the gauge goes to 50 %: the controller's gate turns
//! red, halts the canary's change in flight and, when the guard reports it verified, rolls it
//! back with `late_rollback`; dpkg shows exactly the recorded 1.0-1 again, the wave host is never
//! touched, and the rollout says why (stopped: canary failed; the host's cause `gate_failed`
//! naming the check). Real time, about a minute and a half. Needs Docker, mmdebstrap and
//! prometheus (scripts/install-test-deps.sh).

mod common;

#[path = "../../pw-controller/tests/common/prometheus.rs"]
mod prometheus;

use std::time::{Duration, Instant};

use common::*;
use prometheus::{Exporter, Prometheus};
use pw_testbed::Suite;
use pw_testbed::repo::packages::{BASELINE, DEMO, SECURITY_FIX};
use serde_json::{Value, json};

/// The guard's verification period: long enough for the gate to turn red while it runs.
const VERIFICATION_SECONDS: u64 = 20;

fn document(prometheus: &str, hosts: &[String]) -> String {
    format!(
        r#"
[rollout]
verification = "{VERIFICATION_SECONDS}s"
canary_percent = 50
max_in_flight = 1

[estimates]
apply = "1s"
rollback = "1s"
host_overhead = "1s"

[health_checks.errors]
kind = "promql"
target = 'pw_demo_error_ratio{{job="demo"}}'
condition = "< 0.05"
prometheus = "{prometheus}"
interval = "2s"
timeout = "5s"

[health_checks.demo-installed]
kind = "command"
target = "dpkg-query -W {DEMO}"

[groups.lab]
environment = "test"
owners = ["lab@example.com"]
windows = [{{ name = "always", rrule = "FREQ=DAILY", dtstart = "2026-01-01T00:00:00", tz = "UTC", duration = "25h" }}]
health_checks = ["errors", "demo-installed"]
[groups.lab.members]
hosts = {hosts:?}
"#
    )
}

/// Waits (bounded) until `host`'s dpkg shows pw-demo `version` fully installed.
async fn wait_installed(host: &pw_testbed::Host, version: &str, limit: Duration) {
    let started = Instant::now();
    while demo_configured_version(host) != version {
        assert!(
            started.elapsed() < limit,
            "{} never got {DEMO} {version} (has {:?})",
            host.name,
            demo_version(host)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_promql_gate_rolls_the_batch_in_flight_back_and_starts_no_next_batch() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let exporter = Exporter::start().await;
    let prometheus = Prometheus::start(exporter.port).await;
    prometheus.wait_for(0.01).await;
    // Stable and security suites only: apt's candidate for pw-demo is the security fix.
    let (fleet, gateway, controller) =
        fleet_with_controller_suites(2, &[Suite::Stable, Suite::Security]);
    let ids = fleet_with_agents(&controller, &fleet, &gateway).await;
    let listed = controller.get("/api/v1/hosts").await;
    let names: Vec<String> = ids
        .iter()
        .map(|id| {
            let hosts = listed["hosts"].as_array().unwrap();
            let host = hosts.iter().find(|h| h["id"] == id.as_str()).unwrap();
            host["hostname"].as_str().unwrap().to_owned()
        })
        .collect();
    controller
        .apply_fleet(document(&prometheus.url, &names))
        .await;
    let body = json!({"name": "lab security", "group": "lab", "updates": "security"});
    let started = Instant::now();
    let (plan, rollout) = controller.plan_approved(body).await;
    let batches: Vec<&Value> = plan["batches"].as_array().unwrap().iter().collect();
    assert_eq!(batches.len(), 2, "a canary, then a wave: {plan:#}");
    let canary_id = batches[0]["hosts"][0].as_str().unwrap().to_owned();
    let (canary, wave) = if canary_id == ids[0] {
        (&fleet.hosts[0], &fleet.hosts[1])
    } else {
        (&fleet.hosts[1], &fleet.hosts[0])
    };

    // The canary's guard installed 1.0-2 and verifies it; now the service goes bad.
    wait_installed(canary, SECURITY_FIX, Duration::from_secs(90)).await;
    let installed = started.elapsed();
    exporter.set(0.5);
    prometheus.wait_for(0.5).await;
    let red = started.elapsed();

    let view = controller
        .wait_rollout(&rollout, Duration::from_secs(180))
        .await;
    eprintln!(
        "installed after {installed:?}, gate red after {red:?}, rollout {} after {:?}",
        view["status"],
        started.elapsed()
    );
    assert_eq!(view["status"], "stopped", "{view:#}");
    assert_eq!(
        view["detail"]["status"]["reason"]["kind"], "canary_failed",
        "the failure threshold decides: {view:#}"
    );
    let hosts = view["hosts"].as_array().unwrap();
    let state_of = |id: &str| hosts.iter().find(|h| h["host_id"] == id).unwrap();
    let host = state_of(&canary_id);
    assert_eq!(host["state"], "rolled_back", "{view:#}");
    let cause = &host["detail"]["cause"];
    assert_eq!(cause["kind"], "gate_failed", "{view:#}");
    assert_eq!(cause["check"], "errors", "{view:#}");
    let why = cause["detail"].as_str().unwrap();
    assert!(
        why.starts_with("promql check errors (pw_demo_error_ratio{job=\"demo\"}) failed at ")
            && why.ends_with("value 0.5 is not < 0.05"),
        "{why}"
    );
    assert_eq!(host["detail"]["recorded"][0]["version"], BASELINE);
    // Exactly the recorded version again, by dpkg in the container; the wave never started.
    assert_eq!(demo_configured_version(canary), BASELINE);
    assert_eq!(demo_version(wave), BASELINE);
    let wave_id = if canary_id == ids[0] {
        &ids[1]
    } else {
        &ids[0]
    };
    assert_eq!(state_of(wave_id)["state"], "pending", "{view:#}");
    assert!(!agent_journal(wave).contains("apply_change"));
    // The canary's agent received the change once and the controller's rollback once.
    let journal = agent_journal(canary);
    let received = |kind: &str| {
        (journal.lines())
            .filter(|l| l.contains("\"event\":\"received\"") && l.contains(kind))
            .count()
    };
    assert_eq!(received("apply_change"), 1, "{journal}");
    assert_eq!(received("late_rollback"), 1, "{journal}");
    // dpkg's own log: installed once, then back to exactly the old version once.
    let dpkg_log = canary.read_file("/var/log/dpkg.log").unwrap();
    let changes: Vec<&str> = (dpkg_log.lines())
        .filter(|l| l.contains(&format!(" upgrade {DEMO}:")))
        .map(|l| l.split_once(" upgrade ").unwrap().1)
        .collect();
    assert_eq!(
        changes,
        [
            format!("{DEMO}:all {BASELINE} {SECURITY_FIX}"),
            format!("{DEMO}:all {SECURITY_FIX} {BASELINE}")
        ],
        "{dpkg_log}"
    );
    // The rollout's change report: the gate's check as the failed check, where the host ended.
    let report = controller
        .get(&format!(
            "/api/v1/reports/change/rollouts/{rollout}?format=json"
        ))
        .await;
    let rows = report["hosts"].as_array().unwrap();
    let row = rows.iter().find(|h| h["host_id"] == canary_id.as_str());
    let row = row.unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(row["check_failed"], "errors", "{row:#}");
    assert_eq!(row["cause_kind"], "gate_failed", "{row:#}");
    assert_eq!(row["versions"][0]["before"], BASELINE, "{row:#}");
    assert_eq!(row["versions"][0]["after"], BASELINE, "{row:#}");
    assert!(audit_verify(&controller) > 0);
}
