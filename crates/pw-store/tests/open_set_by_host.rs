//! Migrations 0046 (the open set without its index by text), 0047 (a text's digest in 16
//! bytes), 0048 (the open set without its foreign keys on PostgreSQL) and 0057 (without them on
//! SQLite too) on SQLite and PostgreSQL: a database written at 0045 keeps every open finding and text,
//! the index is gone, each digest is the first 16 bytes of the text's SHA-256, the write path
//! finds a stored text by it (no second copy), and the readers of an update's or an advisory's
//! open findings — the console's advisories and packages of updates, its search of updates by
//! advisory, the accepted risks' findings — answer from each host's episodes as they did from
//! the index.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use pw_model::{Finding, Tier};
use pw_store::{Backend, CurrentFinding, DatabaseUrl, PageRequest, Store, UpdateFilter};
use sha2::Digest;
use sqlx::Row;

#[macro_use]
mod common;

const SEEN: &str = "2026-01-02T00:00:00Z";
const DUE: &str = "2026-02-01T00:00:00Z";

/// A finding of `binary` (of source `package`, installed `installed`) for `advisory`, fixed in
/// 1.0-2.
fn finding(binary: &str, package: &str, installed: &str, advisory: &str) -> Finding {
    Finding {
        binary: binary.into(),
        installed: installed.into(),
        package: package.into(),
        package_version: installed.into(),
        advisory: advisory.into(),
        aliases: vec![format!("{advisory}-ALIAS")],
        fixed: Some("1.0-2".into()),
        tier: Tier::T1,
        deadline: Some(common::at(DUE)),
        reasons: Vec::new(),
        summary: format!("{advisory} in {binary}"),
        published: None,
        cvss: None,
        epss: None,
        kev: false,
    }
}

/// The open findings at 0045: (host key, finding). CVE-A is open in both packages (src0 on h1
/// and h2 — h2 at another version, so another text —, src1 on h3), CVE-B in src1 only.
fn opens() -> Vec<(i64, Finding)> {
    vec![
        (1, finding("lib0", "src0", "1.0-1", "CVE-A")),
        (1, finding("lib1", "src0", "1.0-1", "CVE-A")),
        (2, finding("lib0", "src0", "0.9-1", "CVE-A")),
        (2, finding("lib2", "src1", "1.0-1", "CVE-B")),
        (3, finding("lib3", "src1", "1.0-1", "CVE-A")),
    ]
}

/// A text stored but open nowhere (its finding closed): CVE-C of src0.
fn closed() -> Finding {
    finding("lib1", "src0", "1.0-1", "CVE-C")
}

fn update_key(package: &str) -> i64 {
    if package == "src0" { 1 } else { 2 }
}

/// A database at migration `last` (≥ 0045) holding [`opens`], their texts (32-byte digests as
/// written), keys and summaries, written with SQL (at 0044, then migrated to `last`), and a
/// pool on it.
async fn database_at(
    backend: Backend,
    last: i64,
) -> (Option<tempfile::TempDir>, DatabaseUrl, sqlx::AnyPool) {
    let (dir, url, pool) = common::unmigrated_database(backend).await;
    common::migrate_up_to(backend, &pool, 44).await;
    common::insert_finding_hosts(&pool, 3, "2026-01-20T00:00:00Z").await;
    for (id, package) in [(1, "src0"), (2, "src1")] {
        sqlx::query("INSERT INTO update_keys (id, package, fixed) VALUES ($1, $2, '1.0-2')")
            .bind(id)
            .bind(package)
            .execute(&pool)
            .await
            .unwrap();
    }
    for (alias, advisory) in [("CVE-A-ALIAS", "CVE-A"), ("CVE-C-ALIAS", "CVE-C")] {
        sqlx::query("INSERT INTO advisory_aliases (alias, advisory) VALUES ($1, $2)")
            .bind(alias)
            .bind(advisory)
            .execute(&pool)
            .await
            .unwrap();
    }
    let mut keys = HashMap::new();
    let mut texts = HashMap::new();
    for f in opens().iter().map(|(_, f)| f).chain([&closed()]) {
        if let Entry::Vacant(key) = keys.entry((f.binary.clone(), f.advisory.clone())) {
            key.insert(common::insert_finding_key(&pool, f).await);
        }
        if let Entry::Vacant(text) = texts.entry(common::finding_text(f)) {
            text.insert(common::insert_finding_text_0044(&pool, f, update_key(&f.package)).await);
        }
    }
    for (host, f) in opens() {
        let key = keys[&(f.binary.clone(), f.advisory.clone())];
        let text = texts[&common::finding_text(&f)];
        common::insert_open_finding(&pool, (host, key, SEEN), &f, text).await;
    }
    common::insert_update_summaries(&pool).await;
    common::migrate_up_to(backend, &pool, last).await;
    (dir, url, pool)
}

