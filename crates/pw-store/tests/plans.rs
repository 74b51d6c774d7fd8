//! Stored change plans on SQLite and PostgreSQL: save/load/list, the approval workflow through the
//! pure transition, the version guard (a stale writer is refused and nothing changes), the
//! history in order with the audit chain, revisions, and databases created before 0002 existed.

use jiff::{SignedDuration, Timestamp};
use pw_planner::{ApprovalEvent, ApprovalState, Host, PlanInput, Policy, Scope, WindowSlot};
use pw_store::{Backend, ChainCheck, PlanRefusal, Store};

#[macro_use]
mod common;

const POLICY: &str = r#"
[groups.web]
environment = "production"
owners = ["web-team@example.com"]
windows = [{ name = "nightly", rrule = "FREQ=DAILY;BYHOUR=1", dtstart = "2026-11-01T01:00:00", tz = "UTC", duration = "4h" }]

[groups.lab]
environment = "lab"
owners = ["lab@example.com"]
windows = [{ name = "nightly", rrule = "FREQ=DAILY;BYHOUR=1", dtstart = "2026-11-01T01:00:00", tz = "UTC", duration = "4h" }]
"#;

fn t(text: &str) -> Timestamp {
    text.parse().unwrap()
}

/// A plan of one host in `group`, built by the real planner.
fn plan(author: &str, group: &str, version: &str) -> pw_planner::Plan {
    let policy = Policy::from_toml_str(POLICY).unwrap();
    let from = t("2026-11-23T00:00:00Z");
    let slots: Vec<WindowSlot> = (0..7)
        .map(|day| {
            let start = from + SignedDuration::from_hours(24 * day + 1);
            WindowSlot {
                start,
                end: start + SignedDuration::from_hours(4),
                window: "nightly".into(),
            }
        })
        .collect();
    let input = PlanInput {
        plan_id: format!("plan-{group}"),
        author: author.into(),
        hosts: vec![Host {
            id: format!("{group}-01"),
            hostname: format!("{group}-01.example.net"),
            group: group.into(),
            environment: None,
            labels: Default::default(),
            os: "debian:12".into(),
            findings: Vec::new(),
            targets: [("libssl3".to_owned(), version.to_owned())].into(),
            installed: Default::default(),
        }],
        group_evidence: Default::default(),
        host_evidence: Default::default(),
        staging: Vec::new(),
        slots: [(group.to_owned(), slots)].into(),
        scope: Scope::default(),
        from,
        until: from + SignedDuration::from_hours(24 * 7),
    };
    pw_planner::build_plan(&input, &policy, from)
}

fn refusal(error: &anyhow::Error) -> &PlanRefusal {
    error
        .downcast_ref::<PlanRefusal>()
        .unwrap_or_else(|| panic!("not a PlanRefusal: {error:#}"))
}

const NOW: &str = "2026-11-23T10:00:00Z";

fn submitted(by: &str) -> ApprovalEvent {
    ApprovalEvent::Submitted {
        by: by.into(),
        review_deadline: t("2026-11-30T00:00:00Z"),
    }
}

fn approved(by: &str, plan: &pw_store::StoredPlan) -> ApprovalEvent {
    ApprovalEvent::Approved {
        by: by.into(),
        gates: plan.gates.clone(),
        valid_until: t("2026-12-07T00:00:00Z"),
        risk_acceptance: None,
    }
}

