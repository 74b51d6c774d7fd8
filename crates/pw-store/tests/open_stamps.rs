//! Migration 0045 (an open finding's first sight and deadline stored once per host in
//! `open_stamps`, the episodes in `open_episodes`, `open_findings` a view) on SQLite and
//! PostgreSQL: a database written at 0044 reads back every open finding as it was (first sights
//! a nanosecond apart, equal deadlines first seen apart, no deadline), each host has one stamp
//! per distinct pair, and the write path keeps the stamps as findings open, change deadline and
//! close, the closed episodes keeping their first sight and deadline.

use pw_model::{Finding, Tier};
use pw_store::{Backend, CurrentFinding, DatabaseUrl, Store};
use sqlx::Row;

#[macro_use]
mod common;

use common::at;
use common::findings::model_finding;

const SEEN: [&str; 2] = ["2026-01-02T00:00:00Z", "2026-01-02T00:00:00.000000001Z"];
const DUE: [&str; 2] = ["2026-02-01T00:00:00Z", "2026-03-01T00:00:00.5Z"];

fn finding(k: usize, tier: Tier, deadline: Option<&str>) -> Finding {
    Finding {
        tier,
        deadline: deadline.map(at),
        ..model_finding(k)
    }
}

/// Open findings at 0044: (host 1 or 2, key, first seen, finding).
fn opens() -> Vec<(i64, usize, &'static str, Finding)> {
    vec![
        (1, 0, SEEN[0], finding(0, Tier::T1, Some(DUE[0]))),
        (1, 1, SEEN[0], finding(1, Tier::T1, Some(DUE[0]))),
        (1, 2, SEEN[1], finding(2, Tier::T1, Some(DUE[0]))),
        (1, 3, SEEN[0], finding(3, Tier::T2, Some(DUE[1]))),
        (1, 4, SEEN[0], finding(4, Tier::T4, None)),
        (2, 0, SEEN[1], finding(0, Tier::T4, None)),
        (2, 5, SEEN[1], finding(5, Tier::T4, None)),
    ]
}

async fn database_at_0044(backend: Backend) -> (Option<tempfile::TempDir>, DatabaseUrl) {
    let (dir, url, pool) = common::unmigrated_database(backend).await;
    common::migrate_up_to(backend, &pool, 44).await;
    common::insert_finding_hosts(&pool, 2, "2026-01-20T00:00:00Z").await;
    let mut keys = Vec::new();
    for k in 0..6 {
        keys.push(common::insert_finding_key(&pool, &finding(k, Tier::T1, None)).await);
    }
    sqlx::query("INSERT INTO update_keys (id, package, fixed) VALUES (1, 'src0', '1.0-2')")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO update_keys (id, package, fixed) VALUES (2, 'src1', '1.0-2')")
        .execute(&pool)
        .await
        .unwrap();
    for (host, k, seen, f) in opens() {
        let text = common::insert_finding_text_0044(&pool, &f, 1 + (k as i64 % 2)).await;
        common::insert_open_finding(&pool, (host, keys[k], seen), &f, text).await;
    }
    pool.close().await;
    (dir, url)
}

fn nanos(text: &str) -> i64 {
    i64::try_from(at(text).as_nanosecond()).unwrap()
}

