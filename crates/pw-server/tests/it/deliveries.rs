//! A long-poll's commands are answered without waiting for a write: marking them delivered is
//! written after the answer (`deliveries.rs`), so at a batch's start an agent does not wait
//! for the scheduler's claims ahead of it in the store's line of writers.

use std::time::Duration;

use serde_json::{Value, json};

use crate::fleet::{enroll_fleet, poll};
use crate::support::TestController;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_poll_answers_while_the_writers_line_is_held_and_marks_delivered_after() {
    let t = TestController::start().await;
    let agents = enroll_fleet(&t, 1).await;
    let created: Value = t
        .api()
        .post(t.http(&format!("/api/v1/hosts/{}/commands", agents[0].host_id)))
        .json(&json!({"command": {"kind": "refresh_inventory"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let state = || async {
        let (_, view) = t.get_json(&format!("/api/v1/commands/{id}")).await;
        view["state"].as_str().unwrap_or_default().to_owned()
    };
    // Another writer holds the line (as the scheduler's claims do at a batch's start).
    let held = t.controller.state.store.begin_immediate().await.unwrap();
    let batch = tokio::time::timeout(Duration::from_secs(3), poll(&t, &agents[0], 5))
        .await
        .expect("the long-poll answered while the line was held");
    assert_eq!(batch["commands"][0]["id"], id.as_str(), "{batch}");
    assert_eq!(state().await, "queued", "not marked while the line is held");
    drop(held);
    let mut now = String::new();
    for _ in 0..100 {
        now = state().await;
        if now == "delivered" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(now, "delivered", "marked once the line is free");
    // Handed out again until its result arrives.
    let again = poll(&t, &agents[0], 0).await;
    assert_eq!(again["commands"][0]["id"], id.as_str(), "{again}");
}
