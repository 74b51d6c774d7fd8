//! An approved plan through the live calendar, time driven by an injected clock (no sleeping):
//! built from the hosts' stored offers for a group, refused to its author, approved by a
//! second operator, then its rollout waits for the window, waits through a blackout, carries
//! over past the window's end to the next night, and its failed host is retried. Real SQLite
//! and the real scheduler pass (`scheduler::tick`); the agents' side is the store calls the
//! agent endpoints make.

mod common;

use common::{Harness, apply_failed};
use pw_controller::{Refusal, plans, rollout_ops};
use pw_protocol::{ApprovePlan, CreatePlan, SubmitPlan, UpdateKind, UpdateSelector};
use pw_store::{CommandState, InventoryFacts, InventoryRow, PendingRow};

/// Group `web`: a nightly 01:00–02:00 UTC window; canary of one host, then one host at a time.
const FLEET: &str = r#"
[rollout]
canary_percent = 1
max_in_flight = 1
verification = "5m"

[groups.web]
environment = "test"
owners = ["web-team@example.com"]
windows = [{ name = "nightly", rrule = "FREQ=DAILY;BYHOUR=1;BYMINUTE=0", dtstart = "2026-12-01T01:00:00", tz = "UTC", duration = "1h" }]
[groups.web.members]
hostnames = ["web-*"]
"#;

/// The blackout an operator adds after the plan was approved: 4 December.
const BLACKOUT: &str = r#"blackouts = [{ name = "freeze", start = "2026-12-04T00:00:00Z", end = "2026-12-05T00:00:00Z", reason = "year-end release" }]
[groups.web.members]"#;

/// The host's agent reported pw-demo 1.0-1 installed and 1.0-2 offered from the security suite.
async fn report_offer(h: &Harness, id: &str, name: &str) {
    let inventory = InventoryRow {
        facts: InventoryFacts {
            collected_at: h.controller.now(),
            os: "debian:12".into(),
            reboot_required: false,
            reboot_required_by: "[]".into(),
            restart: None,
        },
        packages: vec![pw_model::InstalledPackage {
            name: "pw-demo".into(),
            version: "1.0-1".into(),
            arch: "all".into(),
            source: None,
            source_version: None,
        }],
        backport_history: None,
    };
    let offer = PendingRow {
        package: "pw-demo".into(),
        arch: "all".into(),
        from_version: "1.0-1".into(),
        to_version: "1.0-2".into(),
        origin: "Debian".into(),
        suite: "bookworm-security".into(),
        cves: None,
    };
    h.store()
        .store_inventory(id, name, inventory, Some(&[offer]))
        .await
        .unwrap();
}

/// The agents answer the plan's read-only evidence requests without evidence (the plan keeps
/// what it has); returns how many there were.
async fn answer_evidence_requests(h: &Harness, hosts: &[String]) -> usize {
    let mut answered = 0;
    for host in hosts {
        for command in h.store().take_open_commands(host).await.unwrap() {
            assert_eq!(command.kind, "collect_evidence");
            h.store()
                .finish_command(
                    host,
                    &command.id,
                    CommandState::Failed,
                    "no evidence",
                    h.controller.now(),
                )
                .await
                .unwrap();
            answered += 1;
        }
    }
    answered
}

