//! The fleet the re-rank tests build (`rerank_part.rs`, `rerank_whole.rs`): hosts with
//! overlapping inventories, pending upgrades with CVEs, a changelog naming a CVE (backported),
//! two advisory imports, then a third re-ranked in part or whole.
#![allow(dead_code)]

use jiff::Timestamp;
use std::sync::Arc;

use pw_controller::findings::{IntelligenceCache, Scanned, Why, scan_stored};
use pw_controller::rerank::Affected;
use pw_controller::scan_queue::Scope;
use pw_model::InstalledPackage;
use pw_store::{Backend, DatabaseUrl, InventoryFacts, InventoryRow, NewHost, PendingRow, Store};

pub fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

pub async fn fresh_store(backend: Backend) -> (Option<tempfile::TempDir>, Store) {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open(&dir.path().join("patchwarden.db"))
                .await
                .unwrap();
            (Some(dir), store)
        }
        Backend::Postgres => {
            let cluster = pw_testbed::postgres::shared();
            let url = DatabaseUrl::parse(&cluster.database().unwrap()).unwrap();
            (None, Store::connect(&url).await.unwrap())
        }
    }
}

/// An OSV record of Debian 12's `package`: affected from 0, fixed in `fixed` (none: every
/// version), published `published`, with a CVSS v3 vector when `critical`.
pub fn osv(
    id: &str,
    package: &str,
    fixed: Option<&str>,
    published: &str,
    critical: bool,
) -> String {
    let fixed = fixed.map_or(String::new(), |f| format!(r#", {{"fixed": "{f}"}}"#));
    let severity = match critical {
        true => {
            r#""severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],"#
        }
        false => "",
    };
    let cve = id.replace("DEBIAN-", "");
    format!(
        r#"{{"id": "{id}", "modified": "{published}", "published": "{published}", "aliases": ["{cve}"], {severity}
  "summary": "{package} problem", "affected": [{{"package": {{"ecosystem": "Debian:12", "name": "{package}"}},
    "ranges": [{{"type": "ECOSYSTEM", "events": [{{"introduced": "0"}}{fixed}]}}]}}]}}"#
    )
    .replace('\n', " ")
}

/// The advisories of the first two imports.
pub fn first_records() -> Vec<String> {
    vec![
        osv(
            "DEBIAN-CVE-2026-0001",
            "openssl",
            Some("3.0.15-1"),
            "2026-01-01T00:00:00Z",
            true,
        ),
        osv(
            "DEBIAN-CVE-2026-0002",
            "openssl",
            Some("3.0.16-1"),
            "2026-01-02T00:00:00Z",
            false,
        ),
        osv(
            "DEBIAN-CVE-2026-0003",
            "curl",
            Some("7.88.1-11"),
            "2026-01-03T00:00:00Z",
            false,
        ),
        osv(
            "DEBIAN-CVE-2026-0004",
            "curl",
            Some("7.88.1-12"),
            "2026-01-04T00:00:00Z",
            true,
        ),
        osv(
            "DEBIAN-CVE-2026-0005",
            "zlib",
            Some("1:1.2.13-2"),
            "2026-01-05T00:00:00Z",
            false,
        ),
        osv(
            "DEBIAN-CVE-2026-0006",
            "bash",
            Some("5.2.15-3"),
            "2026-01-06T00:00:00Z",
            false,
        ),
        osv(
            "DEBIAN-CVE-2026-0007",
            "bash",
            Some("5.2.15-2"),
            "2026-01-07T00:00:00Z",
            true,
        ),
        // Packages the third import does not name: their findings stay as stored.
        osv(
            "DEBIAN-CVE-2026-0011",
            "tar",
            Some("1.0-2"),
            "2026-01-11T00:00:00Z",
            false,
        ),
        osv(
            "DEBIAN-CVE-2026-0012",
            "tar",
            Some("1.0-3"),
            "2026-01-12T00:00:00Z",
            true,
        ),
        osv(
            "DEBIAN-CVE-2026-0013",
            "sudo",
            Some("1.0-2"),
            "2026-01-13T00:00:00Z",
            false,
        ),
        osv(
            "DEBIAN-CVE-2026-0014",
            "git",
            Some("1.0-2"),
            "2026-01-14T00:00:00Z",
            false,
        ),
        // Left out: DEBIAN-CVE-2026-0002, a better-ranked source, covers its CVE for openssl.
        osv(
            "DEBCL-CVE-2026-0002",
            "openssl",
            Some("3.0.17-1"),
            "2026-01-02T00:00:00Z",
            false,
        ),
        // A changelog's record of tar: left out once a better source covers its CVE.
        osv(
            "DEBCL-CVE-2026-0015",
            "tar",
            Some("1.0-2"),
            "2026-01-15T00:00:00Z",
            false,
        ),
        // Merged with DEBIAN-CVE-2026-0003 (the same CVE).
        merged("DSA-9001", "curl", "CVE-2026-0003", "2026-01-03T00:00:00Z"),
    ]
}

