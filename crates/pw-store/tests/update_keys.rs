//! Migrations 0043 (the console's per-host update summary keyed by integers: the host's finding
//! key and the update's key in `update_keys`) and 0044 (a finding text names its update by that
//! key) on SQLite and PostgreSQL: a database written at 0042 keeps every summary row under the
//! new keys, one written at 0043 gets every text's update keyed (those no host needs too); the
//! console's readers answer as before (updates, the hosts needing each, their advisories and
//! packages, overdue hosts, the search by advisory), and the write path keeps the rows as a
//! host's findings change, giving a key to an update seen for the first time.

use pw_model::{Finding, Tier};
use pw_store::{
    Backend, CurrentFinding, DatabaseUrl, HostFilter, PageRequest, Store, UpdateFilter,
};
use sqlx::Row;

#[macro_use]
mod common;

use common::at;

const ALL: PageRequest = PageRequest {
    offset: 0,
    limit: 100,
};

/// Finding `k` of package `package` fixed in `fixed`.
fn finding(k: usize, package: &str, fixed: Option<&str>, tier: Tier, due: Option<&str>) -> Finding {
    Finding {
        binary: format!("{package}-bin{}", k % 2),
        installed: "1.0-1".into(),
        package: package.into(),
        package_version: "1.0-1".into(),
        advisory: format!("DEBIAN-CVE-2025-{k:05}"),
        aliases: Vec::new(),
        fixed: fixed.map(Into::into),
        tier,
        deadline: due.map(at),
        reasons: Vec::new(),
        summary: format!("problem {k}"),
        published: None,
        cvss: None,
        epss: (!k.is_multiple_of(3)).then_some(k as f64 / 100.0),
        kev: k == 4,
    }
}

/// Open findings at 0042: (host key 1–3, finding). Host 3 has none.
fn opens() -> Vec<(i64, Finding)> {
    let due = Some("2026-02-01T00:00:00Z");
    let later = Some("2026-03-01T00:00:00.5Z");
    vec![
        (1, finding(0, "openssl", Some("3.0.13-1"), Tier::T1, due)),
        (1, finding(1, "openssl", Some("3.0.13-1"), Tier::T2, later)),
        (1, finding(2, "curl", None, Tier::T4, None)),
        (1, finding(3, "zlib", Some("1:1.2.13-2"), Tier::T3, later)),
        (2, finding(0, "openssl", Some("3.0.13-1"), Tier::T1, later)),
        (2, finding(4, "openssl", Some("3.0.14-1"), Tier::T0, due)),
        (2, finding(2, "curl", None, Tier::T4, None)),
    ]
}

/// A database at 0042 with the open findings of [`opens`] and the summaries the write path kept
/// of them until then (per host id and package, fixed version).
async fn database_at_0042(backend: Backend) -> (Option<tempfile::TempDir>, DatabaseUrl) {
    let (dir, url, pool) = common::unmigrated_database(backend).await;
    common::migrate_up_to(backend, &pool, 42).await;
    common::insert_finding_hosts(&pool, 3, "2026-01-20T00:00:00Z").await;
    let mut keys = std::collections::HashMap::new();
    let mut texts = std::collections::HashMap::new();
    for (host, f) in opens() {
        let key = match keys.get(&(f.binary.clone(), f.advisory.clone())) {
            Some(id) => *id,
            None => common::insert_finding_key(&pool, &f).await,
        };
        keys.insert((f.binary.clone(), f.advisory.clone()), key);
        let text = match texts.get(&common::finding_text(&f)) {
            Some(id) => *id,
            None => common::insert_finding_text_0039(&pool, &f).await,
        };
        texts.insert(common::finding_text(&f), text);
        common::insert_open_finding(&pool, (host, key, "2026-01-02T00:00:00Z"), &f, text).await;
    }
    common::insert_update_hosts_0038(&pool).await;
    for sql in [
        "INSERT INTO open_updates (package, fixed, hosts, findings, tier, deadline, kev, epss)
         SELECT package, fixed, COUNT(*), SUM(findings), MIN(tier), MIN(deadline), MAX(kev),
                MAX(epss)
         FROM open_update_hosts GROUP BY package, fixed",
        "UPDATE host_findings SET earliest_deadline = (SELECT MIN(o.deadline)
           FROM open_update_hosts o WHERE o.host_id = host_findings.host_id)",
    ] {
        sqlx::query(sql).execute(&pool).await.unwrap();
    }
    pool.close().await;
    (dir, url)
}

/// The updates of the console's first page: package, fixed version, tier, hosts, findings,
/// KEV, EPSS, and the hosts needing each (ids).
async fn console(store: &Store) -> Vec<String> {
    let page = store.update_page(&Default::default(), ALL).await.unwrap();
    let keys: Vec<(&str, Option<&str>)> = (page.updates.iter())
        .map(|u| (u.package.as_str(), u.fixed.as_deref()))
        .collect();
    let hosts = store.updates_hosts(&keys, 10).await.unwrap();
    (page.updates.iter().zip(hosts))
        .map(|(u, hosts)| {
            let ids: Vec<String> = hosts.into_iter().map(|(id, _)| id).collect();
            format!(
                "{} {:?} t{} {}h {}f kev={} epss={:?} {}",
                u.package,
                u.fixed,
                u.tier,
                u.hosts,
                u.findings,
                u.kev,
                u.epss,
                ids.join(",")
            )
        })
        .collect()
}