/// Whether the open set's index by text exists.
async fn text_index_exists(store: &Store) -> bool {
    let sql = match store.backend() {
        Backend::Sqlite => "SELECT COUNT(*) FROM sqlite_master WHERE name = 'open_episodes_text'",
        Backend::Postgres => {
            "SELECT COUNT(*) FROM pg_indexes WHERE indexname = 'open_episodes_text'"
        }
    };
    let n: i64 = sqlx::query_scalar(sql)
        .fetch_one(store.pool())
        .await
        .unwrap();
    n > 0
}

/// Every text's digest, in id order.
async fn digests(store: &Store) -> Vec<Vec<u8>> {
    sqlx::query("SELECT digest FROM finding_texts ORDER BY id")
        .fetch_all(store.pool())
        .await
        .unwrap()
        .iter()
        .map(|r| r.get("digest"))
        .collect()
}

/// Each advisory of each update asked: (advisory, hosts, the shown text's installed version).
async fn advisories(
    store: &Store,
    asked: &[(&str, Option<&str>)],
) -> Vec<Vec<(String, u64, String)>> {
    let found = store.updates_advisories(asked).await.unwrap();
    (found.iter())
        .map(|update| {
            (update.iter())
                .map(|a| {
                    let f: Finding = serde_json::from_str(&a.finding).unwrap();
                    (a.advisory.clone(), a.hosts, f.installed)
                })
                .collect()
        })
        .collect()
}

/// The packages of the updates fixing `advisory` (the console's search).
async fn fixing(store: &Store, advisory: &str) -> Vec<String> {
    let filter = UpdateFilter {
        advisory: Some(advisory.into()),
        ..Default::default()
    };
    let page = PageRequest {
        offset: 0,
        limit: 50,
    };
    let page = store.update_page(&filter, page).await.unwrap();
    let mut packages: Vec<String> = page.updates.into_iter().map(|u| u.package).collect();
    packages.sort();
    packages
}

/// The open findings naming `advisory` (an accepted risk's): (host, binary), sorted.
async fn naming(store: &Store, advisory: &str, host: Option<&str>) -> Vec<(String, String)> {
    let found = store.open_findings_naming(advisory, host).await.unwrap();
    let mut pairs: Vec<_> = found.into_iter().map(|f| (f.host_id, f.binary)).collect();
    pairs.sort();
    pairs
}

