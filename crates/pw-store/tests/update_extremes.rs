//! Migration 0056 (an update's extremes kept with how many hosts' rows hold each) on both
//! backends: summaries stored before it (their counts 0, not known) are counted again from the
//! update's rows at its next write, the holders leave one by one, and after every write each
//! update's summary — hosts, findings, most urgent tier, earliest deadline, KEV, highest EPSS
//! and the counts — is the one counted from its hosts' rows.

use std::collections::BTreeMap;

use pw_model::{Finding, Tier};
use pw_store::{Backend, CurrentFinding};
use sqlx::Row;

#[macro_use]
mod common;

use common::findings::model_finding;

/// Finding `k` of update `src{k % 2}`, at `tier`, due `due` days into February (none: 0).
fn finding(k: usize, tier: Tier, due: u8, epss: Option<f64>) -> CurrentFinding {
    let deadline = (due > 0).then(|| common::at(&format!("2026-02-{due:02}T00:00:00Z")));
    let finding = Finding {
        tier,
        deadline,
        epss,
        kev: k == 4,
        ..model_finding(k)
    };
    CurrentFinding::of(&finding).unwrap()
}

/// Per update (package): hosts, findings, tier, deadline, KEV, EPSS parts and the four counts
/// at those values.
type Summary = (i64, i64, [Option<i64>; 4], [i64; 4]);

/// Every update's summary as stored.
async fn stored(pool: &sqlx::AnyPool) -> BTreeMap<String, Summary> {
    let sql = "SELECT package, hosts, findings, tier, deadline, kev,
                      CAST(round(epss * 1000000000) AS BIGINT) AS epss,
                      tier_hosts, deadline_hosts, kev_hosts, epss_hosts
               FROM open_updates";
    let rows = sqlx::query(sql).fetch_all(pool).await.unwrap();
    (rows.iter())
        .map(|r| {
            let values = [
                Some(r.get("tier")),
                r.get("deadline"),
                Some(r.get("kev")),
                r.get("epss"),
            ];
            let holders = ["tier_hosts", "deadline_hosts", "kev_hosts", "epss_hosts"];
            let summary = (
                r.get("hosts"),
                r.get("findings"),
                values,
                holders.map(|c| r.get(c)),
            );
            (r.get("package"), summary)
        })
        .collect()
}

/// A host's row of an update: findings, and the tier, deadline, KEV and EPSS parts.
type HostRow = (i64, [Option<i64>; 4]);

/// Every update's summary counted from its hosts' rows (`open_update_hosts`).
async fn counted(pool: &sqlx::AnyPool) -> BTreeMap<String, Summary> {
    let sql = "SELECT k.package, o.findings, o.tier, o.deadline, o.kev, o.epss
               FROM open_update_hosts o JOIN update_keys k ON k.id = o.update_key";
    let rows = sqlx::query(sql).fetch_all(pool).await.unwrap();
    let mut by_update: BTreeMap<String, Vec<HostRow>> = BTreeMap::new();
    for r in &rows {
        let values = [
            Some(r.get("tier")),
            r.get("deadline"),
            Some(r.get("kev")),
            r.get("epss"),
        ];
        (by_update.entry(r.get("package")).or_default()).push((r.get("findings"), values));
    }
    let extreme = |place: usize, values: Vec<Option<i64>>| {
        let present = values.iter().flatten().copied();
        let best = match place {
            0 | 1 => present.min(),
            _ => present.max(),
        };
        let holders = values.iter().filter(|v| **v == best).count() as i64;
        (best, holders)
    };
    (by_update.into_iter())
        .map(|(package, rows)| {
            let findings = rows.iter().map(|(f, _)| f).sum();
            let mut values = [None; 4];
            let mut holders = [0; 4];
            for place in 0..4 {
                let column = rows.iter().map(|(_, v)| v[place]).collect();
                (values[place], holders[place]) = extreme(place, column);
            }
            (package, (rows.len() as i64, findings, values, holders))
        })
        .collect()
}

