//! Operator controls against the real scheduler with an injected clock: retry of failed hosts,
//! skipping a host, a T0 emergency start outside windows, and rolling mode keeping in-flight
//! hosts within the budget.

mod common;

use common::{Harness, apply_failed};
use pw_controller::{Refusal, rollout_ops};
use serde_json::json;

#[tokio::test]
async fn retry_of_failed_hosts_makes_a_new_rollout_that_finishes_them() {
    let h = Harness::start("2026-12-02T01:00:00Z").await;
    let hosts = h.enroll(&["dev-1", "dev-2"]).await;
    let id = h
        .rollout(&hosts, json!({"canary_size": 1, "batch_size": 1}))
        .await;
    let nothing = rollout_ops::retry_failed(&h.controller, "alice", &id).await;
    assert!(
        matches!(&nothing, Err(Refusal::RolloutConflict(m)) if m.contains("no failed host")),
        "{nothing:?}"
    );
    h.pass().await;
    h.answer_all("failed", apply_failed()).await;
    h.pass().await;
    // The canary's failure stops the rollout; dev-2 never started.
    assert_eq!(h.states(&id).await, ["rolled_back", "pending"]);
    assert_eq!(h.status(&id).await, "stopped");

    let retry = rollout_ops::retry_failed(&h.controller, "bob", &id)
        .await
        .unwrap();
    assert_eq!(retry.detail["retry_of"], id.as_str());
    let hosts_of = |v: &pw_protocol::RolloutView| -> Vec<String> {
        v.hosts.iter().map(|h| h.host_id.clone()).collect()
    };
    assert_eq!(hosts_of(&retry), [hosts[0].clone()]);
    h.pass().await;
    assert_eq!(h.states(&retry.id).await, ["claimed"]);
    h.answer_all_done().await;
    h.pass().await;
    assert_eq!(h.states(&retry.id).await, ["done"]);
    assert_eq!(h.status(&retry.id).await, "completed");
    let audit = h.store().rollout_audit(&retry.id).await.unwrap();
    assert_eq!(audit[0].actor, "bob", "{:?}", audit[0]);
}

#[tokio::test]
async fn a_skipped_host_is_left_out_and_bad_skips_are_refused() {
    let h = Harness::start("2026-12-02T01:00:00Z").await;
    let hosts = h.enroll(&["dev-1", "dev-2", "dev-3"]).await;
    let id = h
        .rollout(&hosts, json!({"canary_size": 1, "batch_size": 1}))
        .await;
    h.pass().await;
    let claimed = rollout_ops::skip_host(&h.controller, "alice", &id, &hosts[0]).await;
    assert!(
        matches!(&claimed, Err(Refusal::RolloutConflict(m)) if m.contains("only a pending host")),
        "{claimed:?}"
    );
    let unknown = rollout_ops::skip_host(&h.controller, "alice", &id, "h-nope").await;
    assert!(
        matches!(unknown, Err(Refusal::RolloutConflict(_))),
        "{unknown:?}"
    );
    let view = rollout_ops::skip_host(&h.controller, "alice", &id, &hosts[1])
        .await
        .unwrap();
    assert_eq!(view.control["skipped_hosts"][&hosts[1]], "alice");
    let again = rollout_ops::skip_host(&h.controller, "bob", &id, &hosts[1]).await;
    assert!(
        matches!(&again, Err(Refusal::RolloutConflict(m)) if m.contains("already skipped by alice")),
        "{again:?}"
    );
    h.answer_all_done().await;
    h.pass().await;
    assert_eq!(h.states(&id).await, ["done", "pending", "claimed"]);
    h.answer_all_done().await;
    h.pass().await;
    assert_eq!(h.states(&id).await, ["done", "pending", "done"]);
    assert_eq!(h.status(&id).await, "completed");
    let detail = h.detail(&id).await;
    assert_eq!(detail["skipped"][0]["skipped_by"], "alice", "{detail}");
}

