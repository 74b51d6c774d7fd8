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
    assert!(paused.contains("<td id=\"rollout-status\">paused</td>"));
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
