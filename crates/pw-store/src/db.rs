//! Which database a [`Store`](crate::Store) talks to — one SQLite file (embedded, WAL) or a
//! PostgreSQL server — named by a URL (`sqlite://PATH`, `postgres://…`), and the few places where
//! the two dialects differ. Every query is written once, with `$N` placeholders that both
//! accept, and runs through sqlx's `Any` driver (docs/design/decisions.md, "One store, two
//! databases").
//!
//! Write transactions are serialized on both: SQLite by `BEGIN IMMEDIATE` (its one writer),
//! PostgreSQL by a transaction-scoped advisory lock taken first thing in the transaction, held
//! until commit or rollback, shared by every controller replica on the same database.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use sqlx::AnyPool;
use sqlx::ConnectOptions;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::sqlite::SqliteConnectOptions;

use crate::files::{create_private_dir, create_private_file};

/// The advisory lock key every PostgreSQL write transaction takes ("pw" in ASCII, then 1).
const WRITER_LOCK: i64 = 0x7077_0001;

/// The two supported databases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// A database URL: `sqlite://PATH` (a file, created if missing) or `postgres://…` /
/// `postgresql://…` (a server). Shown (Display, Debug, errors) without its password.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    target: Target,
}

#[derive(Clone, PartialEq, Eq)]
enum Target {
    Sqlite(PathBuf),
    Postgres(url::Url),
}

impl DatabaseUrl {
    /// Parses `text`; the error names the URL (without its password) and what is wrong.
    pub fn parse(text: &str) -> anyhow::Result<DatabaseUrl> {
        let text = text.trim();
        if let Some(path) = text
            .strip_prefix("sqlite://")
            .or_else(|| text.strip_prefix("sqlite:"))
        {
            if path.is_empty() {
                bail!(
                    "database URL {text:?}: no file path after sqlite:// (sqlite:///var/lib/patchwarden/patchwarden.db)"
                );
            }
            return Ok(DatabaseUrl::sqlite_file(Path::new(path)));
        }
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            let url = url::Url::parse(text).map_err(|e| {
                anyhow::anyhow!("database URL {}: not a valid URL: {e}", redact_text(text))
            })?;
            let has_host = url.host_str().is_some_and(|h| !h.is_empty())
                || url.query_pairs().any(|(k, _)| k == "host");
            if !has_host {
                bail!(
                    "database URL {}: names no server (postgres://USER:PASSWORD@HOST:PORT/DATABASE)",
                    redact(&url)
                );
            }
            return Ok(DatabaseUrl {
                target: Target::Postgres(url),
            });
        }
        bail!(
            "database URL {}: unknown kind; use sqlite://PATH or postgres://USER:PASSWORD@HOST:PORT/DATABASE",
            redact_text(text)
        )
    }

    /// The SQLite file at `path`.
    pub fn sqlite_file(path: &Path) -> DatabaseUrl {
        DatabaseUrl {
            target: Target::Sqlite(path.to_path_buf()),
        }
    }

    pub fn backend(&self) -> Backend {
        match self.target {
            Target::Sqlite(_) => Backend::Sqlite,
            Target::Postgres(_) => Backend::Postgres,
        }
    }

    /// The SQLite file, for a `sqlite://` URL.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match &self.target {
            Target::Sqlite(path) => Some(path),
            Target::Postgres(_) => None,
        }
    }

    /// The full URL of a PostgreSQL server (with its password: never show it).
    pub(crate) fn postgres_url(&self) -> Option<&str> {
        match &self.target {
            Target::Sqlite(_) => None,
            Target::Postgres(url) => Some(url.as_str()),
        }
    }

    /// Opens a pool on the database (creating a SQLite file 0600 in a private directory): the
    /// process's pool, of [`POOL_SQLITE`] or [`POOL_POSTGRES`] connections.
    pub(crate) async fn connect(&self) -> anyhow::Result<AnyPool> {
        let connections = match self.target {
            Target::Sqlite(_) => POOL_SQLITE,
            Target::Postgres(_) => POOL_POSTGRES,
        };
        self.connect_with(connections).await
    }

    /// Opens a pool of at most `connections` connections on the database.
    pub(crate) async fn connect_with(&self, connections: u32) -> anyhow::Result<AnyPool> {
        sqlx::any::install_default_drivers();
        match &self.target {
            Target::Sqlite(path) => connect_sqlite(path, connections, None).await,
            Target::Postgres(url) => AnyPoolOptions::new()
                .max_connections(connections)
                .acquire_timeout(Duration::from_secs(15))
                .connect(url.as_str())
                .await
                .with_context(|| format!("connecting to the database {self}")),
        }
    }

    /// On SQLite, the process's one writing connection (`write_gate.rs`): a pool of one
    /// connection that is never closed for idleness, with a page cache of
    /// [`WRITER_CACHE_KIB`]; `None` on PostgreSQL.
    pub(crate) async fn connect_writer(&self) -> anyhow::Result<Option<AnyPool>> {
        sqlx::any::install_default_drivers();
        match &self.target {
            Target::Sqlite(path) => {
                Ok(Some(connect_sqlite(path, 1, Some(WRITER_CACHE_KIB)).await?))
            }
            Target::Postgres(_) => Ok(None),
        }
    }
}

