//! Migration 0038 (instants as integer nanoseconds) on SQLite and PostgreSQL: a database written
//! at 0037 — open findings on several hosts with first sights and deadlines as RFC 3339 text
//! (whole seconds, fractions, nanoseconds, no deadline, a deadline saturated at jiff's largest
//! instant), the console's summaries grouped from them — reads the same afterwards through every
//! reader (per-host history, open episodes, tier gauges, the deadline check, updates and hosts
//! of the console with their overdue filters, the accepted risks' search), and a computation
//! showing the same findings again writes nothing — which also needs migration 0039's texts'
//! digests (hexadecimal at 0037, bytes since) to name the same texts.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use pw_model::{Finding, Tier};
use pw_store::{
    Backend, CurrentFinding, DatabaseUrl, DeadlineNotice, FindingsSnapshot, HistoryChange,
    HistoryRow, HostFilter, PageRequest, Recorded, Store, UpdateFilter,
};

#[macro_use]
mod common;

use common::at;
use common::finding_text as text;

const HOSTS: usize = 5;
const KEYS: usize = 24;
const ALL: PageRequest = PageRequest {
    offset: 0,
    limit: 1000,
};
/// The largest instant an `i64` of nanoseconds holds: where later ones are stored.
const LAST: &str = "2262-04-11T23:47:16.854775807Z";

fn host_id(host: usize) -> String {
    format!("host-{host:036}")
}

/// Day `d` of January 2026 at 08:00, with no fraction, a quarter second or nanoseconds.
fn instant(d: usize, fraction: usize) -> String {
    let fraction = ["", ".25", ".123456789"][fraction % 3];
    format!("2026-01-{:02}T08:00:00{fraction}Z", d + 1)
}

fn computed_at(host: usize) -> String {
    format!("2026-01-28T09:00:00.{:09}Z", 987_654_321 - host)
}

/// One open finding at 0037: host, key, its first sight and the finding (with its deadline).
struct Open {
    host: usize,
    k: usize,
    first_seen: String,
    finding: Finding,
}

fn finding(k: usize, deadline: Option<Timestamp>) -> Finding {
    let advisory = format!("DEBIAN-CVE-2025-{:05}", 2000 + k);
    Finding {
        binary: format!("lib{}", k % 9),
        installed: "1.0-1".into(),
        package: format!("src{}", k % 6),
        package_version: "1.0-1".into(),
        advisory: advisory.clone(),
        aliases: vec![advisory.replace("DEBIAN-", "")],
        fixed: (!k.is_multiple_of(5)).then(|| format!("1.0-{}", 2 + k % 2)),
        tier: [Tier::T0, Tier::T1, Tier::T2, Tier::T3, Tier::T4][k % 5],
        deadline,
        reasons: vec![format!("reason {k}")],
        summary: format!("problem {k}"),
        published: None,
        cvss: Some(5.0 + (k % 4) as f64),
        epss: (!k.is_multiple_of(3)).then_some(0.01 * k as f64),
        kev: k.is_multiple_of(7),
    }
}

fn opens() -> Vec<Open> {
    let mut out = Vec::new();
    for host in 0..HOSTS {
        for k in 0..KEYS {
            if (host * 5 + k * 3).is_multiple_of(4) {
                continue;
            }
            let deadline = match k % 4 {
                0 => None,
                _ if host == 2 && k == 7 => Some(Timestamp::MAX),
                _ => Some(at(&instant(3 + (host * 3 + k) % 20, k + host))),
            };
            out.push(Open {
                host,
                k,
                first_seen: instant(host % 3, k),
                finding: finding(k, deadline),
            });
        }
    }
    out
}

/// The instant stored for `at` (clamped to what an `i64` of nanoseconds holds).
fn stored(at: Timestamp) -> Timestamp {
    at.min(common::at(LAST))
}

/// The finding as read back: its deadline as stored.
fn read_back(finding: &Finding) -> Finding {
    Finding {
        deadline: finding.deadline.map(stored),
        ..finding.clone()
    }
}

