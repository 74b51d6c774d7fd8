//! The bulk primitives plans read a fleet with: every host's offered upgrades in one read
//! (hosts that never reported them absent), findings and evidence of many hosts, several
//! commands queued in one transaction (all or none, each audited), and the unfinished commands
//! of a kind.

#[macro_use]
mod common;

use common::{at, offer, store_with_host};
use pw_store::{
    Backend, ChainCheck, CommandState, FindingsSnapshot, FinishOutcome, InventoryRow, NewCommand,
};

fn inventory() -> InventoryRow {
    common::inventory("2026-11-01T00:00:00Z")
}

async fn all_pending_updates_groups_rows_by_host_and_leaves_out_hosts_that_did_not_report(
    backend: Backend,
) {
    let (_dir, store) = store_with_host(backend).await;
    let map = store.all_pending_updates().await.unwrap();
    assert!(map.is_empty(), "no inventory yet: {map:?}");
    store
        .store_inventory("h1", "web-1", inventory(), None)
        .await
        .unwrap();
    assert!(store.all_pending_updates().await.unwrap().is_empty());
    let offers = [offer("zlib1g", "1.0-3"), offer("libssl3", "1.0-2")];
    store
        .store_inventory("h1", "web-1", inventory(), Some(&offers))
        .await
        .unwrap();
    let map = store.all_pending_updates().await.unwrap();
    let names: Vec<&str> = map["h1"].iter().map(|p| p.package.as_str()).collect();
    assert_eq!(names, ["libssl3", "zlib1g"], "sorted by package");
    assert_eq!(
        map["h1"],
        store.pending_updates("h1").await.unwrap().unwrap()
    );
    store
        .store_inventory("h1", "web-1", inventory(), Some(&[]))
        .await
        .unwrap();
    assert_eq!(store.all_pending_updates().await.unwrap()["h1"], []);
}

async fn commands_are_queued_together_or_not_at_all_and_open_ones_are_listed_by_kind(
    backend: Backend,
) {
    let (_dir, store) = store_with_host(backend).await;
    let audit_before = store.audit_tail(1000).await.unwrap().len();
    let command = |id| NewCommand {
        id,
        host_id: "h1",
        kind: "collect_evidence",
        payload_json: r#"{"type":"collect_evidence","targets":[]}"#,
    };
    store
        .create_commands(&[command("c1"), command("c2")], "alice")
        .await
        .unwrap();
    let open = store
        .open_commands_of_kind("collect_evidence")
        .await
        .unwrap();
    let ids: Vec<&str> = open.iter().map(|(_, id, _)| id.as_str()).collect();
    assert_eq!(ids, ["c1", "c2"]);
    assert!(open.iter().all(|(host, _, _)| host == "h1"));
    assert!(
        store
            .open_commands_of_kind("refresh_inventory")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.audit_tail(1000).await.unwrap().len(),
        audit_before + 2
    );

    // A duplicate id in the batch: nothing of it is stored, nothing audited.
    let error = store
        .create_commands(&[command("c3"), command("c1")], "alice")
        .await
        .unwrap_err();
    assert!(format!("{error:#}").contains("c1"), "{error:#}");
    assert_eq!(
        store
            .open_commands_of_kind("collect_evidence")
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        store.audit_tail(1000).await.unwrap().len(),
        audit_before + 2
    );
}

async fn a_plan_sized_batch_is_inserted_in_several_statements_and_chained_record_by_record(
    backend: Backend,
) {
    let (_dir, store) = store_with_host(backend).await;
    let audit_before = store.audit_tail(1).await.unwrap()[0].seq;
    // More than two statements' worth (500 rows each), so chunk boundaries are crossed.
    let ids: Vec<String> = (0..1201).map(|i| format!("bulk-{i:04}")).collect();
    let commands: Vec<NewCommand<'_>> = ids
        .iter()
        .map(|id| NewCommand {
            id,
            host_id: "h1",
            kind: "collect_evidence",
            payload_json: r#"{"type":"collect_evidence","targets":[]}"#,
        })
        .collect();
    store.create_commands(&commands, "alice").await.unwrap();
    let open = store
        .open_commands_of_kind("collect_evidence")
        .await
        .unwrap();
    let stored: Vec<&str> = open.iter().map(|(_, id, _)| id.as_str()).collect();
    assert_eq!(stored, ids, "every command stored, in order");
    let tail = store.audit_tail(1202).await.unwrap();
    assert_eq!(tail[0].seq, audit_before + 1201, "one record per command");
    assert_eq!(tail[0].subject, "bulk-1200");
    assert_eq!(tail[1200].subject, "bulk-0000");
    assert_eq!(tail[1201].seq, audit_before, "continues the chain");
    for pair in tail.windows(2) {
        assert_eq!(pair[0].prev_hash, pair[1].hash, "record {}", pair[0].seq);
    }
    assert!(matches!(
        store.verify_audit().await.unwrap(),
        ChainCheck::Intact { .. }
    ));
}

