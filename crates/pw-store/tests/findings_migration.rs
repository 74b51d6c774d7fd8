//! Migration 0037 (compact findings) on SQLite and PostgreSQL: a database written at 0036 —
//! hosts with open and closed episodes of many findings, findings that came back, episodes
//! closed by a backport, instants with and without fractions of a second, texts shared across
//! hosts with per-host deadlines — reads the same afterwards through every reader (per-host
//! history, the fixed episodes of the reports, the open episodes, the tier gauges, the deadline
//! check, the accepted risks' search), and the write path numbers a finding that comes back
//! after the migrated history.

use std::collections::BTreeMap;

use pw_model::{Finding, Tier};
use pw_store::{
    Backend, CurrentFinding, DatabaseUrl, DeadlineNotice, FindingsSnapshot, HistoryChange,
    HistoryRow, Recorded, Store,
};

#[macro_use]
mod common;

use common::at;

const HOSTS: usize = 6;
const KEYS: usize = 30;

fn host_id(host: usize) -> String {
    format!("host-{host:036}")
}

fn key(k: usize) -> (String, String) {
    (
        format!("lib{}", k % 11),
        format!("DEBIAN-CVE-2024-{:05}", 1000 + k),
    )
}

/// The finding of key `k` as shown at variant `v` (another tier and summary: another text).
fn finding(k: usize, v: usize, deadline: Option<&str>) -> Finding {
    let (binary, advisory) = key(k);
    Finding {
        binary,
        installed: "1.0-1".into(),
        package: format!("src{}", k % 7),
        package_version: "1.0-1".into(),
        advisory: advisory.clone(),
        aliases: vec![advisory.replace("DEBIAN-", "")],
        fixed: (!k.is_multiple_of(5)).then(|| format!("1.0-{}", 2 + k % 3)),
        tier: [Tier::T0, Tier::T1, Tier::T2, Tier::T3, Tier::T4][(k + v) % 5],
        deadline: deadline.map(at),
        reasons: vec![format!("variant {v}: a \"deadline\":null in a reason")],
        summary: format!("problem {k}"),
        published: None,
        cvss: Some(5.0 + (k % 4) as f64),
        epss: (!k.is_multiple_of(3)).then_some(0.01 * k as f64),
        kev: k.is_multiple_of(9),
    }
}

/// An episode as written at 0036, with the finding as last seen.
#[derive(Clone)]
struct Episode {
    host: usize,
    k: usize,
    episode: i64,
    first_seen: String,
    last_seen: String,
    fixed_at: Option<String>,
    fixed_by: Option<String>,
    finding: Finding,
}

/// Day `d` of January 2026, with a fraction of a second on odd days.
fn instant(d: usize) -> String {
    let fraction = if d % 2 == 1 { ".25" } else { "" };
    format!("2026-01-{:02}T08:00:00{fraction}Z", d + 1)
}

fn episodes() -> Vec<Episode> {
    let mut out = Vec::new();
    for host in 0..HOSTS {
        for k in 0..KEYS {
            let pattern = (host * 7 + k * 3) % 6;
            let closed = pattern % 3;
            let open = pattern < 4;
            let mut day = (host + k) % 3;
            for e in 0..closed + usize::from(open) {
                let is_open = e == closed;
                let deadline = (k % 4 != 0).then(|| instant(day + 10));
                out.push(Episode {
                    host,
                    k,
                    episode: e as i64 + 1,
                    first_seen: instant(day),
                    last_seen: instant(if is_open { day } else { day + 2 }),
                    fixed_at: (!is_open).then(|| instant(day + 3)),
                    fixed_by: (!is_open && k % 5 == 1).then(|| "fixed by a backport".into()),
                    finding: finding(k, e, deadline.as_deref()),
                });
                day += 4;
            }
        }
    }
    out
}

/// When each host's latest computation ran (its open episodes' last sight).
fn computed_at(host: usize) -> String {
    instant(25 + host % 2)
}

use common::finding_text as text;