async fn migrations_0046_0047_keep_the_open_set_and_its_readers(backend: Backend) {
    let (_guard, url, pool) = database_at(backend, 45).await;
    let old = sqlx::query("SELECT digest FROM finding_texts ORDER BY id")
        .fetch_all(&pool)
        .await
        .unwrap();
    let old: Vec<Vec<u8>> = old.iter().map(|r| r.get("digest")).collect();
    pool.close().await;
    assert!(old.iter().all(|d| d.len() == 32));
    let store = Store::connect(&url).await.unwrap();
    assert!(
        !text_index_exists(&store).await,
        "0046 drops the index by text"
    );
    let short: Vec<Vec<u8>> = old.iter().map(|d| d[..16].to_vec()).collect();
    assert_eq!(
        digests(&store).await,
        short,
        "0047 keeps each digest's first 16 bytes"
    );
    assert_eq!(store.open_episodes(None).await.unwrap().len(), 5);

    let both = [
        ("src0", Some("1.0-2")),
        ("src1", Some("1.0-2")),
        ("none", None),
    ];
    let a =
        |advisory: &str, hosts: u64, installed: &str| (advisory.into(), hosts, installed.into());
    assert_eq!(
        advisories(&store, &both).await,
        [
            vec![a("CVE-A", 2, "1.0-1")],
            vec![a("CVE-A", 1, "1.0-1"), a("CVE-B", 1, "1.0-1")],
            vec![],
        ]
    );
    assert_eq!(
        store.update_binaries("src0", Some("1.0-2")).await.unwrap(),
        ["lib0", "lib1"]
    );
    assert_eq!(
        store.updates_binaries(&both).await.unwrap(),
        ["lib0", "lib1", "lib2", "lib3"]
    );
    assert_eq!(fixing(&store, " cve-a-alias ").await, ["src0", "src1"]);
    assert!(
        fixing(&store, "CVE-C-ALIAS").await.is_empty(),
        "a text open nowhere"
    );
    let pair = |h: &str, b: &str| (h.to_owned(), b.to_owned());
    assert_eq!(
        naming(&store, "cve-a-alias", None).await,
        [
            pair("h1", "lib0"),
            pair("h1", "lib1"),
            pair("h2", "lib0"),
            pair("h3", "lib3")
        ]
    );
    assert_eq!(
        naming(&store, "CVE-B", Some("h2")).await,
        [pair("h2", "lib2")]
    );
    assert!(naming(&store, "CVE-B", Some("h1")).await.is_empty());
    assert!(naming(&store, "CVE-C", None).await.is_empty());

    // h1 computed again with the same findings: its texts are found by their short digests.
    let current: Vec<CurrentFinding> = (opens().iter())
        .filter(|(host, _)| *host == 1)
        .map(|(_, f)| CurrentFinding::of(f).unwrap())
        .collect();
    common::record_at(&store, "h1", "2026-02-10T00:00:00Z", &current).await;
    assert_eq!(
        digests(&store).await.len(),
        old.len(),
        "no text stored twice"
    );
    // A new text gets the first 16 bytes of its SHA-256.
    let new = finding("lib1", "src0", "1.0-1", "CVE-D");
    let current: Vec<CurrentFinding> =
        [&current[..], &[CurrentFinding::of(&new).unwrap()]].concat();
    common::record_at(&store, "h1", "2026-02-11T00:00:00Z", &current).await;
    let stored = digests(&store).await;
    let expected = sha2::Sha256::digest(common::finding_text(&new).as_bytes());
    assert_eq!(stored.last().unwrap(), &expected[..16]);
    assert_eq!(
        advisories(&store, &both[..1]).await,
        [vec![a("CVE-A", 2, "1.0-1"), a("CVE-D", 1, "1.0-1")]]
    );
}

/// The foreign keys of `open_episodes`: (referenced table, column), sorted.
async fn open_set_references(pool: &sqlx::AnyPool, backend: Backend) -> Vec<(String, String)> {
    let sql = match backend {
        Backend::Sqlite => {
            "SELECT \"table\" AS parent, \"from\" AS col
             FROM pragma_foreign_key_list('open_episodes')"
        }
        Backend::Postgres => {
            "SELECT c.confrelid::regclass::text AS parent, a.attname::text AS col
             FROM pg_constraint c
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
             WHERE c.conrelid = 'open_episodes'::regclass AND c.contype = 'f'"
        }
    };
    let rows = sqlx::query(sql).fetch_all(pool).await.unwrap();
    let mut references: Vec<(String, String)> = (rows.iter())
        .map(|r| (r.get("parent"), r.get("col")))
        .collect();
    references.sort();
    references
}