/// Connections of the process's pool on SQLite (reads run beside the one writer).
const POOL_SQLITE: u32 = 4;

/// Connections of the process's pool on PostgreSQL (docs/scaling.md: per replica).
const POOL_POSTGRES: u32 = 10;

/// The page cache of SQLite's writing connection, in KiB (SQLite's default is 2,000 KiB).
/// Every write's reads go through it — a re-rank's host's open rows and their texts, a first
/// scan's texts and aliases — and, since no other connection writes, it stays valid from one
/// write transaction to the next: in WAL mode a connection drops its whole cache whenever
/// another connection committed since its last transaction, so while writes went round the
/// pool's connections each write started cold (docs/PERFORMANCE.md, "Feed import re-rank: the
/// writer's own connection, open rows read early"). It is filled only as pages are read.
pub(crate) const WRITER_CACHE_KIB: i64 = 32_768;

/// SQLite's automatic WAL checkpoint is off: the store checkpoints beside its writers
/// (`write_gate.rs`). `cache_kib`: the connections' page cache, when not SQLite's default.
async fn connect_sqlite(
    path: &Path,
    connections: u32,
    cache_kib: Option<i64>,
) -> anyhow::Result<AnyPool> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_private_dir(parent)?;
    }
    // Created 0600 before SQLite opens it; its WAL and shm files take the same mode.
    create_private_file(path)?;
    let url = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .to_url_lossy();
    let options = AnyConnectOptions::from_url(&url)?;
    let mut pool = AnyPoolOptions::new().max_connections(connections);
    if cache_kib.is_some() {
        // Connections kept for good: their cache is the point (no idle close, no ping).
        pool = pool
            .min_connections(connections)
            .idle_timeout(None)
            .max_lifetime(None)
            .test_before_acquire(false);
    }
    pool.after_connect(move |conn, _| {
        Box::pin(async move {
            sqlx::raw_sql(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
                 PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;
                 PRAGMA wal_autocheckpoint = 0;",
            )
            .execute(&mut *conn)
            .await?;
            if let Some(kib) = cache_kib {
                let pragma = format!("PRAGMA cache_size = -{kib}");
                sqlx::raw_sql(sqlx::AssertSqlSafe(pragma))
                    .execute(&mut *conn)
                    .await?;
            }
            Ok(())
        })
    })
    .connect_with(options)
    .await
    .with_context(|| format!("opening the database {}", path.display()))
}

/// Starts a write transaction that holds the database's write lock from its first statement,
/// so that a read-then-write inside it (the audit chain head, a version check) cannot race
/// another writer — on SQLite `BEGIN IMMEDIATE`, on PostgreSQL an advisory lock.
pub(crate) async fn begin_write(
    pool: &AnyPool,
    backend: Backend,
) -> anyhow::Result<sqlx::Transaction<'static, sqlx::Any>> {
    match backend {
        Backend::Sqlite => pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .context("starting a write transaction"),
        Backend::Postgres => {
            let mut tx = pool.begin().await.context("starting a write transaction")?;
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(WRITER_LOCK)
                .execute(&mut *tx)
                .await
                .context("taking the database's write lock")?;
            Ok(tx)
        }
    }
}

/// `sql` with each `?` outside quoted text replaced by `$1`, `$2`, … in order: for SQL built
/// from pieces whose number of values is known only at the end.
pub(crate) fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut next = 1;
    let mut quoted = false;
    for c in sql.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                out.push(c);
            }
            '?' if !quoted => {
                out.push_str(&format!("${next}"));
                next += 1;
            }
            _ => out.push(c),
        }
    }
    out
}

/// `($1, $2, …), (…)` for a multi-row INSERT of `rows` rows of `columns` values each.
pub(crate) fn value_rows(rows: usize, columns: usize) -> String {
    value_rows_after(0, rows, columns)
}

/// [`value_rows`] for a statement on `conn` whose parameters are all these rows': on SQLite
/// anonymous `?` marks, bound by position, on PostgreSQL `$1`, `$2`, …. SQLite looks a numbered
/// parameter up by name in a list (`sqlite3VListNumToName`), so binding `$N` costs grows with
/// the square of a statement's parameters and multi-row statements were kept to ~128 of them;
/// anonymous ones are bound in order, so a statement may carry hundreds of rows (issue 15: a
/// batch's 1,000 claims were ~150 statements, each a round trip to SQLite's worker thread).
/// Not for statements with other `$N` parameters: SQLite would number them together.
pub(crate) fn value_rows_in(conn: &sqlx::AnyConnection, rows: usize, columns: usize) -> String {
    if !positional(conn) {
        return value_rows(rows, columns);
    }
    let row = format!("({})", vec!["?"; columns].join(", "));
    vec![row; rows].join(", ")
}

/// `count` parameter marks for a statement on `conn` whose parameters are all these, in order
/// (as [`value_rows_in`]'s: `?` on SQLite, `$1`, `$2`, … on PostgreSQL).
pub(crate) fn marks_in(conn: &sqlx::AnyConnection, count: usize) -> Vec<String> {
    match positional(conn) {
        true => vec!["?".to_owned(); count],
        false => (1..=count).map(|n| format!("${n}")).collect(),
    }
}

