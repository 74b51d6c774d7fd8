//! The console's summaries kept by the findings write path (migration 0026) on SQLite and
//! PostgreSQL: after every computation of a long pseudo-random sequence — findings opened,
//! kept, re-tiered, re-dated, KEV flipped, closed, closed by a backport, updates with no fixed
//! version, an update losing its last host — `update_page` (read from `open_updates`) equals
//! the updates grouped from the open findings themselves, and the hosts filtered as overdue
//! (read from `host_findings.earliest_deadline`) are exactly those with an open finding past
//! the instant, and the /metrics tier gauges (`open_tier_hosts`, migration 0036) equal the open
//! findings counted per tier. Computations of part of a host (a feed import's re-rank) through
//! two replicas keep all of them so too, and the hosts' earliest deadlines.

use std::collections::BTreeSet;

use pw_store::{
    Backend, BackportedFinding, Computation, Covered, CurrentFinding, FindingsSnapshot, HostFilter,
    PageRequest, Store, UpdateFilter, UpdateRow,
};
use sqlx::Row;

#[macro_use]
mod common;

use common::{at, fresh_store};

const ALL: PageRequest = PageRequest {
    offset: 0,
    limit: 1000,
};

const HOSTS: [&str; 4] = ["h1", "h2", "h3", "h4"];

/// A small deterministic generator (the sequence must be the same on every run).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

fn finding(rng: &mut Lcg, index: u64) -> CurrentFinding {
    // Advisory `A<index>` always belongs to the same package; its fixed version, tier,
    // deadline, KEV and EPSS vary between computations.
    let package = format!("p{}", index % 5);
    let fixed = match rng.next(3) {
        0 => None,
        n => Some(format!("1.{n}")),
    };
    let deadline = match rng.next(4) {
        0 => None,
        n => Some(at(&format!("2026-0{n}-01T00:00:00Z"))),
    };
    let epss = match rng.next(3) {
        0 => serde_json::Value::Null,
        n => serde_json::json!(n as f64 / 10.0),
    };
    let json = serde_json::json!({
        "binary": format!("{package}-bin"), "package": package, "advisory": format!("A{index}"),
        "fixed": fixed, "kev": rng.next(4) == 0, "epss": epss,
    });
    CurrentFinding {
        binary: format!("{package}-bin"),
        advisory: format!("A{index}"),
        tier: rng.next(5) as u8,
        deadline,
        json: json.to_string(),
    }
}