async fn database_at_0037(backend: Backend) -> (Option<tempfile::TempDir>, DatabaseUrl) {
    let (dir, url, pool) = common::unmigrated_database(backend).await;
    common::migrate_up_to(backend, &pool, 37).await;
    let run = |sql: &'static str| {
        let pool = pool.clone();
        async move { sqlx::query(sql).execute(&pool).await.unwrap() }
    };
    for host in 0..HOSTS {
        let hostname = format!("web-{host}");
        common::insert_host_computed(&pool, &host_id(host), &hostname, &computed_at(host)).await;
        sqlx::query("INSERT INTO finding_hosts (key, host_id) VALUES ($1, $2)")
            .bind(host as i64 + 1)
            .bind(host_id(host))
            .execute(&pool)
            .await
            .unwrap();
    }
    for k in 0..KEYS {
        let f = finding(k, None);
        sqlx::query("INSERT INTO finding_keys (id, binary_name, advisory) VALUES ($1, $2, $3)")
            .bind(k as i64 + 1)
            .bind(&f.binary)
            .bind(&f.advisory)
            .execute(&pool)
            .await
            .unwrap();
    }
    let mut texts: BTreeMap<String, i64> = BTreeMap::new();
    for o in opens() {
        let text = text(&o.finding);
        if !texts.contains_key(&text) {
            let id = common::insert_finding_text(&pool, &o.finding).await;
            texts.insert(text.clone(), id);
        }
        sqlx::query(
            "INSERT INTO open_findings (host_key, key_id, episode, first_seen, tier, deadline,
               text_id) VALUES ($1, $2, 1, $3, $4, $5, $6)",
        )
        .bind(o.host as i64 + 1)
        .bind(o.k as i64 + 1)
        .bind(&o.first_seen)
        .bind(o.finding.tier.index() as i64)
        .bind(o.finding.deadline.map(|d| d.to_string()))
        .bind(texts[&text])
        .execute(&pool)
        .await
        .unwrap();
    }
    // The summaries as the write path kept them at 0037 (grouped as migration 0026 did).
    run("INSERT INTO open_update_hosts (package, fixed, host_id, findings, tier, deadline, kev, epss)
         SELECT t.package, t.fixed, f.host_id, COUNT(*), MIN(f.tier), MIN(f.deadline), MAX(t.kev),
                MAX(t.epss)
         FROM open_findings_named f JOIN finding_texts t ON t.id = f.text_id
         GROUP BY f.host_id, t.package, t.fixed")
    .await;
    run(
        "INSERT INTO open_updates (package, fixed, hosts, findings, tier, deadline, kev, epss)
         SELECT package, fixed, COUNT(*), SUM(findings), MIN(tier), MIN(deadline), MAX(kev),
                MAX(epss)
         FROM open_update_hosts GROUP BY package, fixed",
    )
    .await;
    run(
        "UPDATE host_findings SET earliest_deadline = (SELECT MIN(o.deadline)
         FROM open_update_hosts o WHERE o.host_id = host_findings.host_id)",
    )
    .await;
    run("INSERT INTO open_tier_hosts (host_id, tier, findings)
         SELECT host_id, tier, COUNT(*) FROM open_findings_named GROUP BY host_id, tier")
    .await;
    pool.close().await;
    (dir, url)
}

fn expected(o: &Open) -> HistoryRow {
    HistoryRow {
        host_id: host_id(o.host),
        hostname: format!("web-{}", o.host),
        binary: o.finding.binary.clone(),
        advisory: o.finding.advisory.clone(),
        episode: 1,
        first_seen: at(&o.first_seen),
        last_seen: at(&computed_at(o.host)),
        fixed_at: None,
        fixed_by: None,
        tier: o.finding.tier.index() as u8,
        deadline: o.finding.deadline.map(stored),
        finding: serde_json::to_string(&read_back(&o.finding)).unwrap(),
    }
}