async fn database_at_0036(backend: Backend) -> (Option<tempfile::TempDir>, DatabaseUrl) {
    let (dir, url, pool) = common::unmigrated_database(backend).await;
    common::migrate_up_to(backend, &pool, 36).await;
    for host in 0..HOSTS {
        let hostname = format!("web-{host}");
        common::insert_host_computed(&pool, &host_id(host), &hostname, &computed_at(host)).await;
    }
    let mut texts: BTreeMap<String, i64> = BTreeMap::new();
    for e in episodes() {
        let text = text(&e.finding);
        if !texts.contains_key(&text) {
            let id = common::insert_finding_text(&pool, &e.finding).await;
            texts.insert(text.clone(), id);
        }
        sqlx::query(
            "INSERT INTO finding_history (host_id, binary_name, advisory, episode, first_seen,
               last_seen, fixed_at, fixed_by, tier, deadline, text_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(host_id(e.host))
        .bind(&e.finding.binary)
        .bind(&e.finding.advisory)
        .bind(e.episode)
        .bind(&e.first_seen)
        .bind(&e.last_seen)
        .bind(&e.fixed_at)
        .bind(&e.fixed_by)
        .bind(e.finding.tier.index() as i64)
        .bind(e.finding.deadline.map(|d| d.to_string()))
        .bind(texts[&text])
        .execute(&pool)
        .await
        .unwrap();
    }
    pool.close().await;
    (dir, url)
}

/// The history row the readers gave for an episode written at 0036.
fn expected(e: &Episode) -> HistoryRow {
    let (binary, advisory) = key(e.k);
    HistoryRow {
        host_id: host_id(e.host),
        hostname: format!("web-{}", e.host),
        binary,
        advisory,
        episode: e.episode as u32,
        first_seen: at(&e.first_seen),
        last_seen: match e.fixed_at {
            Some(_) => at(&e.last_seen),
            None => at(&computed_at(e.host)),
        },
        fixed_at: e.fixed_at.as_deref().map(at),
        fixed_by: e.fixed_by.clone(),
        tier: e.finding.tier.index() as u8,
        deadline: e.finding.deadline,
        finding: serde_json::to_string(&e.finding).unwrap(),
    }
}

fn by_key(rows: &mut [HistoryRow]) {
    rows.sort_by(|a, b| {
        (&a.host_id, &a.binary, &a.advisory, a.episode).cmp(&(
            &b.host_id,
            &b.binary,
            &b.advisory,
            b.episode,
        ))
    });
}

async fn migration_0037_keeps_every_episode(backend: Backend) {
    let (_guard, url) = database_at_0036(backend).await;
    let store = Store::connect(&url).await.unwrap();
    let all = episodes();
    let closed = all.iter().filter(|e| e.fixed_at.is_some()).count();
    assert!(closed > 40 && all.len() - closed > 80, "real-shaped data");
    for host in 0..HOSTS {
        let mut want: Vec<HistoryRow> = (all.iter().filter(|e| e.host == host))
            .map(expected)
            .collect();
        by_key(&mut want);
        want.sort_by_key(|r| (r.fixed_at.is_some(), std::cmp::Reverse(r.fixed_at)));
        let got = store.finding_history(&host_id(host)).await.unwrap();
        assert_eq!(got, want, "the history of host {host}");
    }
    let mut fixed: Vec<HistoryRow> = (all.iter().filter(|e| e.fixed_at.is_some()))
        .map(expected)
        .collect();
    by_key(&mut fixed);
    assert_eq!(store.fixed_episodes().await.unwrap(), fixed);
    let open: Vec<&Episode> = all.iter().filter(|e| e.fixed_at.is_none()).collect();
    let mut episodes = store.open_episodes(None).await.unwrap();
    episodes.sort_by(|a, b| (&a.host_id, &a.binary).cmp(&(&b.host_id, &b.binary)));
    assert_eq!(episodes.len(), open.len());
    // The overdue gauges and the deadline check over the open episodes (the open counts per
    // tier are a summary the write path keeps, not migrated).
    let now = at("2026-01-15T12:00:00Z");
    let mut counts = [0; 5];
    for e in &open {
        counts[e.finding.tier.index()] += u64::from(e.finding.deadline.is_some_and(|d| d < now));
    }
    let gauges = store.open_tier_counts(now).await.unwrap();
    let overdue: Vec<u64> = gauges.iter().map(|g| g.1).collect();
    assert_eq!(overdue, counts);
    assert!(overdue.iter().sum::<u64>() > 0);
    let due = (store.deadlines_due(DeadlineNotice::Overdue, None, now, 10_000))
        .await
        .unwrap();
    assert_eq!(due.len() as u64, overdue.iter().sum::<u64>());
    for d in &due {
        let e = (open.iter())
            .find(|e| host_id(e.host) == d.host_id && key(e.k).1 == d.advisory)
            .unwrap();
        assert_eq!(d.finding, serde_json::to_string(&e.finding).unwrap());
        assert_eq!(d.episode, e.episode);
    }
    let (_, advisory) = key(3);
    let naming = store.open_findings_naming(&advisory, None).await.unwrap();
    let expected_naming = open.iter().filter(|e| e.k == 3).count();
    assert_eq!(naming.len(), expected_naming);
    assert!(expected_naming > 0);
    let packed: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM closed_findings")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert!(
        packed > 0,
        "closed episodes stored per host and computation"
    );
    comes_back_after_the_migrated_history(&store, &all).await;
}

/// A new computation on host 0 showing every finding it ever had: those closed come back with
/// the episode after their last one, the open ones stay.
async fn comes_back_after_the_migrated_history(store: &Store, all: &[Episode]) {
    let mine: Vec<&Episode> = all.iter().filter(|e| e.host == 0).collect();
    let mut last: BTreeMap<usize, &Episode> = BTreeMap::new();
    for e in &mine {
        let entry = last.entry(e.k).or_insert(e);
        if e.episode > entry.episode {
            *entry = e;
        }
    }
    let current: Vec<CurrentFinding> = (last.values())
        .map(|e| CurrentFinding::of(&e.finding).unwrap())
        .collect();
    let reopened = last.values().filter(|e| e.fixed_at.is_some()).count();
    let recorded = store
        .record_findings(&FindingsSnapshot {
            host_id: &host_id(0),
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
    let kept = last.len() - reopened;
    let change = HistoryChange {
        opened: 0,
        reopened,
        kept,
        fixed: 0,
    };
    assert_eq!(recorded, Recorded::Recorded(change));
    let history = store.finding_history(&host_id(0)).await.unwrap();
    for e in last.values().filter(|e| e.fixed_at.is_some()) {
        let row = (history.iter())
            .find(|r| r.binary == key(e.k).0 && r.advisory == key(e.k).1 && r.fixed_at.is_none())
            .unwrap();
        assert_eq!(row.episode as i64, e.episode + 1);
        assert_eq!(row.first_seen, at("2026-02-01T00:00:00Z"));
    }
    assert_eq!(history.len(), mine.len() + reopened);
}

on_both_backends!(migration_0037_keeps_every_episode);
