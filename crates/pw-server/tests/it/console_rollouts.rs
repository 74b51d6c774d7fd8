//! Rollouts in the console (issue 12): the list, a rollout's batches and hosts (refreshing
//! itself while it runs), pause and resume through the console's forms (the same
//! `pw_controller::rollout_ops` as the API, the signed-in operator recorded), retry and
//! clearing blocks refused as the API refuses them, the operation log; CSRF and role refusals.

use pw_server::Role;
use serde_json::Value;

use crate::console_support::{get, outcome, post_form, session_of};
use crate::fleet::{create_rollout, enroll_fleet, run_to_end, wait_for};
use crate::support::{ADMIN, TestController, form_field};

async fn control(t: &TestController, cookie: &str, id: &str, action: &str) -> (u16, String) {
    let (_, page) = get(t, cookie, "/rollouts").await;
    let csrf = form_field(&page, "csrf");
    let path = format!("/rollouts/{id}/{action}");
    let answer = post_form(t, cookie, &path, &[("csrf", &csrf)]).await;
    outcome(answer).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_is_watched_paused_and_resumed_in_the_console() {
    let t = TestController::start().await;
    let agents = enroll_fleet(&t, 3).await;
    let id = create_rollout(&t, &agents, "1.0-2").await;
    t.operator("vic", Role::Viewer).await;
    let admin = session_of(&t, ADMIN).await;

    let (status, list) = get(&t, &admin, "/rollouts").await;
    assert_eq!(status, 200);
    assert!(
        list.contains(&format!("<a href=\"/rollouts/{id}\">{id}</a>")),
        "{list}"
    );
    let (_, page) = get(&t, &admin, &format!("/rollouts/{id}")).await;
    assert!(
        page.contains("http-equiv=\"refresh\""),
        "live while running"
    );
    assert!(page.contains("Batch 1"), "{page}");
    assert_eq!(page.matches("class=\"host-state\"").count(), 3);
    // Stored instants (hosts' last change, the operation log) in the operator's zone.
    let (_, zoned) = get(&t, &admin, &format!("/rollouts/{id}?tz=Asia/Shanghai")).await;
    assert!(zoned.matches(" CST</td>").count() >= 3, "{zoned}");

    // Refusals: a forged token, a viewer.
    let forged = post_form(
        &t,
        &admin,
        &format!("/rollouts/{id}/pause"),
        &[("csrf", "x")],
    )
    .await;
    assert_eq!(forged.status(), 403);
    let viewer = session_of(&t, "vic").await;
    let (_, viewer_page) = get(&t, &viewer, &format!("/rollouts/{id}")).await;
    assert!(!viewer_page.contains("id=\"pause-rollout\""));
    let (status, refused) = control(&t, &viewer, &id, "pause").await;
    assert_eq!(status, 403, "{refused}");
    assert!(refused.contains("needs operator"));
    let (_, view) = t.get_json(&format!("/api/v1/rollouts/{id}")).await;
    assert!(
        view["control"]["paused_by"].is_null(),
        "nothing changed: {view}"
    );

    assert_eq!(
        control(&t, &admin, &id, "pause").await,
        (303, format!("/rollouts/{id}"))
    );
    let view = wait_for(&t, &id, |v| v["status"] == "paused").await;
    assert_eq!(view["control"]["paused_by"], ADMIN);
    let (_, paused) = get(&t, &admin, &format!("/rollouts/{id}?lang=zh-CN")).await;
    assert!(
        paused.contains("<td id=\"rollout-status\">已暂停</td>"),
        "{paused}"
    );
    assert!(paused.contains("继续"), "zh-CN controls");
    let (status, again) = control(&t, &admin, &id, "pause").await;
    assert_eq!(status, 409, "the domain's refusal: {again}");
    assert!(again.contains("already paused"));

    assert_eq!(control(&t, &admin, &id, "resume").await.0, 303);
    let (view, _) = run_to_end(&t, &agents, &id).await;
    assert_eq!(view["status"], "completed", "{view}");
    let (_, done) = get(&t, &admin, &format!("/rollouts/{id}")).await;
    assert!(
        !done.contains("http-equiv=\"refresh\""),
        "no refresh once finished"
    );
    let steps = done.matches("</td><td>").count();
    assert!(done.contains("id=\"oplog\"") && steps > 3, "{done}");
    let (status, nothing) = control(&t, &admin, &id, "retry").await;
    assert_eq!(status, 409, "no failed host: {nothing}");

    let (_, rollouts) = get(&t, &admin, "/rollouts").await;
    let csrf = form_field(&rollouts, "csrf");
    let fields = [
        ("csrf", csrf.as_str()),
        ("package", "pw-demo"),
        ("version", "9.9-1"),
    ];
    let answer = post_form(&t, &admin, "/blocked-versions/clear", &fields).await;
    assert_eq!(answer.status(), 404, "no such block");
    let (_, log) = t.get_json(&format!("/api/v1/rollouts/{id}/log")).await;
    let paused_by: Vec<&Value> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["step"].as_str().unwrap_or("").contains("pause"))
        .collect();
    assert!(
        !paused_by.is_empty(),
        "the pause is in the operation log: {log}"
    );
}

