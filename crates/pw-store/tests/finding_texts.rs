//! Finding texts stored once (migration 0033) on SQLite and PostgreSQL: a database written at
//! the schema before 0033 migrates without loss — every episode, its finding JSON with its own
//! deadline, the console's updates, the deadline check, the tier gauges and the fixed episodes
//! read the same as the data written, each host's ranked list deflated — and a finding shown on several hosts is stored once while
//! each host keeps its own deadline.

use jiff::Timestamp;
use pw_model::{Finding, Tier};
use pw_store::{
    Backend, CurrentFinding, DatabaseUrl, DeadlineNotice, Recorded, Store, UpdateFilter,
};
use sqlx::Row;

#[macro_use]
mod common;

use common::at;

fn finding(binary: &str, advisory: &str, tier: Tier, deadline: Option<&str>) -> Finding {
    Finding {
        binary: binary.into(),
        installed: "3.0.11-1".into(),
        package: "openssl".into(),
        package_version: "3.0.11-1".into(),
        advisory: advisory.into(),
        aliases: vec![format!("CVE-{advisory}")],
        fixed: Some("3.0.13-1".into()),
        tier,
        deadline: deadline.map(at),
        reasons: vec!["a \"deadline\":null in a reason".into()],
        summary: "openssl problem".into(),
        published: None,
        cvss: Some(7.5),
        epss: Some(0.125),
        kev: advisory == "DSA-2",
    }
}

/// One episode as written before 0033: its finding JSON held whole.
struct OldEpisode {
    host: &'static str,
    finding: Finding,
    episode: i64,
    first_seen: &'static str,
    last_seen: &'static str,
    fixed_at: Option<&'static str>,
    fixed_by: Option<&'static str>,
}

fn old_episodes() -> Vec<OldEpisode> {
    let open = |host, finding, first_seen| OldEpisode {
        host,
        finding,
        episode: 1,
        first_seen,
        last_seen: first_seen,
        fixed_at: None,
        fixed_by: None,
    };
    let d1 = Some("2026-02-01T00:00:00Z");
    let d2 = Some("2026-02-11T12:30:00.5Z");
    vec![
        // The same finding on two hosts, first seen at different times: two deadlines.
        open(
            "h1",
            finding("libssl3", "DSA-1", Tier::T1, d1),
            "2026-01-02T00:00:00Z",
        ),
        open(
            "h2",
            finding("libssl3", "DSA-1", Tier::T1, d2),
            "2026-01-12T12:30:00.5Z",
        ),
        open(
            "h1",
            finding("openssl", "DSA-2", Tier::T0, d1),
            "2026-01-02T00:00:00Z",
        ),
        open(
            "h2",
            finding("openssl", "DSA-3", Tier::T4, None),
            "2026-01-12T12:30:00.5Z",
        ),
        // A finding fixed once and back (episode 2 open), one fixed by a backport.
        OldEpisode {
            fixed_at: Some("2026-01-05T00:00:00Z"),
            last_seen: "2026-01-04T00:00:00Z",
            ..open(
                "h1",
                finding("libcrypto", "DSA-4", Tier::T1, d1),
                "2026-01-02T00:00:00Z",
            )
        },
        OldEpisode {
            episode: 2,
            ..open(
                "h1",
                finding("libcrypto", "DSA-4", Tier::T2, None),
                "2026-01-06T00:00:00Z",
            )
        },
        OldEpisode {
            fixed_at: Some("2026-01-07T00:00:00Z"),
            last_seen: "2026-01-07T00:00:00Z",
            fixed_by: Some("fixed by a backport"),
            ..open(
                "h2",
                finding("libssl3", "DSA-5", Tier::T1, d2),
                "2026-01-06T00:00:00Z",
            )
        },
    ]
}

/// A database at the schema before 0033 (its migrations up to 0025, the episodes written the way
/// the write path wrote them then, then 0026–0032), as a URL.
async fn database_before_0033(backend: Backend) -> (Option<tempfile::TempDir>, DatabaseUrl) {
    let (dir, url, pool) = common::unmigrated_database(backend).await;
    common::migrate_up_to(backend, &pool, 25).await;
    for (id, name) in [("h1", "web-1"), ("h2", "web-2")] {
        sqlx::query("INSERT INTO hosts (id, hostname, enrolled_at) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(name)
            .bind("2026-01-01T00:00:00Z")
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO host_findings (host_id, computed_at, source, findings, tier_counts)
             VALUES ($1, '2026-01-20T00:00:00Z', 'test', $2, '[0,0,0,0,0]')",
        )
        .bind(id)
        .bind(ranked_list(id))
        .execute(&pool)
        .await
        .unwrap();
    }
    for e in old_episodes() {
        sqlx::query(
            "INSERT INTO finding_history (host_id, binary_name, advisory, episode, first_seen,
               last_seen, fixed_at, fixed_by, tier, deadline, finding)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(e.host)
        .bind(&e.finding.binary)
        .bind(&e.finding.advisory)
        .bind(e.episode)
        .bind(e.first_seen)
        .bind(e.last_seen)
        .bind(e.fixed_at)
        .bind(e.fixed_by)
        .bind(e.finding.tier.index() as i64)
        .bind(e.finding.deadline.map(|d| d.to_string()))
        .bind(serde_json::to_string(&e.finding).unwrap())
        .execute(&pool)
        .await
        .unwrap();
    }
    // The names the write path recorded for the console's CVE search.
    for e in old_episodes() {
        let names = std::iter::once(&e.finding.advisory).chain(&e.finding.aliases);
        for name in names {
            sqlx::query(
                "INSERT INTO advisory_aliases (alias, advisory) VALUES ($1, $2)
                 ON CONFLICT DO NOTHING",
            )
            .bind(name.to_ascii_uppercase())
            .bind(&e.finding.advisory)
            .execute(&pool)
            .await
            .unwrap();
        }
    }
    common::migrate_up_to(backend, &pool, 32).await;
    pool.close().await;
    (dir, url)
}

