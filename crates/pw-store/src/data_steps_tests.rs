//! The one-time data steps' looks for rows to convert (run on every open) go through partial
//! indexes (migration 0039), not a scan of their tables, on both backends.

use crate::{Backend, DatabaseUrl, Store};

/// Each look for unconverted rows and the partial index it must use.
const LOOKS: [(&str, &str); 4] = [
    (crate::finding_texts::UNDIGESTED, "finding_texts_digest"),
    (crate::finding_texts::UNPACKED, "finding_texts_unpacked"),
    (crate::findings_packed::UNPACKED, "host_findings_unpacked"),
    (
        crate::inventory_codec::UNCONVERTED,
        "inventories_unconverted",
    ),
];

/// The plan of `sql` (one bound limit) as text.
async fn plan(store: &Store, sql: &str) -> String {
    let mut conn = store.pool().acquire().await.unwrap();
    let explain = match store.backend() {
        Backend::Sqlite => format!("EXPLAIN QUERY PLAN {sql}"),
        Backend::Postgres => {
            // Tables this small are read whole whatever their indexes: ask whether the
            // partial index serves the look at all.
            sqlx::query("SET enable_seqscan = off")
                .execute(&mut *conn)
                .await
                .unwrap();
            format!("EXPLAIN {sql}")
        }
    };
    let rows = sqlx::query(sqlx::AssertSqlSafe(explain))
        .bind(100_i64)
        .fetch_all(&mut *conn)
        .await
        .unwrap();
    let column = match store.backend() {
        Backend::Sqlite => "detail",
        Backend::Postgres => "QUERY PLAN",
    };
    rows.iter()
        .map(|r| sqlx::Row::get::<String, _>(r, column))
        .collect::<Vec<_>>()
        .join("\n")
}

async fn the_looks_for_unconverted_rows_use_their_partial_indexes(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let url = match backend {
        Backend::Sqlite => DatabaseUrl::sqlite_file(&dir.path().join("pw.db")),
        Backend::Postgres => {
            DatabaseUrl::parse(&pw_testbed::postgres::shared().database().unwrap()).unwrap()
        }
    };
    let store = Store::connect(&url).await.unwrap();
    for (sql, index) in LOOKS {
        let plan = plan(&store, sql).await;
        assert!(plan.contains(index), "{sql}\n{plan}");
    }
}

#[tokio::test]
async fn sqlite_looks_use_partial_indexes() {
    the_looks_for_unconverted_rows_use_their_partial_indexes(Backend::Sqlite).await
}

#[tokio::test]
async fn postgres_looks_use_partial_indexes() {
    the_looks_for_unconverted_rows_use_their_partial_indexes(Backend::Postgres).await
}