/// An advisory of `package` naming `cve`, fixed in 7.88.1-11.
fn merged(id: &str, package: &str, cve: &str, published: &str) -> String {
    let record = osv(id, package, Some("7.88.1-11"), published, false);
    record.replace(
        &format!(r#""aliases": ["{id}"]"#),
        &format!(r#""aliases": ["{cve}"]"#),
    )
}

/// The third import: openssl's first advisory published again later (its deadlines move), a
/// score added to curl's first, zlib's fix dropped (every zlib version affected), bash's second
/// fixed earlier than installed (its findings close), a new advisory for curl, openssl's
/// second withdrawn, a better source for tar's changelog record, curl's DSA moved to another
/// CVE.
pub fn third_records() -> Vec<String> {
    vec![
        osv(
            "DEBIAN-CVE-2026-0001",
            "openssl",
            Some("3.0.15-1"),
            "2026-03-01T00:00:00Z",
            true,
        ),
        osv(
            "DEBIAN-CVE-2026-0003",
            "curl",
            Some("7.88.1-11"),
            "2026-01-03T00:00:00Z",
            true,
        ),
        osv(
            "DEBIAN-CVE-2026-0005",
            "zlib",
            None,
            "2026-01-05T00:00:00Z",
            false,
        ),
        osv(
            "DEBIAN-CVE-2026-0007",
            "bash",
            Some("5.2.15-1"),
            "2026-01-07T00:00:00Z",
            true,
        ),
        osv(
            "DEBIAN-CVE-2026-0008",
            "curl",
            None,
            "2026-03-02T00:00:00Z",
            false,
        ),
        // Withdrawn: the changelog's record of its CVE is no longer left out.
        osv(
            "DEBIAN-CVE-2026-0002",
            "openssl",
            Some("3.0.16-1"),
            "2026-03-03T00:00:00Z",
            false,
        )
        .replacen('{', r#"{"withdrawn": "2026-03-03T00:00:00Z", "#, 1),
        // A better source for tar's changelog CVE, fixed in the version installed: not a
        // finding itself, it leaves the changelog's record out.
        osv(
            "DEBIAN-CVE-2026-0015",
            "tar",
            Some("1.0-1"),
            "2026-03-05T00:00:00Z",
            false,
        ),
        // Now about curl's other CVE: it leaves 0003's finding and joins 0004's.
        merged("DSA-9001", "curl", "CVE-2026-0004", "2026-03-04T00:00:00Z"),
        // git's, published later: sudo's pending upgrade names its CVE, so sudo (a package
        // the import does not name) is re-ranked whole with its own findings.
        osv(
            "DEBIAN-CVE-2026-0014",
            "git",
            Some("1.0-2"),
            "2026-03-06T00:00:00Z",
            false,
        ),
    ]
}

pub async fn import(store: &Store, name: &str, records: &[String]) {
    let input = pw_feeds::Input::new(name, records.join("\n").into_bytes());
    pw_feeds::import(store, &[input], &pw_feeds::Silent)
        .await
        .unwrap();
}

pub fn package(name: &str, version: &str, source: Option<(&str, &str)>) -> InstalledPackage {
    InstalledPackage {
        name: name.into(),
        version: version.into(),
        arch: "amd64".into(),
        source: source.map(|s| s.0.to_owned()),
        source_version: source.map(|s| s.1.to_owned()),
    }
}

pub fn pending(package: &str, from: &str, to: &str, cves: Option<&str>) -> PendingRow {
    PendingRow {
        package: package.into(),
        arch: "amd64".into(),
        from_version: from.into(),
        to_version: to.into(),
        origin: "Debian".into(),
        suite: "bookworm-security".into(),
        cves: cves.map(str::to_owned),
    }
}

/// Host `n`'s inventory: every host has openssl and bash; odd ones curl, even ones zlib (with
/// a changelog naming zlib's CVE, so it is backported), and pending upgrades naming CVEs.
pub fn inventory(n: usize) -> (InventoryRow, Vec<PendingRow>) {
    let mut packages = vec![
        package("libssl3", "3.0.14-1", Some(("openssl", "3.0.14-1"))),
        package("openssl", "3.0.14-1", None),
        package("bash", "5.2.15-2", None),
        package("coreutils", "9.1-1", None),
        package("tar", "1.0-1", None),
        package("sudo", "1.0-1", None),
        package("git", "1.0-1", None),
        package("git-man", "1.0-1", Some(("git", "1.0-1"))),
    ];
    let mut history = std::collections::BTreeMap::new();
    let mut upgrades = vec![
        pending("coreutils", "9.1-1", "9.1-2", Some(r#"["CVE-2026-0901"]"#)),
        pending("sudo", "1.0-1", "1.0-2", Some(r#"["CVE-2026-0014"]"#)),
    ];
    if !n.is_multiple_of(2) {
        packages.push(package("curl", "7.88.1-10", None));
        packages.push(package(
            "libcurl4",
            "7.88.1-10",
            Some(("curl", "7.88.1-10")),
        ));
        upgrades.push(pending(
            "libcurl4",
            "7.88.1-10",
            "7.88.1-12",
            Some(r#"["CVE-2026-0004"]"#),
        ));
    } else {
        packages.push(package(
            "zlib1g",
            "1:1.2.13-1",
            Some(("zlib", "1:1.2.13-1")),
        ));
        history.insert("zlib1g".to_owned(), vec!["CVE-2026-0005".to_owned()]);
        upgrades.push(pending(
            "bash",
            "5.2.15-2",
            "5.2.15-4",
            Some(r#"["CVE-2026-0006"]"#),
        ));
    }
    let row = InventoryRow {
        facts: InventoryFacts {
            collected_at: at("2026-02-01T00:00:00Z"),
            os: "debian:12".into(),
            reboot_required: false,
            reboot_required_by: "[]".into(),
            restart: None,
        },
        packages,
        backport_history: n.is_multiple_of(2).then_some(history),
    };
    (row, upgrades)
}

pub const HOSTS: usize = 4;

pub fn host_id(n: usize) -> String {
    format!("host-{n}")
}

/// Every host scanned for `why` at `now`; the outcomes.
pub async fn scan_all(
    cache: &IntelligenceCache,
    store: &Store,
    now: &str,
    why: Why<'_>,
) -> Vec<Scanned> {
    let mut outcomes = Vec::new();
    for n in 0..HOSTS {
        outcomes.push(
            scan_stored(cache, store, &host_id(n), at(now), why)
                .await
                .unwrap(),
        );
    }
    outcomes
}

/// How the fleet's last re-rank goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// Every host scanned whole (its ranking basis forgotten), one by one.
    Whole,
    /// Through the partial path, one host at a time.
    Part,
    /// Through the partial path, every host in one group (`scan_group.rs`: read together,
    /// written in one transaction).
    Grouped,
}

/// Every host scanned for the import that changed `affected` at `now`, in one group.
pub async fn scan_grouped(
    cache: &Arc<IntelligenceCache>,
    store: &Store,
    now: &str,
    affected: &Affected,
) -> Vec<Scanned> {
    let scope = Scope::Import(Some(Arc::new(affected.clone())));
    let hosts = (0..HOSTS).map(|n| (host_id(n), scope.clone())).collect();
    let scanned = pw_controller::scan_group::scan_group(cache, store, hosts, at(now)).await;
    scanned.into_iter().map(Result::unwrap).collect()
}

/// The fleet up to the third import, re-ranked through `path`.
pub async fn fleet(
    backend: Backend,
    path: Path,
) -> (Option<tempfile::TempDir>, Store, Vec<Scanned>) {
    let (dir, store) = fresh_store(backend).await;
    let expires = at("2100-01-01T00:00:00Z");
    for n in 0..HOSTS {
        let token = format!("sha-{n}");
        (store.create_enrollment_token(&format!("tok-{n}"), &token, expires, None, "alice"))
            .await
            .unwrap();
        let id = host_id(n);
        let host = NewHost {
            id: &id,
            hostname: &format!("web-{n}"),
            fingerprint: &format!("fp-{n}"),
            not_after: expires,
        };
        store
            .enroll(&token, at("2026-01-15T00:00:00Z"), &host)
            .await
            .unwrap()
            .unwrap();
        let (row, upgrades) = inventory(n);
        store
            .store_inventory(&id, &format!("web-{n}"), row, Some(&upgrades))
            .await
            .unwrap();
    }
    let cache = Arc::new(IntelligenceCache::new(store.clone()));
    let records = first_records();
    import(&store, "first.json", &records[..4]).await;
    scan_all(&cache, &store, "2026-02-02T00:00:00Z", Why::Report).await;
    let first = store.last_feed_import().await.unwrap();
    import(&store, "second.json", &records[4..]).await;
    let since = store.imports_since(first).await.unwrap();
    let second = Affected::new(&since.changes.unwrap());
    scan_all(
        &cache,
        &store,
        "2026-02-03T00:00:00Z",
        Why::Import(Some(&second)),
    )
    .await;
    let before = store.last_feed_import().await.unwrap();
    import(&store, "third.json", &third_records()).await;
    let since = store.imports_since(before).await.unwrap();
    let third = Affected::new(&since.changes.unwrap());
    if path == Path::Whole {
        for n in 0..HOSTS {
            store.forget_ranking_basis(&host_id(n)).await.unwrap();
        }
    }
    let now = "2026-03-05T00:00:00Z";
    let outcomes = match path {
        Path::Grouped => scan_grouped(&cache, &store, now, &third).await,
        Path::Whole | Path::Part => scan_all(&cache, &store, now, Why::Import(Some(&third))).await,
    };
    (dir, store, outcomes)
}