/// The open set as its readers see it: (host key, binary, episode, first seen, tier, deadline).
async fn open_set(store: &Store) -> Vec<(i64, String, i64, i64, i64, Option<i64>)> {
    let rows = sqlx::query(
        "SELECT host_key, binary_name, episode, first_seen, tier, deadline
         FROM open_findings_named ORDER BY host_key, binary_name",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    (rows.iter())
        .map(|r| {
            let n = |c: &str| r.get::<i64, _>(c);
            let binary = r.get("binary_name");
            let deadline = r.get("deadline");
            (
                n("host_key"),
                binary,
                n("episode"),
                n("first_seen"),
                n("tier"),
                deadline,
            )
        })
        .collect()
}

/// Every host's stamps: (host key, first seen, deadline, tier), in order (since 0053 a stamp
/// also holds the tier and the episode, here always the first).
async fn stamps(store: &Store) -> Vec<(i64, i64, Option<i64>, i64)> {
    let sql = "SELECT host_key, first_seen, deadline, tier FROM open_stamps";
    let rows = sqlx::query(sql).fetch_all(store.pool()).await.unwrap();
    let mut stamps: Vec<_> = (rows.iter())
        .map(|r| {
            let (host, seen, deadline) =
                (r.get("host_key"), r.get("first_seen"), r.get("deadline"));
            (host, seen, deadline, r.get("tier"))
        })
        .collect();
    stamps.sort();
    stamps
}

async fn migration_0045_stores_each_pair_once(backend: Backend) {
    let (_guard, url) = database_at_0044(backend).await;
    let store = Store::connect(&url).await.unwrap();
    let (s0, s1, d0, d1) = (nanos(SEEN[0]), nanos(SEEN[1]), nanos(DUE[0]), nanos(DUE[1]));
    let b = |k: usize| format!("lib{k}");
    assert_eq!(
        open_set(&store).await,
        [
            (1, b(0), 1, s0, 1, Some(d0)),
            (1, b(1), 1, s0, 1, Some(d0)),
            (1, b(2), 1, s1, 1, Some(d0)),
            (1, b(3), 1, s0, 2, Some(d1)),
            (1, b(4), 1, s0, 4, None),
            (2, b(0), 1, s1, 4, None),
            (2, b(5), 1, s1, 4, None),
        ]
    );
    assert_eq!(
        stamps(&store).await,
        [
            (1, s0, None, 4),
            (1, s0, Some(d0), 1),
            (1, s0, Some(d1), 2),
            (1, s1, Some(d0), 1),
            (2, s1, None, 4),
        ]
    );
    let sights = store.first_sights("h1").await.unwrap();
    assert_eq!(
        sights.get("lib2", "DEBIAN-CVE-2025-00002"),
        Some(at(SEEN[1]))
    );
    assert_eq!(sights.len(), 5);
    let (stored, grouped) = common::summary_rows(store.pool()).await;
    assert_eq!(stored.len(), 0, "no summary was written at 0044");
    assert_eq!(grouped.len(), 4);

    // h1 computed again: lib0 kept, lib1 re-dated (a new pair), lib2 and lib4 gone, lib3 kept,
    // lib5 new (first seen now, a new pair).
    let now = "2026-02-10T00:00:00Z";
    let current: Vec<CurrentFinding> = [
        finding(0, Tier::T1, Some(DUE[0])),
        finding(1, Tier::T1, Some(DUE[1])),
        finding(3, Tier::T2, Some(DUE[1])),
        finding(5, Tier::T3, Some(DUE[1])),
    ]
    .iter()
    .map(|f| CurrentFinding::of(f).unwrap())
    .collect();
    common::record_at(&store, "h1", now, &current).await;
    let n = nanos(now);
    let h1: Vec<_> = (open_set(&store).await.into_iter())
        .filter(|o| o.0 == 1)
        .collect();
    assert_eq!(
        h1,
        [
            (1, b(0), 1, s0, 1, Some(d0)),
            (1, b(1), 1, s0, 1, Some(d1)),
            (1, b(3), 1, s0, 2, Some(d1)),
            (1, b(5), 1, n, 3, Some(d1)),
        ]
    );
    assert_eq!(
        stamps(&store).await,
        [
            (1, s0, Some(d0), 1),
            (1, s0, Some(d1), 1),
            (1, s0, Some(d1), 2),
            (1, n, Some(d1), 3),
            (2, s1, None, 4),
        ],
        "the stamps no open finding has are gone"
    );
    let history = store.finding_history("h1").await.unwrap();
    let closed: Vec<_> = (history.iter())
        .filter(|h| h.fixed_at.is_some())
        .map(|h| (h.binary.as_str(), h.first_seen, h.deadline))
        .collect();
    assert_eq!(
        closed,
        [
            ("lib2", at(SEEN[1]), Some(at(DUE[0]))),
            ("lib4", at(SEEN[0]), None)
        ]
    );
    // The tier gauges (h1's groups, written from the open set): lib0 overdue at DUE[1].
    let counts = store.open_tier_counts(at(DUE[1])).await.unwrap();
    assert_eq!(counts, [(0, 0), (2, 1), (1, 0), (1, 0), (0, 0)]);
    let (stored, grouped) = common::summary_rows(store.pool()).await;
    let h1_grouped: Vec<&String> = grouped.iter().filter(|r| r.starts_with("h1 ")).collect();
    assert_eq!(stored.iter().collect::<Vec<_>>(), h1_grouped);
}

on_both_backends!(migration_0045_stores_each_pair_once);