async fn migration_0038_reads_the_same(backend: Backend) {
    let (_guard, url) = database_at_0037(backend).await;
    let store = Store::connect(&url).await.unwrap();
    let all = opens();
    assert!(all.len() > 80, "real-shaped data");
    for host in 0..HOSTS {
        let mut want: Vec<HistoryRow> = all
            .iter()
            .filter(|o| o.host == host)
            .map(expected)
            .collect();
        want.sort_by(|a, b| (&a.binary, &a.advisory).cmp(&(&b.binary, &b.advisory)));
        let got = store.finding_history(&host_id(host)).await.unwrap();
        assert_eq!(got, want, "the history of host {host}");
    }
    let episodes = store.open_episodes(None).await.unwrap();
    let first_seen: BTreeSet<(String, String, Timestamp)> = (episodes.iter())
        .map(|e| (e.host_id.clone(), e.advisory.clone(), e.first_seen))
        .collect();
    let want: BTreeSet<(String, String, Timestamp)> = (all.iter())
        .map(|o| {
            (
                host_id(o.host),
                o.finding.advisory.clone(),
                at(&o.first_seen),
            )
        })
        .collect();
    assert_eq!(first_seen, want);
    deadline_readers(&store, &all).await;
    console_readers(&store, &all).await;
    let advisory = finding(5, None).advisory;
    let naming = store.open_findings_naming(&advisory, None).await.unwrap();
    let mut got: Vec<String> = naming.into_iter().map(|n| n.finding).collect();
    let mut want: Vec<String> = (all.iter().filter(|o| o.k == 5))
        .map(|o| serde_json::to_string(&o.finding).unwrap())
        .collect();
    got.sort();
    want.sort();
    assert!(!want.is_empty());
    assert_eq!(got, want);
    the_same_findings_again_write_nothing(&store, &all).await;
}

/// The tier gauges' overdue counts and the deadline check's reads, at an instant between
/// deadlines of the same day that differ by a fraction of a second.
async fn deadline_readers(store: &Store, all: &[Open]) {
    let now = at("2026-01-12T08:00:00.2Z");
    let mut counts = [0; 5];
    for o in all {
        counts[o.finding.tier.index()] += u64::from(o.finding.deadline.is_some_and(|d| d < now));
    }
    let overdue: Vec<u64> = (store.open_tier_counts(now).await.unwrap().iter())
        .map(|g| g.1)
        .collect();
    assert_eq!(overdue, counts);
    let due = (store.deadlines_due(DeadlineNotice::Overdue, None, now, 10_000))
        .await
        .unwrap();
    let mut want: Vec<(Timestamp, String, String, String)> = (all.iter())
        .filter(|o| o.finding.deadline.is_some_and(|d| d <= now))
        .map(|o| {
            let json = serde_json::to_string(&o.finding).unwrap();
            (
                o.finding.deadline.unwrap(),
                host_id(o.host),
                o.finding.binary.clone(),
                json,
            )
        })
        .collect();
    want.sort();
    let got: Vec<(Timestamp, String, String, String)> = (due.iter())
        .map(|d| {
            (
                d.deadline,
                d.host_id.clone(),
                d.binary.clone(),
                d.finding.clone(),
            )
        })
        .collect();
    let key = |v: &Vec<(Timestamp, String, String, String)>| {
        v.iter().map(|x| (x.0, x.1.clone())).collect::<Vec<_>>()
    };
    assert_eq!(key(&got), key(&want), "earliest deadline first");
    assert_eq!(
        got.iter().map(|x| &x.3).collect::<BTreeSet<_>>(),
        want.iter().map(|x| &x.3).collect::<BTreeSet<_>>()
    );
    assert!(got.len() > 3);
    let later = at("2027-01-01T00:00:00Z");
    let near = (store.deadlines_due(DeadlineNotice::Near, Some(now), later, 10_000))
        .await
        .unwrap();
    let want = (all.iter())
        .filter(|o| o.finding.deadline.is_some_and(|d| d > now && d <= later))
        .count();
    assert_eq!(near.len(), want);
}

