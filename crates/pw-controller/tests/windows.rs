//! The scheduler against the live calendar, time driven by an injected clock (no sleeping):
//! a rollout waits for a window a minute away and starts in it, waits through a blackout,
//! carries over past the window end to the next slot, and the health gate holds a group.
//! Real SQLite, the real scheduler pass (`scheduler::tick`); the agents' side is the store
//! calls the agent endpoints make.

mod common;

use common::Harness;
use serde_json::json;

/// Group `web` (hosts `web-*`): a nightly 01:00–02:00 UTC window; the whole 4 December is
/// blacked out. Group `lab` (hosts `lab-*`): the same window without the blackout. Hosts of
/// no group (`dev-*`) are not window-gated.
const FLEET: &str = r#"
[groups.web]
environment = "test"
owners = ["web-team@example.com"]
windows = [{ name = "nightly", rrule = "FREQ=DAILY;BYHOUR=1;BYMINUTE=0", dtstart = "2026-12-01T01:00:00", tz = "UTC", duration = "1h" }]
blackouts = [{ name = "freeze", start = "2026-12-04T00:00:00Z", end = "2026-12-05T00:00:00Z", reason = "year-end release" }]
[groups.web.members]
hostnames = ["web-*"]

[groups.lab]
environment = "test"
owners = ["lab@example.com"]
windows = [{ name = "nightly", rrule = "FREQ=DAILY;BYHOUR=1;BYMINUTE=0", dtstart = "2026-12-01T01:00:00", tz = "UTC", duration = "1h" }]
[groups.lab.members]
hostnames = ["lab-*"]
"#;

#[tokio::test]
async fn a_rollout_waits_for_its_window_starts_in_it_and_carries_over_to_the_next() {
    let h = Harness::start("2026-12-02T00:59:00Z").await;
    h.apply_fleet(FLEET).await;
    let hosts = h.enroll(&["web-1", "web-2", "web-3"]).await;
    let id = h
        .rollout(&hosts, json!({"canary_size": 1, "batch_size": 1}))
        .await;

    // A minute before the window: nothing claimed, the hosts wait for 01:00.
    h.pass().await;
    assert_eq!(h.states(&id).await, ["pending", "pending", "pending"]);
    let detail = h.detail(&id).await;
    let wait = &detail["waiting"][0];
    assert_eq!(wait["kind"], "window", "{detail}");
    assert_eq!(wait["group"], "web");
    assert_eq!(wait["wait"]["kind"], "closed");
    assert_eq!(wait["wait"]["next"]["start"], "2026-12-02T01:00:00Z");

    // The window opens: the canary is claimed.
    h.set_now("2026-12-02T01:00:00Z");
    h.pass().await;
    assert_eq!(h.states(&id).await, ["claimed", "pending", "pending"]);
    h.answer_all_done().await;
    h.set_now("2026-12-02T01:10:00Z");
    h.pass().await;
    assert_eq!(h.states(&id).await, ["done", "claimed", "pending"]);
    h.answer_all_done().await;

    // 19 minutes left: web-3 needs 2 min (estimate) + 5 min verification + an 18 min rollback
    // buffer (30 % of the hour): it waits for the next night (carry-over).
    h.set_now("2026-12-02T01:41:00Z");
    h.pass().await;
    assert_eq!(h.states(&id).await, ["done", "done", "pending"]);
    let detail = h.detail(&id).await;
    let wait = &detail["waiting"][0]["wait"];
    assert_eq!(wait["kind"], "too_short", "{detail}");
    assert_eq!(
        (
            wait["remaining_seconds"].as_u64(),
            wait["needs_seconds"].as_u64()
        ),
        (Some(1140), Some(1500))
    );
    assert_eq!(wait["next"]["start"], "2026-12-03T01:00:00Z");
    assert_eq!(detail["status"]["status"], "running");

    // Closed overnight, open the next night: web-3 continues where the rollout stopped.
    h.set_now("2026-12-03T00:30:00Z");
    h.pass().await;
    assert_eq!(h.states(&id).await, ["done", "done", "pending"]);
    h.set_now("2026-12-03T01:00:00Z");
    h.pass().await;
    assert_eq!(h.states(&id).await, ["done", "done", "claimed"]);
    h.answer_all_done().await;
    h.pass().await;
    assert_eq!(h.states(&id).await, ["done", "done", "done"]);
    assert_eq!(h.status(&id).await, "completed");
}

#[tokio::test]
async fn a_rollout_waits_through_a_blackout_and_ungated_groups_do_not_wait() {
    let h = Harness::start("2026-12-04T01:10:00Z").await;
    h.apply_fleet(FLEET).await;
    let hosts = h.enroll(&["web-1", "dev-1"]).await;
    let id = h
        .rollout(&hosts, json!({"canary_size": 0, "batch_size": 2}))
        .await;

    // In the nightly window's hours, but blacked out: web-1 waits naming the blackout; dev-1
    // (in no group) goes.
    h.pass().await;
    assert_eq!(h.states(&id).await, ["pending", "claimed"]);
    let detail = h.detail(&id).await;
    let wait = &detail["waiting"][0];
    assert_eq!(wait["hosts"], json!([hosts[0]]), "{detail}");
    assert_eq!(wait["wait"]["blackout"]["name"], "freeze");
    assert_eq!(wait["wait"]["blackout"]["until"], "2026-12-05T00:00:00Z");
    assert_eq!(wait["wait"]["next"]["start"], "2026-12-05T01:00:00Z");
    h.answer_all_done().await;

    // After the blackout, before the window: still closed, no blackout named.
    h.set_now("2026-12-05T00:30:00Z");
    h.pass().await;
    assert_eq!(h.states(&id).await, ["pending", "done"]);
    let detail = h.detail(&id).await;
    assert!(
        detail["waiting"][0]["wait"]["blackout"].is_null(),
        "{detail}"
    );
    h.set_now("2026-12-05T01:00:00Z");
    h.pass().await;
    assert_eq!(h.states(&id).await, ["claimed", "done"]);
}

