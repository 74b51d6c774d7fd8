//! A batch's boundary (issue 15: per-batch overhead): its claims are written in groups and
//! each group's agents are woken at its commit (`scheduler_steps.rs`), so the first agents of a
//! batch of 599 get their commands while the rest is still being claimed; and while many
//! commands are in flight (a large wave), results are gathered until the wave's last or for a
//! moment before a pass instead of a pass each, while a small wave's results get theirs at once
//! (`scheduler.rs`).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

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

/// A harness with `hosts` hosts whose canary is done and whose one batch is claimed (its
/// commands in flight).
async fn a_batch_in_flight(hosts: usize) -> Harness {
    let h = Harness::start("2026-12-02T01:00:00Z").await;
    let names: Vec<String> = (0..hosts).map(|i| format!("db-{i:03}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let ids = h.enroll(&names).await;
    h.rollout(&ids, json!({"canary_size": 1, "batch_size": hosts - 1}))
        .await;
    h.pass().await;
    h.answer_all_done().await;
    h.pass().await;
    h
}

/// The scheduler's loop with a pass that only counts; the count once the loop's first
/// (interval) pass ran. The loop's next interval pass is a second later.
async fn counting_loop(h: &Harness) -> (Arc<AtomicUsize>, tokio::sync::watch::Sender<bool>) {
    let count = Arc::new(AtomicUsize::new(0));
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let counted = count.clone();
    // The set-up's results woke the scheduler already: that wake-up is taken here.
    let wake = h.controller.scheduler_wake();
    let _ = tokio::time::timeout(Duration::from_millis(1), wake.notified()).await;
    tokio::spawn(pw_controller::scheduler::run_with(
        h.controller.clone(),
        shutdown,
        move |_| {
            let counted = counted.clone();
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
                anyhow::Ok(())
            }
        },
    ));
    settle().await;
    assert_eq!(count.load(Ordering::SeqCst), 1, "the loop's first pass");
    (count, stop)
}

/// Lets the loop's task run: a few milliseconds (a timer due now fires at the timer's next
/// millisecond), far less than the gathering's 100.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(5)).await;
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn results_are_gathered_while_many_commands_are_in_flight() {
    let h = a_batch_in_flight(40).await;
    let (count, _stop) = counting_loop(&h).await;
    h.controller.wake_scheduler();
    settle().await;
    assert_eq!(
        count.load(Ordering::SeqCst),
        1,
        "a pass before the gathering ended"
    );
    // The gathering (100 ms) ends well before the loop's next interval pass (1 s).
    tokio::time::sleep(Duration::from_millis(300)).await;
    settle().await;
    assert!(
        count.load(Ordering::SeqCst) >= 2,
        "no pass after the gathering"
    );
}

#[tokio::test]
async fn the_last_few_results_get_a_pass_at_once() {
    let h = a_batch_in_flight(10).await;
    let (count, _stop) = counting_loop(&h).await;
    h.controller.wake_scheduler();
    settle().await;
    assert_eq!(count.load(Ordering::SeqCst), 2, "the pass waited");
}

/// The gathering ends as soon as a wake-up (one per result) came for each of the batch's 39
/// commands in flight: the pass that starts the next batch runs at once.
#[tokio::test]
async fn the_gathering_ends_when_the_waves_last_result_arrived() {
    let h = a_batch_in_flight(40).await;
    let (count, _stop) = counting_loop(&h).await;
    for _ in 0..38 {
        h.controller.wake_scheduler();
    }
    settle().await;
    assert_eq!(count.load(Ordering::SeqCst), 1, "one result may be out");
    h.controller.wake_scheduler();
    settle().await;
    assert_eq!(
        count.load(Ordering::SeqCst),
        2,
        "the pass waited for the gathering"
    );
}

/// A large wave's tail (9 of 39 in flight after a pass) is still gathered: a pass for each of
/// its last results would be running when the last one lands.
#[tokio::test]
async fn a_large_waves_tail_is_still_gathered() {
    let h = a_batch_in_flight(40).await;
    let hosts: Vec<String> = (h.store().hosts().await.unwrap().into_iter())
        .map(|host| host.id)
        .collect();
    let mut answered = 0;
    for host in &hosts {
        if answered < 30 {
            answered += h.answer_done(host).await;
        }
    }
    assert_eq!(answered, 30);
    h.pass().await;
    let (count, _stop) = counting_loop(&h).await;
    h.controller.wake_scheduler();
    settle().await;
    assert_eq!(
        count.load(Ordering::SeqCst),
        1,
        "a pass for one result of 9"
    );
    for _ in 0..8 {
        h.controller.wake_scheduler();
    }
    settle().await;
    assert_eq!(count.load(Ordering::SeqCst), 2, "the last result waited");
}
