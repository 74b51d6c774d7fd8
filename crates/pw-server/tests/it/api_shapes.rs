//! The API's JSON shapes as insta snapshots (`tests/it/snapshots/`): a plan
//! (`GET /api/v1/plans/{id}`), the host list, a host's findings and a 400 naming the bad field.
//! The controller's clock stands at a fixed instant once the host is enrolled, so plans, findings and deadlines are the
//! same on every run; what still varies — ids, and the times the HTTP layer takes from the
//! machine's clock — is redacted with insta's redactions. Any other change of a field, its
//! name, type or value fails the test until the snapshot is reviewed (docs/testing.md,
//! *Snapshots*).

use pw_testkit::fixtures::{demo_advisory, demo_inventory};
use serde_json::{Value, json};

use crate::plans_api::{document, post};
use crate::support::{TestController, enrolled, findings_after};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_hosts_findings_and_a_refusal_keep_their_shape() {
    let t = TestController::start_with_manual_clock().await;
    let osv = demo_advisory("PW-2026-0100", "CVE-2026-40100");
    let input = pw_feeds::Input::new("pw-demo.json", osv.into_bytes());
    pw_feeds::import(&t.controller.state.store, &[input], &pw_feeds::Silent)
        .await
        .unwrap();
    t.apply_fleet(&document(false)).await;
    let (host, agent) = enrolled(&t, "web-0").await;
    t.set_now("2026-12-01T10:00:00Z");
    assert_eq!(
        t.agent_post(&agent, "inventory", &demo_inventory("web-0"))
            .await,
        200
    );
    let findings = findings_after(&t, &host, &Value::Null).await;
    insta::assert_json_snapshot!("findings", findings, {
        ".host.id" => "[host id]",
        ".host.enrolled_at" => "[machine time]",
        ".host.last_seen_at" => "[machine time]",
    });

    let (status, hosts) = t.get_json("/api/v1/hosts").await;
    assert_eq!(status, 200, "{hosts}");
    insta::assert_json_snapshot!("hosts", hosts, {
        ".hosts[].id" => "[host id]",
        ".hosts[].enrolled_at" => "[machine time]",
        ".hosts[].last_seen_at" => "[machine time]",
    });

    let alice = t.operator("alice", pw_server::Role::Operator).await;
    let request = json!({"name": "2026-12 security", "group": "web", "updates": "security"});
    let (status, created) = post(&t, &alice, "/api/v1/plans", &request).await;
    assert_eq!(status, 201, "{created}");
    let (status, plan) = t
        .get_json(&format!("/api/v1/plans/{}", created["id"]))
        .await;
    assert_eq!(status, 200, "{plan}");
    insta::assert_json_snapshot!("plan", plan, {
        ".id" => "[plan id]",
        ".hosts[].id" => "[host id]",
        ".batches[].hosts[]" => "[host id]",
        ".rollback[].host" => "[host id]",
        ".evidence_requested[]" => "[command id]",
    });

    let bad = json!({"hosts": ["x"], "targets": [{"name": "pw-demo", "version": "-1;rm"}]});
    let (status, refusal) = t.post_json("/api/v1/rollouts", &bad).await;
    assert_eq!(status, 400, "{refusal}");
    insta::assert_json_snapshot!("refusal_400", refusal);
}