async fn saves_loads_and_lists_plans_as_drafts(backend: Backend) {
    let (_dir, store) = common::fresh_store(backend).await;
    let web = plan("alice", "web", "3.0.22-1~deb12u2");
    let saved = store.save_plan(&web, "# web\n", t(NOW)).await.unwrap();
    assert_eq!(saved.id, 1);
    assert_eq!(saved.version, 1);
    assert_eq!(saved.name, "plan-web");
    assert_eq!(saved.author, "alice");
    assert_eq!(saved.approval, ApprovalState::draft("alice"));
    assert_eq!(saved.environments, ["production"]);
    assert!(saved.production && saved.gates.production);
    assert_eq!(saved.markdown, "# web\n");
    assert_eq!(saved.plan["hosts"][0]["id"], "web-01");
    assert_eq!(saved.created_at, t(NOW));

    let lab = plan("bob", "lab", "3.0.22-1~deb12u2");
    let second = store.save_plan(&lab, "# lab\n", t(NOW)).await.unwrap();
    assert_eq!(second.id, 2);
    assert!(!second.production);
    assert_eq!(store.plan(1).await.unwrap(), saved);

    let list = store.plans().await.unwrap();
    let rows: Vec<(i64, &str, &str, &str)> = list
        .iter()
        .map(|p| {
            (
                p.id,
                p.author.as_str(),
                p.state.as_str(),
                p.environments[0].as_str(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (2, "bob", "draft", "lab"),
            (1, "alice", "draft", "production")
        ]
    );

    let missing = store.plan(9).await.unwrap_err();
    assert_eq!(refusal(&missing), &PlanRefusal::NotFound { id: 9 });
    assert_eq!(missing.to_string(), "there is no plan 9");
    assert!(store.plan_events(9).await.is_err());
}

async fn workflow_to_scheduled_with_history_in_order_and_audited(backend: Backend) {
    let (_dir, store) = common::fresh_store(backend).await;
    let now = t(NOW);
    let saved = store
        .save_plan(&plan("alice", "web", "3.0.22-1~deb12u2"), "# web\n", now)
        .await
        .unwrap();
    let p = store
        .apply_plan_event(1, 1, "alice", &submitted("alice"), None, now)
        .await
        .unwrap();
    assert_eq!((p.approval.name(), p.version), ("in_review", 2));

    // Four eyes: the author of a production plan cannot approve it; nothing changes.
    let error = store
        .apply_plan_event(1, 2, "alice", &approved("alice", &saved), None, now)
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "four-eyes: alice authored plan 1 and cannot approve it (a production plan needs a second person)"
    );
    assert_eq!(store.plan(1).await.unwrap(), p);

    let p = store
        .apply_plan_event(
            1,
            2,
            "bob",
            &approved("bob", &saved),
            Some("looks fine"),
            now,
        )
        .await
        .unwrap();
    assert_eq!((p.approval.name(), p.version), ("approved", 3));
    let start = t("2026-11-24T01:00:00Z");
    let p = store
        .apply_plan_event(
            1,
            3,
            "carol",
            &ApprovalEvent::Scheduled { start },
            None,
            now,
        )
        .await
        .unwrap();
    assert_eq!(
        p.approval,
        ApprovalState::Scheduled {
            author: "alice".into(),
            approver: "bob".into(),
            start
        }
    );

    let events = store.plan_events(1).await.unwrap();
    let history: Vec<String> = events
        .iter()
        .map(|e| {
            format!(
                "{} {} {} {}->{} v{} {}",
                e.seq,
                e.actor,
                e.event,
                e.from_state.as_deref().unwrap_or("-"),
                e.to_state,
                e.version,
                e.comment.as_deref().unwrap_or("-"),
            )
        })
        .collect();
    assert_eq!(
        history,
        [
            "1 alice saved -->draft v1 -",
            "2 alice submitted draft->in_review v2 -",
            "3 bob approved in_review->approved v3 looks fine",
            "4 carol scheduled approved->scheduled v4 -",
        ]
    );

    let audit = store.audit_tail(10).await.unwrap();
    let actions: Vec<(&str, &str)> = audit
        .iter()
        .rev()
        .map(|r| (r.action.as_str(), r.subject.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("plan.saved", "plan:1"),
            ("plan.submitted", "plan:1"),
            ("plan.approved", "plan:1"),
            ("plan.scheduled", "plan:1"),
        ]
    );
    assert_eq!(
        store.verify_audit().await.unwrap(),
        ChainCheck::Intact { records: 4 }
    );

    // A scheduled plan takes no more workflow events.
    let error = store
        .apply_plan_event(1, 4, "bob", &ApprovalEvent::Expired, None, now)
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("plan 1 is scheduled: cannot expire:"),
        "{error}"
    );
}

