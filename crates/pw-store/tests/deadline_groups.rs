//! Migration 0041 (the open findings' deadline index replaced by `open_tier_hosts` kept per
//! host, tier and deadline) on SQLite and PostgreSQL: a database written at 0040 gets its groups
//! from its open findings (deadlines a nanosecond apart, equal deadlines of two tiers, no
//! deadline), the index is gone, the tier gauges and the deadline check answer as the open
//! findings say, and the write path keeps the groups as a host's findings change.

use pw_model::{Finding, Tier};
use pw_store::{Backend, CurrentFinding, DatabaseUrl, DeadlineNotice, Store};

#[macro_use]
mod common;

use common::at;
use common::findings::model_finding;

const D: [&str; 3] = [
    "2026-02-01T00:00:00Z",
    "2026-02-01T00:00:00.000000001Z",
    "2026-03-01T12:00:00.5Z",
];

fn finding(k: usize, tier: Tier, deadline: Option<&str>) -> Finding {
    Finding {
        tier,
        deadline: deadline.map(at),
        ..model_finding(k)
    }
}

/// Open findings at 0040: (host 1 or 2, key, finding).
fn opens() -> Vec<(i64, usize, Finding)> {
    vec![
        (1, 0, finding(0, Tier::T1, Some(D[0]))),
        (1, 1, finding(1, Tier::T1, Some(D[0]))),
        (1, 2, finding(2, Tier::T2, Some(D[0]))),
        (1, 3, finding(3, Tier::T1, Some(D[1]))),
        (1, 4, finding(4, Tier::T4, None)),
        (2, 0, finding(0, Tier::T1, Some(D[1]))),
        (2, 5, finding(5, Tier::T3, Some(D[2]))),
    ]
}

fn nanos(text: &str) -> i64 {
    i64::try_from(at(text).as_nanosecond()).unwrap()
}

async fn database_at_0040(backend: Backend) -> (Option<tempfile::TempDir>, DatabaseUrl) {
    let (dir, url, pool) = common::unmigrated_database(backend).await;
    common::migrate_up_to(backend, &pool, 40).await;
    common::insert_finding_hosts(&pool, 2, "2026-01-20T00:00:00Z").await;
    let mut keys = Vec::new();
    for k in 0..6 {
        let f = finding(k, Tier::T1, None);
        keys.push(common::insert_finding_key(&pool, &f).await);
    }
    let mut texts = std::collections::HashMap::new();
    for (host, k, f) in opens() {
        let text = match texts.get(&common::finding_text(&f)) {
            Some(id) => *id,
            None => common::insert_finding_text_0039(&pool, &f).await,
        };
        texts.insert(common::finding_text(&f), text);
        let open = (host, keys[k], "2026-01-02T00:00:00Z");
        common::insert_open_finding(&pool, open, &f, text).await;
    }
    // The tier counts as the write path kept them at 0036–0040.
    sqlx::query(
        "INSERT INTO open_tier_hosts (host_id, tier, findings)
         SELECT host_id, tier, COUNT(*) FROM open_findings_named GROUP BY host_id, tier",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    (dir, url)
}

async fn groups(store: &Store) -> Vec<(String, i64, Option<i64>, i64)> {
    let rows = sqlx::query(
        "SELECT host_id, tier, deadline, findings FROM open_tier_hosts
         ORDER BY host_id, tier, deadline",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    use sqlx::Row;
    rows.iter()
        .map(|r| {
            let t = |c: &str| r.get::<i64, _>(c);
            (
                r.get("host_id"),
                t("tier"),
                r.get("deadline"),
                t("findings"),
            )
        })
        .collect()
}

async fn migration_0041_groups_the_deadlines(backend: Backend) {
    let (_guard, url) = database_at_0040(backend).await;
    let store = Store::connect(&url).await.unwrap();
    let h = |s: &str| s.to_owned();
    let d = |i: usize| Some(nanos(D[i]));
    assert_eq!(
        groups(&store).await,
        [
            (h("h1"), 1, d(0), 2),
            (h("h1"), 1, d(1), 1),
            (h("h1"), 2, d(0), 1),
            (h("h1"), 4, None, 1),
            (h("h2"), 1, d(1), 1),
            (h("h2"), 3, d(2), 1),
        ]
    );
    let index: i64 = sqlx::query_scalar(match backend {
        Backend::Sqlite => {
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'open_findings_deadline'"
        }
        Backend::Postgres => {
            "SELECT COUNT(*) FROM pg_indexes WHERE indexname = 'open_findings_deadline'"
        }
    })
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(index, 0, "the deadline index is gone");

    // At D[0] exactly nothing is overdue; a nanosecond later the three findings due at D[0].
    let counts = store.open_tier_counts(at(D[0])).await.unwrap();
    assert_eq!(counts, [(0, 0), (4, 0), (1, 0), (1, 0), (1, 0)]);
    let counts = store.open_tier_counts(at(D[1])).await.unwrap();
    assert_eq!(counts, [(0, 0), (4, 2), (1, 1), (1, 0), (1, 0)]);

    let due = |after: Option<usize>, before: usize, limit: u32| {
        let store = &store;
        async move {
            let due = store
                .deadlines_due(
                    DeadlineNotice::Near,
                    after.map(|i| at(D[i])),
                    at(D[before]),
                    limit,
                )
                .await
                .unwrap();
            due.into_iter()
                .map(|d| (d.host_id, d.binary, d.deadline.to_string()))
                .collect::<Vec<_>>()
        }
    };
    let all = [
        (h("h1"), h("lib0"), h(D[0])),
        (h("h1"), h("lib1"), h(D[0])),
        (h("h1"), h("lib2"), h(D[0])),
        (h("h1"), h("lib3"), h(D[1])),
        (h("h2"), h("lib0"), h(D[1])),
        (h("h2"), h("lib5"), h(D[2])),
    ];
    assert_eq!(due(None, 2, 10).await, all);
    assert_eq!(due(None, 2, 4).await, all[..4]);
    assert_eq!(due(Some(0), 1, 10).await, all[3..5]);
    // Marked ones are left out.
    let first = store
        .deadlines_due(DeadlineNotice::Near, None, at(D[0]), 2)
        .await
        .unwrap();
    (store.mark_deadline_notices(DeadlineNotice::Near, &first, at(D[0])))
        .await
        .unwrap();
    assert_eq!(due(None, 2, 10).await, all[2..]);

    // The write path keeps the groups: h2's finding due at D[1] fixed, a new one due at D[0].
    let current: Vec<CurrentFinding> = [
        finding(5, Tier::T3, Some(D[2])),
        finding(1, Tier::T2, Some(D[0])),
    ]
    .iter()
    .map(|f| CurrentFinding::of(f).unwrap())
    .collect();
    common::record_at(&store, "h2", "2026-02-01T00:00:00Z", &current).await;
    let h2: Vec<_> = (groups(&store).await.into_iter())
        .filter(|g| g.0 == "h2")
        .collect();
    assert_eq!(h2, [(h("h2"), 2, d(0), 1), (h("h2"), 3, d(2), 1)]);
}

on_both_backends!(migration_0041_groups_the_deadlines);