const FLEET: &str = r#"
[groups.web]
environment = "test"
owners = ["web-team@example.com"]
windows = [{ name = "nightly", rrule = "FREQ=DAILY;BYHOUR=1;BYMINUTE=0", dtstart = "2026-12-01T01:00:00", tz = "UTC", duration = "1h" }]
[groups.web.members]
hostnames = ["web-*"]
"#;

#[tokio::test]
async fn a_t0_emergency_starts_outside_the_window() {
    let h = Harness::start("2026-12-02T12:00:00Z").await;
    h.apply_fleet(FLEET).await;
    let hosts = h.enroll(&["web-1"]).await;
    let id = h
        .rollout(&hosts, json!({"canary_size": 0, "batch_size": 1}))
        .await;
    h.pass().await;
    assert_eq!(h.states(&id).await, ["pending"]);
    let empty = rollout_ops::emergency(&h.controller, "root", &id, " ").await;
    assert!(
        matches!(empty, Err(Refusal::InvalidRequest(_))),
        "{empty:?}"
    );
    let view = rollout_ops::emergency(&h.controller, "root", &id, "CVE-2026-0001 exploited")
        .await
        .unwrap();
    assert_eq!(view.control["emergency"]["by"], "root");
    assert_eq!(view.control["emergency"]["at"], "2026-12-02T12:00:00Z");
    h.pass().await;
    assert_eq!(h.states(&id).await, ["claimed"]);
    let detail = h.detail(&id).await;
    assert_eq!(
        detail["emergency"]["reason"], "CVE-2026-0001 exploited",
        "{detail}"
    );
    let twice = rollout_ops::emergency(&h.controller, "root", &id, "again").await;
    assert!(
        matches!(twice, Err(Refusal::RolloutConflict(_))),
        "{twice:?}"
    );
    let audit = h.store().rollout_audit(&id).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|r| r.action == "rollout.emergency" && r.actor == "root"),
        "{audit:?}"
    );
}

#[tokio::test]
async fn rolling_mode_starts_the_next_host_as_one_finishes_within_the_budget() {
    let h = Harness::start("2026-12-02T01:00:00Z").await;
    let names = ["dev-1", "dev-2", "dev-3", "dev-4", "dev-5", "dev-6"];
    let hosts = h.enroll(&names).await;
    let id = h
        .rollout(
            &hosts,
            json!({"canary_size": 1, "batch_size": 2, "mode": "rolling"}),
        )
        .await;
    let in_flight = |states: &[String]| {
        states
            .iter()
            .filter(|s| !matches!(s.as_str(), "pending" | "done"))
            .count()
    };
    h.pass().await;
    assert_eq!(
        h.states(&id).await,
        [
            "claimed", "pending", "pending", "pending", "pending", "pending"
        ]
    );
    h.answer_all_done().await;
    h.pass().await;
    assert_eq!(h.states(&id).await[1..3], ["claimed", "claimed"]);
    // Only dev-2 finishes: dev-4 (the next batch) starts at once; dev-3 still runs.
    let done = json!({"outcome": "done",
        "recorded": [{"name": "pw-demo", "version": "1.0-1"}],
        "final_versions": [{"name": "pw-demo", "version": "1.0-2"}],
        "installed_at": "2026-12-01T00:00:00Z", "passed_checks": [], "failed_check": null});
    for round in 0..6 {
        let states = h.states(&id).await;
        assert!(in_flight(&states) <= 2, "round {round}: {states:?}");
        let Some(first) = states.iter().position(|s| s == "claimed") else {
            break;
        };
        h.answer_host(&hosts[first], "succeeded", &done).await;
        h.pass().await;
        if round == 0 {
            assert_eq!(
                h.states(&id).await,
                ["done", "done", "claimed", "claimed", "pending", "pending"]
            );
        }
    }
    assert_eq!(h.status(&id).await, "completed");
}
