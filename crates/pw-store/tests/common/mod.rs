//! Helpers shared by pw-store's integration tests: instants, a fresh database on either backend
//! (a SQLite file in a temporary directory, or a new database on the test process's PostgreSQL
//! server from `pw_testbed::postgres`), one with host `h1` (`web-1`) enrolled, ordinary writers
//! waiting in the writers' line, and [`on_both_backends!`], which turns each test into one test
//! per backend.

#![allow(dead_code, unused_macros)]

pub mod findings;
pub mod migrating;
pub mod open_0052;

pub use migrating::*;

use jiff::Timestamp;
use pw_store::{Backend, DatabaseUrl, InventoryFacts, InventoryRow, NewHost, Store};

/// Runs each named `async fn NAME(backend: Backend)` as two tests, `sqlite::NAME` and
/// `postgres::NAME`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(pw_store::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(pw_store::Backend::Postgres).await
                }
            )*
        }
    };
}

pub fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

/// An empty Debian 12 inventory collected at `collected_at`.
pub fn inventory(collected_at: &str) -> InventoryRow {
    InventoryRow {
        facts: InventoryFacts {
            collected_at: at(collected_at),
            os: "debian:12".into(),
            reboot_required: false,
            reboot_required_by: "[]".into(),
            restart: None,
        },
        packages: Vec::new(),
        backport_history: None,
    }
}

/// A pending upgrade of `package` to `to` from the security suite (no CVEs known).
pub fn offer(package: &str, to: &str) -> pw_store::PendingRow {
    pw_store::PendingRow {
        package: package.into(),
        arch: "amd64".into(),
        from_version: "1.0-1".into(),
        to_version: to.into(),
        origin: "Debian-Security".into(),
        suite: "bookworm-security".into(),
        cves: None,
    }
}

/// What keeps a test database alive: the SQLite file's directory (a PostgreSQL database lives as
/// long as the test process's server).
pub struct Guard {
    _dir: Option<tempfile::TempDir>,
}

/// A new, empty, migrated database on `backend`.
pub async fn fresh_store(backend: Backend) -> (Guard, Store) {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open(&dir.path().join("sub/patchwarden.db"))
                .await
                .unwrap();
            (Guard { _dir: Some(dir) }, store)
        }
        Backend::Postgres => {
            let cluster = pw_testbed::postgres::shared();
            let url = DatabaseUrl::parse(&cluster.database().unwrap()).unwrap();
            let store = Store::connect(&url).await.unwrap();
            assert_eq!(store.backend(), Backend::Postgres);
            (Guard { _dir: None }, store)
        }
    }
}

/// A new database on `backend` with host `h1` enrolled.
pub async fn store_with_host(backend: Backend) -> (Guard, Store) {
    let (guard, store) = fresh_store(backend).await;
    let expires = at("2100-01-01T00:00:00Z");
    store
        .create_enrollment_token("tok-1", "sha", expires, None, "alice")
        .await
        .unwrap();
    let host = NewHost {
        id: "h1",
        hostname: "web-1",
        fingerprint: "fp",
        not_after: expires,
    };
    store
        .enroll("sha", at("2026-01-01T00:00:00Z"), &host)
        .await
        .unwrap()
        .unwrap();
    (guard, store)
}

/// Enrolls host `id` (its own token; named as its id).
pub async fn enroll(store: &Store, id: &str) {
    enroll_named(store, id, id).await
}

/// Enrolls host `id` named `hostname` (its own token).
pub async fn enroll_named(store: &Store, id: &str, hostname: &str) {
    let token = format!("tok-{id}");
    let expires = at("2100-01-01T00:00:00Z");
    store
        .create_enrollment_token(&token, &token, expires, None, "alice")
        .await
        .unwrap();
    let host = NewHost {
        id,
        hostname,
        fingerprint: id,
        not_after: expires,
    };
    let now = at("2026-01-01T00:00:00Z");
    store.enroll(&token, now, &host).await.unwrap().unwrap();
}

/// Rollout `r1` of host `h1` (from [`store_with_host`]) in the state named `host_state`, created
/// by `olga`.
pub async fn rollout_r1(store: &Store, host_state: &str) {
    rollout_r1_of(store, &["h1".to_owned()], host_state).await;
}

/// Rollout r1 over `hosts`, each in `host_state` with the state JSON `{}`.
pub async fn rollout_r1_of(store: &Store, hosts: &[String], host_state: &str) {
    let rollout = pw_store::NewRollout {
        id: "r1".into(),
        plan_json: "{}".into(),
        policy_json: "{}".into(),
        checks_json: "[]".into(),
        protection_steps_json: "[]".into(),
        hosts: (hosts.iter())
            .map(|id| (id.clone(), "{}".into(), host_state.into()))
            .collect(),
        plan: None,
    };
    store.create_rollout(&rollout, "olga").await.unwrap();
}

