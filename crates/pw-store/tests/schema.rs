//! The two migration sets build the same schema: SQLite's `migrations/` and PostgreSQL's
//! `migrations/postgres/` give the same tables with the same columns in the same order (same
//! name, same kind of value, same nullability; views too), the same named indexes and the same triggers,
//! and every SQLite migration has its PostgreSQL twin with the same number and name.

use std::collections::BTreeSet;

use pw_store::{Backend, Store};
use sqlx::Row;

#[macro_use]
mod common;

/// One column: table, column, value kind (text, integer, real, blob), NOT NULL.
type Column = (String, String, &'static str, bool);

fn kind(declared: &str) -> &'static str {
    match declared.to_ascii_lowercase().as_str() {
        "text" => "text",
        "integer" | "bigint" => "integer",
        "real" | "double precision" => "real",
        "blob" | "bytea" => "blob",
        other => panic!("column type {other:?} has no counterpart on the other backend"),
    }
}

async fn sqlite_schema(store: &Store) -> (Vec<Column>, BTreeSet<String>, BTreeSet<String>) {
    let rows = sqlx::query(
        "SELECT m.name AS tbl, p.name AS col, p.type AS type, p.\"notnull\" AS nn, p.pk AS pk
         FROM sqlite_master m JOIN pragma_table_xinfo(m.name) p
         WHERE m.type IN ('table', 'view') AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
           AND m.name <> '_sqlx_migrations' AND p.hidden IN (0, 2, 3)
         ORDER BY m.name, p.cid",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    let columns = rows
        .iter()
        .map(|r| {
            let not_null = r.get::<i64, _>("nn") != 0 || r.get::<i64, _>("pk") != 0;
            let declared: String = r.get("type");
            (r.get("tbl"), r.get("col"), kind(&declared), not_null)
        })
        .collect();
    let names = |kind: &'static str| async move {
        let sql = "SELECT name FROM sqlite_master WHERE type = $1 AND sql IS NOT NULL";
        let rows = sqlx::query(sql).bind(kind).fetch_all(store.pool()).await;
        rows.unwrap()
            .iter()
            .map(|r| r.get::<String, _>("name"))
            .collect()
    };
    (columns, names("index").await, names("trigger").await)
}

async fn postgres_schema(store: &Store) -> (Vec<Column>, BTreeSet<String>, BTreeSet<String>) {
    let rows = sqlx::query(
        "SELECT table_name::text AS tbl, column_name::text AS col, data_type::text AS type,
                is_nullable::text AS nullable
         FROM information_schema.columns
         WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations'
         ORDER BY table_name, ordinal_position",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    let columns = rows
        .iter()
        .map(|r| {
            let declared: String = r.get("type");
            let nullable: String = r.get("nullable");
            (
                r.get("tbl"),
                r.get("col"),
                kind(&declared),
                nullable == "NO",
            )
        })
        .collect();
    // Named indexes only: primary keys and UNIQUE columns get automatic ones on both.
    let indexes = sqlx::query(
        "SELECT i.indexname::text AS name FROM pg_indexes i
         WHERE i.schemaname = 'public' AND NOT EXISTS (
             SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    let triggers = sqlx::query(
        "SELECT DISTINCT trigger_name::text AS name FROM information_schema.triggers
         WHERE trigger_schema = 'public'",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    let names = |rows: Vec<sqlx::any::AnyRow>| rows.iter().map(|r| r.get("name")).collect();
    (columns, names(indexes), names(triggers))
}

#[tokio::test]
async fn both_migration_sets_build_the_same_schema() {
    let (_a, sqlite) = common::fresh_store(Backend::Sqlite).await;
    let (_b, postgres) = common::fresh_store(Backend::Postgres).await;
    let (lite_columns, lite_indexes, lite_triggers) = sqlite_schema(&sqlite).await;
    let (pg_columns, pg_indexes, pg_triggers) = postgres_schema(&postgres).await;
    assert!(lite_columns.len() > 100, "{lite_columns:?}");
    for (lite, pg) in lite_columns.iter().zip(&pg_columns) {
        assert_eq!(
            lite, pg,
            "SQLite's column (left) differs from PostgreSQL's (right)"
        );
    }
    assert_eq!(lite_columns.len(), pg_columns.len());
    assert_eq!(lite_indexes, pg_indexes);
    assert_eq!(lite_triggers, pg_triggers);
}

#[test]
fn every_sqlite_migration_has_its_postgres_twin() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let sql_files = |dir: &std::path::Path| -> BTreeSet<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|name| name.ends_with(".sql"))
            .collect()
    };
    let sqlite = sql_files(&dir);
    assert!(sqlite.contains("0001_feeds.sql"), "{sqlite:?}");
    assert_eq!(sqlite, sql_files(&dir.join("postgres")));
}