#[tokio::test]
async fn without_a_fleet_document_nothing_is_window_gated() {
    let h = Harness::start("2026-12-04T01:10:00Z").await;
    let hosts = h.enroll(&["web-1"]).await;
    let id = h
        .rollout(&hosts, json!({"canary_size": 0, "batch_size": 1}))
        .await;
    h.pass().await;
    assert_eq!(h.states(&id).await, ["claimed"]);
}

#[tokio::test]
async fn a_host_that_failed_holds_its_groups_health_gate() {
    let h = Harness::start("2026-12-02T01:00:00Z").await;
    h.apply_fleet(FLEET).await;
    let hosts = h.enroll(&["lab-1", "lab-2", "web-1"]).await;
    let first = h.rollout(&hosts[..1], json!({"canary_size": 0})).await;
    h.pass().await;
    // lab-1's rollback fails: the host needs a human, group lab's health is red.
    h.answer_all(
        "failed",
        json!({"outcome": "failed", "detail": "rollback failed: dpkg error",
        "recorded": [{"name": "pw-demo", "version": "1.0-1"}], "final_versions": [],
        "installed_at": null, "passed_checks": [], "failed_check": "http"}),
    )
    .await;
    h.pass().await;
    assert_eq!(h.states(&first).await, ["failed"]);
    let second = h.rollout(&hosts[1..], json!({"canary_size": 0})).await;
    h.pass().await;
    // lab-2 waits for its group's health; web-1 (another group, window open) goes.
    assert_eq!(h.states(&second).await, ["pending", "claimed"]);
    let detail = h.detail(&second).await;
    let wait = &detail["waiting"][0];
    assert_eq!(
        (wait["kind"].as_str(), wait["group"].as_str()),
        (Some("health_gate"), Some("lab")),
        "{detail}"
    );
    let red = wait["red"][0].as_str().unwrap();
    assert!(
        red.starts_with(&format!("host {} failed", hosts[0])),
        "{red}"
    );
}

/// The scheduler keeps the hosts' groups between passes (`fleet_groups.rs`): a host whose
/// labels put it in a blacked-out group waits, and goes in the next pass once its agent
/// reports other labels, with no new document.
#[tokio::test]
async fn a_hosts_group_follows_its_labels_from_one_pass_to_the_next() {
    let held = r#"
[groups.held]
environment = "test"
owners = ["ops@example.com"]
windows = [{ name = "nightly", rrule = "FREQ=DAILY;BYHOUR=1;BYMINUTE=0", dtstart = "2026-12-01T01:00:00", tz = "UTC", duration = "1h" }]
blackouts = [{ name = "freeze", start = "2026-12-04T00:00:00Z", end = "2026-12-05T00:00:00Z", reason = "year-end release" }]
[groups.held.members]
labels = { hold = "yes" }
"#;
    let h = Harness::start("2026-12-04T01:10:00Z").await;
    h.apply_fleet(&format!("{FLEET}{held}")).await;
    let hosts = h.enroll(&["dev-1", "dev-2"]).await;
    let hold = std::collections::BTreeMap::from([("hold".to_owned(), "yes".to_owned())]);
    assert!(h.store().set_host_labels(&hosts[1], &hold).await.unwrap());
    let id = h
        .rollout(&hosts, json!({"canary_size": 0, "batch_size": 2}))
        .await;
    h.pass().await;
    assert_eq!(h.states(&id).await, ["claimed", "pending"]);
    assert_eq!(h.detail(&id).await["waiting"][0]["group"], "held");
    h.pass().await;
    assert_eq!(h.states(&id).await, ["claimed", "pending"], "still held");

    let none = std::collections::BTreeMap::new();
    assert!(h.store().set_host_labels(&hosts[1], &none).await.unwrap());
    h.pass().await;
    assert_eq!(h.states(&id).await, ["claimed", "claimed"]);
}

/// A rollout's per-host gates (apply estimates, fleet groups) are kept between passes
/// (`gates.rs`) only while the document is the same: a new document's estimates count from
/// the next pass.
#[tokio::test]
async fn a_new_documents_estimates_count_from_the_next_pass() {
    let h = Harness::start("2026-12-02T01:10:00Z").await;
    // 50 minutes left: 40 min (apply) + 1 (overhead) + 5 (verification) + 18 (buffer) do not
    // fit; the default estimates (2 min) do.
    h.apply_fleet(&format!("[estimates]\napply = \"40m\"\n{FLEET}"))
        .await;
    let hosts = h.enroll(&["web-1"]).await;
    let id = h
        .rollout(&hosts, json!({"canary_size": 0, "batch_size": 1}))
        .await;
    h.pass().await;
    h.pass().await;
    assert_eq!(h.states(&id).await, ["pending"]);
    let detail = h.detail(&id).await;
    let wait = &detail["waiting"][0]["wait"];
    assert_eq!(wait["kind"], "too_short", "{detail}");
    assert_eq!(wait["needs_seconds"].as_u64(), Some(3840), "{detail}");

    h.apply_fleet(FLEET).await;
    h.pass().await;
    assert_eq!(h.states(&id).await, ["claimed"]);
}