/// Records each host's findings computed at 2026-02-01, then checks the summary rows.
async fn record_all(store: &Store, computations: &[(&str, &[Finding])], rows: usize) {
    for (host, findings) in computations {
        let current: Vec<CurrentFinding> = (findings.iter())
            .map(|f| CurrentFinding::of(f).unwrap())
            .collect();
        common::record_at(store, host, "2026-02-01T00:00:00Z", &current).await;
    }
    check_rows(store, rows).await;
}

/// The summary rows (`rows` of them) are the open findings grouped.
async fn check_rows(store: &Store, rows: usize) {
    let (stored, grouped) = common::summary_rows(store.pool()).await;
    assert_eq!(stored.len(), rows, "{stored:?}");
    assert_eq!(stored, grouped);
}

async fn overdue(store: &Store, instant: &str) -> Vec<String> {
    let filter = HostFilter {
        overdue_at: Some(at(instant)),
        ..Default::default()
    };
    let page = store.host_page(&filter, ALL).await.unwrap();
    page.hosts.into_iter().map(|h| h.id).collect()
}

async fn migration_0043_keys_the_summaries(backend: Backend) {
    let (_guard, url) = database_at_0042(backend).await;
    let store = Store::connect(&url).await.unwrap();
    check_rows(&store, 6).await;
    assert_eq!(
        console(&store).await,
        [
            "openssl Some(\"3.0.14-1\") t0 1h 1f kev=true epss=Some(0.04) h2",
            "openssl Some(\"3.0.13-1\") t1 2h 3f kev=false epss=Some(0.01) h1,h2",
            "zlib Some(\"1:1.2.13-2\") t3 1h 1f kev=false epss=None h1",
            "curl None t4 2h 2f kev=false epss=Some(0.02) h1,h2",
        ]
    );
    assert_eq!(
        overdue(&store, "2026-02-01T00:00:00.1Z").await,
        ["h1", "h2"]
    );
    assert!(overdue(&store, "2026-02-01T00:00:00Z").await.is_empty());

    // Host 2 fixes openssl 3.0.14-1, keeps curl, and needs a new update (of a package no host
    // needed before); host 3 needs zlib.
    let h2 = [
        finding(2, "curl", None, Tier::T4, None),
        finding(
            5,
            "libxml2",
            Some("2.9.14-2"),
            Tier::T2,
            Some("2026-04-01T00:00:00Z"),
        ),
    ];
    let h3 = [finding(
        3,
        "zlib",
        Some("1:1.2.13-2"),
        Tier::T1,
        Some("2026-01-15T00:00:00Z"),
    )];
    record_all(&store, &[("h2", &h2[..]), ("h3", &h3[..])], 6).await;
    assert_eq!(
        console(&store).await,
        [
            "zlib Some(\"1:1.2.13-2\") t1 2h 2f kev=false epss=None h1,h3",
            "openssl Some(\"3.0.13-1\") t1 1h 2f kev=false epss=Some(0.01) h1",
            "libxml2 Some(\"2.9.14-2\") t2 1h 1f kev=false epss=Some(0.05) h2",
            "curl None t4 2h 2f kev=false epss=Some(0.02) h1,h2",
        ]
    );
    assert_eq!(overdue(&store, "2026-01-16T00:00:00Z").await, ["h3"]);
}

/// A database at 0043: texts of openssl 3.0.13-1 (open on h1, its update keyed 7 by a summary),
/// curl (no fixed version) and libxml2 2.9.14-2 (open nowhere, no key yet).
async fn database_at_0043(backend: Backend) -> (Option<tempfile::TempDir>, DatabaseUrl) {
    let (dir, url, pool) = common::unmigrated_database(backend).await;
    common::migrate_up_to(backend, &pool, 43).await;
    common::insert_finding_hosts(&pool, 2, "2026-01-20T00:00:00Z").await;
    let due = Some("2026-02-01T00:00:00Z");
    let open = finding(0, "openssl", Some("3.0.13-1"), Tier::T1, due);
    let text = common::insert_finding_text_0039(&pool, &open).await;
    for f in [
        finding(2, "curl", None, Tier::T4, None),
        finding(5, "libxml2", Some("2.9.14-2"), Tier::T2, due),
    ] {
        common::insert_finding_text_0039(&pool, &f).await;
    }
    let key = common::insert_finding_key(&pool, &open).await;
    common::insert_open_finding(&pool, (1, key, "2026-01-02T00:00:00Z"), &open, text).await;
    for sql in [
        "INSERT INTO update_keys (id, package, fixed) VALUES (7, 'openssl', '3.0.13-1')",
        "INSERT INTO open_update_hosts (host_key, update_key, findings, tier, deadline, kev, epss)
         SELECT 1, 7, 1, 1, MIN(deadline), 0, NULL FROM open_findings",
        "INSERT INTO open_updates (package, fixed, hosts, findings, tier, deadline, kev, epss)
         SELECT 'openssl', '3.0.13-1', 1, 1, 1, MIN(deadline), 0, NULL FROM open_findings",
        "UPDATE host_findings SET earliest_deadline = (SELECT MIN(deadline) FROM open_findings)
         WHERE host_id = 'h1'",
        "INSERT INTO advisory_aliases (alias, advisory)
         VALUES ('CVE-2025-00000', 'DEBIAN-CVE-2025-00000')",
    ] {
        sqlx::query(sql).execute(&pool).await.unwrap();
    }
    pool.close().await;
    (dir, url)
}