#[tokio::test]
async fn an_approved_plan_waits_for_its_window_through_a_blackout_carries_over_and_retries() {
    let h = Harness::start("2026-12-03T12:00:00Z").await;
    h.apply_fleet(FLEET).await;
    let hosts = h.enroll(&["web-1", "web-2", "web-3"]).await;
    for (id, name) in hosts.iter().zip(["web-1", "web-2", "web-3"]) {
        report_offer(&h, id, name).await;
    }
    let request = CreatePlan {
        name: "December security".into(),
        hosts: Vec::new(),
        group: Some("web".into()),
        updates: UpdateSelector::Kind(UpdateKind::Security),
        horizon_days: Some(14),
        hooks: None,
    };
    let plan = plans::create(&h.controller, "alice", &request)
        .await
        .unwrap();
    assert_eq!(plan.hosts.len(), 3);
    assert_eq!(answer_evidence_requests(&h, &hosts).await, 3);
    let plan = plans::submit(&h.controller, "alice", plan.id, &SubmitPlan::default())
        .await
        .unwrap();
    let own = plans::approve(&h.controller, "alice", plan.id, &ApprovePlan::default()).await;
    assert!(matches!(own, Err(Refusal::FourEyes(_))), "{own:?}");
    let approved = plans::approve(&h.controller, "bob", plan.id, &ApprovePlan::default())
        .await
        .unwrap();
    assert_eq!(approved.state, "scheduled", "{approved:?}");
    let id = approved.rollout.clone().expect("the plan's rollout");

    // Noon on 3 December: the plan's first batch starts in the night's window slot.
    h.pass().await;
    assert_eq!(h.states(&id).await, ["pending", "pending", "pending"]);
    let detail = h.detail(&id).await;
    assert_eq!(
        detail["waiting"][0]["kind"], "batch_not_started",
        "{detail}"
    );
    assert_eq!(
        detail["waiting"][0]["start"], "2026-12-04T01:00:00Z",
        "{detail}"
    );

    // After approval a blackout covers that night (a new fleet document): the live calendar
    // holds the rollout, naming the blackout, until the next night.
    h.apply_fleet(&FLEET.replace("[groups.web.members]", BLACKOUT))
        .await;
    h.set_now("2026-12-04T01:10:00Z");
    h.pass().await;
    assert_eq!(h.states(&id).await, ["pending", "pending", "pending"]);
    let detail = h.detail(&id).await;
    assert_eq!(detail["waiting"][0]["kind"], "window", "{detail}");
    let wait = &detail["waiting"][0]["wait"];
    assert_eq!(wait["blackout"]["name"], "freeze", "{detail}");
    assert_eq!(wait["next"]["start"], "2026-12-05T01:00:00Z", "{detail}");

    // The night of the 5th: the canary, then the next host; the third does not fit the rest
    // of the window with its rollback buffer and carries over to the next night.
    h.set_now("2026-12-05T01:00:00Z");
    h.pass().await;
    assert_eq!(h.states(&id).await, ["claimed", "pending", "pending"]);
    h.answer_all_done().await;
    h.set_now("2026-12-05T01:10:00Z");
    h.pass().await;
    assert_eq!(h.states(&id).await, ["done", "claimed", "pending"]);
    h.answer_all_done().await;
    h.set_now("2026-12-05T01:41:00Z");
    h.pass().await;
    assert_eq!(h.states(&id).await, ["done", "done", "pending"]);
    let detail = h.detail(&id).await;
    assert_eq!(
        detail["waiting"][0]["wait"]["kind"], "too_short",
        "{detail}"
    );
    assert_eq!(
        detail["waiting"][0]["wait"]["next"]["start"],
        "2026-12-06T01:00:00Z"
    );
    assert_eq!(detail["status"]["status"], "running");

    // The next night it goes, and fails (rolled back): the failure budget stops the rollout.
    h.set_now("2026-12-06T01:00:00Z");
    h.pass().await;
    assert_eq!(h.states(&id).await, ["done", "done", "claimed"]);
    h.answer_all("failed", apply_failed()).await;
    h.pass().await;
    assert_eq!(h.states(&id).await, ["done", "done", "rolled_back"]);
    assert_eq!(h.status(&id).await, "stopped");

    // The failed host is retried by an operator: a new rollout of the same plan, in the window.
    let retry = rollout_ops::retry_failed(&h.controller, "bob", &id)
        .await
        .unwrap();
    assert_eq!(retry.detail["retry_of"], id.as_str());
    assert_eq!(retry.plan.as_ref().map(|p| p.id), Some(approved.id));
    h.set_now("2026-12-07T01:00:00Z");
    h.pass().await;
    assert_eq!(h.states(&retry.id).await, ["claimed"]);
    h.answer_all_done().await;
    h.pass().await;
    assert_eq!(h.status(&retry.id).await, "completed");
}