/// The updates grouped from the open findings, as the console grouped them before 0026 (their
/// package, fixed version, KEV and EPSS from the findings' texts since 0033).
async fn grouped_from_history(store: &Store) -> Vec<UpdateRow> {
    let rows = sqlx::query(
        "SELECT update_package, update_fixed, MIN(tier) AS tier, MIN(deadline) AS deadline,
                COUNT(DISTINCT host_id) AS hosts, COUNT(*) AS findings, MAX(kev) AS kev,
                CAST(MAX(epss) AS DOUBLE PRECISION) AS epss
         FROM (SELECT f.host_id, f.tier, f.deadline, k.package AS update_package,
                      NULLIF(k.fixed, '') AS update_fixed, t.kev, t.epss
               FROM open_findings_named f JOIN finding_texts t ON t.id = f.text_id
               JOIN update_keys k ON k.id = t.update_key) AS open
         GROUP BY update_package, update_fixed
         ORDER BY MIN(tier), MIN(deadline) IS NULL, MIN(deadline), update_package,
                  coalesce(update_fixed, '')",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    rows.iter()
        .map(|r| UpdateRow {
            package: r.get("update_package"),
            fixed: r.get("update_fixed"),
            tier: r.get::<i64, _>("tier") as u8,
            deadline: r.get::<Option<i64>, _>("deadline").map(from_nanos),
            hosts: r.get::<i64, _>("hosts") as u64,
            findings: r.get::<i64, _>("findings") as u64,
            kev: r.get::<i64, _>("kev") != 0,
            epss: r.get("epss"),
        })
        .collect()
}

/// An instant as stored since migration 0038: nanoseconds since the epoch.
fn nanos(instant: &str) -> i64 {
    i64::try_from(at(instant).as_nanosecond()).unwrap()
}

fn from_nanos(n: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_nanosecond(i128::from(n)).unwrap()
}

/// The open findings per tier and how many are overdue at `instant`, from the findings.
async fn tiers_from_history(store: &Store, instant: &str) -> [(u64, u64); 5] {
    let rows = sqlx::query(
        "SELECT tier, COUNT(*) AS open,
                SUM(CASE WHEN deadline < $1 THEN 1 ELSE 0 END) AS overdue
         FROM open_findings GROUP BY tier",
    )
    .bind(nanos(instant))
    .fetch_all(store.pool())
    .await
    .unwrap();
    let mut counts = [(0, 0); 5];
    for r in &rows {
        counts[r.get::<i64, _>("tier") as usize] = (
            r.get::<i64, _>("open") as u64,
            r.get::<Option<i64>, _>("overdue").unwrap_or(0) as u64,
        );
    }
    counts
}

/// Hosts with an open finding whose deadline is before `instant`, from the findings.
async fn overdue_from_history(store: &Store, instant: &str) -> BTreeSet<String> {
    sqlx::query_scalar(
        "SELECT DISTINCT host_id FROM open_findings_named
         WHERE deadline IS NOT NULL AND deadline < $1",
    )
    .bind(nanos(instant))
    .fetch_all(store.pool())
    .await
    .unwrap()
    .into_iter()
    .collect()
}

async fn the_summaries_follow_every_computation(backend: Backend) {
    let (_guard, store) = fresh_store(backend).await;
    for host in HOSTS {
        common::enroll(&store, host).await;
    }
    let mut rng = Lcg(13);
    for round in 0..40u32 {
        let host = HOSTS[rng.next(HOSTS.len() as u64) as usize];
        // Most rounds show 0–7 of the 12 advisories; some show none at all (everything fixed).
        let count = if rng.next(8) == 0 { 0 } else { rng.next(8) };
        let mut indexes: Vec<u64> = (0..count).map(|_| rng.next(12)).collect();
        indexes.sort_unstable();
        indexes.dedup();
        let current: Vec<CurrentFinding> = indexes.iter().map(|i| finding(&mut rng, *i)).collect();
        let backported: Vec<BackportedFinding> = match rng.next(5) {
            0 => vec![BackportedFinding {
                finding: finding(&mut rng, 12 + u64::from(round % 3)),
                reason: "changelog names the fix".into(),
            }],
            _ => vec![],
        };
        let collected =
            at("2026-01-01T00:00:00Z") + jiff::SignedDuration::from_hours(i64::from(round));
        let inventory = common::inventory(&collected.to_string());
        store
            .store_inventory(host, host, inventory, None)
            .await
            .unwrap();
        let snapshot = FindingsSnapshot {
            host_id: host,
            inventory_collected_at: collected,
            computed_at: collected + jiff::SignedDuration::from_mins(1),
            source: "test",
            findings_json: "[]",
            tier_counts_json: "[0,0,0,0,0]",
            current: &current,
            backported: &backported,
        };
        store.record_findings(&snapshot).await.unwrap();

        let page = store
            .update_page(&UpdateFilter::default(), ALL)
            .await
            .unwrap();
        let expected = grouped_from_history(&store).await;
        assert_eq!(page.updates, expected, "round {round} ({host})");
        assert_eq!(page.total, expected.len() as u64);
        let gauges = store
            .open_tier_counts(at("2026-03-01T00:00:00Z"))
            .await
            .unwrap();
        assert_eq!(
            gauges,
            tiers_from_history(&store, "2026-03-01T00:00:00Z").await
        );
        for instant in ["2026-02-15T00:00:00Z", "2026-03-15T00:00:00Z"] {
            let filter = HostFilter {
                overdue_at: Some(at(instant)),
                ..Default::default()
            };
            let hosts = store.host_page(&filter, ALL).await.unwrap();
            let got: BTreeSet<String> = hosts.hosts.into_iter().map(|h| h.id).collect();
            assert_eq!(
                got,
                overdue_from_history(&store, instant).await,
                "round {round}"
            );
        }
    }
    // Filters on the summary: most urgent tier, overdue, KEV.
    let all = grouped_from_history(&store).await;
    let tier = all.first().map(|u| u.tier).unwrap_or(0);
    let filter = UpdateFilter {
        tier: Some(tier),
        ..Default::default()
    };
    let page = store.update_page(&filter, ALL).await.unwrap();
    let want: Vec<&UpdateRow> = all.iter().filter(|u| u.tier == tier).collect();
    assert_eq!(page.updates.iter().collect::<Vec<_>>(), want);
    let kev = UpdateFilter {
        kev_only: true,
        ..Default::default()
    };
    let page = store.update_page(&kev, ALL).await.unwrap();
    assert_eq!(page.total, all.iter().filter(|u| u.kev).count() as u64);
}

/// A first computation of many updates rewrites all of the host's summary rows, a later one
/// changing a few rewrites only theirs; either way the rows are the host's open findings
/// grouped, and the other hosts' rows stay.
async fn many_updates_then_a_few(backend: Backend) {
    let (_guard, store) = fresh_store(backend).await;
    let mut rng = Lcg(7);
    let hosts = ["h1", "h2"];
    for host in hosts {
        common::enroll(&store, host).await;
    }
    // 120 advisories of 60 packages: 60 to 180 updates (package, fixed version) a computation.
    let mut all: Vec<CurrentFinding> = (0..120).map(|i| finding(&mut rng, i)).collect();
    for f in &mut all {
        let package = format!("q{}", f.advisory[1..].parse::<u64>().unwrap() % 60);
        let mut json: serde_json::Value = serde_json::from_str(&f.json).unwrap();
        json["package"] = package.clone().into();
        f.json = json.to_string();
    }
    for round in 0..6u32 {
        let host = hosts[round as usize % 2];
        let current: Vec<CurrentFinding> = match round {
            0 | 1 => all.clone(),
            // A few findings re-tiered, re-dated, gone or back.
            _ => {
                let mut some = all.clone();
                some.retain(|_| rng.next(40) != 0);
                for f in &mut some {
                    if rng.next(30) == 0 {
                        f.tier = rng.next(5) as u8;
                        f.deadline = Some(at("2026-05-01T00:00:00Z"));
                    }
                }
                some
            }
        };
        common::record_round(&store, (host, round), &current, Computation::default()).await;
        let (stored, grouped) = common::summary_rows(store.pool()).await;
        if round == 0 {
            assert!(
                stored.len() > 64,
                "more updates than a partial rewrite takes"
            );
        }
        assert_eq!(stored, grouped, "round {round} ({host})");
        let page = store
            .update_page(&UpdateFilter::default(), ALL)
            .await
            .unwrap();
        assert_eq!(page.updates, grouped_from_history(&store).await);
    }
}

/// [`finding`] of binary `b<index % 6>` (two binaries of one package share its updates, a
/// binary has findings of several packages).
fn finding_of_binary(rng: &mut Lcg, index: u64) -> CurrentFinding {
    let mut found = finding(rng, index);
    found.binary = format!("b{}", index % 6);
    let mut json: serde_json::Value = serde_json::from_str(&found.json).unwrap();
    json["binary"] = found.binary.clone().into();
    found.json = json.to_string();
    found
}

const PART_HOSTS: [&str; 3] = ["h1", "h2", "h3"];

async fn summaries_in_part_and_by_two_replicas(backend: Backend) {
    let (_guard, first) = fresh_store(backend).await;
    let second = Store::connect(first.url()).await.unwrap();
    for host in PART_HOSTS {
        common::enroll(&first, host).await;
    }
    let mut rng = Lcg(29);
    for round in 0..48u32 {
        let host = PART_HOSTS[rng.next(PART_HOSTS.len() as u64) as usize];
        let store = [&first, &second][rng.next(2) as usize];
        let mut indexes: Vec<u64> = (0..rng.next(10)).map(|_| rng.next(18)).collect();
        indexes.sort_unstable();
        indexes.dedup();
        let all: Vec<CurrentFinding> = (indexes.iter())
            .map(|i| finding_of_binary(&mut rng, *i))
            .collect();
        // Half the rounds cover one binary only (its findings written, the others kept).
        let binary = format!("b{}", rng.next(6));
        let covered = Covered::binaries([binary.clone()].into());
        let part = rng.next(2) == 0;
        let current: Vec<CurrentFinding> = match part {
            true => all.into_iter().filter(|f| f.binary == binary).collect(),
            false => all,
        };
        let computation = Computation {
            basis: None,
            only: part.then_some(&covered),
            texts: None,
            packed: None,
        };
        common::record_round(store, (host, round), &current, computation).await;
        let (stored, grouped) = common::both_sides(&first).await;
        assert_eq!(stored, grouped, "round {round} ({host}, in part: {part})");
        let page = (first.update_page(&UpdateFilter::default(), ALL).await).unwrap();
        let other = (second.update_page(&UpdateFilter::default(), ALL).await).unwrap();
        assert_eq!(page, other, "round {round}: both replicas read the same");
    }
}

/// Groups of hosts' computations written together (`Store::record_computations`, a feed
/// import's re-rank): their summaries are refreshed together, and each host's rows are its own
/// open findings grouped (whole or in part, some hosts' findings unchanged or all gone).
async fn summaries_of_groups_written_together(backend: Backend) {
    let (_guard, store) = fresh_store(backend).await;
    for host in HOSTS {
        common::enroll(&store, host).await;
    }
    let mut rng = Lcg(41);
    for round in 0..24u32 {
        let collected =
            at("2026-01-01T00:00:00Z") + jiff::SignedDuration::from_hours(i64::from(round));
        let mut group = Vec::new();
        let hosts: Vec<&str> = HOSTS.into_iter().filter(|_| rng.next(4) != 0).collect();
        for host in hosts {
            let inventory = common::inventory(&collected.to_string());
            (store.store_inventory(host, host, inventory, None).await).unwrap();
            let count = if rng.next(6) == 0 { 0 } else { rng.next(10) };
            let mut indexes: Vec<u64> = (0..count).map(|_| rng.next(18)).collect();
            indexes.sort_unstable();
            indexes.dedup();
            let all: Vec<CurrentFinding> = (indexes.iter())
                .map(|i| finding_of_binary(&mut rng, *i))
                .collect();
            let covered = Covered::binaries([format!("b{}", rng.next(6))].into());
            let part = rng.next(2) == 0;
            let current: Vec<CurrentFinding> = match part {
                true => (all.into_iter())
                    .filter(|f| covered.binaries.contains(&f.binary))
                    .collect(),
                false => all,
            };
            group.push((host, current, part.then_some(covered)));
        }
        let snapshots: Vec<FindingsSnapshot<'_>> = (group.iter())
            .map(|(host, current, _)| FindingsSnapshot {
                host_id: host,
                inventory_collected_at: collected,
                computed_at: collected + jiff::SignedDuration::from_mins(1),
                source: "test",
                findings_json: "[]",
                tier_counts_json: "[0,0,0,0,0]",
                current,
                backported: &[],
            })
            .collect();
        let computations: Vec<Computation<'_>> = (group.iter())
            .map(|(_, _, covered)| Computation {
                basis: None,
                only: covered.as_ref(),
                texts: None,
                packed: None,
            })
            .collect();
        let pairs: Vec<_> = snapshots.iter().zip(&computations).collect();
        let recorded = store.record_computations(&pairs).await.unwrap();
        assert_eq!(recorded.len(), group.len());
        let (stored, grouped) = common::both_sides(&store).await;
        assert_eq!(stored, grouped, "round {round} ({} hosts)", group.len());
        let page = (store.update_page(&UpdateFilter::default(), ALL).await).unwrap();
        assert_eq!(
            page.updates,
            grouped_from_history(&store).await,
            "round {round}"
        );
    }
}

on_both_backends!(
    summaries_of_groups_written_together,
    summaries_in_part_and_by_two_replicas,
    the_summaries_follow_every_computation,
    many_updates_then_a_few
);