async fn findings_and_evidence_of_many_hosts_skip_hosts_without_them(backend: Backend) {
    let (_dir, store) = store_with_host(backend).await;
    let findings = store.findings_of(&["h1", "ghost"]).await.unwrap();
    assert!(findings.is_empty(), "never ranked");
    let snapshot = FindingsSnapshot {
        host_id: "h1",
        inventory_collected_at: at("2026-11-01T00:00:00Z"),
        computed_at: at("2026-11-01T00:01:00Z"),
        source: "test",
        findings_json: "[]",
        tier_counts_json: "[0,0,0,0,0]",
        current: &[],
        backported: &[],
    };
    store.record_findings(&snapshot).await.unwrap();
    let findings = store.findings_of(&["h1", "ghost"]).await.unwrap();
    assert_eq!(findings.keys().collect::<Vec<_>>(), ["h1"]);
    assert_eq!(findings["h1"].hostname, "web-1");
    assert_eq!(findings["h1"].computed_at, at("2026-11-01T00:01:00Z"));
    let evidence = store
        .evidence_for_many(&[("h1", "libssl3=1.0-2"), ("ghost", "x=1")])
        .await
        .unwrap();
    assert!(evidence.is_empty());
}

async fn a_command_is_finished_once_and_only_into_a_finished_state(backend: Backend) {
    let (_dir, store) = store_with_host(backend).await;
    let command = NewCommand {
        id: "c1",
        host_id: "h1",
        kind: "refresh_inventory",
        payload_json: r#"{"type":"refresh_inventory"}"#,
    };
    store.create_commands(&[command], "alice").await.unwrap();
    assert_eq!(
        store.command("c1").await.unwrap().unwrap().state,
        CommandState::Queued
    );
    let taken = store.take_open_commands("h1").await.unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(
        store.command("c1").await.unwrap().unwrap().state,
        CommandState::Delivered
    );
    let back = store
        .finish_command(
            "h1",
            "c1",
            CommandState::Queued,
            "x",
            at("2026-12-01T00:00:00Z"),
        )
        .await;
    assert!(back.is_err(), "a result cannot reopen a command");
    let outcome = store
        .finish_command(
            "h1",
            "c1",
            CommandState::Refused,
            "read-only",
            at("2026-12-01T00:00:00Z"),
        )
        .await
        .unwrap();
    assert_eq!(outcome, FinishOutcome::Recorded);
    let again = store
        .finish_command(
            "h1",
            "c1",
            CommandState::Succeeded,
            "x",
            at("2026-12-01T00:00:00Z"),
        )
        .await
        .unwrap();
    assert_eq!(
        again,
        FinishOutcome::AlreadyFinished {
            state: CommandState::Refused
        }
    );
    for state in [
        CommandState::Queued,
        CommandState::Delivered,
        CommandState::Succeeded,
        CommandState::Failed,
        CommandState::Refused,
    ] {
        assert_eq!(CommandState::parse(state.as_str()).unwrap(), state);
    }
    assert!(CommandState::parse("done").is_err());
}

