//! The scheduler keeps a rollout's hosts between passes (`scheduler_load.rs`) and trusts them
//! only while no one else wrote a host: here a second controller on the same database (another
//! replica, as after a lease moved) drives a batch between two passes of the first.

mod common;

use std::sync::Arc;

use common::Harness;
use pw_controller::{Controller, NoObserver};
use pw_testkit::ManualClock;
use serde_json::json;

#[tokio::test]
async fn a_pass_sees_what_another_controller_wrote_since_its_last() {
    let h = Harness::start("2026-12-02T01:00:00Z").await;
    let hosts = h.enroll(&["web-1", "web-2", "web-3"]).await;
    let id = h
        .rollout(&hosts, json!({"canary_size": 1, "batch_size": 1}))
        .await;
    let clock = ManualClock::new(h.controller.now());
    let other = Controller::new(h.store().clone(), Arc::new(clock), Arc::new(NoObserver));

    h.pass().await;
    assert_eq!(h.states(&id).await, ["claimed", "pending", "pending"]);
    h.answer_all_done().await;
    // The other controller takes the canary's result and claims the next host.
    pw_controller::scheduler::tick(&other).await.unwrap();
    assert_eq!(h.states(&id).await, ["done", "claimed", "pending"]);
    h.answer_all_done().await;
    // The first controller's hosts are stale: it reads them again, takes web-2's result and
    // claims web-3 (from what it kept it would claim web-2 a second time and never finish it).
    h.pass().await;
    assert_eq!(h.states(&id).await, ["done", "done", "claimed"]);
    h.answer_all_done().await;
    h.pass().await;
    assert_eq!(h.states(&id).await, ["done", "done", "done"]);
    assert_eq!(h.status(&id).await, "completed");
    // Every host was claimed once, and the audit chain holds.
    let audit = h.store().rollout_audit(&id).await.unwrap();
    for host in &hosts {
        let subject = format!("{id}/{host}");
        let claims = (audit.iter())
            .filter(|r| r.subject == subject && r.details.to_string().contains("\"claimed\""))
            .count();
        assert_eq!(claims, 1, "{host}: {audit:#?}");
    }
    let chain = h.store().verify_audit().await.unwrap();
    assert!(
        matches!(chain, pw_store::ChainCheck::Intact { .. }),
        "{chain:?}"
    );
}

/// Within one controller the hosts kept from the pass before are the ones used: results
/// arriving between passes are taken without reading every host again, batch after batch.
#[tokio::test]
async fn passes_take_results_from_the_hosts_they_kept() {
    let h = Harness::start("2026-12-02T01:00:00Z").await;
    let hosts = h.enroll(&["db-1", "db-2", "db-3", "db-4", "db-5"]).await;
    let id = h
        .rollout(&hosts, json!({"canary_size": 1, "batch_size": 2}))
        .await;
    let mut expected = vec!["claimed", "pending", "pending", "pending", "pending"];
    h.pass().await;
    assert_eq!(h.states(&id).await, expected);
    for batch in [[1, 2], [3, 4]] {
        h.answer_all_done().await;
        h.pass().await;
        expected[..batch[0]].fill("done");
        for i in batch {
            expected[i] = "claimed";
        }
        assert_eq!(h.states(&id).await, expected);
    }
    h.answer_all_done().await;
    h.pass().await;
    assert_eq!(h.states(&id).await, ["done"; 5]);
    assert_eq!(h.status(&id).await, "completed");
}

/// A rollout's plan is read once while it is active (it never changes once stored): the
/// passes after the first do not read it again. Shown by changing the stored text behind the
/// controller's back to something that does not parse: the rollout still finishes.
#[tokio::test]
async fn a_rollouts_plan_is_read_once_while_it_is_active() {
    let h = Harness::start("2026-12-02T01:00:00Z").await;
    let hosts = h.enroll(&["app-1", "app-2"]).await;
    let id = h
        .rollout(&hosts, json!({"canary_size": 1, "batch_size": 1}))
        .await;
    h.pass().await;
    assert_eq!(h.states(&id).await, ["claimed", "pending"]);
    sqlx::query("UPDATE rollouts SET plan = 'not a plan' WHERE id = $1")
        .bind(&id)
        .execute(h.store().pool())
        .await
        .unwrap();
    for _ in 0..2 {
        h.answer_all_done().await;
        h.pass().await;
    }
    // Read from the store: the console's view of the rollout parses the plan.
    let rows = h.store().rollout_hosts(&id).await.unwrap();
    let states: Vec<&str> = rows.iter().map(|r| r.state_name.as_str()).collect();
    assert_eq!(states, ["done", "done"]);
    let rollout = h.store().rollout(&id).await.unwrap().unwrap();
    assert_eq!(rollout.status, "completed");
}
