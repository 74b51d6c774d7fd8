//! The seeds' workflow end to end on real Debian 12 containers, driven by the built `patchwarden
//! server` and agents: a fleet document applied (a staging group rehearsing a production
//! group); an ad-hoc production rollout refused; plans built by the controller from what the
//! agents reported (apt's real offers from the test repository's security suite) for a group;
//! the author cannot approve (403 four_eyes); the production plan is refused until the same
//! change passed on the staging group with a rollback drill run by the engine; the staging
//! plan, approved by a second operator, is scheduled and rolled out with the drill (installed,
//! rolled back to the exact old version, re-applied); then the production plan is approved and
//! every production host ends on the exact target version. Needs Docker and mmdebstrap (see
//! docs/testbed.md).

mod common;

use std::time::{Duration, Instant};

use common::*;
use pw_testbed::Suite;
use pw_testbed::repo::packages::{BASELINE, DEMO, SECURITY_FIX};
use serde_json::{Value, json};

fn document(staging: &str, production: &[String]) -> String {
    format!(
        r#"
[rollout]
verification = "5s"
canary_percent = 50
max_in_flight = 2

[estimates]
apply = "1s"
rollback = "1s"
host_overhead = "1s"

[health_checks.demo-installed]
kind = "command"
target = "dpkg-query -W {DEMO}"

[groups.web-staging]
environment = "staging"
owners = ["web-team@example.com"]
windows = [{{ name = "always", rrule = "FREQ=DAILY", dtstart = "2026-01-01T00:00:00", tz = "UTC", duration = "25h" }}]
health_checks = ["demo-installed"]
[groups.web-staging.members]
hosts = ["{staging}"]

[groups.web]
environment = "production"
staging_counterpart = "web-staging"
owners = ["web-team@example.com"]
windows = [{{ name = "always", rrule = "FREQ=DAILY", dtstart = "2026-01-01T00:00:00", tz = "UTC", duration = "25h" }}]
health_checks = ["demo-installed"]
[groups.web.members]
hosts = {production:?}
"#
    )
}

/// `POST /api/v1/plans` as `token` for `group`, retried while the agents have not reported
/// their offered upgrades yet.
async fn create_plan(controller: &Controller, token: &str, group: &str) -> Value {
    let body = json!({"name": format!("{group} security"), "group": group, "updates": "security"});
    controller
        .create_plan_when_ready(token, body, nothing_to_plan_yet)
        .await
}

