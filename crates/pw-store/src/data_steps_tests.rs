//! The one-time data steps' looks for rows to convert (run on every open) go through partial
//! indexes (migration 0039), not a scan of their tables, on both backends.

use crate::console::{Bind, query_with};
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

/// The plan of `sql` bound with `binds`, as text (for the plan tests of the store's reads).
pub(crate) async fn plan(store: &Store, sql: &str, binds: Vec<Bind>) -> String {
    let mut conn = store.pool().acquire().await.unwrap();
    let explain = match store.backend() {
        Backend::Sqlite => format!("EXPLAIN QUERY PLAN {sql}"),
        Backend::Postgres => {
            // Tables this small are read whole whatever their indexes: ask whether the index
            // serves the read at all.
            sqlx::query("SET enable_seqscan = off")
                .execute(&mut *conn)
                .await
                .unwrap();
            format!("EXPLAIN {sql}")
        }
    };
    let rows = query_with(&explain, binds)
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

/// A store on a new, empty database of `backend` (the directory holds a SQLite file).
pub(crate) async fn empty_store(backend: Backend) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let url = match backend {
        Backend::Sqlite => DatabaseUrl::sqlite_file(&dir.path().join("pw.db")),
        Backend::Postgres => {
            DatabaseUrl::parse(&pw_testbed::postgres::shared().database().unwrap()).unwrap()
        }
    };
    (dir, Store::connect(&url).await.unwrap())
}

async fn the_looks_for_unconverted_rows_use_their_partial_indexes(backend: Backend) {
    let (_dir, store) = empty_store(backend).await;
    for (sql, index) in LOOKS {
        let plan = plan(&store, sql, vec![Bind::Int(100)]).await;
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
