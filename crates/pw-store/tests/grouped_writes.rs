//! Several hosts' computations written in one transaction (`Store::record_computations`: each
//! host's freshness, finding key, closed episodes and stamps read for the whole group at its
//! start, `findings_group.rs`) store what the same computations written one by one store: the
//! outcomes (a stale one too), every host's history and stamps — with hosts computed for the
//! first time, hosts with episodes closed and reopened, and a host written twice in one group.
//! A group naming a host that is not enrolled fails whole. On SQLite and PostgreSQL.

#[macro_use]
mod common;

use common::{at, enroll, fresh_store};
use jiff::{SignedDuration, Timestamp};
use pw_store::{Backend, Computation, CurrentFinding, FindingsSnapshot, Recorded, Store};

const HOSTS: [&str; 4] = ["h1", "h2", "h3", "h4"];

fn finding(advisory: u32, tier: u8, deadline_days: i64) -> CurrentFinding {
    let deadline = at("2026-02-01T00:00:00Z") + SignedDuration::from_hours(24 * deadline_days);
    CurrentFinding {
        binary: format!("b{}", advisory % 3),
        advisory: format!("CVE-{advisory}"),
        tier,
        deadline: Some(deadline),
        json: format!(r#"{{"advisory":"CVE-{advisory}","tier":"T{tier}"}}"#),
    }
}

/// Round `round`'s findings of host `n`: some open, closed and reopened between rounds, tiers
/// and deadlines moving.
fn findings_of(n: usize, round: u32) -> Vec<CurrentFinding> {
    (0..8u32)
        .filter(|a| !(a + round + n as u32).is_multiple_of(3))
        .map(|a| finding(a, ((a + round) % 5) as u8, i64::from(round % 2)))
        .collect()
}

fn instant(round: u32, minutes: i64) -> Timestamp {
    at("2026-01-01T00:00:00Z")
        + SignedDuration::from_hours(i64::from(round))
        + SignedDuration::from_mins(minutes)
}

/// Round `round`'s computations: hosts h1…h4 (h4 from round 1), h2 twice (a later computation
/// too), and in round 2 a stale one for h3 (computed before its stored one).
fn round_of(round: u32) -> Vec<(&'static str, Timestamp, Vec<CurrentFinding>)> {
    let mut out = Vec::new();
    for (n, host) in HOSTS.iter().enumerate() {
        if *host == "h4" && round == 0 {
            continue;
        }
        out.push((*host, instant(round, 1), findings_of(n, round)));
    }
    out.push(("h2", instant(round, 2), findings_of(7, round)));
    if round == 2 {
        out.push(("h3", instant(1, 5), findings_of(3, round)));
    }
    out
}

async fn write(
    store: &Store,
    computations: &[(&'static str, Timestamp, Vec<CurrentFinding>)],
    grouped: bool,
) -> anyhow::Result<Vec<Recorded>> {
    let snapshots: Vec<FindingsSnapshot<'_>> = (computations.iter())
        .map(|(host, computed_at, current)| FindingsSnapshot {
            host_id: host,
            inventory_collected_at: at("2026-01-01T00:00:00Z"),
            computed_at: *computed_at,
            source: "test",
            findings_json: "[]",
            tier_counts_json: "[0,0,0,0,0]",
            current,
            backported: &[],
        })
        .collect();
    let computation = Computation::default();
    let pairs: Vec<_> = snapshots.iter().map(|s| (s, &computation)).collect();
    if grouped {
        return store.record_computations(&pairs).await;
    }
    let mut recorded = Vec::new();
    for (snapshot, computation) in pairs {
        recorded.push(store.record_computation(snapshot, computation).await?);
    }
    Ok(recorded)
}

/// Every host's history and the stamps, as text.
async fn shown(store: &Store) -> Vec<String> {
    let mut out = Vec::new();
    for host in HOSTS {
        out.push(format!("{:?}", store.finding_history(host).await.unwrap()));
    }
    let stamps = "SELECT h.host_id, s.stamp, s.first_seen, s.deadline FROM open_stamps s
          JOIN finding_hosts h ON h.key = s.host_key ORDER BY h.host_id, s.stamp";
    for row in sqlx::query(stamps).fetch_all(store.pool()).await.unwrap() {
        use sqlx::Row;
        let (host, stamp): (String, i64) = (row.get(0), row.get(1));
        let (first_seen, deadline): (i64, Option<i64>) = (row.get(2), row.get(3));
        out.push(format!("{host} {stamp} {first_seen} {deadline:?}"));
    }
    out
}

async fn a_groups_write_stores_what_one_by_one_stores(backend: Backend) {
    let (_one_dir, one) = fresh_store(backend).await;
    let (_group_dir, group) = fresh_store(backend).await;
    for store in [&one, &group] {
        for host in HOSTS {
            enroll(store, host).await;
            let inventory = common::inventory("2026-01-01T00:00:00Z");
            (store.store_inventory(host, host, inventory, None).await).unwrap();
        }
    }
    for round in 0..4 {
        let computations = round_of(round);
        let by_one = write(&one, &computations, false).await.unwrap();
        let grouped = write(&group, &computations, true).await.unwrap();
        assert_eq!(grouped, by_one, "round {round}");
        assert_eq!(shown(&group).await, shown(&one).await, "round {round}");
    }
    // Round 2's late computation of h3 was stale; h2 closed and reopened findings.
    let stale = write(&group, &round_of(2), true).await.unwrap();
    assert!(stale.iter().all(|r| *r == Recorded::Stale));
    let history = group.finding_history("h2").await.unwrap();
    assert!(history.iter().any(|r| r.fixed_at.is_some()), "{history:?}");
    assert!(history.iter().any(|r| r.episode > 1), "{history:?}");
    // A host not enrolled fails the group: nothing of it is written.
    let before = shown(&group).await;
    let mut unknown = round_of(4);
    unknown.push(("h9", instant(4, 1), findings_of(9, 4)));
    assert!(write(&group, &unknown, true).await.is_err());
    assert_eq!(shown(&group).await, before);
}

on_both_backends!(a_groups_write_stores_what_one_by_one_stores);