/// Every update's stored summary is the one counted from its rows, its counts too where known
/// (not 0); the stored summaries.
async fn kept(pool: &sqlx::AnyPool) -> BTreeMap<String, Summary> {
    let (stored, counted) = (stored(pool).await, counted(pool).await);
    let known = |(hosts, findings, values, holders): &Summary, want: &Summary| {
        let holders = std::array::from_fn(|n| match holders[n] {
            0 => 0,
            _ => want.3[n],
        });
        (*hosts, *findings, *values, holders)
    };
    let shown: BTreeMap<String, Summary> = (stored.iter())
        .map(|(package, s)| {
            let want = counted.get(package).unwrap_or(s);
            (package.clone(), known(s, want))
        })
        .collect();
    let want: BTreeMap<String, Summary> = (counted.iter())
        .map(|(package, c)| {
            let s = stored.get(package).unwrap_or(c);
            let holders = std::array::from_fn(|n| if s.3[n] == 0 { 0 } else { c.3[n] });
            (package.clone(), (c.0, c.1, c.2, holders))
        })
        .collect();
    assert_eq!(shown, want);
    stored
}

async fn summaries_stored_before_0056_are_counted_again(backend: Backend) {
    let (_guard, store) = common::fresh_store(backend).await;
    let pool = store.pool();
    for host in ["h1", "h2", "h3"] {
        common::enroll(&store, host).await;
    }
    let when = "2026-01-10T00:00:00Z";
    // Three hosts at T1 due on the 10th of src0 (lib0, lib2) and src1 (lib1, lib3; lib4 KEV).
    let urgent = |k| finding(k, Tier::T1, 10, Some(0.5));
    let calm = |k| finding(k, Tier::T3, 20, Some(0.01 * k as f64));
    let all = [urgent(0), urgent(1), calm(2), calm(3), calm(4)];
    for host in ["h1", "h2", "h3"] {
        common::record_at(&store, host, when, &all).await;
    }
    kept(pool).await;
    assert_eq!(stored(pool).await, counted(pool).await);
    let src0 = &stored(pool).await["src0"];
    assert_eq!((src0.0, src0.3), (3, [3, 3, 3, 3]), "{src0:?}");

    // What migration 0056 leaves of summaries stored before it: counts not known.
    sqlx::query(
        "UPDATE open_updates SET tier_hosts = 0, deadline_hosts = 0, kev_hosts = 0,
         epss_hosts = 0",
    )
    .execute(pool)
    .await
    .unwrap();
    // h1 leaves src0's urgent finding: src0 is counted again from its rows, src1 too.
    let later = "2026-01-11T00:00:00Z";
    let some = [urgent(1), calm(2), calm(3), calm(4)];
    common::record_at(&store, "h1", later, &some).await;
    let after = kept(pool).await;
    assert_eq!(after["src0"].2[0], Some(1), "h2 and h3 still hold T1");
    assert_eq!(after["src0"].3, [2, 2, 3, 2]);
    assert_eq!(
        after["src1"].3, [0; 4],
        "src1 not written: its counts still not known"
    );

    // The holders of src0's T1 leave one by one; its tier becomes T3, counted once more.
    common::record_at(&store, "h2", later, &some).await;
    assert_eq!(stored(pool).await["src0"].3[0], 1);
    common::record_at(&store, "h3", later, &some).await;
    let after = kept(pool).await;
    assert_eq!((after["src0"].2[0], after["src0"].3[0]), (Some(3), 3));
    // A more urgent finding comes back on one host, then every finding of src0 goes.
    common::record_at(&store, "h2", when, &[finding(0, Tier::T0, 5, None)]).await;
    kept(pool).await;
    for host in ["h1", "h2", "h3"] {
        common::record_at(&store, host, "2026-01-12T00:00:00Z", &[urgent(1)]).await;
        kept(pool).await;
    }
    assert!(!stored(pool).await.contains_key("src0"));

    // Every host's src1 finding re-dated to the 12th, one by one: when the last holder of the
    // 10th leaves, the earliest deadline alone is read again (the tier, KEV and EPSS stay).
    let redated = [finding(1, Tier::T1, 12, Some(0.5))];
    for host in ["h1", "h2", "h3"] {
        common::record_at(&store, host, "2026-01-13T00:00:00Z", &redated).await;
        kept(pool).await;
    }
    let src1 = &stored(pool).await["src1"];
    assert_eq!(
        src1.2[1],
        Some(common::at("2026-02-12T00:00:00Z").as_nanosecond() as i64)
    );
    assert_eq!(src1.3, [3, 3, 3, 3]);
}

on_both_backends!(summaries_stored_before_0056_are_counted_again);
