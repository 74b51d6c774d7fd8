//! What the downgrade end-to-end tests share (`downgrade_e2e.rs`, `downgrade_archive_e2e.rs`):
//! the fleet document of one staging host, plan creation retried until the controller has the
//! upgraded inventory, the upgraded host itself, and clearing a failed target's block.

use std::time::Duration;

use pw_testbed::Suite;
use pw_testbed::repo::packages::{DEMO, SECURITY_FIX};
use serde_json::Value;

use crate::common::*;

/// One staging group with `host`, an always-open window, a 3 s verification and the
/// `demo-installed` check.
pub fn document(host: &str) -> String {
    format!(
        r#"
[rollout]
verification = "3s"
canary_percent = 50
max_in_flight = 1

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
hosts = ["{host}"]
"#
    )
}

/// `POST /api/v1/plans` with `body`, retried while the controller still has the inventory from
/// before the upgrade (then the target is not lower than what it knows).
pub async fn create_plan_from(controller: &Controller, token: &str, body: Value) -> Value {
    controller
        .create_plan_when_ready(token, body, not_lower_yet)
        .await
}

/// One host with an agent, in the staging group of [`document`], upgraded to pw-demo 1.0-2 by
/// an ad-hoc rollout (the version the downgrades take back): the fleet, the controller and the
/// host's name.
pub async fn upgraded_host() -> (pw_testbed::Fleet, Controller, String) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (fleet, gateway, controller) =
        fleet_with_controller_suites(1, &[Suite::Stable, Suite::Security]);
    let ids = fleet_with_agents(&controller, &fleet, &gateway).await;
    let listed = controller.get("/api/v1/hosts").await;
    let hostname = listed["hosts"][0]["hostname"].as_str().unwrap().to_owned();
    controller.apply_fleet(document(&hostname)).await;
    let (status, rollout) = controller
        .post("/api/v1/rollouts", rollout_body(&ids, SECURITY_FIX))
        .await;
    assert_eq!(status, 201, "{rollout}");
    let view = controller
        .wait_rollout(rollout["id"].as_str().unwrap(), Duration::from_secs(120))
        .await;
    assert_eq!(view["status"], "completed", "{view:#}");
    assert_eq!(demo_version(&fleet.hosts[0]), SECURITY_FIX);
    (fleet, controller, hostname)
}

/// Clears the fleet-wide block of pw-demo `version` a failed change left (an operator's
/// `DELETE /api/v1/blocked-versions/…`).
pub async fn clear_blocked(controller: &Controller, version: &str) {
    let cleared = controller
        .api()
        .delete(controller.url(&format!("/api/v1/blocked-versions/{DEMO}/{version}")))
        .send()
        .await
        .unwrap();
    assert_eq!(cleared.status(), 200, "{:?}", cleared.text().await);
}