/// Every text's update by key: (text id, key, package, fixed version).
async fn text_updates(store: &Store) -> Vec<(i64, i64, String, String)> {
    let rows = sqlx::query(
        "SELECT t.id, k.id AS update_key, k.package, k.fixed
         FROM finding_texts t JOIN update_keys k ON k.id = t.update_key ORDER BY t.id",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    (rows.iter())
        .map(|r| {
            (
                r.get("id"),
                r.get("update_key"),
                r.get("package"),
                r.get("fixed"),
            )
        })
        .collect()
}

async fn migration_0044_keys_every_text(backend: Backend) {
    let (_guard, url) = database_at_0043(backend).await;
    let store = Store::connect(&url).await.unwrap();
    let texts = text_updates(&store).await;
    let names: Vec<(i64, &str, &str)> = (texts.iter())
        .map(|(id, _, package, fixed)| (*id, package.as_str(), fixed.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            (1, "openssl", "3.0.13-1"),
            (2, "curl", ""),
            (3, "libxml2", "2.9.14-2")
        ]
    );
    assert_eq!(texts[0].1, 7, "a key given before is kept");
    let columns: i64 = sqlx::query_scalar(match backend {
        Backend::Sqlite => {
            "SELECT COUNT(*) FROM pragma_table_info('finding_texts')
             WHERE name IN ('package', 'fixed')"
        }
        Backend::Postgres => {
            "SELECT COUNT(*) FROM information_schema.columns
             WHERE table_name = 'finding_texts' AND column_name IN ('package', 'fixed')"
        }
    })
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(
        columns, 0,
        "the update's names are no longer repeated on each text"
    );
    let changed = sqlx::query("UPDATE finding_texts SET update_key = $1 WHERE id = 1")
        .bind(texts[1].1)
        .execute(store.pool())
        .await;
    assert!(changed.is_err(), "a text's update never changes");

    // The console's readers through the keys.
    let openssl = [("openssl", Some("3.0.13-1"))];
    let advisories = store.updates_advisories(&openssl).await.unwrap();
    let names: Vec<(&str, u64)> = (advisories[0].iter())
        .map(|a| (a.advisory.as_str(), a.hosts))
        .collect();
    assert_eq!(names, [("DEBIAN-CVE-2025-00000", 1)]);
    assert_eq!(
        store
            .update_binaries("openssl", Some("3.0.13-1"))
            .await
            .unwrap(),
        ["openssl-bin0"]
    );
    let search = UpdateFilter {
        advisory: Some("cve-2025-00000".into()),
        ..Default::default()
    };
    let found = store.update_page(&search, ALL).await.unwrap();
    assert_eq!(found.total, 1);
    assert_eq!(found.updates[0].package, "openssl");

    // h2 needs curl and libxml2 (texts keyed by the migration) and zlib (a new text of a new
    // update); h1's openssl is fixed.
    let h2 = [
        finding(2, "curl", None, Tier::T4, None),
        finding(
            5,
            "libxml2",
            Some("2.9.14-2"),
            Tier::T2,
            Some("2026-04-01T00:00:00Z"),
        ),
        finding(
            3,
            "zlib",
            Some("1:1.2.13-2"),
            Tier::T1,
            Some("2026-01-15T00:00:00Z"),
        ),
    ];
    record_all(&store, &[("h2", &h2[..]), ("h1", &[][..])], 3).await;
    assert_eq!(
        console(&store).await,
        [
            "zlib Some(\"1:1.2.13-2\") t1 1h 1f kev=false epss=None h2",
            "libxml2 Some(\"2.9.14-2\") t2 1h 1f kev=false epss=Some(0.05) h2",
            "curl None t4 1h 1f kev=false epss=Some(0.02) h2",
        ]
    );
    assert_eq!(
        text_updates(&store).await.len(),
        4,
        "one new text: zlib's (libxml2's differs by its deadline only)"
    );
}

on_both_backends!(
    migration_0043_keys_the_summaries,
    migration_0044_keys_every_text
);