/// Whether `conn` binds anonymous `?` parameters by position (SQLite).
fn positional(conn: &sqlx::AnyConnection) -> bool {
    conn.backend_name() == <sqlx::Sqlite as sqlx::Database>::NAME
}

/// [`value_rows`] numbered after `skip` parameters bound before them (`($skip+1, …), …`).
pub(crate) fn value_rows_after(skip: usize, rows: usize, columns: usize) -> String {
    (0..rows)
        .map(|row| {
            let marks: Vec<String> = (1..=columns)
                .map(|c| format!("${}", skip + row * columns + c))
                .collect();
            format!("({})", marks.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `rows` rows of `template` (a row's expression with `?` for each of its parameters), the
/// parameters numbered `$1, $2, …` row after row: rows whose columns need an expression, e.g.
/// a float sent as text (the `Any` driver's NULL and float parameters do not mix in one
/// PostgreSQL VALUES column).
pub(crate) fn value_rows_of(rows: usize, template: &str) -> String {
    let mut next = 0;
    let row = |_| {
        template
            .split('?')
            .enumerate()
            .map(|(at, part)| match at {
                0 => part.to_owned(),
                _ => {
                    next += 1;
                    format!("${next}{part}")
                }
            })
            .collect::<String>()
    };
    (0..rows).map(row).collect::<Vec<_>>().join(", ")
}

/// [`value_rows_of`] for a statement on `conn` whose parameters are all these rows': on SQLite
/// the template's `?` marks as they are, bound by position (as [`value_rows_in`]'s).
pub(crate) fn value_rows_of_in(conn: &sqlx::AnyConnection, rows: usize, template: &str) -> String {
    match positional(conn) {
        true => vec![template; rows].join(", "),
        false => value_rows_of(rows, template),
    }
}

/// `$first, $first+1, …` (`count` placeholders), for `IN (…)` lists.
pub(crate) fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn redact(url: &url::Url) -> String {
    let mut shown = url.clone();
    if shown.password().is_some() {
        let _ = shown.set_password(None);
    }
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "password")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if pairs.is_empty() {
        shown.set_query(None);
    } else {
        shown.query_pairs_mut().clear().extend_pairs(pairs);
    }
    shown.to_string()
}

/// A text that did not parse as a URL, with anything between `:` and `@` after the scheme
/// hidden.
fn redact_text(text: &str) -> String {
    let Some((scheme, rest)) = text.split_once("://") else {
        return text.to_owned();
    };
    match rest.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{scheme}://{user}@{host}")
        }
        None => text.to_owned(),
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.target {
            Target::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            Target::Postgres(url) => f.write_str(&redact(url)),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_and_never_show_their_password() {
        let pg = DatabaseUrl::parse("postgres://pw:s3cret@db.example:5432/patchwarden").unwrap();
        assert_eq!(pg.backend(), Backend::Postgres);
        assert_eq!(pg.to_string(), "postgres://pw@db.example:5432/patchwarden");
        assert!(!format!("{pg:?}").contains("s3cret"));
        let q = DatabaseUrl::parse("postgresql:///x?host=/run/pg&user=pw&password=s3cret").unwrap();
        assert!(!q.to_string().contains("s3cret"), "{q}");
        let file = DatabaseUrl::parse("sqlite:///var/lib/pw/patchwarden.db").unwrap();
        assert_eq!(
            file.sqlite_path(),
            Some(Path::new("/var/lib/pw/patchwarden.db"))
        );
        let relative = DatabaseUrl::parse("sqlite://data/pw.db").unwrap();
        assert_eq!(relative.sqlite_path(), Some(Path::new("data/pw.db")));
    }

    #[test]
    fn bad_urls_are_refused_by_name_without_password() {
        let error = DatabaseUrl::parse("mysql://root:hunter2@db/x").unwrap_err();
        let text = format!("{error:#}");
        assert!(
            text.contains("mysql://root@db/x") && !text.contains("hunter2"),
            "{text}"
        );
        assert!(text.contains("sqlite://PATH"), "{text}");
        let error = DatabaseUrl::parse("postgres://u:hunter2@:5432/x").unwrap_err();
        assert!(!format!("{error:#}").contains("hunter2"), "{error:#}");
        assert!(DatabaseUrl::parse("sqlite://").is_err());
    }

    #[test]
    fn placeholders_number_from_one() {
        assert_eq!(value_rows(2, 2), "($1, $2), ($3, $4)");
        assert_eq!(placeholders(3, 2), "$3, $4");
        assert_eq!(value_rows_after(3, 2, 2), "($4, $5), ($6, $7)");
        assert_eq!(value_rows(1, 3), "($1, $2, $3)");
        assert_eq!(
            numbered("a = ? AND b LIKE ? ESCAPE '?' AND c IN (?)"),
            "a = $1 AND b LIKE $2 ESCAPE '?' AND c IN ($3)"
        );
    }
}
