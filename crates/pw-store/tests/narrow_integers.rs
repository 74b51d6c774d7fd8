//! Migration 0052 (the open set's and the per-host update summary's integers in 4 bytes on
//! PostgreSQL; nothing to do on SQLite) on both backends: a database written at 0051 keeps
//! every open episode, stamp and summary row as it was, the write path keeps them after it, and
//! on PostgreSQL an open episode's row and its primary key's entry take the bytes of 4-byte
//! integers.

use pw_model::{Finding, Tier};
use pw_store::{Backend, CurrentFinding, DatabaseUrl, Store};
use sha2::Digest;
use sqlx::Row;

#[macro_use]
mod common;

use common::at;

const SEEN: &str = "2026-01-02T00:00:00Z";
const DUE: &str = "2026-02-01T00:00:00Z";

fn finding(k: usize, tier: Tier) -> Finding {
    Finding {
        binary: format!("lib{k}"),
        installed: "1.0-1".into(),
        package: format!("src{}", k % 2),
        package_version: "1.0-1".into(),
        advisory: format!("DEBIAN-CVE-2025-{k:05}"),
        aliases: Vec::new(),
        fixed: Some("1.0-2".into()),
        tier,
        deadline: (tier != Tier::T4).then(|| at(DUE)),
        reasons: Vec::new(),
        summary: format!("problem {k}"),
        published: None,
        cvss: None,
        epss: (k == 1).then_some(0.25),
        kev: k == 2,
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

/// A finding's text as the store keeps it since 0047 (a 16-byte digest, the JSON to be packed
/// on the store's first open), naming update `update_key`, unless stored; its id.
async fn insert_text(pool: &sqlx::AnyPool, finding: &Finding, update_key: i64) -> i64 {
    let text = common::finding_text(finding);
    let digest = sha2::Sha256::digest(text.as_bytes())[..16].to_vec();
    sqlx::query(
        "INSERT INTO finding_texts (digest, update_key, advisory, kev, epss, finding)
         VALUES ($1, $2, $3, $4, CAST(CAST($5 AS TEXT) AS DOUBLE PRECISION), $6)
         ON CONFLICT (digest) DO NOTHING",
    )
    .bind(digest.clone())
    .bind(update_key)
    .bind(&finding.advisory)
    .bind(i64::from(finding.kev))
    .bind(finding.epss.map(|e| e.to_string()))
    .bind(&text)
    .execute(pool)
    .await
    .unwrap();
    let sql = "SELECT id FROM finding_texts WHERE digest = $1";
    let id = sqlx::query_scalar(sql).bind(digest).fetch_one(pool).await;
    id.unwrap()
}

/// The id of `finding`'s key (binary, advisory), stored unless it is.
async fn insert_key(pool: &sqlx::AnyPool, finding: &Finding) -> i64 {
    sqlx::query(
        "INSERT INTO finding_keys (binary_name, advisory) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(&finding.binary)
    .bind(&finding.advisory)
    .execute(pool)
    .await
    .unwrap();
    let sql = "SELECT id FROM finding_keys WHERE binary_name = $1 AND advisory = $2";
    let query = sqlx::query_scalar(sql).bind(&finding.binary);
    query.bind(&finding.advisory).fetch_one(pool).await.unwrap()
}

/// A database at 0051 with hosts h1 and h2, the episodes of [`OPEN`] (each host's first sight
/// and deadlines as stamps) and the update summaries grouped from them, written with SQL; and its
/// rows ([`rows`]).
async fn database_at_0051(
    backend: Backend,
) -> (Option<tempfile::TempDir>, DatabaseUrl, Vec<String>) {
    let (dir, url, pool) = common::unmigrated_database(backend).await;
    common::migrate_up_to(backend, &pool, 51).await;
    common::insert_finding_hosts(&pool, 2, SEEN).await;
    for (id, package) in [(1, "src0"), (2, "src1")] {
        sqlx::query("INSERT INTO update_keys (id, package, fixed) VALUES ($1, $2, '1.0-2')")
            .bind(id)
            .bind(package)
            .execute(&pool)
            .await
            .unwrap();
    }
    for (host, k, episode, tier) in OPEN {
        let f = finding(k, tier);
        let key = insert_key(&pool, &f).await;
        let text = insert_text(&pool, &f, 1 + (k as i64 % 2)).await;
        let stamp = 1 + i64::from(f.deadline.is_none());
        sqlx::query(
            "INSERT INTO open_stamps (host_key, stamp, first_seen, deadline)
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(host)
        .bind(stamp)
        .bind(nanos(SEEN))
        .bind(f.deadline.is_some().then(|| nanos(DUE)))
        .execute(&pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO open_episodes (host_key, key_id, episode, stamp, tier, text_id)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(host)
        .bind(key)
        .bind(episode)
        .bind(stamp)
        .bind(tier.index() as i64)
        .bind(text)
        .execute(&pool)
        .await
        .unwrap();
    }
    common::insert_update_summaries(&pool).await;
    let before = rows(&pool).await;
    pool.close().await;
    (dir, url, before)
}

/// Every row of the three tables, each as a line of text (integers read as `i64`).
async fn rows(pool: &sqlx::AnyPool) -> Vec<String> {
    let episodes = "SELECT host_key, key_id, episode, stamp, tier, text_id FROM open_episodes
                    ORDER BY host_key, key_id";
    let stamps = "SELECT host_key, stamp, first_seen, deadline FROM open_stamps
                  ORDER BY host_key, stamp";
    let summary = "SELECT host_key, update_key, findings, tier, deadline, kev,
                          CAST(epss AS DOUBLE PRECISION) AS epss
                   FROM open_update_hosts ORDER BY host_key, update_key";
    let mut lines = Vec::new();
    for sql in [episodes, stamps, summary] {
        for r in sqlx::query(sql).fetch_all(pool).await.unwrap() {
            let values: Vec<String> = (0..r.len())
                .map(|i| match r.try_get::<Option<i64>, _>(i) {
                    Ok(n) => format!("{n:?}"),
                    Err(_) => format!("{:?}", r.get::<Option<f64>, _>(i)),
                })
                .collect();
            lines.push(values.join(" "));
        }
    }
    lines
}

async fn migration_0052_keeps_the_open_set(backend: Backend) {
    let (_guard, url, before) = database_at_0051(backend).await;
    assert_eq!(before.len(), 6 + 4 + 4, "{before:#?}");
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
                "open_update_hosts.deadline"
            ],
            "only the instants stay 8 bytes"
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

/// On PostgreSQL, 50,000 open episodes take at most 56 bytes each in the table (a 24-byte tuple
/// header and 24 bytes of values, padded to 8, and a 4-byte line pointer; 76 with 8-byte
/// integers) and at most 24 in the primary key (28 before).
#[tokio::test]
async fn postgres_keeps_an_open_episode_in_few_bytes() {
    let (_guard, store) = common::fresh_store(Backend::Postgres).await;
    let pool = store.pool();
    sqlx::query(
        "INSERT INTO open_episodes (host_key, key_id, episode, stamp, tier, text_id)
         SELECT 1 + n / 800, n, 1, 1, n % 5, n FROM generate_series(1, 50000) AS n",
    )
    .execute(pool)
    .await
    .unwrap();
    sqlx::query("VACUUM FULL open_episodes")
        .execute(pool)
        .await
        .unwrap();
    let size = |relation: &'static str| async move {
        let sql = "SELECT pg_relation_size(CAST($1 AS regclass)) / 50000";
        let bytes: i64 = sqlx::query_scalar(sql)
            .bind(relation)
            .fetch_one(pool)
            .await
            .unwrap();
        bytes
    };
    let (table, key) = (
        size("open_episodes").await,
        size("open_episodes_pkey").await,
    );
    assert!(table <= 56, "{table} bytes per row in the table");
    assert!(key <= 24, "{key} bytes per row in the primary key");
}
