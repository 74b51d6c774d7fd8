//! Evidence reports on SQLite and PostgreSQL: stored with the command's result in one
//! transaction and audited, the latest per host and target set, an older report never replaces a
//! newer one, a second result for the same command changes nothing.

use pw_store::{Backend, CommandState, FinishOutcome, NewEvidence, Store};

#[macro_use]
mod common;

use common::{at, store_with_host};

async fn command(store: &Store, id: &str) {
    let payload = r#"{"kind":"collect_evidence","targets":[{"name":"a","version":"1"}]}"#;
    store
        .create_command(id, "h1", "collect_evidence", payload, "olga")
        .await
        .unwrap();
}

fn evidence<'a>(collected_at: &str, report: &'a str) -> NewEvidence<'a> {
    NewEvidence {
        targets_key: "a=1",
        targets: r#"[{"name":"a","version":"1"}]"#,
        collected_at: at(collected_at),
        report,
    }
}

async fn latest_report_per_target_set_with_its_audit(backend: Backend) {
    let (_dir, store) = store_with_host(backend).await;
    assert_eq!(store.latest_evidence("h1").await.unwrap(), None);
    command(&store, "c1").await;
    let first = evidence("2026-12-03T20:00:00Z", r#"{"n":1}"#);
    let outcome = store
        .finish_evidence_command(
            "h1",
            "c1",
            CommandState::Succeeded,
            "ok",
            at("2026-12-03T20:00:01Z"),
            Some(&first),
        )
        .await
        .unwrap();
    assert!(matches!(outcome, FinishOutcome::Recorded));
    let stored = store.latest_evidence("h1").await.unwrap().unwrap();
    assert_eq!(
        (stored.command_id.as_str(), stored.report.as_str()),
        ("c1", r#"{"n":1}"#)
    );
    assert_eq!(stored.collected_at, at("2026-12-03T20:00:00Z"));

    // A repeated result for c1 changes nothing.
    let again = evidence("2026-12-03T21:00:00Z", r#"{"n":9}"#);
    let outcome = store
        .finish_evidence_command(
            "h1",
            "c1",
            CommandState::Succeeded,
            "ok",
            at("2026-12-03T21:00:01Z"),
            Some(&again),
        )
        .await
        .unwrap();
    assert!(matches!(outcome, FinishOutcome::AlreadyFinished { .. }));
    assert_eq!(
        store.latest_evidence("h1").await.unwrap().unwrap().report,
        r#"{"n":1}"#
    );

    // A report collected earlier than the stored one (a slow agent) does not replace it.
    command(&store, "c2").await;
    let older = evidence("2026-12-03T19:00:00Z", r#"{"n":2}"#);
    store
        .finish_evidence_command(
            "h1",
            "c2",
            CommandState::Succeeded,
            "ok",
            at("2026-12-03T21:00:00Z"),
            Some(&older),
        )
        .await
        .unwrap();
    let stored = store.evidence_for("h1", "a=1").await.unwrap().unwrap();
    assert_eq!(
        (stored.command_id.as_str(), stored.report.as_str()),
        ("c1", r#"{"n":1}"#)
    );

    let actions: Vec<(String, String)> = store
        .audit_tail(20)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.action, r.subject))
        .filter(|(action, _)| action.starts_with("command.") || action.starts_with("evidence."))
        .collect();
    for expected in [
        ("command.created", "c1"),
        ("command.finished", "c1"),
        ("evidence.recorded", "c1"),
        ("command.created", "c2"),
        ("command.finished", "c2"),
        ("evidence.recorded", "c2"),
    ] {
        let expected = (expected.0.to_owned(), expected.1.to_owned());
        assert!(actions.contains(&expected), "{expected:?} in {actions:?}");
    }
    assert_eq!(
        actions
            .iter()
            .filter(|(a, s)| a == "command.finished" && s == "c1")
            .count(),
        1
    );
}

async fn a_failed_collection_finishes_the_command_without_evidence(backend: Backend) {
    let (_dir, store) = store_with_host(backend).await;
    command(&store, "c1").await;
    store
        .finish_evidence_command(
            "h1",
            "c1",
            CommandState::Failed,
            "apt-get missing",
            at("2026-12-03T20:00:00Z"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(store.latest_evidence("h1").await.unwrap(), None);
    assert_eq!(
        store.command("c1").await.unwrap().unwrap().state,
        CommandState::Failed
    );
}

on_both_backends!(
    latest_report_per_target_set_with_its_audit,
    a_failed_collection_finishes_the_command_without_evidence,
);
