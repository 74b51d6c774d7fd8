//! A rollout's operator control on SQLite and PostgreSQL: written only over the value it was
//! computed from (a stale expected value writes nothing and audits nothing), each change audited
//! with its operator and the control after it, readable as the rollout's operation log.

use pw_store::{Backend, ControlChange};

#[macro_use]
mod common;

use common::{rollout_r1, store_with_host};

fn change<'a>(
    expected: &'a str,
    control: &'a str,
    actor: &'a str,
    action: &'a str,
) -> ControlChange<'a> {
    ControlChange {
        rollout_id: "r1",
        expected_json: expected,
        control_json: control,
        actor,
        action,
    }
}

async fn a_control_is_written_only_over_the_value_it_was_computed_from(backend: Backend) {
    let (_guard, store) = store_with_host(backend).await;
    rollout_r1(&store, "pending").await;
    let initial = store.rollout("r1").await.unwrap().unwrap().control;
    let paused = r#"{"paused":{"by":"olga"}}"#;
    assert!(
        store
            .set_rollout_control(&change(&initial, paused, "olga", "pause"))
            .await
            .unwrap()
    );
    // Ivan computed his resume from the control before Olga's pause: nothing is written.
    let resumed = r#"{"resumed":true}"#;
    assert!(
        !store
            .set_rollout_control(&change(&initial, resumed, "ivan", "resume"))
            .await
            .unwrap()
    );
    assert_eq!(store.rollout("r1").await.unwrap().unwrap().control, paused);
    // Computed from the paused control, it is.
    assert!(
        store
            .set_rollout_control(&change(paused, resumed, "ivan", "resume"))
            .await
            .unwrap()
    );
    // An unknown rollout writes nothing.
    let mut other = change(resumed, paused, "olga", "pause");
    other.rollout_id = "r404";
    assert!(!store.set_rollout_control(&other).await.unwrap());
    let log: Vec<(String, String)> = store
        .rollout_audit("r1")
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.action.starts_with("rollout.") && r.action != "rollout.created")
        .map(|r| (r.actor, r.action))
        .collect();
    assert_eq!(
        log,
        [
            ("olga".to_owned(), "rollout.pause".to_owned()),
            ("ivan".to_owned(), "rollout.resume".to_owned())
        ]
    );
    let records = store.rollout_audit("r1").await.unwrap();
    let last = records.last().unwrap();
    assert_eq!(
        last.details["control"],
        serde_json::json!({"resumed": true})
    );
    assert!(matches!(
        store.verify_audit().await.unwrap(),
        pw_store::ChainCheck::Intact { .. }
    ));
}

on_both_backends!(a_control_is_written_only_over_the_value_it_was_computed_from);
