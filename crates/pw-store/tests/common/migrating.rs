//! Databases for migration tests and rows written with SQL as earlier schemas hold them: an
//! unmigrated database migrated up to a number, hosts with their latest computation, finding
//! texts in their layouts of migrations 0033, 0039, 0044 and 0047, finding keys and open
//! findings (the store's API writes only the newest schema's).

use jiff::Timestamp;
use pw_store::{Backend, DatabaseUrl};

use super::at;

/// An empty database on `backend` for a migration test, not migrated: the directory holding it
/// (SQLite), its URL and a pool on it. Migrate it with [`migrate_up_to`].
pub async fn unmigrated_database(
    backend: Backend,
) -> (Option<tempfile::TempDir>, DatabaseUrl, sqlx::AnyPool) {
    sqlx::any::install_default_drivers();
    let (dir, address) = match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("old.db");
            (Some(dir), format!("sqlite://{}?mode=rwc", path.display()))
        }
        Backend::Postgres => (None, pw_testbed::postgres::shared().database().unwrap()),
    };
    let url = match &dir {
        Some(dir) => DatabaseUrl::sqlite_file(&dir.path().join("old.db")),
        None => DatabaseUrl::parse(&address).unwrap(),
    };
    let pool = sqlx::AnyPool::connect(&address).await.unwrap();
    (dir, url, pool)
}

/// Applies `backend`'s migrations up to number `last` (those before already applied are kept).
pub async fn migrate_up_to(backend: Backend, pool: &sqlx::AnyPool, last: i64) {
    static SQLITE: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");
    static POSTGRES: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");
    let all = match backend {
        Backend::Sqlite => &SQLITE,
        Backend::Postgres => &POSTGRES,
    };
    let old: Vec<_> = (all.iter())
        .filter(|m| m.version <= last)
        .cloned()
        .collect();
    sqlx::migrate::Migrator::with_migrations(old)
        .run(pool)
        .await
        .unwrap();
}

/// A host and its latest computation's time, written with SQL into a database being migrated
/// (the store's API is the newest schema's).
pub async fn insert_host_computed(
    pool: &sqlx::AnyPool,
    id: &str,
    hostname: &str,
    computed_at: &str,
) {
    sqlx::query("INSERT INTO hosts (id, hostname, enrolled_at) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(hostname)
        .bind("2026-01-01T08:00:00Z")
        .execute(pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO host_findings (host_id, computed_at, source, findings, tier_counts)
         VALUES ($1, $2, 'test', '[]', '[0,0,0,0,0]')",
    )
    .bind(id)
    .bind(computed_at)
    .execute(pool)
    .await
    .unwrap();
}

/// A finding's text as stored since migration 0033: its JSON with `"deadline":null`.
pub fn finding_text(finding: &pw_model::Finding) -> String {
    serde_json::to_string(&pw_model::Finding {
        deadline: None,
        ..finding.clone()
    })
    .unwrap()
}

/// Stores `finding`'s text in `finding_texts` (0033's columns, the digest in hexadecimal as
/// before 0039) with SQL; its id.
pub async fn insert_finding_text(pool: &sqlx::AnyPool, finding: &pw_model::Finding) -> i64 {
    insert_text(pool, finding, true).await
}

/// Stores `finding`'s text in `finding_texts` as migration 0039 left it (the digest as 32
/// bytes, the JSON in `finding`) with SQL; its id.
pub async fn insert_finding_text_0039(pool: &sqlx::AnyPool, finding: &pw_model::Finding) -> i64 {
    insert_text(pool, finding, false).await
}

/// Stores `finding`'s text in `finding_texts` as migration 0044 left it (its update named by key
/// `update_key`, the JSON in `finding`: the store's first open packs it) with SQL; its id.
pub async fn insert_finding_text_0044(
    pool: &sqlx::AnyPool,
    finding: &pw_model::Finding,
    update_key: i64,
) -> i64 {
    use sha2::Digest;
    let text = finding_text(finding);
    let digest = sha2::Sha256::digest(text.as_bytes());
    sqlx::query_scalar(
        "INSERT INTO finding_texts (digest, update_key, advisory, kev, finding)
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(digest.to_vec())
    .bind(update_key)
    .bind(&finding.advisory)
    .bind(i64::from(finding.kev))
    .bind(&text)
    .fetch_one(pool)
    .await
    .unwrap()
}

async fn insert_text(pool: &sqlx::AnyPool, finding: &pw_model::Finding, hex_digest: bool) -> i64 {
    use sha2::Digest;
    let text = finding_text(finding);
    let digest = sha2::Sha256::digest(text.as_bytes());
    let query = sqlx::query_scalar(
        "INSERT INTO finding_texts (digest, package, fixed, advisory, kev, epss, finding)
         VALUES ($1, $2, $3, $4, $5, CAST(CAST($6 AS TEXT) AS DOUBLE PRECISION), $7)
         RETURNING id",
    );
    let query = match hex_digest {
        true => query.bind(hex::encode(digest)),
        false => query.bind(digest.to_vec()),
    };
    query
        .bind(&finding.package)
        .bind(finding.fixed.clone().unwrap_or_default())
        .bind(&finding.advisory)
        .bind(i64::from(finding.kev))
        .bind(finding.epss.map(|x| x.to_string()))
        .bind(&text)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// A finding's text as the store keeps it since 0047 (a 16-byte digest, the JSON to be packed
/// on the store's first open), naming update `update_key`, unless stored; its id.
pub async fn insert_finding_text_0047(
    pool: &sqlx::AnyPool,
    finding: &pw_model::Finding,
    update_key: i64,
) -> i64 {
    use sha2::Digest;
    let text = finding_text(finding);
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
pub async fn insert_finding_key_once(pool: &sqlx::AnyPool, finding: &pw_model::Finding) -> i64 {
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

/// Stores a finding key (binary, advisory) with SQL, since 0037; its id.
pub async fn insert_finding_key(pool: &sqlx::AnyPool, finding: &pw_model::Finding) -> i64 {
    sqlx::query_scalar(
        "INSERT INTO finding_keys (binary_name, advisory) VALUES ($1, $2) RETURNING id",
    )
    .bind(&finding.binary)
    .bind(&finding.advisory)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// Stores an open finding (episode 1) as since 0038 with SQL: host key, key id, first seen (an
/// instant's text), the finding (its tier and deadline) and its text's id.
pub async fn insert_open_finding(
    pool: &sqlx::AnyPool,
    (host_key, key_id, first_seen): (i64, i64, &str),
    finding: &pw_model::Finding,
    text_id: i64,
) {
    let nanos = |t: Timestamp| i64::try_from(t.as_nanosecond()).unwrap();
    sqlx::query(
        "INSERT INTO open_findings (host_key, key_id, episode, first_seen, tier, deadline,
           text_id) VALUES ($1, $2, 1, $3, $4, $5, $6)",
    )
    .bind(host_key)
    .bind(key_id)
    .bind(nanos(at(first_seen)))
    .bind(finding.tier.index() as i64)
    .bind(finding.deadline.map(nanos))
    .bind(text_id)
    .execute(pool)
    .await
    .unwrap();
}