async fn open_commands_are_read_without_a_mark_and_marked_delivered_by_id(backend: Backend) {
    let (_dir, store) = store_with_host(backend).await;
    let ids: Vec<String> = (0..300).map(|i| format!("c{i:03}")).collect();
    let commands: Vec<NewCommand<'_>> = (ids.iter())
        .map(|id| NewCommand {
            id,
            host_id: "h1",
            kind: "refresh_inventory",
            payload_json: r#"{"type":"refresh_inventory"}"#,
        })
        .collect();
    store.create_commands(&commands, "alice").await.unwrap();
    let read = store.open_commands("h1").await.unwrap();
    assert_eq!(read.len(), 300);
    assert!(
        read.iter().all(|c| c.state == CommandState::Queued),
        "a read marks nothing"
    );
    // One of them finished meanwhile, and one more queued after the read.
    let finished = store
        .finish_command(
            "h1",
            "c007",
            CommandState::Succeeded,
            "ok",
            at("2026-12-01T00:00:00Z"),
        )
        .await
        .unwrap();
    assert_eq!(finished, FinishOutcome::Recorded);
    let late = NewCommand {
        id: "late",
        host_id: "h1",
        kind: "refresh_inventory",
        payload_json: r#"{"type":"refresh_inventory"}"#,
    };
    store.create_commands(&[late], "alice").await.unwrap();
    let handed: Vec<&str> = read.iter().map(|c| c.id.as_str()).collect();
    store
        .mark_delivered(&handed, at("2026-12-01T00:00:01Z"))
        .await
        .unwrap();
    let state = |id: String| {
        let store = store.clone();
        async move { store.command(&id).await.unwrap().unwrap().state }
    };
    assert_eq!(state("c007".into()).await, CommandState::Succeeded);
    assert_eq!(
        state("late".into()).await,
        CommandState::Queued,
        "not handed out"
    );
    for id in ["c000", "c127", "c128", "c255", "c299"] {
        assert_eq!(state(id.into()).await, CommandState::Delivered, "{id}");
    }
    let open = store.open_commands("h1").await.unwrap();
    assert_eq!(open.len(), 300, "299 delivered and the late one");
    assert_eq!(
        open.iter()
            .filter(|c| c.state == CommandState::Delivered)
            .count(),
        299
    );
}

async fn a_result_and_its_report_are_kept_in_one_write_for_the_hosts_own_command(backend: Backend) {
    let (_dir, store) = store_with_host(backend).await;
    let ids = ["c1", "c2", "c3"];
    let commands: Vec<NewCommand<'_>> = (ids.iter())
        .map(|id| NewCommand {
            id,
            host_id: "h1",
            kind: "apply_change",
            payload_json: r#"{"type":"refresh_inventory"}"#,
        })
        .collect();
    store.create_commands(&commands, "alice").await.unwrap();
    let done = |message| (CommandState::Succeeded, message, at("2026-12-01T00:00:00Z"));
    // Another host's result for it: nothing kept.
    let other = store
        .finish_command_with_report("h2", "c1", done("x"), Some("{\"a\":1}"))
        .await
        .unwrap();
    assert_eq!(other, FinishOutcome::NotFound);
    assert_eq!(store.change_report("c1").await.unwrap(), None);
    assert_eq!(
        store.command("c1").await.unwrap().unwrap().state,
        CommandState::Queued
    );
    // Its own: the result and the report together; a second report changes nothing.
    let first = store
        .finish_command_with_report("h1", "c1", done("ok"), Some("{\"a\":1}"))
        .await
        .unwrap();
    assert_eq!(first, FinishOutcome::Recorded);
    assert_eq!(
        store.command("c1").await.unwrap().unwrap().state,
        CommandState::Succeeded
    );
    let again = store
        .finish_command_with_report("h1", "c1", done("again"), Some("{\"b\":2}"))
        .await
        .unwrap();
    assert!(
        matches!(again, FinishOutcome::AlreadyFinished { .. }),
        "{again:?}"
    );
    assert_eq!(
        store.change_report("c1").await.unwrap().as_deref(),
        Some("{\"a\":1}")
    );
    // Without a report; and a report arriving after a result without one is kept.
    let (state, message, finished) = done("ok");
    let plain = store
        .finish_command("h1", "c2", state, message, finished)
        .await;
    assert_eq!(plain.unwrap(), FinishOutcome::Recorded);
    assert_eq!(store.change_report("c2").await.unwrap(), None);
    store
        .finish_command_with_report("h1", "c3", done("ok"), None)
        .await
        .unwrap();
    let late = store
        .finish_command_with_report("h1", "c3", done("late"), Some("{\"c\":3}"))
        .await
        .unwrap();
    assert!(
        matches!(late, FinishOutcome::AlreadyFinished { .. }),
        "{late:?}"
    );
    assert_eq!(
        store.change_report("c3").await.unwrap().as_deref(),
        Some("{\"c\":3}")
    );
}

on_both_backends!(
    a_result_and_its_report_are_kept_in_one_write_for_the_hosts_own_command,
    open_commands_are_read_without_a_mark_and_marked_delivered_by_id,
    all_pending_updates_groups_rows_by_host_and_leaves_out_hosts_that_did_not_report,
    commands_are_queued_together_or_not_at_all_and_open_ones_are_listed_by_kind,
    a_plan_sized_batch_is_inserted_in_several_statements_and_chained_record_by_record,
    findings_and_evidence_of_many_hosts_skip_hosts_without_them,
    a_command_is_finished_once_and_only_into_a_finished_state,
);
