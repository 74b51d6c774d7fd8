//! A feed import's re-rank of part of a host (`rerank_scan.rs`) gives what a full scan gives,
//! on SQLite and PostgreSQL (issue 15: feed import → every host re-ranked in ≤ 30 s). The same
//! fleet is built twice — hosts with overlapping inventories, pending upgrades with CVEs, a
//! changelog naming a CVE (backported), two advisory imports — and after a third import that
//! moves a publication date (deadlines move), raises a score, drops a fix (findings open) and
//! lowers one (findings close), one database re-ranks through the partial path and the other
//! scans every host whole. Every reader then answers the same on both: the ranked lists, each
//! host's history, the fixed episodes, the tier gauges, the console's hosts and updates, the
//! deadline notices.

use jiff::Timestamp;
use pw_controller::findings::{IntelligenceCache, Scanned, Why, scan_stored};
use pw_controller::rerank::Affected;
use pw_model::InstalledPackage;
use pw_store::{
    Backend, Computation, CurrentFinding, DatabaseUrl, DeadlineNotice, FindingsSnapshot,
    HostFilter, InventoryFacts, InventoryRow, NewHost, PageRequest, PendingRow, Store,
    UpdateFilter,
};

const ALL: PageRequest = PageRequest {
    offset: 0,
    limit: 1000,
};

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

async fn fresh_store(backend: Backend) -> (Option<tempfile::TempDir>, Store) {
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
fn osv(id: &str, package: &str, fixed: Option<&str>, published: &str, critical: bool) -> String {
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
fn first_records() -> Vec<String> {
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
    ]
}

/// The third import: openssl's first advisory published again later (its deadlines move), a
/// score added to curl's first, zlib's fix dropped (every zlib version affected), bash's second
/// fixed earlier than installed (its findings close), and a new advisory for curl.
fn third_records() -> Vec<String> {
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
    ]
}

async fn import(store: &Store, name: &str, records: &[String]) {
    let input = pw_feeds::Input::new(name, records.join("\n").into_bytes());
    pw_feeds::import(store, &[input], &pw_feeds::Silent)
        .await
        .unwrap();
}

fn package(name: &str, version: &str, source: Option<(&str, &str)>) -> InstalledPackage {
    InstalledPackage {
        name: name.into(),
        version: version.into(),
        arch: "amd64".into(),
        source: source.map(|s| s.0.to_owned()),
        source_version: source.map(|s| s.1.to_owned()),
    }
}

