//! Migration 0054 (the per-host update summary's EPSS in integer parts per billion) on both
//! backends: a database written at 0053 reads back every summary row and every update's EPSS as
//! the same float, stores the parts, and the write path keeps them after it (an update's highest
//! EPSS re-read from its hosts' parts as the float the feed gave); on PostgreSQL the index by
//! update and deadline is at most 32 bytes a row and the row's tuple is 56 bytes.

use pw_model::Finding;
use pw_store::{Backend, CurrentFinding, DatabaseUrl, PageRequest, Store, UpdateFilter};

#[macro_use]
mod common;

use common::at;
use common::findings::model_finding;

const SEEN: &str = "2026-01-02T00:00:00Z";
const DUE: &str = "2026-02-01T00:00:00Z";

/// Finding `k`'s EPSS: five decimals as FIRST's feed gives them, none, and (k = 5) nine.
const EPSS: [Option<f64>; 6] = [
    Some(0.03351),
    Some(0.97565),
    None,
    Some(0.00043),
    Some(0.27858),
    Some(0.123456789),
];

/// Finding `k`, of update `src{k % 2}` 1.0-2 (update key 1 + k % 2).
fn finding(k: usize) -> Finding {
    Finding {
        deadline: Some(at(DUE)),
        epss: EPSS[k],
        ..model_finding(k)
    }
}

fn nanos(text: &str) -> i64 {
    i64::try_from(at(text).as_nanosecond()).unwrap()
}

/// The open findings at 0053: h1 (host key 1) has lib0–lib4, h2 lib0 and lib3.
const OPEN: [(i64, usize); 7] = [(1, 0), (1, 1), (1, 2), (1, 3), (1, 4), (2, 0), (2, 3)];

/// A database at 0053 with the open findings of [`OPEN`] (one stamp a host, in 0053's layout)
/// and the summaries grouped from them, written with SQL; and its summaries ([`summaries`]).
async fn database_at_0053(
    backend: Backend,
) -> (Option<tempfile::TempDir>, DatabaseUrl, Vec<String>) {
    let (dir, url, pool) = common::unmigrated_database(backend).await;
    common::migrate_up_to(backend, &pool, 53).await;
    common::insert_finding_hosts(&pool, 2, SEEN).await;
    common::open_0052::insert_update_keys(&pool).await;
    for host in [1, 2] {
        sqlx::query(
            "INSERT INTO open_stamps (host_key, stamp, first_seen, deadline, tier, episode)
             VALUES ($1, 1, $2, $3, 1, 1)",
        )
        .bind(host)
        .bind(nanos(SEEN))
        .bind(nanos(DUE))
        .execute(&pool)
        .await
        .unwrap();
    }
    for (host, k) in OPEN {
        let f = finding(k);
        let key = common::insert_finding_key_once(&pool, &f).await;
        let text = common::insert_finding_text_0047(&pool, &f, 1 + (k as i64 % 2)).await;
        sqlx::query(
            "INSERT INTO open_episodes (host_key, key_id, stamp, text_id) VALUES ($1, $2, 1, $3)",
        )
        .bind(host)
        .bind(key)
        .bind(text)
        .execute(&pool)
        .await
        .unwrap();
    }
    common::insert_update_summaries(&pool).await;
    let before = summaries(&pool).await;
    pool.close().await;
    (dir, url, before)
}