/// The guard's answer with a verified PostgreSQL backup restored after the rollback.
fn answer_with_backup(command: &Value) -> (String, Option<Value>) {
    let (status, change) = crate::fleet::guard_answer(command);
    let mut change = change.unwrap();
    change["protection"][0]["record"] = serde_json::json!({
        "kind": "postgres_backup", "name": "pw-1764842400-db-r1",
        "taken_at": "2026-12-04T10:00:00Z", "size_bytes": 3_500_000, "status": "verified",
        "location": "/var/backups/pw/pw-1764842400-db-r1/app.dump",
        "expires_at": "2026-12-11T10:00:00Z", "take_ms": 420, "verify_ms": 910,
        "detail": "2 tables, 20002 rows match", "pruned": []});
    change["restored"] = serde_json::json!([{"name": "db", "ok": true,
        "detail": "restored into app: 2 tables, 20002 rows match"}]);
    (status, Some(change))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protection_records_are_stored_and_shown_in_the_api_and_the_console() {
    let t = TestController::start().await;
    let agents = enroll_fleet(&t, 1).await;
    let step = serde_json::json!({"name": "db", "timeout_seconds": 60, "provider": {
        "kind": "postgres_backup", "database": "app", "dir": "/var/backups/pw",
        "retention_seconds": 604800}});
    let extra = serde_json::json!({"protection_steps": [step]});
    let id = crate::fleet::create_rollout_with(&t, &agents, "1.0-3", extra).await;
    let mut served = Vec::new();
    for _ in 0..100 {
        served.extend(crate::fleet::serve_with(&t, &agents[0], answer_with_backup).await);
        if !served.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let view = wait_for(&t, &id, |v| v["hosts"][0]["state"] == "rolled_back").await;
    let record = &view["hosts"][0]["protection"][0];
    assert_eq!(record["step"], "db", "{view}");
    assert_eq!(record["status"], "verified");
    assert_eq!(record["size_bytes"], 3_500_000);
    assert_eq!(record["restored_ok"], true);
    assert_eq!(record["expires_at"], "2026-12-11T10:00:00Z");
    let admin = session_of(&t, ADMIN).await;
    let (_, page) = get(&t, &admin, &format!("/rollouts/{id}")).await;
    assert!(page.contains("Backups and snapshots"), "{page}");
    assert!(
        page.contains("3.3 MiB") && page.contains("910 ms"),
        "{page}"
    );
    assert!(
        page.contains("<td class=\"protection-status\">verified</td>"),
        "{page}"
    );
    assert!(
        page.contains("<td class=\"protection-restored\">yes</td>"),
        "{page}"
    );
    let (_, zh) = get(&t, &admin, &format!("/rollouts/{id}?lang=zh-CN")).await;
    assert!(
        zh.contains("备份与快照") && zh.contains("回滚后已恢复"),
        "{zh}"
    );
}