/// Records `current` as host `host`'s findings computed at `when` (an empty ranked list).
pub async fn record_at(
    store: &Store,
    host: &str,
    when: &str,
    current: &[pw_store::CurrentFinding],
) -> pw_store::Recorded {
    store
        .record_findings(&pw_store::FindingsSnapshot {
            host_id: host,
            inventory_collected_at: at(when),
            computed_at: at(when),
            source: "test",
            findings_json: "[]",
            tier_counts_json: "[0,0,0,0,0]",
            current,
            backported: &[],
        })
        .await
        .unwrap()
}

/// Hosts `h1`, `h2`, … (`hosts` of them, named `web-1`, …) with a computation at `computed_at`
/// and finding keys 1, 2, … (`finding_hosts`, since 0037), written with SQL.
pub async fn insert_finding_hosts(pool: &sqlx::AnyPool, hosts: i64, computed_at: &str) {
    for host in 1..=hosts {
        let id = format!("h{host}");
        insert_host_computed(pool, &id, &format!("web-{host}"), computed_at).await;
        sqlx::query("INSERT INTO finding_hosts (key, host_id) VALUES ($1, $2)")
            .bind(host)
            .bind(&id)
            .execute(pool)
            .await
            .unwrap();
    }
}

/// Every host's summary rows (`open_update_hosts`, keyed by integers since 0043) and the same
/// grouped from its open findings (their texts' updates, by key since 0044), each as a line of text: host, package, fixed version,
/// findings, tier, deadline, KEV, EPSS.
pub async fn summary_rows(pool: &sqlx::AnyPool) -> (Vec<String>, Vec<String>) {
    use sqlx::Row;
    let read = |sql: &'static str| async move {
        let rows = sqlx::query(sql).fetch_all(pool).await.unwrap();
        rows.iter()
            .map(|r| {
                let (package, fixed, host): (String, String, String) =
                    (r.get("package"), r.get("fixed"), r.get("host_id"));
                let (findings, tier, kev): (i64, i64, i64) =
                    (r.get("findings"), r.get("tier"), r.get("kev"));
                let deadline: Option<i64> = r.get("deadline");
                let epss = epss(r);
                format!("{host} {package} {fixed} {findings} {tier} {deadline:?} {kev} {epss:?}")
            })
            .collect::<Vec<String>>()
    };
    let stored = read(
        "SELECT h.host_id, k.package, k.fixed, o.findings, o.tier, o.deadline, o.kev, o.epss
         FROM open_update_hosts o
         JOIN finding_hosts h ON h.key = o.host_key
         JOIN update_keys k ON k.id = o.update_key
         ORDER BY h.host_id, k.package, k.fixed",
    )
    .await;
    let grouped = read(
        "SELECT f.host_id, k.package, k.fixed, COUNT(*) AS findings, MIN(f.tier) AS tier,
                MIN(f.deadline) AS deadline, MAX(t.kev) AS kev,
                CAST(MAX(t.epss) AS DOUBLE PRECISION) AS epss
         FROM open_findings_named f JOIN finding_texts t ON t.id = f.text_id
         JOIN update_keys k ON k.id = t.update_key
         GROUP BY f.host_id, k.package, k.fixed ORDER BY f.host_id, k.package, k.fixed",
    )
    .await;
    (stored, grouped)
}

/// A summary row's `epss`: a probability (`DOUBLE PRECISION` before migration 0054), or parts
/// per billion (an integer since) read as its probability.
pub fn epss(row: &sqlx::any::AnyRow) -> Option<f64> {
    use sqlx::Row;
    match row.try_get::<Option<f64>, _>("epss") {
        Ok(probability) => probability,
        Err(_) => (row.get::<Option<i64>, _>("epss")).map(|parts| parts as f64 / 1e9),
    }
}

/// On PostgreSQL, `relation`'s bytes (`pg_relation_size`) per row of `rows`.
pub async fn bytes_per_row(pool: &sqlx::AnyPool, relation: &str, rows: i64) -> i64 {
    let sql = "SELECT pg_relation_size(CAST($1 AS regclass)) / $2";
    let query = sqlx::query_scalar(sql).bind(relation).bind(rows);
    query.fetch_one(pool).await.unwrap()
}

/// Host `host`'s inventory of round `round` stored, then a computation of `current` (nothing
/// backported) recorded a minute later.
pub async fn record_round(
    store: &pw_store::Store,
    (host, round): (&str, u32),
    current: &[pw_store::CurrentFinding],
    computation: pw_store::Computation<'_>,
) {
    let collected = at("2026-01-01T00:00:00Z") + jiff::SignedDuration::from_hours(i64::from(round));
    let inventory = inventory(&collected.to_string());
    (store.store_inventory(host, host, inventory, None).await).unwrap();
    let snapshot = pw_store::FindingsSnapshot {
        host_id: host,
        inventory_collected_at: collected,
        computed_at: collected + jiff::SignedDuration::from_mins(1),
        source: "test",
        findings_json: "[]",
        tier_counts_json: "[0,0,0,0,0]",
        current,
        backported: &[],
    };
    (store.record_computation(&snapshot, &computation).await).unwrap();
}

