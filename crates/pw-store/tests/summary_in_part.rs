//! The console's summaries after computations of part of a host (a feed import's re-rank:
//! `Computation::only`) and through two replicas, on SQLite and PostgreSQL: the summaries are
//! grouped from the host's open rows and its texts' updates, KEV and EPSS as each process
//! remembers them (`text_facts.rs`), and after every computation — whole or in part, by one
//! replica or the other — they equal the open findings grouped in SQL from the texts
//! themselves, the tier gauges the open findings counted, and the hosts' earliest deadlines
//! their open findings' earliest.

use pw_store::{
    Backend, Computation, Covered, CurrentFinding, FindingsSnapshot, PageRequest, Store,
    UpdateFilter,
};
use sqlx::Row;

#[macro_use]
mod common;

use common::{at, fresh_store};

const HOSTS: [&str; 3] = ["h1", "h2", "h3"];

const ALL: PageRequest = PageRequest {
    offset: 0,
    limit: 1000,
};

/// A small deterministic generator (the sequence must be the same on every run).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = (self.0.wrapping_mul(6364136223846793005)).wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

/// Advisory `A<index>` of binary `b<index % 6>`, package `p<index % 4>` (two binaries of one
/// package share its updates); fixed version, tier, deadline, KEV and EPSS vary.
fn finding(rng: &mut Lcg, index: u64) -> CurrentFinding {
    let binary = format!("b{}", index % 6);
    let fixed = (rng.next(3) > 0).then(|| format!("1.{}", rng.next(2)));
    let deadline = match rng.next(4) {
        0 => None,
        n => Some(at(&format!("2026-0{n}-01T00:00:00Z"))),
    };
    let epss = match rng.next(3) {
        0 => serde_json::Value::Null,
        n => serde_json::json!(n as f64 / 7.0),
    };
    let json = serde_json::json!({
        "binary": binary, "package": format!("p{}", index % 4),
        "advisory": format!("A{index}"), "fixed": fixed, "kev": rng.next(4) == 0, "epss": epss,
    });
    CurrentFinding {
        binary,
        advisory: format!("A{index}"),
        tier: rng.next(5) as u8,
        deadline,
        json: json.to_string(),
    }
}

/// What the summaries say and what the open findings say, per host and update, tier and
/// deadline; each side as text.
async fn both_sides(store: &Store) -> (Vec<String>, Vec<String>) {
    let (mut stored, mut grouped) = common::summary_rows(store.pool()).await;
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

async fn summaries_in_part_and_by_two_replicas(backend: Backend) {
    let (_guard, first) = fresh_store(backend).await;
    let second = Store::connect(first.url()).await.unwrap();
    for host in HOSTS {
        common::enroll(&first, host).await;
    }
    let mut rng = Lcg(29);
    for round in 0..48u32 {
        let host = HOSTS[rng.next(HOSTS.len() as u64) as usize];
        let store = [&first, &second][rng.next(2) as usize];
        let mut indexes: Vec<u64> = (0..rng.next(10)).map(|_| rng.next(18)).collect();
        indexes.sort_unstable();
        indexes.dedup();
        let all: Vec<CurrentFinding> = indexes.iter().map(|i| finding(&mut rng, *i)).collect();
        // Half the rounds cover one binary only (its findings written, the others kept).
        let binary = format!("b{}", rng.next(6));
        let covered = Covered::binaries([binary.clone()].into());
        let part = rng.next(2) == 0;
        let current: Vec<CurrentFinding> = match part {
            true => all.into_iter().filter(|f| f.binary == binary).collect(),
            false => all,
        };
        let collected =
            at("2026-01-01T00:00:00Z") + jiff::SignedDuration::from_hours(i64::from(round));
        let inventory = common::inventory(&collected.to_string());
        (store.store_inventory(host, host, inventory, None).await).unwrap();
        let snapshot = FindingsSnapshot {
            host_id: host,
            inventory_collected_at: collected,
            computed_at: collected + jiff::SignedDuration::from_mins(1),
            source: "test",
            findings_json: "[]",
            tier_counts_json: "[0,0,0,0,0]",
            current: &current,
            backported: &[],
        };
        let computation = Computation {
            basis: None,
            only: part.then_some(&covered),
        };
        (store.record_computation(&snapshot, &computation).await).unwrap();
        let (stored, grouped) = both_sides(&first).await;
        assert_eq!(stored, grouped, "round {round} ({host}, in part: {part})");
        let page = (first.update_page(&UpdateFilter::default(), ALL).await).unwrap();
        let other = (second.update_page(&UpdateFilter::default(), ALL).await).unwrap();
        assert_eq!(page, other, "round {round}: both replicas read the same");
    }
}

on_both_backends!(summaries_in_part_and_by_two_replicas);
