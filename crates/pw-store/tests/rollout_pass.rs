//! What a scheduler pass reads of a rollout's hosts, on SQLite and PostgreSQL
//! (`Store::rollout_pass_hosts`): the state JSON only for hosts not known at their version, and
//! the host's last command's outcome once it finished.

use std::collections::HashMap;

use pw_store::{
    Backend, CommandState, FinishedCommand, HostTransition, NewCommand, TransitionCommand,
};

#[macro_use]
mod common;

use common::{at, rollout_r1, store_with_host};

/// Host h1 of r1 claimed from `version`, with its `apply_change`.
fn claim(version: i64) -> HostTransition<'static> {
    HostTransition {
        rollout_id: "r1",
        host_id: "h1",
        expected_version: version,
        state_json: r#"{"claimed":true}"#,
        state_name: "claimed",
        event: serde_json::json!({"event": "claimed"}),
        command: Some(TransitionCommand {
            id: "r1:h1:record_versions:1".into(),
            kind: "apply_change".into(),
            payload_json: "{}".into(),
        }),
        blocks: vec![],
        actor: "controller",
        result: None,
    }
}

async fn a_pass_reads_states_it_does_not_know_and_finished_commands(backend: Backend) {
    let (_dir, store) = store_with_host(backend).await;
    rollout_r1(&store, "pending").await;
    let first = store
        .rollout_pass_hosts("r1", &HashMap::new())
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    let version = first[0].row_version;
    assert_eq!(first[0].state.as_deref(), Some("{}"));
    assert_eq!(
        (first[0].command_id.as_deref(), &first[0].finished),
        (None, &None)
    );
    // Known at this version: no state read.
    let known = HashMap::from([("h1".to_owned(), version)]);
    let again = store.rollout_pass_hosts("r1", &known).await.unwrap();
    assert_eq!(again[0].state, None);

    let claimed = claim(version);
    assert!(store.transition_host(&claimed).await.unwrap());
    // Moved past the known version: read again, with its open command (not finished).
    let moved = store.rollout_pass_hosts("r1", &known).await.unwrap();
    assert_eq!(moved[0].row_version, version + 1);
    assert_eq!(moved[0].state.as_deref(), Some(r#"{"claimed":true}"#));
    assert_eq!(
        moved[0].command_id.as_deref(),
        Some("r1:h1:record_versions:1")
    );
    assert_eq!(moved[0].finished, None);

    let finished_at = at("2026-01-02T00:00:00Z");
    (store.finish_command(
        "h1",
        "r1:h1:record_versions:1",
        CommandState::Failed,
        "no",
        finished_at,
    ))
    .await
    .unwrap();
    let known = HashMap::from([("h1".to_owned(), version + 1)]);
    let done = store.rollout_pass_hosts("r1", &known).await.unwrap();
    assert_eq!(done[0].state, None);
    assert_eq!(
        done[0].finished,
        Some(FinishedCommand {
            kind: "apply_change".into(),
            state: CommandState::Failed,
            result_message: Some("no".into()),
        })
    );
}

/// 300 open `apply_change` commands (three statements of 128 ids), their ids in order.
async fn three_hundred_commands(store: &pw_store::Store) -> Vec<String> {
    let ids: Vec<String> = (0..300)
        .map(|i| format!("r1:h{i}:record_versions:1"))
        .collect();
    let commands: Vec<NewCommand<'_>> = (ids.iter())
        .map(|id| NewCommand {
            id,
            host_id: "h1",
            kind: "apply_change",
            payload_json: "{}",
        })
        .collect();
    store.create_commands(&commands, "test").await.unwrap();
    ids
}

async fn a_pass_reads_its_change_reports_at_once(backend: Backend) {
    let (_dir, store) = store_with_host(backend).await;
    // 300 commands (three statements), every third without a report.
    let ids = three_hundred_commands(&store).await;
    for (i, id) in ids.iter().enumerate().filter(|(i, _)| i % 3 != 0) {
        let report = format!(r#"{{"n":{i}}}"#);
        store.record_change_report(id, &report).await.unwrap();
    }
    let asked: Vec<&str> = ids.iter().map(String::as_str).collect();
    let reports = store.change_reports(&asked).await.unwrap();
    assert_eq!(reports.len(), 200);
    for (i, id) in ids.iter().enumerate() {
        let expected = (i % 3 != 0).then(|| format!(r#"{{"n":{i}}}"#));
        assert_eq!(reports.get(id), expected.as_ref(), "{id}");
        assert_eq!(store.change_report(id).await.unwrap(), expected, "{id}");
    }
    assert!(store.change_reports(&[]).await.unwrap().is_empty());
}

/// The sum a pass compares (`rollouts.host_versions`): it is the sum of the hosts' versions
/// after the rollout's creation and each write of a host's state, and moves only then.
async fn a_rollouts_version_sum_moves_with_each_write_of_a_host(backend: Backend) {
    let (_dir, store) = store_with_host(backend).await;
    let kept = |store: pw_store::Store| async move {
        let row = store.rollout("r1").await.unwrap().unwrap();
        let summed: i64 = sqlx::query_scalar(
            "SELECT CAST(SUM(row_version) AS BIGINT) FROM rollout_hosts WHERE rollout_id = 'r1'",
        )
        .fetch_one(store.pool())
        .await
        .unwrap();
        assert_eq!(row.host_versions, summed, "the kept sum is the rows' sum");
        row.host_versions
    };
    rollout_r1(&store, "pending").await;
    let versions = kept(store.clone()).await;
    assert_eq!(versions, 1, "one host at version 1");
    let claimed = claim(versions);
    assert!(store.transition_host(&claimed).await.unwrap());
    assert_eq!(kept(store.clone()).await, versions + 1);
    // A write that lost its lock changes nothing; a command's result is not a host write.
    assert!(!store.transition_host(&claimed).await.unwrap());
    let finished_at = at("2026-01-02T00:00:00Z");
    (store.finish_command(
        "h1",
        "r1:h1:record_versions:1",
        CommandState::Succeeded,
        "",
        finished_at,
    ))
    .await
    .unwrap();
    assert_eq!(kept(store.clone()).await, versions + 1);
}

/// The outcomes of commands in flight: only those that finished, 128 per statement.
async fn a_pass_reads_the_outcomes_of_its_commands_in_flight(backend: Backend) {
    let (_dir, store) = store_with_host(backend).await;
    // 300 commands (three statements): every third finished.
    let ids = three_hundred_commands(&store).await;
    let finished_at = at("2026-01-02T00:00:00Z");
    for (i, id) in ids.iter().enumerate().filter(|(i, _)| i % 3 == 0) {
        let state = if i % 2 == 0 {
            CommandState::Succeeded
        } else {
            CommandState::Refused
        };
        let message = format!("m{i}");
        (store.finish_command("h1", id, state, &message, finished_at))
            .await
            .unwrap();
    }
    let mut asked: Vec<&str> = ids.iter().map(String::as_str).collect();
    asked.push("r1:unknown:record_versions:1");
    let finished = store.finished_commands(&asked).await.unwrap();
    assert_eq!(finished.len(), 100);
    for (i, id) in ids.iter().enumerate() {
        let expected = (i % 3 == 0).then(|| FinishedCommand {
            kind: "apply_change".into(),
            state: if i % 2 == 0 {
                CommandState::Succeeded
            } else {
                CommandState::Refused
            },
            result_message: Some(format!("m{i}")),
        });
        assert_eq!(finished.get(id), expected.as_ref(), "{id}");
    }
    assert!(store.finished_commands(&[]).await.unwrap().is_empty());
}

/// Migration 0049 gives each stored rollout the sum of its hosts' versions (0 without hosts).
async fn migration_0049_sums_each_rollouts_host_versions(backend: Backend) {
    let (_dir, url, pool) = common::unmigrated_database(backend).await;
    common::migrate_up_to(backend, &pool, 48).await;
    for host in ["h1", "h2"] {
        sqlx::query("INSERT INTO hosts (id, hostname, enrolled_at) VALUES ($1, $1, 't')")
            .bind(host)
            .execute(&pool)
            .await
            .unwrap();
    }
    for rollout in ["r1", "r2", "r3"] {
        sqlx::query(
            "INSERT INTO rollouts (id, created_at, created_by, status, plan, policy, checks,
               updated_at) VALUES ($1, 't', 'olga', 'running', '{}', '{}', '[]', 't')",
        )
        .bind(rollout)
        .execute(&pool)
        .await
        .unwrap();
    }
    for (rollout, host, version) in [("r1", "h1", 3), ("r1", "h2", 5), ("r2", "h1", 1)] {
        sqlx::query(
            "INSERT INTO rollout_hosts (rollout_id, host_id, position, state, state_name,
               row_version, updated_at) VALUES ($1, $2, 0, '{}', 'pending', $3, 't')",
        )
        .bind(rollout)
        .bind(host)
        .bind(version)
        .execute(&pool)
        .await
        .unwrap();
    }
    pool.close().await;
    let store = pw_store::Store::connect(&url).await.unwrap();
    for (rollout, sum) in [("r1", 8), ("r2", 1), ("r3", 0)] {
        let row = store.rollout(rollout).await.unwrap().unwrap();
        assert_eq!(row.host_versions, sum, "{rollout}");
    }
}

/// Migration 0050: rollout hosts are found by host, the failed ones through a partial index.
async fn migration_0050_indexes_rollout_hosts_by_host(backend: Backend) {
    let (_dir, store) = store_with_host(backend).await;
    let sql = match backend {
        Backend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'rollout_hosts'
               AND name LIKE 'rollout_hosts_%' ORDER BY name"
        }
        Backend::Postgres => {
            "SELECT CAST(indexname AS TEXT) FROM pg_indexes WHERE tablename = 'rollout_hosts'
               AND indexname LIKE 'rollout_hosts_%' AND indexname <> 'rollout_hosts_pkey'
             ORDER BY indexname"
        }
    };
    let names: Vec<String> = sqlx::query_scalar(sql)
        .fetch_all(store.pool())
        .await
        .unwrap();
    assert_eq!(names, ["rollout_hosts_by_host", "rollout_hosts_failed"]);
}

on_both_backends!(
    a_pass_reads_states_it_does_not_know_and_finished_commands,
    a_pass_reads_its_change_reports_at_once,
    a_rollouts_version_sum_moves_with_each_write_of_a_host,
    a_pass_reads_the_outcomes_of_its_commands_in_flight,
    migration_0049_sums_each_rollouts_host_versions,
    migration_0050_indexes_rollout_hosts_by_host,
);