/// The plan's pw-demo changes: (host id, from, to).
fn changes(plan: &Value) -> Vec<(String, String, String)> {
    let mut out: Vec<_> = plan["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|h| {
            let demo = h["changes"].as_array().unwrap().iter();
            demo.filter(|c| c["package"] == DEMO).map(move |c| {
                assert_eq!(c["reason"], "security", "{c}");
                (
                    h["id"].as_str().unwrap().to_owned(),
                    c["from"].as_str().unwrap().to_owned(),
                    c["to"].as_str().unwrap().to_owned(),
                )
            })
        })
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plans_from_live_data_staging_drill_gates_production_four_eyes_rollout() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Stable and security suites only: apt's candidate for pw-demo is the security fix.
    let suites = [Suite::Stable, Suite::Security];
    let (fleet, gateway, controller) = fleet_with_controller_suites(3, &suites);
    let ids = fleet_with_agents(&controller, &fleet, &gateway).await;
    let (staging, production) = (ids[0].clone(), ids[1..].to_vec());
    // Explicit members are host names, as the agents report them.
    let listed = controller.get("/api/v1/hosts").await;
    let hostname = |id: &String| -> String {
        let hosts = listed["hosts"].as_array().unwrap();
        let host = hosts.iter().find(|h| h["id"] == id.as_str()).unwrap();
        host["hostname"].as_str().unwrap().to_owned()
    };
    let production_names: Vec<String> = production.iter().map(hostname).collect();
    controller
        .apply_fleet(document(&hostname(&staging), &production_names))
        .await;
    let alice = add_operator(controller.dir.path(), "alice", "approver");
    let bob = add_operator(controller.dir.path(), "bob", "approver");

    let (status, refused) = controller
        .post("/api/v1/rollouts", rollout_body(&production, SECURITY_FIX))
        .await;
    assert_eq!(status, 403, "{refused}");
    assert_eq!(refused["error"]["code"], "production_needs_plan");

    // Production first: built from live data, but not approvable before the staging run.
    let prod = create_plan(&controller, &alice, "web").await;
    let expected: Vec<_> = production
        .iter()
        .map(|h| (h.clone(), BASELINE.to_owned(), SECURITY_FIX.to_owned()))
        .collect();
    assert_eq!(changes(&prod), expected, "{prod:#}");
    let prod_id = prod["id"].as_i64().unwrap();
    let prod_path = |action: &str| format!("/api/v1/plans/{prod_id}/{action}");
    let (status, _) = controller
        .post_as(&alice, &prod_path("submit"), json!({}))
        .await;
    assert_eq!(status, 200);
    let (status, own) = controller
        .post_as(&alice, &prod_path("approve"), json!({}))
        .await;
    assert_eq!(
        (status, own["error"]["code"].as_str()),
        (403, Some("four_eyes")),
        "{own}"
    );
    let (status, gated) = controller
        .post_as(&bob, &prod_path("approve"), json!({}))
        .await;
    assert_eq!(status, 409, "{gated}");
    let message = gated["error"]["message"].as_str().unwrap();
    assert!(message.contains("web-staging"), "{message}");

    // The staging plan: approved by bob, scheduled, rolled out with the drill.
    let stage = create_plan(&controller, &alice, "web-staging").await;
    assert_eq!(
        changes(&stage),
        [(
            staging.clone(),
            BASELINE.to_owned(),
            SECURITY_FIX.to_owned()
        )]
    );
    let stage_id = stage["id"].as_i64().unwrap();
    let stage_path = |action: &str| format!("/api/v1/plans/{stage_id}/{action}");
    controller
        .post_as(&alice, &stage_path("submit"), json!({}))
        .await;
    let started = Instant::now();
    let (status, approved) = controller
        .post_as(&bob, &stage_path("approve"), json!({}))
        .await;
    assert_eq!(status, 200, "{approved}");
    assert_eq!(approved["state"], "scheduled", "{approved:#}");
    let rollout = approved["rollout"].as_str().expect("a rollout").to_owned();
    let view = controller
        .wait_rollout(&rollout, Duration::from_secs(240))
        .await;
    eprintln!(
        "staging plan rolled out with the drill in {:?}",
        started.elapsed()
    );
    assert_eq!(view["status"], "completed", "{view:#}");
    assert_eq!(view["hosts"][0]["state"], "done", "{view:#}");
    assert_eq!(view["hosts"][0]["detail"]["drilled"], true, "{view:#}");
    assert_eq!(demo_version(&fleet.hosts[0]), SECURITY_FIX);
    assert!(agent_journal(&fleet.hosts[0]).contains("\"step\":\"drill_verified\""));

    // Now production passes the gate; the plan is scheduled and rolled out.
    let started = Instant::now();
    let (status, approved) = controller
        .post_as(&bob, &prod_path("approve"), json!({}))
        .await;
    assert_eq!(status, 200, "{approved}");
    assert_eq!(approved["state"], "scheduled", "{approved:#}");
    let rollout = approved["rollout"].as_str().expect("a rollout").to_owned();
    let view = controller
        .wait_rollout(&rollout, Duration::from_secs(240))
        .await;
    eprintln!("production plan rolled out in {:?}", started.elapsed());
    assert_eq!(view["status"], "completed", "{view:#}");
    assert_eq!(view["plan"]["author"], "alice");
    assert_eq!(view["plan"]["approver"], "bob");
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
    for host in &fleet.hosts[1..] {
        assert_eq!(demo_version(host), SECURITY_FIX, "{}", host.name);
        assert!(agent_journal(host).contains("\"plan\":{\"id\":"));
    }
    assert!(audit_verify(&controller) > 0);
}
