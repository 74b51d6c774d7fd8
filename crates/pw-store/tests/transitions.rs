//! A scheduler pass's transitions written together (src/transitions.rs), on SQLite and
//! PostgreSQL: 1,100 hosts in one write (several multi-row statements) each get their own state,
//! version, command, change result and audit record, a stale one among them gets nothing, and
//! the scheduler's write goes ahead of the process's line of ordinary writers.

use std::collections::BTreeMap;

use std::time::Duration;

use pw_planner::staging::HostChangeResult;
use pw_store::{Backend, HostTransition, TransitionCommand};

#[macro_use]
mod common;

use common::at;

/// More than two statements of the bulk inserts (500 rows each: commands, audit records).
const HOSTS: usize = 1_100;

fn host(i: usize) -> String {
    format!("h{i:04}")
}

/// Host `i`'s finished change (every fifth host's transition carries one).
fn result(i: usize) -> HostChangeResult {
    HostChangeResult {
        rollout_id: "r1".into(),
        host_id: host(i),
        packages: BTreeMap::from([
            ("libssl3".to_owned(), format!("3.0.{i}")),
            (format!("pkg-{i}"), format!("1.{i}")),
        ]),
        passed: i.is_multiple_of(2),
        drill: i.is_multiple_of(3),
        finished_at: at("2026-12-03T10:00:00Z"),
    }
}

async fn a_thousand_hosts_in_one_write_each_get_their_own(backend: Backend) {
    let (_dir, store) = common::fresh_store(backend).await;
    let ids: Vec<String> = (0..HOSTS).map(host).collect();
    for id in &ids {
        common::enroll(&store, id).await;
    }
    common::rollout_r1_of(&store, &ids, "pending").await;
    let version = store.rollout_hosts("r1").await.unwrap()[0].row_version;
    let last_seq = store.audit_tail(1).await.unwrap()[0].seq;
    // Every seventh host's transition was computed from an older version: it is refused.
    let stale = |i: usize| i % 7 == 3;
    let states: Vec<String> = (0..HOSTS).map(|i| format!(r#"{{"n":{i}}}"#)).collect();
    let batch: Vec<HostTransition<'_>> = (0..HOSTS)
        .map(|i| HostTransition {
            rollout_id: "r1",
            host_id: &ids[i],
            expected_version: if stale(i) { version - 1 } else { version },
            state_json: &states[i],
            state_name: if i % 5 == 0 { "done" } else { "claimed" },
            event: serde_json::json!({"event": "claimed", "n": i}),
            command: (i % 5 != 0).then(|| TransitionCommand {
                id: format!("r1:{}:record_versions:1", ids[i]),
                kind: "apply_change".into(),
                payload_json: format!(r#"{{"host":{i}}}"#),
            }),
            blocks: vec![],
            actor: "controller",
            result: (i % 5 == 0).then(|| result(i)),
        })
        .collect();
    let written = store.transition_hosts(&batch).await.unwrap();
    assert_eq!(written, (0..HOSTS).map(|i| !stale(i)).collect::<Vec<_>>());

    let rows = store.rollout_hosts("r1").await.unwrap();
    let rows: BTreeMap<&str, _> = rows.iter().map(|r| (r.host_id.as_str(), r)).collect();
    for i in 0..HOSTS {
        let row = rows[ids[i].as_str()];
        let command = store
            .command(&format!("r1:{}:record_versions:1", ids[i]))
            .await
            .unwrap();
        if stale(i) {
            assert_eq!((row.row_version, row.state.as_str()), (version, "{}"));
            assert_eq!(row.command_id, None);
            assert!(
                command.is_none(),
                "host {i}: a refused transition's command"
            );
            continue;
        }
        assert_eq!(
            (row.row_version, row.state.as_str(), row.state_name.as_str()),
            (version + 1, states[i].as_str(), batch[i].state_name),
            "host {i}"
        );
        let expected = batch[i].command.as_ref().map(|c| c.id.as_str());
        assert_eq!(row.command_id.as_deref(), expected, "host {i}");
        match command {
            Some(command) => {
                assert_eq!(command.host_id, ids[i]);
                assert_eq!(command.payload, format!(r#"{{"host":{i}}}"#));
            }
            None => assert!(expected.is_none(), "host {i}: its command is missing"),
        }
    }
    let results: Vec<HostChangeResult> = (0..HOSTS)
        .filter(|i| i % 5 == 0 && !stale(*i))
        .map(result)
        .collect();
    assert_eq!(store.change_results().await.unwrap(), results);
    let audit = store.audit_tail(2000).await.unwrap();
    let subjects: Vec<String> = (audit.iter().rev())
        .filter(|r| r.seq > last_seq && r.action == "rollout.host.transition")
        .map(|r| r.subject.clone())
        .collect();
    let fresh: Vec<String> = (0..HOSTS)
        .filter(|i| !stale(*i))
        .map(|i| format!("r1/{}", ids[i]))
        .collect();
    assert_eq!(subjects, fresh);
    assert!(matches!(
        store.verify_audit().await.unwrap(),
        pw_store::ChainCheck::Intact { .. }
    ));
}

/// Three ordinary writers wait behind an open transaction; the scheduler's write, which
/// arrives last, goes after the one at the line's front and before the other two.
async fn the_schedulers_write_goes_ahead_of_the_line(backend: Backend) {
    let (_dir, store) = common::store_with_host(backend).await;
    common::rollout_r1(&store, "pending").await;
    let version = store.rollout_hosts("r1").await.unwrap()[0].row_version;
    let order = common::Order::default();
    let open = store.begin_immediate().await.unwrap();
    let writers = common::ordinary_writers(&store, &order, 3).await;
    let ahead = {
        let (store, order) = (store.clone(), order.clone());
        tokio::spawn(async move {
            let claim = HostTransition {
                rollout_id: "r1",
                host_id: "h1",
                expected_version: version,
                state_json: "{}",
                state_name: "claimed",
                event: serde_json::json!({"event": "claimed"}),
                command: None,
                blocks: vec![],
                actor: "controller",
                result: None,
            };
            // The order is taken inside the write: the transition is committed when this
            // returns, and the next ordinary writer may already be in its turn.
            let written = store.transition_host(&claim).await.unwrap();
            (written, order.lock().unwrap().len())
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    open.commit().await.unwrap();
    let (written, before) = ahead.await.unwrap();
    for writer in writers {
        writer.await.unwrap();
    }
    assert!(written);
    assert!(
        before <= 2,
        "the scheduler's write waited for {before} ordinary writers: {:?}",
        order.lock().unwrap()
    );
    assert_eq!(order.lock().unwrap().len(), 3);
}

on_both_backends!(
    a_thousand_hosts_in_one_write_each_get_their_own,
    the_schedulers_write_goes_ahead_of_the_line,
);