async fn stale_version_is_refused_and_nothing_changes(backend: Backend) {
    let (_dir, store) = common::fresh_store(backend).await;
    let now = t(NOW);
    let saved = store
        .save_plan(&plan("alice", "web", "3.0.22-1~deb12u2"), "# v1\n", now)
        .await
        .unwrap();
    store
        .apply_plan_event(1, 1, "alice", &submitted("alice"), None, now)
        .await
        .unwrap();
    // Bob reviews version 2; dave rejects it, alice reopens, revises and resubmits.
    let declined = ApprovalEvent::Declined {
        by: "dave".into(),
        reason: "wrong window".into(),
    };
    store
        .apply_plan_event(1, 2, "dave", &declined, Some("wrong window"), now)
        .await
        .unwrap();
    let reopened = ApprovalEvent::Reopened { by: "alice".into() };
    store
        .apply_plan_event(1, 3, "alice", &reopened, None, now)
        .await
        .unwrap();
    let revised = plan("alice", "web", "3.0.23-1~deb12u1");
    store
        .revise_plan(1, 4, &revised, "# v2\n", now)
        .await
        .unwrap();
    let before = store
        .apply_plan_event(1, 5, "alice", &submitted("alice"), None, now)
        .await
        .unwrap();
    assert_eq!((before.approval.name(), before.version), ("in_review", 6));
    assert_eq!(before.markdown, "# v2\n");
    let events_before = store.plan_events(1).await.unwrap();
    let audit_before = store.audit_tail(100).await.unwrap();

    // Bob's approval of what he saw (version 2) cannot land on version 6.
    let error = store
        .apply_plan_event(1, 2, "bob", &approved("bob", &saved), None, now)
        .await
        .unwrap_err();
    assert_eq!(
        refusal(&error),
        &PlanRefusal::Stale {
            id: 1,
            expected: 2,
            current: 6,
            last_change: format!("submitted by alice at {NOW}"),
        }
    );
    assert!(
        error
            .to_string()
            .starts_with("stale: plan 1 changed since version 2 was reviewed; it is at version 6"),
        "{error}"
    );
    // A stale revision is refused the same way.
    let error = store
        .revise_plan(1, 5, &revised, "# v3\n", now)
        .await
        .unwrap_err();
    assert!(
        matches!(refusal(&error), PlanRefusal::Stale { .. }),
        "{error}"
    );

    assert_eq!(store.plan(1).await.unwrap(), before);
    assert_eq!(store.plan_events(1).await.unwrap(), events_before);
    assert_eq!(store.audit_tail(100).await.unwrap(), audit_before);

    // The current version goes through.
    let after = store
        .apply_plan_event(1, 6, "bob", &approved("bob", &before), None, now)
        .await
        .unwrap();
    assert_eq!((after.approval.name(), after.version), ("approved", 7));
    assert_eq!(
        after.plan["hosts"][0]["changes"][0]["to"],
        "3.0.23-1~deb12u1"
    );
}

async fn revisions_need_the_author_and_a_plan_out_of_review(backend: Backend) {
    let (_dir, store) = common::fresh_store(backend).await;
    let now = t(NOW);
    store
        .save_plan(&plan("alice", "web", "1"), "# v1\n", now)
        .await
        .unwrap();
    let error = store
        .revise_plan(1, 1, &plan("mallory", "web", "2"), "# x\n", now)
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "plan 1 was authored by alice; mallory cannot revise it"
    );
    store
        .apply_plan_event(1, 1, "alice", &submitted("alice"), None, now)
        .await
        .unwrap();
    let error = store
        .revise_plan(1, 2, &plan("alice", "web", "2"), "# x\n", now)
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("plan 1 is in_review; only a draft"),
        "{error}"
    );
    assert_eq!(store.plan(1).await.unwrap().markdown, "# v1\n");
}

#[tokio::test]
async fn databases_from_before_0002_still_migrate() {
    static ALL: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");
    for applied in [vec![1], vec![1, 3]] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true);
        let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
        let old: Vec<_> = ALL
            .iter()
            .filter(|m| applied.contains(&m.version))
            .cloned()
            .collect();
        assert_eq!(old.len(), applied.len());
        sqlx::migrate::Migrator::with_migrations(old)
            .run(&pool)
            .await
            .unwrap();
        pool.close().await;

        let store = Store::open(&path).await.unwrap();
        let saved = store
            .save_plan(&plan("alice", "web", "1"), "# v1\n", t(NOW))
            .await
            .unwrap();
        assert_eq!(saved.id, 1, "after migrations {applied:?}");
    }
}

on_both_backends!(
    saves_loads_and_lists_plans_as_drafts,
    workflow_to_scheduled_with_history_in_order_and_audited,
    stale_version_is_refused_and_nothing_changes,
    revisions_need_the_author_and_a_plan_out_of_review,
);