/// The console's updates (earliest deadline, order, overdue filter) and hosts (overdue filter).
async fn console_readers(store: &Store, all: &[Open]) {
    let mut updates: BTreeMap<(String, String), (u8, Option<Timestamp>)> = BTreeMap::new();
    for o in all {
        let key = (
            o.finding.package.clone(),
            o.finding.fixed.clone().unwrap_or_default(),
        );
        let entry = updates.entry(key).or_insert((4, None));
        entry.0 = entry.0.min(o.finding.tier.index() as u8);
        if let Some(d) = o.finding.deadline.map(stored) {
            entry.1 = Some(entry.1.map_or(d, |e: Timestamp| e.min(d)));
        }
    }
    let mut want: Vec<(u8, bool, Option<Timestamp>, String, String)> = (updates.into_iter())
        .map(|((p, f), (tier, d))| (tier, d.is_none(), d, p, f))
        .collect();
    want.sort();
    let page = store
        .update_page(&UpdateFilter::default(), ALL)
        .await
        .unwrap();
    let got: Vec<(u8, bool, Option<Timestamp>, String, String)> = (page.updates.iter())
        .map(|u| {
            let fixed = u.fixed.clone().unwrap_or_default();
            (
                u.tier,
                u.deadline.is_none(),
                u.deadline,
                u.package.clone(),
                fixed,
            )
        })
        .collect();
    assert_eq!(got, want);
    for instant in ["2026-01-06T08:00:00.2Z", "2026-01-09T00:00:00Z"] {
        let now = at(instant);
        let filter = UpdateFilter {
            overdue_at: Some(now),
            ..Default::default()
        };
        let page = store.update_page(&filter, ALL).await.unwrap();
        let overdue = want.iter().filter(|u| u.2.is_some_and(|d| d < now)).count();
        assert_eq!(page.updates.len(), overdue, "updates overdue at {instant}");
        let filter = HostFilter {
            overdue_at: Some(now),
            ..Default::default()
        };
        let hosts = store.host_page(&filter, ALL).await.unwrap();
        let got: BTreeSet<String> = hosts.hosts.into_iter().map(|h| h.id).collect();
        let want: BTreeSet<String> = (all.iter())
            .filter(|o| o.finding.deadline.is_some_and(|d| d < now))
            .map(|o| host_id(o.host))
            .collect();
        assert!(!want.is_empty());
        assert_eq!(got, want, "hosts overdue at {instant}");
    }
}

/// Host 2 computed again with the same findings (its saturated deadline among them): every
/// open episode is kept unchanged and nothing is rewritten.
async fn the_same_findings_again_write_nothing(store: &Store, all: &[Open]) {
    let mine: Vec<&Open> = all.iter().filter(|o| o.host == 2).collect();
    assert!(
        mine.iter()
            .any(|o| o.finding.deadline == Some(Timestamp::MAX))
    );
    let current: Vec<CurrentFinding> = (mine.iter())
        .map(|o| CurrentFinding::of(&o.finding).unwrap())
        .collect();
    let before = store.finding_history(&host_id(2)).await.unwrap();
    let updates = store
        .update_page(&UpdateFilter::default(), ALL)
        .await
        .unwrap();
    // A mark the summaries' refresh would overwrite if any episode were written.
    sqlx::query("UPDATE open_tier_hosts SET findings = 999 WHERE host_id = $1")
        .bind(host_id(2))
        .execute(store.pool())
        .await
        .unwrap();
    let recorded = store
        .record_findings(&FindingsSnapshot {
            host_id: &host_id(2),
            inventory_collected_at: at("2026-02-01T00:00:00Z"),
            computed_at: at("2026-02-01T00:00:00Z"),
            source: "test",
            findings_json: "[]",
            tier_counts_json: "[0,0,0,0,0]",
            current: &current,
            backported: &[],
        })
        .await
        .unwrap();
    let kept = HistoryChange {
        kept: mine.len(),
        ..Default::default()
    };
    assert_eq!(recorded, Recorded::Recorded(kept));
    let after = store.finding_history(&host_id(2)).await.unwrap();
    let last_seen = at("2026-02-01T00:00:00Z");
    let want: Vec<HistoryRow> = (before.into_iter())
        .map(|row| HistoryRow { last_seen, ..row })
        .collect();
    assert_eq!(after, want);
    let again = store
        .update_page(&UpdateFilter::default(), ALL)
        .await
        .unwrap();
    assert_eq!(again, updates);
    let marked: i64 =
        sqlx::query_scalar("SELECT MIN(findings) FROM open_tier_hosts WHERE host_id = $1")
            .bind(host_id(2))
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(marked, 999, "no episode of host 2 was rewritten");
}

on_both_backends!(migration_0038_reads_the_same);