/// Every open finding (through the view, as every reader reads it: since 0053 a stamp also
/// holds the tier and episode), and the number of texts, keys and hosts, as text.
async fn open_set_rows(pool: &sqlx::AnyPool) -> Vec<String> {
    let mut rows = Vec::new();
    for sql in [
        "SELECT host_key, key_id, episode, first_seen, tier, COALESCE(deadline, -1), text_id
         FROM open_findings ORDER BY host_key, key_id",
        "SELECT (SELECT COUNT(*) FROM finding_texts), (SELECT COUNT(*) FROM finding_keys),
                (SELECT COUNT(*) FROM finding_hosts), (SELECT COUNT(*) FROM open_update_hosts),
                (SELECT COUNT(*) FROM open_updates), (SELECT MAX(id) FROM finding_texts)",
    ] {
        for row in sqlx::query(sql).fetch_all(pool).await.unwrap() {
            let values: Vec<i64> = (0..row.len()).map(|i| row.get::<i64, _>(i)).collect();
            rows.push(format!("{values:?}"));
        }
    }
    rows
}

async fn migrations_0048_0057_drop_the_open_sets_foreign_keys(backend: Backend) {
    let (_guard, url, pool) = database_at(backend, 47).await;
    let three = [
        ("finding_hosts", "host_key"),
        ("finding_keys", "key_id"),
        ("finding_texts", "text_id"),
    ]
    .map(|(t, c)| (t.to_owned(), c.to_owned()));
    assert_eq!(open_set_references(&pool, backend).await, three, "at 0047");
    let before = open_set_rows(&pool).await;
    assert_eq!(before.len(), 5 + 1, "five episodes, the counts");
    // 0048 drops them on PostgreSQL only; SQLite keeps them until 0057 rebuilds its table.
    common::migrate_up_to(backend, &pool, 56).await;
    let kept = match backend {
        Backend::Sqlite => three.to_vec(),
        Backend::Postgres => Vec::new(),
    };
    assert_eq!(open_set_references(&pool, backend).await, kept, "at 0056");
    pool.close().await;

    let store = Store::connect(&url).await.unwrap();
    let pool = store.pool();
    let none: Vec<(String, String)> = Vec::new();
    assert_eq!(open_set_references(pool, backend).await, none, "since 0057");
    assert_eq!(open_set_rows(pool).await, before, "every row kept");
    let episodes = store.open_episodes(Some("h2")).await.unwrap();
    let mut binaries: Vec<_> = episodes.iter().map(|e| e.binary.as_str()).collect();
    binaries.sort();
    assert_eq!(binaries, ["lib0", "lib2"]);
    let pair = |h: &str, b: &str| (h.to_owned(), b.to_owned());
    assert_eq!(
        naming(&store, "CVE-A", None).await,
        [
            pair("h1", "lib0"),
            pair("h1", "lib1"),
            pair("h2", "lib0"),
            pair("h3", "lib3")
        ]
    );
    // The write path opens and closes episodes as before: h3's CVE-A closes, CVE-D opens.
    let new = finding("lib3", "src1", "1.0-1", "CVE-D");
    common::record_at(
        &store,
        "h3",
        "2026-02-10T00:00:00Z",
        &[CurrentFinding::of(&new).unwrap()],
    )
    .await;
    assert!(naming(&store, "CVE-A", Some("h3")).await.is_empty());
    assert_eq!(naming(&store, "CVE-D", None).await, [pair("h3", "lib3")]);
}

on_both_backends!(
    migrations_0046_0047_keep_the_open_set_and_its_readers,
    migrations_0048_0057_drop_the_open_sets_foreign_keys,
);