/// What the summaries say and what the open findings say, per host and update, tier and
/// deadline; each side as text.
pub async fn both_sides(store: &pw_store::Store) -> (Vec<String>, Vec<String>) {
    use sqlx::Row;
    let (mut stored, mut grouped) = summary_rows(store.pool()).await;
    let read = |sql: &'static str| async move {
        let rows = sqlx::query(sql).fetch_all(store.pool()).await.unwrap();
        (rows.iter())
            .map(|r| {
                let deadline: Option<i64> = r.get("deadline");
                let (host, tier, n): (String, i64, i64) =
                    (r.get("host_id"), r.get("t"), r.get("n"));
                format!("{host} T{tier} {deadline:?} {n}")
            })
            .collect::<Vec<_>>()
    };
    stored.extend(
        read(
            "SELECT host_id, tier AS t, deadline, findings AS n FROM open_tier_hosts
             ORDER BY host_id, tier, deadline",
        )
        .await,
    );
    grouped.extend(
        read(
            "SELECT host_id, tier AS t, deadline, COUNT(*) AS n FROM open_findings_named
             GROUP BY host_id, tier, deadline ORDER BY host_id, tier, deadline",
        )
        .await,
    );
    let earliest = |sql: &'static str| async move {
        let rows = sqlx::query(sql).fetch_all(store.pool()).await.unwrap();
        (rows.iter())
            .map(|r| {
                format!(
                    "{} {:?}",
                    r.get::<String, _>("host_id"),
                    r.get::<Option<i64>, _>("d")
                )
            })
            .collect::<Vec<_>>()
    };
    stored.extend(
        earliest(
            "SELECT host_id, earliest_deadline AS d FROM host_findings
             WHERE host_id IN (SELECT host_id FROM open_findings_named) ORDER BY host_id",
        )
        .await,
    );
    grouped.extend(
        earliest(
            "SELECT host_id, MIN(deadline) AS d FROM open_findings_named
             GROUP BY host_id ORDER BY host_id",
        )
        .await,
    );
    (stored, grouped)
}

/// The per-host update summary the write path keeps (`open_update_hosts`, since 0026), grouped
/// from the open findings with SQL, in its form of 0038–0042 (by host id, package and fixed
/// version).
pub async fn insert_update_hosts_0038(pool: &sqlx::AnyPool) {
    sqlx::query(
        "INSERT INTO open_update_hosts (package, fixed, host_id, findings, tier, deadline, kev,
           epss)
         SELECT t.package, t.fixed, f.host_id, COUNT(*), MIN(f.tier), MIN(f.deadline),
                MAX(t.kev), MAX(t.epss)
         FROM open_findings_named f JOIN finding_texts t ON t.id = f.text_id
         GROUP BY f.host_id, t.package, t.fixed",
    )
    .execute(pool)
    .await
    .unwrap();
}

/// The summaries the write path keeps, grouped from the open findings with SQL in their form
/// since 0044 (keyed by integers, each text naming its update): per host and update
/// (`open_update_hosts`), then per update (`open_updates`).
pub async fn insert_update_summaries(pool: &sqlx::AnyPool) {
    sqlx::query(
        "INSERT INTO open_update_hosts (host_key, update_key, findings, tier, deadline, kev, epss)
         SELECT o.host_key, t.update_key, COUNT(*), MIN(o.tier), MIN(o.deadline), MAX(t.kev),
                MAX(t.epss)
         FROM open_findings o JOIN finding_texts t ON t.id = o.text_id
         GROUP BY o.host_key, t.update_key",
    )
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO open_updates (package, fixed, hosts, findings, tier, deadline, kev, epss)
         SELECT k.package, k.fixed, COUNT(*), SUM(o.findings), MIN(o.tier), MIN(o.deadline),
                MAX(o.kev), MAX(o.epss)
         FROM open_update_hosts o JOIN update_keys k ON k.id = o.update_key
         GROUP BY k.package, k.fixed",
    )
    .execute(pool)
    .await
    .unwrap();
}

/// The order writers took their turns in, as they noted it.
pub type Order = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// `count` ordinary writers, each in the process's line of writers before the next (50 ms
/// apart), each noting `ordinary {i}` in `order` in its turn.
pub async fn ordinary_writers(
    store: &Store,
    order: &Order,
    count: usize,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut writers = Vec::new();
    for i in 0..count {
        let (store, order) = (store.clone(), order.clone());
        writers.push(tokio::spawn(async move {
            let tx = store.begin_immediate().await.unwrap();
            order.lock().unwrap().push(format!("ordinary {i}"));
            tx.commit().await.unwrap();
        }));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    writers
}
