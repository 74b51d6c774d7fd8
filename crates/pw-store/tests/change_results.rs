//! Finished host changes on SQLite and PostgreSQL: written with the host's terminal transition
//! in its transaction (a refused transition writes none), read back typed with the exact versions
//! applied, passed and drill; a repeated result replaces the first.

use std::collections::BTreeMap;

use pw_planner::staging::HostChangeResult;
use pw_store::{Backend, HostTransition};

#[macro_use]
mod common;

use common::{at, rollout_r1, store_with_host};

fn result(version: &str, passed: bool, drill: bool) -> HostChangeResult {
    HostChangeResult {
        rollout_id: "r1".into(),
        host_id: "h1".into(),
        packages: BTreeMap::from([
            ("libssl3".to_owned(), format!("3.0.{version}")),
            ("pw-demo".to_owned(), version.to_owned()),
        ]),
        passed,
        drill,
        finished_at: at("2026-12-03T10:00:00Z"),
    }
}

fn transition(
    expected_version: i64,
    state_name: &str,
    result: Option<HostChangeResult>,
) -> HostTransition<'_> {
    HostTransition {
        rollout_id: "r1",
        host_id: "h1",
        expected_version,
        state_json: "{}",
        state_name,
        event: serde_json::json!({"event": "guard_reported"}),
        command: None,
        blocks: vec![],
        actor: "agent:h1",
        result,
    }
}

async fn a_terminal_transition_stores_its_result_and_a_refused_one_nothing(backend: Backend) {
    let (_dir, store) = store_with_host(backend).await;
    rollout_r1(&store, "pending").await;
    let version = store.rollout_hosts("r1").await.unwrap()[0].row_version;
    assert!(store.change_results().await.unwrap().is_empty());
    // A stale transition (another writer moved the host) writes no result either.
    let stale = transition(version + 5, "done", Some(result("1.0-2", true, true)));
    assert!(!store.transition_host(&stale).await.unwrap());
    assert!(store.change_results().await.unwrap().is_empty());
    let claimed = transition(version, "claimed", None);
    assert!(store.transition_host(&claimed).await.unwrap());
    assert!(store.change_results().await.unwrap().is_empty());
    let done = transition(version + 1, "done", Some(result("1.0-2", true, true)));
    assert!(store.transition_host(&done).await.unwrap());
    assert_eq!(
        store.change_results().await.unwrap(),
        [result("1.0-2", true, true)]
    );
    // The same host's result again (a later transition) replaces it, packages included.
    let again = transition(version + 2, "failed", Some(result("1.0-3", false, false)));
    assert!(store.transition_host(&again).await.unwrap());
    assert_eq!(
        store.change_results().await.unwrap(),
        [result("1.0-3", false, false)]
    );
}

/// Several transitions in one write (the scheduler's batch of claims or results): each is
/// written as on its own, a stale one in the middle writes nothing, and each written one has
/// its audit record, in order.
async fn a_batch_of_transitions_writes_each_fresh_one_and_skips_the_stale(backend: Backend) {
    let (_dir, store) = store_with_host(backend).await;
    rollout_r1(&store, "pending").await;
    let version = store.rollout_hosts("r1").await.unwrap()[0].row_version;
    let last_seq = store.audit_tail(1).await.unwrap()[0].seq;
    let batch = [
        transition(version, "claimed", None),
        transition(version + 5, "failed", None),
        transition(version + 1, "done", Some(result("1.0-2", true, false))),
    ];
    let written = store.transition_hosts(&batch).await.unwrap();
    assert_eq!(written, [true, false, true]);
    let host = &store.rollout_hosts("r1").await.unwrap()[0];
    assert_eq!(
        (host.row_version, host.state_name.as_str()),
        (version + 2, "done")
    );
    let audit = store.audit_tail(1000).await.unwrap();
    let moves: Vec<_> = (audit.iter().rev())
        .filter(|r| r.seq > last_seq && r.action == "rollout.host.transition")
        .map(|r| r.details["to"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(moves, ["claimed", "done"]);
    assert_eq!(
        store.change_results().await.unwrap(),
        [result("1.0-2", true, false)]
    );
    assert!(matches!(
        store.verify_audit().await.unwrap(),
        pw_store::ChainCheck::Intact { .. }
    ));
}

on_both_backends!(
    a_terminal_transition_stores_its_result_and_a_refused_one_nothing,
    a_batch_of_transitions_writes_each_fresh_one_and_skips_the_stale,
);