/// Every per-host summary row (its EPSS as a probability) and every update's EPSS as stored,
/// each as a line of text (the floats' bits, so that "the same" means the same float).
async fn summaries(pool: &sqlx::AnyPool) -> Vec<String> {
    let (mut lines, _) = common::summary_rows(pool).await;
    let updates: Vec<(String, Option<f64>)> = sqlx::query_as(
        "SELECT package, CAST(epss AS DOUBLE PRECISION) FROM open_updates ORDER BY package",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    lines.extend(
        (updates.iter()).map(|(package, epss)| format!("{package} {:?}", epss.map(f64::to_bits))),
    );
    lines
}

/// Each update's EPSS as the console reads it (package, EPSS), in its order.
async fn console_epss(store: &Store) -> Vec<(String, Option<f64>)> {
    let page = PageRequest {
        offset: 0,
        limit: 10,
    };
    let page = (store.update_page(&UpdateFilter::default(), page).await).unwrap();
    (page.updates.into_iter())
        .map(|u| (u.package, u.epss))
        .collect()
}

/// The stored parts: (host key, update key, EPSS parts per billion).
async fn parts(pool: &sqlx::AnyPool) -> Vec<(i64, i64, Option<i64>)> {
    let sql = "SELECT host_key, update_key, epss FROM open_update_hosts ORDER BY 1, 2";
    sqlx::query_as(sql).fetch_all(pool).await.unwrap()
}

async fn migration_0054_keeps_the_summaries(backend: Backend) {
    let (_guard, url, before) = database_at_0053(backend).await;
    assert_eq!(before.len(), 4 + 2, "{before:#?}");
    let store = Store::connect(&url).await.unwrap();
    let pool = store.pool();
    assert_eq!(
        summaries(pool).await,
        before,
        "every summary reads the same"
    );
    assert_eq!(
        parts(pool).await,
        [
            (1, 1, Some(278_580_000)),
            (1, 2, Some(975_650_000)),
            (2, 1, Some(33_510_000)),
            (2, 2, Some(430_000)),
        ]
    );
    let e = |package: &str, epss: f64| (package.to_owned(), Some(epss));
    assert_eq!(
        console_epss(&store).await,
        [e("src0", 0.27858), e("src1", 0.97565)]
    );

    // h1 computed again with lib2 (no EPSS) and lib3 only; h2 gains lib5 (nine decimals).
    let of = |ks: &[usize]| -> Vec<CurrentFinding> {
        (ks.iter())
            .map(|k| CurrentFinding::of(&finding(*k)).unwrap())
            .collect()
    };
    common::record_at(&store, "h1", "2026-02-10T00:00:00Z", &of(&[2, 3])).await;
    common::record_at(&store, "h2", "2026-02-10T00:00:00Z", &of(&[0, 3, 5])).await;
    assert_eq!(
        parts(pool).await,
        [
            (1, 1, None),
            (1, 2, Some(430_000)),
            (2, 1, Some(33_510_000)),
            (2, 2, Some(123_456_789)),
        ]
    );
    let (stored, grouped) = common::summary_rows(pool).await;
    assert_eq!(stored, grouped);
    assert_eq!(
        console_epss(&store).await,
        [e("src0", 0.03351), e("src1", 0.123456789)],
        "an update's highest EPSS re-read from its hosts' parts is the float the text had"
    );
}

on_both_backends!(migration_0054_keeps_the_summaries);

/// On PostgreSQL, 50,000 summary rows (200 hosts × 250 updates) take at most 69 bytes each in
/// the table (a 64-byte tuple and a 4-byte line pointer: 56 bytes with 0054, 64 with a float;
/// 0055's counts at the extremes add 8). Since 0056 the table's one secondary index is by update
/// and deadline (those by update and tier, KEV and EPSS are gone: the update's extremes are kept
/// with their holders' counts); at most 32 bytes a row with a deadline a host, as first sights
/// make them (the index by update and EPSS took up to 12 with 0054, ~31 over a float).
#[tokio::test]
async fn postgres_keeps_the_summary_rows_small() {
    let (_guard, store) = common::fresh_store(Backend::Postgres).await;
    let pool = store.pool();
    for sql in [
        "INSERT INTO hosts (id, hostname, enrolled_at)
         SELECT 'h' || n, 'web-' || n, '2026-01-01T08:00:00Z' FROM generate_series(1, 200) AS n",
        "INSERT INTO finding_hosts (key, host_id) SELECT n, 'h' || n FROM generate_series(1, 200) AS n",
        "INSERT INTO update_keys (id, package, fixed)
         SELECT n, 'p' || n, '1' FROM generate_series(1, 250) AS n",
        "INSERT INTO open_update_hosts (host_key, update_key, findings, tier, deadline, kev, epss)
         SELECT h, u, 1 + u % 7, u % 5, 1767225600000000000 + h * 1000 + u, u % 2,
                u * 3989 + h % 2 * 10000
         FROM generate_series(1, 200) AS h, generate_series(1, 250) AS u",
        "VACUUM FULL open_update_hosts",
    ] {
        sqlx::query(sql).execute(pool).await.unwrap();
    }
    let index = common::bytes_per_row(pool, "open_update_hosts_deadline", 50_000).await;
    let table = common::bytes_per_row(pool, "open_update_hosts", 50_000).await;
    assert!(
        index <= 32,
        "{index} bytes per row in the index by deadline"
    );
    assert!(table <= 69, "{table} bytes per row in the table");
}
