//! Migration 0052 (the open set's and the per-host update summary's integers in 4 bytes on
//! PostgreSQL; nothing to do on SQLite) on both backends: a database written at 0051 keeps
//! every open finding and summary row as it was, the write path keeps them after it, and on
//! PostgreSQL only the instants stay 8 bytes. (The bytes an open episode takes on PostgreSQL
//! are bounded by `stamped_tiers.rs` since 0053.)

use pw_model::{Finding, Tier};
use pw_store::{Backend, CurrentFinding, DatabaseUrl, Store};
use sqlx::Row;

#[macro_use]
mod common;

use common::at;
use common::findings::model_finding;

const SEEN: &str = "2026-01-02T00:00:00Z";
const DUE: &str = "2026-02-01T00:00:00Z";

fn finding(k: usize, tier: Tier) -> Finding {
    Finding {
        tier,
        deadline: (tier != Tier::T4).then(|| at(DUE)),
        epss: (k == 1).then_some(0.25),
        kev: k == 2,
        ..model_finding(k)
    }
}

fn nanos(text: &str) -> i64 {
    i64::try_from(at(text).as_nanosecond()).unwrap()
}

/// The open episodes at 0051: (host key, finding number, episode, tier).
const OPEN: [(i64, usize, i64, Tier); 6] = [
    (1, 0, 1, Tier::T1),
    (1, 1, 3, Tier::T2),
    (1, 2, 1, Tier::T1),
    (1, 3, 2, Tier::T4),
    (2, 0, 1, Tier::T1),
    (2, 3, 1, Tier::T4),
];

/// A database at 0051 with hosts h1 and h2, the episodes of [`OPEN`] (each host's first sight
/// and deadlines as stamps) and the update summaries grouped from them, written with SQL; and its
/// rows ([`rows`]).
async fn database_at_0051(
    backend: Backend,
) -> (Option<tempfile::TempDir>, DatabaseUrl, Vec<String>) {
    let (dir, url, pool) = common::unmigrated_database(backend).await;
    common::migrate_up_to(backend, &pool, 51).await;
    common::insert_finding_hosts(&pool, 2, SEEN).await;
    common::open_0052::insert_update_keys(&pool).await;
    for (host, k, episode, tier) in OPEN {
        let f = finding(k, tier);
        let key = common::insert_finding_key_once(&pool, &f).await;
        let text = common::insert_finding_text_0047(&pool, &f, 1 + (k as i64 % 2)).await;
        let stamp = 1 + i64::from(f.deadline.is_none());
        let row = (host, key, episode, stamp, tier.index() as i64, text);
        let instants = (nanos(SEEN), f.deadline.is_some().then(|| nanos(DUE)));
        common::open_0052::insert_episode(&pool, row, instants).await;
    }
    common::insert_update_summaries(&pool).await;
    let before = rows(&pool).await;
    pool.close().await;
    (dir, url, before)
}

/// Every open finding (through the view, as every reader reads it: since 0053 a stamp also
/// holds the tier and episode) and summary row, each as a line of text (integers read as `i64`).
async fn rows(pool: &sqlx::AnyPool) -> Vec<String> {
    let open = "SELECT host_key, key_id, episode, first_seen, tier, deadline, text_id
                FROM open_findings ORDER BY host_key, key_id";
    let summary = "SELECT host_key, update_key, findings, tier, deadline, kev, epss
                   FROM open_update_hosts ORDER BY host_key, update_key";
    let mut lines = Vec::new();
    for sql in [open, summary] {
        for r in sqlx::query(sql).fetch_all(pool).await.unwrap() {
            let values: Vec<String> = (r.columns().iter())
                .map(|c| match sqlx::Column::name(c) {
                    "epss" => format!("{:?}", common::epss(&r)),
                    _ => format!("{:?}", r.get::<Option<i64>, _>(sqlx::Column::ordinal(c))),
                })
                .collect();
            lines.push(values.join(" "));
        }
    }
    lines
}

async fn migration_0052_keeps_the_open_set(backend: Backend) {
    let (_guard, url, before) = database_at_0051(backend).await;
    assert_eq!(before.len(), 6 + 4, "{before:#?}");
    let store = Store::connect(&url).await.unwrap();
    assert_eq!(rows(store.pool()).await, before);
    let (stored, grouped) = common::summary_rows(store.pool()).await;
    assert_eq!(stored, grouped);
    if backend == Backend::Postgres {
        let wide: Vec<String> = sqlx::query_scalar(
            "SELECT table_name::text || '.' || column_name::text FROM information_schema.columns
             WHERE table_name IN ('open_episodes', 'open_stamps', 'open_update_hosts')
               AND data_type = 'bigint' ORDER BY 1",
        )
        .fetch_all(store.pool())
        .await
        .unwrap();
        assert_eq!(
            wide,
            [
                "open_stamps.deadline",
                "open_stamps.first_seen",
                "open_update_hosts.deadline",
                // Four 16-bit counts packed (migration 0055).
                "open_update_hosts.extreme_counts"
            ],
            "only the instants (and 0055's packed counts) are 8 bytes"
        );
    }

    // h1 computed again: lib0 kept, lib1 gone, lib2 to tier 2, lib3 kept, lib4 new.
    let now = "2026-02-10T00:00:00Z";
    let current: Vec<CurrentFinding> = [
        finding(0, Tier::T1),
        finding(2, Tier::T2),
        finding(3, Tier::T4),
        finding(4, Tier::T3),
    ]
    .iter()
    .map(|f| CurrentFinding::of(f).unwrap())
    .collect();
    common::record_at(&store, "h1", now, &current).await;
    let mut open: Vec<(String, String, u32)> = (store.open_episodes(None).await.unwrap())
        .into_iter()
        .map(|e| (e.host_id, e.binary, e.episode))
        .collect();
    open.sort();
    let e = |host: &str, binary: &str, episode| (host.to_owned(), binary.to_owned(), episode);
    assert_eq!(
        open,
        [
            e("h1", "lib0", 1),
            e("h1", "lib2", 1),
            e("h1", "lib3", 2),
            e("h1", "lib4", 1),
            e("h2", "lib0", 1),
            e("h2", "lib3", 1),
        ]
    );
    let tiers: Vec<i64> = sqlx::query_scalar(
        "SELECT tier FROM open_findings_named WHERE host_id = 'h1' ORDER BY binary_name",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert_eq!(tiers, [1, 2, 4, 3]);
    let (stored, grouped) = common::summary_rows(store.pool()).await;
    assert_eq!(stored, grouped);
    assert_eq!(stored.len(), 4, "{stored:#?}");
}

on_both_backends!(migration_0052_keeps_the_open_set);