fn pending(package: &str, from: &str, to: &str, cves: Option<&str>) -> PendingRow {
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
fn inventory(n: usize) -> (InventoryRow, Vec<PendingRow>) {
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
    let mut upgrades = vec![pending(
        "coreutils",
        "9.1-1",
        "9.1-2",
        Some(r#"["CVE-2026-0901"]"#),
    )];
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

const HOSTS: usize = 4;

fn host_id(n: usize) -> String {
    format!("host-{n}")
}

/// Every host scanned for `why` at `now`; the outcomes.
async fn scan_all(
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

/// The fleet up to the third import, re-ranked through the partial path (`part`) or whole.
async fn fleet(backend: Backend, part: bool) -> (Option<tempfile::TempDir>, Store, Vec<Scanned>) {
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
    let cache = IntelligenceCache::new(store.clone());
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
    if !part {
        for n in 0..HOSTS {
            store.forget_ranking_basis(&host_id(n)).await.unwrap();
        }
    }
    let outcomes = scan_all(
        &cache,
        &store,
        "2026-03-05T00:00:00Z",
        Why::Import(Some(&third)),
    )
    .await;
    (dir, store, outcomes)
}

/// What every reader of findings answers, as text.
async fn readers(store: &Store) -> Vec<String> {
    let late = at("2026-12-01T00:00:00Z");
    let mut out = Vec::new();
    let mut lists = store.all_findings().await.unwrap();
    lists.sort_by(|a, b| a.host_id.cmp(&b.host_id));
    for row in lists {
        out.push(format!(
            "{} {} {} {}",
            row.host_id, row.computed_at, row.source, row.findings
        ));
    }
    let mut hosts = store.hosts().await.unwrap();
    hosts.sort_by(|a, b| a.id.cmp(&b.id));
    for host in hosts {
        out.push(format!("{} {:?}", host.id, host.tier_counts));
        out.push(format!(
            "{:?}",
            store.finding_history(&host.id).await.unwrap()
        ));
    }
    out.push(format!("{:?}", store.fixed_episodes().await.unwrap()));
    let mut open = store.open_episodes(None).await.unwrap();
    open.sort_by(|a, b| {
        (&a.host_id, &a.binary, &a.advisory).cmp(&(&b.host_id, &b.binary, &b.advisory))
    });
    out.push(format!("{open:?}"));
    out.push(format!("{:?}", store.open_tier_counts(late).await.unwrap()));
    let overdue = HostFilter {
        overdue_at: Some(late),
        ..HostFilter::default()
    };
    for filter in [HostFilter::default(), overdue] {
        let mut page = store.host_page(&filter, ALL).await.unwrap();
        // When the inventory arrived (the test's wall clock): not a finding.
        page.hosts
            .iter_mut()
            .for_each(|host| host.last_seen_at = None);
        out.push(format!("{page:?}"));
    }
    let updates = store
        .update_page(&UpdateFilter::default(), ALL)
        .await
        .unwrap();
    out.push(format!("{updates:?}"));
    let due = store.deadlines_due(DeadlineNotice::Overdue, None, late, 1000);
    out.push(format!("{:?}", due.await.unwrap()));
    out
}

async fn a_partial_rerank_answers_as_a_full_scan(backend: Backend) {
    let (_part_dir, part, part_outcomes) = fleet(backend, true).await;
    let (_whole_dir, whole, whole_outcomes) = fleet(backend, false).await;
    let reranked = |outcomes: &[Scanned]| {
        (outcomes.iter())
            .map(|o| match o {
                Scanned::Reranked(..) => "part",
                Scanned::Stored(..) => "whole",
                Scanned::Unchanged(_) => "unchanged",
                Scanned::Untouched => "untouched",
                Scanned::Dropped => "dropped",
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(reranked(&part_outcomes), ["part"; HOSTS]);
    assert_eq!(reranked(&whole_outcomes), ["whole"; HOSTS]);
    let (part, whole) = (readers(&part).await, readers(&whole).await);
    assert_eq!(part.len(), whole.len());
    for (part, whole) in part.iter().zip(&whole) {
        assert_eq!(part, whole);
    }
    // The import changed something on every host, in every way listed above.
    let all = part.join("\n");
    for expected in ["CVE-2026-0008", "\"fixed\":null", "backport"] {
        assert!(all.contains(expected), "{expected} in {all}");
    }
}

async fn a_changed_inventory_or_a_forgotten_basis_is_scanned_whole(backend: Backend) {
    let (_dir, store, _) = fleet(backend, true).await;
    let cache = IntelligenceCache::new(store.clone());
    let affected = Affected::new(&pw_store::ImportChanges {
        packages: ["bash".to_owned()].into(),
        cves: Default::default(),
    });
    let why = Why::Import(Some(&affected));
    let scan = async |host: &str, now: &str| {
        scan_stored(&cache, &store, host, at(now), why)
            .await
            .unwrap()
    };
    // Nothing changed since the last ranking: the same list, nothing written, whether in part
    // or whole (host-3 has no backported finding, which a whole scan writes).
    assert!(matches!(
        scan("host-3", "2026-03-06T00:00:00Z").await,
        Scanned::Unchanged(_)
    ));
    store.forget_ranking_basis("host-3").await.unwrap();
    assert!(matches!(
        scan("host-3", "2026-03-06T00:00:00Z").await,
        Scanned::Unchanged(_)
    ));
    assert!(matches!(
        scan("host-0", "2026-03-06T00:00:00Z").await,
        Scanned::Unchanged(_)
    ));
    store.forget_ranking_basis("host-0").await.unwrap();
    assert!(matches!(
        scan("host-0", "2026-03-06T00:00:00Z").await,
        Scanned::Stored(..)
    ));
    // A new inventory not yet scanned: its stored ranking is an older inventory's.
    let (mut row, upgrades) = inventory(1);
    row.facts.collected_at = at("2026-03-06T00:00:00Z");
    row.packages.retain(|p| p.name != "curl");
    store
        .store_inventory("host-1", "web-1", row, Some(&upgrades))
        .await
        .unwrap();
    assert!(matches!(
        scan("host-1", "2026-03-07T00:00:00Z").await,
        Scanned::Stored(..)
    ));
    let list = store.findings("host-1").await.unwrap().unwrap().findings;
    assert!(!list.contains(r#""binary":"curl""#), "{list}");
    // Ranked whole, its basis is the new inventory's: the next re-rank is partial again.
    assert!(matches!(
        scan("host-1", "2026-03-08T00:00:00Z").await,
        Scanned::Unchanged(_)
    ));
}

/// The host's stored list replaced by one that cannot be read as findings, its open findings,
/// tier counts and basis kept (returned: how many findings, and how many of `binaries`).
async fn spoil_list(store: &Store, host: &str, binaries: &[&str]) -> (usize, usize) {
    let stored = store.stored_ranking(host).await.unwrap().unwrap();
    let findings: Vec<pw_model::Finding> = serde_json::from_str(&stored.findings).unwrap();
    let current: Vec<CurrentFinding> = (findings.iter())
        .map(|f| CurrentFinding::of(f).unwrap())
        .collect();
    let tiers = pw_controller::findings::tier_counts(&findings);
    let snapshot = FindingsSnapshot {
        host_id: host,
        inventory_collected_at: at("2026-02-01T00:00:00Z"),
        computed_at: at("2026-03-05T12:00:00Z"),
        source: &stored.source,
        findings_json: r#"[{"binary":1}]"#,
        tier_counts_json: &serde_json::to_string(&tiers).unwrap(),
        current: &current,
        backported: &[],
    };
    let kept = Computation {
        basis: stored.basis.as_deref(),
        only: None,
    };
    store.record_computation(&snapshot, &kept).await.unwrap();
    let of = findings.iter().filter(|f| binaries.contains(&f.binary.as_str()));
    (findings.len(), of.count())
}

/// A host whose stored findings are mostly of the import's binaries is scanned whole, and that
/// is decided before its stored list is read: an unreadable list fails a re-rank in part (which
/// splices it), not a host scanned whole (which only compares it).
async fn a_host_mostly_of_the_import_is_scanned_whole_without_its_list(backend: Backend) {
    let (_dir, store, _) = fleet(backend, true).await;
    let cache = IntelligenceCache::new(store.clone());
    let most = ["libssl3", "openssl", "bash", "tar", "git", "git-man"];
    let (all, touched) = spoil_list(&store, "host-0", &most).await;
    assert!(touched * 4 > all * 3, "{touched} of {all}");
    let (all, touched) = spoil_list(&store, "host-2", &["sudo"]).await;
    assert!(touched * 4 <= all * 3, "{touched} of {all}");
    let affected = |packages: &[&str]| {
        Affected::new(&pw_store::ImportChanges {
            packages: packages.iter().map(|p| (*p).to_owned()).collect(),
            cves: Default::default(),
        })
    };
    let (most, few) = (affected(&["openssl", "bash", "tar", "git"]), affected(&["sudo"]));
    let now = at("2026-03-06T00:00:00Z");
    let whole = scan_stored(&cache, &store, "host-0", now, Why::Import(Some(&most))).await;
    assert!(matches!(whole, Ok(Scanned::Stored(..))), "{whole:?}");
    let list = store.findings("host-0").await.unwrap().unwrap().findings;
    assert!(list.contains(r#""binary":"sudo""#), "ranked whole again: {list}");
    let part = scan_stored(&cache, &store, "host-2", now, Why::Import(Some(&few))).await;
    assert!(part.is_err(), "the list is spliced in part: {part:?}");
}

mod sqlite {
    #[tokio::test]
    async fn a_partial_rerank_answers_as_a_full_scan() {
        super::a_partial_rerank_answers_as_a_full_scan(pw_store::Backend::Sqlite).await
    }

    #[tokio::test]
    async fn a_host_mostly_of_the_import_is_scanned_whole_without_its_list() {
        use pw_store::Backend::Sqlite;
        super::a_host_mostly_of_the_import_is_scanned_whole_without_its_list(Sqlite).await
    }

    #[tokio::test]
    async fn a_changed_inventory_or_a_forgotten_basis_is_scanned_whole() {
        super::a_changed_inventory_or_a_forgotten_basis_is_scanned_whole(pw_store::Backend::Sqlite)
            .await
    }
}

mod postgres {
    #[tokio::test]
    async fn a_partial_rerank_answers_as_a_full_scan() {
        super::a_partial_rerank_answers_as_a_full_scan(pw_store::Backend::Postgres).await
    }

    #[tokio::test]
    async fn a_host_mostly_of_the_import_is_scanned_whole_without_its_list() {
        use pw_store::Backend::Postgres;
        super::a_host_mostly_of_the_import_is_scanned_whole_without_its_list(Postgres).await
    }

    #[tokio::test]
    async fn a_changed_inventory_or_a_forgotten_basis_is_scanned_whole() {
        super::a_changed_inventory_or_a_forgotten_basis_is_scanned_whole(
            pw_store::Backend::Postgres,
        )
        .await
    }
}
