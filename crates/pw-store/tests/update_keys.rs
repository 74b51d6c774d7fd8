//! Migration 0043 (the console's per-host update summary keyed by integers: the host's finding
//! key and the update's key in `update_keys`) on SQLite and PostgreSQL: a database written at
//! 0042 keeps every summary row under the new keys, the console's readers answer as before
//! (updates, the hosts needing each, overdue hosts), and the write path keeps the rows as a
//! host's findings change, giving a key to an update seen for the first time.

use pw_model::{Finding, Tier};
use pw_store::{Backend, CurrentFinding, DatabaseUrl, HostFilter, PageRequest, Store};

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
    for sql in [
        "INSERT INTO open_update_hosts (package, fixed, host_id, findings, tier, deadline, kev,
           epss)
         SELECT t.package, t.fixed, f.host_id, COUNT(*), MIN(f.tier), MIN(f.deadline),
                MAX(t.kev), MAX(t.epss)
         FROM open_findings_named f JOIN finding_texts t ON t.id = f.text_id
         GROUP BY f.host_id, t.package, t.fixed",
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
    let (stored, grouped) = common::summary_rows(store.pool()).await;
    assert_eq!(stored.len(), 6, "{stored:?}");
    assert_eq!(stored, grouped);
    let s = |text: &str| text.to_owned();
    assert_eq!(
        console(&store).await,
        [
            s("openssl Some(\"3.0.14-1\") t0 1h 1f kev=true epss=Some(0.04) h2"),
            s("openssl Some(\"3.0.13-1\") t1 2h 3f kev=false epss=Some(0.01) h1,h2"),
            s("zlib Some(\"1:1.2.13-2\") t3 1h 1f kev=false epss=None h1"),
            s("curl None t4 2h 2f kev=false epss=Some(0.02) h1,h2"),
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
    for (host, findings) in [("h2", &h2[..]), ("h3", &h3[..])] {
        let current: Vec<CurrentFinding> = (findings.iter())
            .map(|f| CurrentFinding::of(f).unwrap())
            .collect();
        common::record_at(&store, host, "2026-02-01T00:00:00Z", &current).await;
    }
    let (stored, grouped) = common::summary_rows(store.pool()).await;
    assert_eq!(stored.len(), 6, "{stored:?}");
    assert_eq!(stored, grouped);
    assert_eq!(
        console(&store).await,
        [
            s("zlib Some(\"1:1.2.13-2\") t1 2h 2f kev=false epss=None h1,h3"),
            s("openssl Some(\"3.0.13-1\") t1 1h 2f kev=false epss=Some(0.01) h1"),
            s("libxml2 Some(\"2.9.14-2\") t2 1h 1f kev=false epss=Some(0.05) h2"),
            s("curl None t4 2h 2f kev=false epss=Some(0.02) h1,h2"),
        ]
    );
    assert_eq!(overdue(&store, "2026-01-16T00:00:00Z").await, ["h3"]);
}

on_both_backends!(migration_0043_keys_the_summaries);