/// The ranked list JSON a host's snapshot held before 0033: its open findings.
fn ranked_list(host: &str) -> String {
    let open: Vec<Finding> = (old_episodes().into_iter())
        .filter(|e| e.host == host && e.fixed_at.is_none())
        .map(|e| e.finding)
        .collect();
    serde_json::to_string(&open).unwrap()
}

async fn text_count(store: &Store) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM finding_texts")
        .fetch_one(store.pool())
        .await
        .unwrap()
}

async fn migration_0033_keeps_every_episode_and_finding(backend: Backend) {
    let (_guard, url) = database_before_0033(backend).await;
    let store = Store::connect(&url).await.unwrap();
    let episodes = old_episodes();
    // Seven episodes, six texts: DSA-1 on h1 and h2 differs only by its deadline.
    assert_eq!(text_count(&store).await, 6);
    let digests: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM finding_texts WHERE digest IS NOT NULL")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(digests, 6, "every migrated text gets its digest at open");
    // Each host's ranked list reads as written, now deflated.
    for host in ["h1", "h2"] {
        let row = store.findings(host).await.unwrap().unwrap();
        assert_eq!(row.findings, ranked_list(host));
    }
    let unpacked: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM host_findings WHERE packed IS NULL OR findings <> ''",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(unpacked, 0, "every list is packed at open");

    for host in ["h1", "h2"] {
        let mut read = store.finding_history(host).await.unwrap();
        read.sort_by_key(|r| (r.binary.clone(), r.advisory.clone(), r.episode));
        let mut written: Vec<&OldEpisode> = episodes.iter().filter(|e| e.host == host).collect();
        written.sort_by_key(|e| {
            (
                e.finding.binary.clone(),
                e.finding.advisory.clone(),
                e.episode,
            )
        });
        assert_eq!(read.len(), written.len());
        for (row, old) in read.iter().zip(written) {
            assert_eq!(row.finding, serde_json::to_string(&old.finding).unwrap());
            assert_eq!(row.episode as i64, old.episode);
            assert_eq!(row.first_seen, at(old.first_seen));
            assert_eq!(row.fixed_at, old.fixed_at.map(at));
            assert_eq!(row.fixed_by.as_deref(), old.fixed_by);
            assert_eq!(row.deadline, old.finding.deadline);
            assert_eq!(row.tier as usize, old.finding.tier.index());
            let last_seen = match old.fixed_at {
                Some(_) => at(old.last_seen),
                None => at("2026-01-20T00:00:00Z"),
            };
            assert_eq!(row.last_seen, last_seen);
        }
    }
    let fixed = store.fixed_episodes().await.unwrap();
    let fixed: Vec<(String, String, Option<String>)> = fixed
        .iter()
        .map(|r| (r.host_id.clone(), r.advisory.clone(), r.fixed_by.clone()))
        .collect();
    assert_eq!(
        fixed,
        [
            ("h1".into(), "DSA-4".into(), None),
            (
                "h2".into(),
                "DSA-5".into(),
                Some("fixed by a backport".into())
            )
        ]
    );

    // The console's update of openssl: its open findings on both hosts.
    let page = store
        .update_page(
            &UpdateFilter::default(),
            pw_store::PageRequest {
                offset: 0,
                limit: 10,
            },
        )
        .await
        .unwrap();
    assert_eq!(page.updates.len(), 1);
    let update = &page.updates[0];
    assert_eq!((update.hosts, update.findings, update.kev), (2, 5, true));
    let advisories = store
        .updates_advisories(&[("openssl", Some("3.0.13-1"))])
        .await
        .unwrap()
        .remove(0);
    let seen: Vec<(String, u64)> = advisories
        .iter()
        .map(|a| (a.advisory.clone(), a.hosts))
        .collect();
    assert_eq!(
        seen,
        [
            ("DSA-1".into(), 2),
            ("DSA-2".into(), 1),
            ("DSA-3".into(), 1),
            ("DSA-4".into(), 1)
        ]
    );
    // The advisory's stored text, without a host's deadline (both hosts' episodes share it).
    let mut dsa1 = episodes[1].finding.clone();
    assert!(dsa1.deadline.is_some());
    dsa1.deadline = None;
    assert_eq!(advisories[0].finding, serde_json::to_string(&dsa1).unwrap());
    let cve = UpdateFilter {
        advisory: Some("cve-dsa-3".into()),
        ..UpdateFilter::default()
    };
    let page = store
        .update_page(
            &cve,
            pw_store::PageRequest {
                offset: 0,
                limit: 10,
            },
        )
        .await
        .unwrap();
    assert_eq!(page.total, 1);
    let hosts = store
        .updates_hosts(&[("openssl", Some("3.0.13-1"))], 10)
        .await
        .unwrap();
    assert_eq!(hosts[0].len(), 2);
    let binaries = store
        .update_binaries("openssl", Some("3.0.13-1"))
        .await
        .unwrap();
    assert_eq!(binaries, ["libcrypto", "libssl3", "openssl"]);

    let due = store
        .deadlines_due(
            DeadlineNotice::Overdue,
            None,
            at("2026-03-01T00:00:00Z"),
            10,
        )
        .await
        .unwrap();
    let due: Vec<(String, String)> = due
        .iter()
        .map(|d| (d.host_id.clone(), d.finding.clone()))
        .collect();
    assert_eq!(
        due,
        [
            (
                "h1".into(),
                serde_json::to_string(&episodes[0].finding).unwrap()
            ),
            (
                "h1".into(),
                serde_json::to_string(&episodes[2].finding).unwrap()
            ),
            (
                "h2".into(),
                serde_json::to_string(&episodes[1].finding).unwrap()
            ),
        ]
    );
    let counts = store
        .open_tier_counts(at("2026-02-05T00:00:00Z"))
        .await
        .unwrap();
    assert_eq!(counts, [(1, 1), (2, 1), (1, 0), (0, 0), (1, 0)]);
    let naming = store.open_findings_naming("CVE-DSA-2", None).await.unwrap();
    assert_eq!(naming.len(), 1);
    assert_eq!(
        naming[0].finding,
        serde_json::to_string(&episodes[2].finding).unwrap()
    );

    // The scan showing h1's findings again finds them unchanged: same texts, no new ones.
    let current: Vec<CurrentFinding> = [0, 2, 5]
        .iter()
        .map(|&i| CurrentFinding::of(&episodes[i].finding).unwrap())
        .collect();
    let recorded = common::record_at(&store, "h1", "2026-01-21T00:00:00Z", &current).await;
    assert_eq!(
        recorded,
        Recorded::Recorded(pw_store::HistoryChange {
            kept: 3,
            ..Default::default()
        })
    );
    assert_eq!(text_count(&store).await, 6);
}

