//! A batch's claims are written in groups and each group's agents are woken at its commit
//! (`scheduler_steps.rs`): the first agents of a batch of 599 get their commands while the rest
//! of the batch is still being claimed, not after all of it (issue 15: per-batch overhead).

mod common;

use common::Harness;
use serde_json::json;

#[tokio::test]
async fn a_batchs_first_agents_are_woken_before_the_whole_batch_is_claimed() {
    let h = Harness::start("2026-12-02T01:00:00Z").await;
    let names: Vec<String> = (0..600).map(|i| format!("web-{i:03}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let hosts = h.enroll(&names).await;
    let id = h
        .rollout(&hosts, json!({"canary_size": 1, "batch_size": 599}))
        .await;
    h.pass().await;
    h.answer_all_done().await;
    // The batch's first host is woken by the pass that claims the batch; what was claimed
    // when it woke is read right then.
    let waiter = h.controller.waiter(&hosts[1]);
    let store = h.store().clone();
    let rollout = id.clone();
    let woken = tokio::spawn(async move {
        waiter.notified().await;
        let rows = store.rollout_hosts(&rollout).await.unwrap();
        rows.iter().filter(|r| r.state_name == "claimed").count()
    });
    tokio::task::yield_now().await;
    h.pass().await;
    let claimed_when_woken = woken.await.unwrap();
    let states = h.states(&id).await;
    assert_eq!(states.iter().filter(|s| *s == "claimed").count(), 599);
    assert!(
        (1..599).contains(&claimed_when_woken),
        "the first agent was woken when {claimed_when_woken} of 599 hosts were claimed"
    );
    // Every claimed host has its command, each claimed once.
    for host in &hosts[1..] {
        let commands = h.store().take_open_commands(host).await.unwrap();
        assert_eq!(commands.len(), 1, "{host}");
    }
}
