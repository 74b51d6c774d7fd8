//! Observation rows on SQLite and PostgreSQL: started once per rollout host (a second start
//! leaves the first), due by `next_due` or when the command they wait for has finished, each
//! transition guarded by the row's version and written with its agent command and audit
//! records in one transaction.

use pw_store::{Backend, CommandState, NewCommand, NewObservation, ObservationUpdate};

#[macro_use]
mod common;

use common::{at, rollout_r1, store_with_host};

fn new(state: &str, next_due: i64) -> NewObservation<'_> {
    NewObservation {
        rollout_id: "r1",
        host_id: "h1",
        group: "web",
        state_json: state,
        phase: "observing",
        next_due: Some(next_due),
    }
}

async fn observations_start_once_fall_due_and_move_under_their_version(backend: Backend) {
    let (_dir, store) = store_with_host(backend).await;
    rollout_r1(&store, "done").await;
    let now = at("2026-12-03T10:00:00Z");
    assert_eq!(
        store
            .start_observations(&[new("{\"a\":1}", 100)], now)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .start_observations(&[new("{\"a\":2}", 5)], now)
            .await
            .unwrap(),
        0
    );
    let row = store.observation("r1", "h1").await.unwrap().unwrap();
    assert_eq!(
        (row.state.as_str(), row.next_due, row.version),
        ("{\"a\":1}", Some(100), 1)
    );
    assert!(store.observations_due(99).await.unwrap().is_empty());
    assert_eq!(
        store.observations_due(100).await.unwrap(),
        std::slice::from_ref(&row)
    );

    // A round: the command is queued with the transition; the row waits for it.
    let payload = r#"{"kind":"run_checks","rollout":"r1","checks":[]}"#;
    let update = ObservationUpdate {
        state_json: "{\"a\":3}",
        phase: "checking",
        is_final: false,
        next_due: Some(220),
        command: Some(NewCommand {
            id: "r1:h1:run_checks:1",
            host_id: "h1",
            kind: "run_checks",
            payload_json: payload,
        }),
        actor: "controller",
        action: "observation.tick",
        details: serde_json::json!({"phase": "checking"}),
    };
    assert!(
        store
            .update_observation("r1", "h1", 1, &update, now)
            .await
            .unwrap()
    );
    // A stale writer (version 1 again) writes nothing.
    assert!(
        !store
            .update_observation("r1", "h1", 1, &update, now)
            .await
            .unwrap()
    );
    let row = store.observation("r1", "h1").await.unwrap().unwrap();
    assert_eq!(row.command_id.as_deref(), Some("r1:h1:run_checks:1"));
    assert_eq!((row.phase.as_str(), row.version), ("checking", 2));
    assert!(store.observations_due(150).await.unwrap().is_empty());
    let command = store.command("r1:h1:run_checks:1").await.unwrap().unwrap();
    assert_eq!(command.state, CommandState::Queued);
    // The agent answers: due at once, before its deadline.
    store
        .finish_command(
            "h1",
            "r1:h1:run_checks:1",
            CommandState::Succeeded,
            "ok",
            now,
        )
        .await
        .unwrap();
    assert_eq!(store.observations_due(150).await.unwrap().len(), 1);

    // The end: final rows are never due.
    let end = ObservationUpdate {
        state_json: "{\"a\":4}",
        phase: "passed",
        is_final: true,
        next_due: None,
        command: None,
        actor: "controller",
        action: "observation.passed",
        details: serde_json::json!({}),
    };
    assert!(
        store
            .update_observation("r1", "h1", 2, &end, now)
            .await
            .unwrap()
    );
    assert!(
        store
            .observations_due(i64::MAX / 2)
            .await
            .unwrap()
            .is_empty()
    );
    let all = store.observations_of("r1").await.unwrap();
    assert_eq!(
        (all.len(), all[0].is_final, all[0].command_id.clone()),
        (1, true, None)
    );
    let actions: Vec<String> = store
        .audit_tail(20)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.action)
        .filter(|a| a.starts_with("observation.") || a == "command.created")
        .collect();
    assert_eq!(
        actions,
        [
            "observation.passed",
            "command.created",
            "observation.tick",
            "observation.started"
        ]
    );
    assert!(matches!(
        store.verify_audit().await.unwrap(),
        pw_store::ChainCheck::Intact { .. }
    ));
}

on_both_backends!(observations_start_once_fall_due_and_move_under_their_version,);