async fn a_finding_on_many_hosts_is_stored_once(backend: Backend) {
    let (_guard, store) = common::fresh_store(backend).await;
    for (i, host) in ["h1", "h2", "h3"].iter().enumerate() {
        common::enroll(&store, host).await;
        let deadline = format!("2026-02-0{}T00:00:00Z", i + 1);
        let shown = [
            finding("libssl3", "DSA-1", Tier::T1, Some(&deadline)),
            finding("openssl", "DSA-3", Tier::T4, None),
        ];
        let current: Vec<CurrentFinding> = shown
            .iter()
            .map(|f| CurrentFinding::of(f).unwrap())
            .collect();
        common::record_at(
            &store,
            host,
            &format!("2026-01-0{}T00:00:00Z", i + 1),
            &current,
        )
        .await;
        let history = store.finding_history(host).await.unwrap();
        let read: Vec<&str> = history.iter().map(|r| r.finding.as_str()).collect();
        let expected: Vec<String> = [&shown[0], &shown[1]]
            .iter()
            .map(|f| serde_json::to_string(f).unwrap())
            .collect();
        assert_eq!(read, expected, "{host} reads its own deadline");
        let snapshot = store.findings(host).await.unwrap().unwrap();
        assert_eq!(snapshot.findings, "[]", "the ranked list as recorded");
    }
    assert_eq!(text_count(&store).await, 2);
    // A text never changes and is never deleted.
    let update = sqlx::query("UPDATE finding_texts SET finding = 'x'")
        .execute(store.pool())
        .await;
    assert!(update.is_err());
    let delete = sqlx::query("DELETE FROM finding_texts")
        .execute(store.pool())
        .await;
    assert!(delete.is_err());
    let row = sqlx::query("SELECT COUNT(DISTINCT text_id) AS texts FROM open_findings")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(row.get::<i64, _>("texts"), 2);
    let _: Timestamp = at("2026-01-01T00:00:00Z");
}

on_both_backends!(
    migration_0033_keeps_every_episode_and_finding,
    a_finding_on_many_hosts_is_stored_once,
);
