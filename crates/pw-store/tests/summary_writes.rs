//! What a findings write does to the console's summaries (issue 15: a feed import's re-rank is
//! held by the writers' line, and counting a host's open findings again was most of a write):
//! - a write in part (a feed import's re-rank) that changes only its findings' texts (a
//!   re-published record: a new description; the same tier, deadline, update, KEV and EPSS)
//!   leaves the summaries as they are — it does not count the host's open findings again — and
//!   they still equal the open findings grouped; one that changes a finding's KEV refreshes
//!   them;
//! - the counts per tier and deadline (`open_tier_hosts`) are adjusted by a write's changes, not
//!   counted again: a count the write does not change stays as stored; a host whose stored
//!   counts cannot take its changes (a count would fall below zero) is counted again.
//!
//! - a whole computation of a host with findings open summarises from its own findings and
//!   those it had open: new texts only leave the summaries as they are;
//! - a write in part that touches many of a host's updates leaves the rows of the others;
//! - a write in part tells an update's row from the stored counts at its extremes (migration
//!   0055) when a finding it does not cover shares the extreme a covered finding gave up, and
//!   every write keeps those counts right.
//!
//! The untouched rows are shown by making them wrong on purpose before the write (a write that
//! counted again would put them right). On SQLite and PostgreSQL.

#[macro_use]
mod common;

use common::findings::finding;
use common::{both_sides, fresh_store};
use pw_store::{Backend, Computation, Covered, CurrentFinding, Store};

async fn record(store: &Store, round: u32, current: &[CurrentFinding], only: Option<&Covered>) {
    let computation = Computation {
        basis: None,
        only,
        texts: None,
        packed: None,
    };
    common::record_round(store, ("h1", round), current, computation).await;
}

/// Adds `by` to every stored summary count of the host (both kinds).
async fn shift_counts(store: &Store, by: i64) {
    for sql in [
        "UPDATE open_update_hosts SET findings = findings + $1",
        "UPDATE open_tier_hosts SET findings = findings + $1",
    ] {
        (sqlx::query(sql).bind(by).execute(store.pool()).await).unwrap();
    }
}

async fn a_write_of_new_texts_only_leaves_the_summaries(backend: Backend) {
    let (_guard, store) = fresh_store(backend).await;
    common::enroll(&store, "h1").await;
    let first: Vec<CurrentFinding> = (0..6).map(|i| finding(i, "first", false)).collect();
    record(&store, 0, &first, None).await;
    let (stored, grouped) = both_sides(&store).await;
    assert_eq!(stored, grouped, "after the first computation");

    // New texts, nothing the summaries count changed: in part, of all binaries then of one.
    shift_counts(&store, 100).await;
    let shifted = both_sides(&store).await.0;
    let both = Covered::binaries(["p0-bin".to_owned(), "p1-bin".to_owned()].into());
    let second: Vec<CurrentFinding> = (0..6).map(|i| finding(i, "second", false)).collect();
    record(&store, 1, &second, Some(&both)).await;
    assert_eq!(both_sides(&store).await.0, shifted, "not counted again");
    let covered = Covered::binaries(["p0-bin".to_owned()].into());
    let third: Vec<CurrentFinding> = (0..6)
        .filter(|i| i % 2 == 0)
        .map(|i| finding(i, "third", false))
        .collect();
    record(&store, 2, &third, Some(&covered)).await;
    assert_eq!(
        both_sides(&store).await.0,
        shifted,
        "in part, not counted again"
    );
    shift_counts(&store, -100).await;
    let (stored, grouped) = both_sides(&store).await;
    assert_eq!(
        stored, grouped,
        "the summaries still say what the findings say"
    );

    // A finding's KEV flips: its update's row follows.
    let mut fourth = third.clone();
    fourth[0] = finding(0, "third", true);
    record(&store, 3, &fourth, Some(&covered)).await;
    let (stored, grouped) = both_sides(&store).await;
    assert_eq!(stored, grouped, "after a KEV flip");
    assert!(
        stored.iter().any(|row| row.contains(" 1 Some(0.25)")),
        "{stored:?}"
    );
}

async fn tier_counts_are_adjusted_not_counted_again(backend: Backend) {
    let (_guard, store) = fresh_store(backend).await;
    common::enroll(&store, "h1").await;
    let first: Vec<CurrentFinding> = (0..8).map(|i| finding(i, "first", false)).collect();
    record(&store, 0, &first, None).await;
    // A4 (tier 0, February) closes, A5 (tier 1, March) moves to tier 3; the other counts stay.
    let tier = "UPDATE open_tier_hosts SET findings = findings + 100 WHERE tier = 2";
    (sqlx::query(tier).execute(store.pool()).await).unwrap();
    let mut second: Vec<CurrentFinding> = first
        .iter()
        .filter(|f| f.advisory != "A4")
        .cloned()
        .collect();
    second.iter_mut().find(|f| f.advisory == "A5").unwrap().tier = 3;
    record(&store, 1, &second, None).await;
    let counts = "SELECT tier, findings FROM open_tier_hosts ORDER BY tier, deadline";
    let rows = sqlx::query(counts).fetch_all(store.pool()).await.unwrap();
    let counts: Vec<(i64, i64)> = rows
        .iter()
        .map(|r| {
            use sqlx::Row;
            (r.get("tier"), r.get("findings"))
        })
        .collect();
    // Tier 2: A2 and A6 (two deadlines) as stored, 100 too many each.
    assert_eq!(
        counts,
        [(0, 1), (1, 1), (2, 101), (2, 101), (3, 1), (3, 1), (3, 1)]
    );

    // A count that cannot take a write's changes: the host is counted again.
    let wrong = "UPDATE open_tier_hosts SET findings = 1000 WHERE tier = 2";
    (sqlx::query(wrong).execute(store.pool()).await).unwrap();
    (sqlx::query("DELETE FROM open_tier_hosts WHERE tier = 3")
        .execute(store.pool())
        .await)
        .unwrap();
    let third: Vec<CurrentFinding> = second
        .iter()
        .filter(|f| f.advisory != "A3")
        .cloned()
        .collect();
    record(&store, 2, &third, None).await;
    let (stored, grouped) = both_sides(&store).await;
    assert_eq!(stored, grouped, "counted again");
}

/// Adds `by` to the stored count of update `package` 1.1 on every host.
async fn shift_update(store: &Store, package: &str, by: i64) {
    let sql = "UPDATE open_update_hosts SET findings = findings + $1
               WHERE update_key = (SELECT id FROM update_keys WHERE package = $2 AND fixed = '1.1')";
    let query = sqlx::query(sql).bind(by).bind(package);
    (query.execute(store.pool()).await).unwrap();
}

/// A write in part refreshes the rows of the updates it touches from its covered rows and the
/// rows as stored (`covered_updates.rs`): another update's row is left as stored (made wrong on
/// purpose, it stays wrong). When a covered finding that held an update's most urgent tier
/// closes and the update has findings of a binary the write does not cover, that update alone
/// is grouped again; when a stored row contradicts the covered rows, the whole host is (the
/// wrong row is put right).
async fn a_write_in_part_summarises_from_its_covered_rows(backend: Backend) {
    let (_guard, store) = fresh_store(backend).await;
    common::enroll(&store, "h1").await;
    let first: Vec<CurrentFinding> = (0..8).map(|i| finding(i, "first", false)).collect();
    record(&store, 0, &first, None).await;
    shift_update(&store, "p1", 100).await;

    // p0's findings are all of p0-bin: A0 flips KEV, A2 closes, A4 moves to tier 3.
    let covered = Covered::binaries(["p0-bin".to_owned()].into());
    let mut second: Vec<CurrentFinding> = [0, 4, 6].map(|i| finding(i, "first", false)).into();
    second[0] = finding(0, "first", true);
    second[1].tier = 3;
    record(&store, 1, &second, Some(&covered)).await;
    shift_update(&store, "p1", -100).await;
    let (stored, grouped) = both_sides(&store).await;
    assert_eq!(
        stored, grouped,
        "p0 from the covered rows, p1 left as stored"
    );
    shift_update(&store, "p1", 100).await;
    let (stored, grouped) = both_sides(&store).await;
    assert_ne!(stored, grouped, "p1's row is wrong on purpose");

    // A finding of p0 in another binary, then a write covering p0-bin only.
    let mut lib = finding(10, "first", false);
    lib.binary = "p0-lib".to_owned();
    lib.json = lib.json.replace("\"p0-bin\"", "\"p0-lib\"");
    let covered_lib = Covered::binaries(["p0-lib".to_owned()].into());
    shift_update(&store, "p1", -100).await;
    record(&store, 2, &[lib], Some(&covered_lib)).await;
    shift_update(&store, "p1", 100).await;
    // A0 closes: the row's most urgent tier and KEV were the covered A0's, and whether p0-lib's
    // finding has them is not stored.
    record(&store, 3, &second[1..], Some(&covered)).await;
    shift_update(&store, "p1", -100).await;
    let (stored, grouped) = both_sides(&store).await;
    assert_eq!(stored, grouped, "p0 grouped again alone, p1 left as stored");

    // A stored row that counts fewer findings than the covered rows hold: the host is grouped
    // again whole (p1's wrong row is put right).
    shift_update(&store, "p1", 100).await;
    shift_update(&store, "p0", -2).await;
    record(&store, 4, &second[2..], Some(&covered)).await;
    let (stored, grouped) = both_sides(&store).await;
    assert_eq!(stored, grouped, "grouped again whole");
    assert_counts_hold(&store).await;
}

/// Every summary row's stored counts at its extremes (migration 0055: four 16-bit counts from
/// the low end, tier, deadline, KEV, EPSS) against the host's open findings of the update,
/// counted here: each is right or not known (0). Returns how many are known.
async fn assert_counts_hold(store: &Store) -> usize {
    use sqlx::Row;
    use std::collections::BTreeMap;
    let stored = "SELECT host_key, update_key, extreme_counts FROM open_update_hosts";
    let rows = sqlx::query(stored).fetch_all(store.pool()).await.unwrap();
    let stored: BTreeMap<(i64, i64), i64> = (rows.iter())
        .map(|r| {
            (
                (r.get("host_key"), r.get("update_key")),
                r.get("extreme_counts"),
            )
        })
        .collect();
    let open = "SELECT f.host_key, t.update_key, f.tier, f.deadline, t.kev,
                       CAST(t.epss AS DOUBLE PRECISION) AS epss
                FROM open_findings f JOIN finding_texts t ON t.id = f.text_id";
    let rows = sqlx::query(open).fetch_all(store.pool()).await.unwrap();
    // Per row, each field as a key where smaller is more extreme (none least extreme).
    let mut keys: BTreeMap<(i64, i64), Vec<[f64; 4]>> = BTreeMap::new();
    for r in &rows {
        let deadline: Option<i64> = r.get("deadline");
        let (tier, kev): (i64, i64) = (r.get("tier"), r.get("kev"));
        let epss: Option<f64> = r.get("epss");
        keys.entry((r.get("host_key"), r.get("update_key")))
            .or_default()
            .push([
                tier as f64,
                deadline.map_or(f64::INFINITY, |d| d as f64),
                -(kev as f64),
                epss.map_or(1.0, |e| -e),
            ]);
    }
    let counted: BTreeMap<(i64, i64), [i64; 4]> = (keys.into_iter())
        .map(|(row, findings)| {
            let at = std::array::from_fn(|i| {
                let top = findings.iter().map(|f| f[i]).fold(f64::INFINITY, f64::min);
                findings.iter().filter(|f| f[i] == top).count() as i64
            });
            (row, at)
        })
        .collect();
    assert_eq!(
        stored.keys().collect::<Vec<_>>(),
        counted.keys().collect::<Vec<_>>()
    );
    let mut known = 0;
    for (row, packed) in &stored {
        for (place, count) in counted[row].iter().enumerate() {
            let kept = packed >> (16 * place) & 0xffff;
            assert!(
                kept == 0 || kept == *count,
                "{row:?}: count {place} is {kept}, the findings say {count}"
            );
            known += usize::from(kept != 0);
        }
    }
    known
}

/// When a covered finding that held an update's extremes closes and a finding the write does
/// not cover shares them (the stored counts say so), the row is told without grouping the
/// update again (its row, made wrong on purpose, stays wrong); a row whose counts are not
/// known (stored before migration 0055) is grouped again.
async fn others_sharing_an_extreme_are_told_by_the_counts(backend: Backend) {
    let (_guard, store) = fresh_store(backend).await;
    common::enroll(&store, "h1").await;
    // A0 (p0-bin) and A12 (p0-lib), both of p0 1.1: tier 0, January, no KEV, EPSS 0.25.
    let mut lib = finding(12, "first", false);
    lib.binary = "p0-lib".to_owned();
    lib.json = lib.json.replace("\"p0-bin\"", "\"p0-lib\"");
    let first = vec![finding(0, "first", false), lib];
    record(&store, 0, &first, None).await;
    assert_eq!(
        assert_counts_hold(&store).await,
        4,
        "p0's four counts known"
    );
    let covered = Covered::binaries(["p0-bin".to_owned()].into());

    shift_update(&store, "p0", 100).await;
    record(&store, 1, &[], Some(&covered)).await;
    shift_update(&store, "p0", -100).await;
    let (stored, grouped) = both_sides(&store).await;
    assert_eq!(stored, grouped, "told from the counts, not grouped again");
    assert_counts_hold(&store).await;

    // A0 again, then closed again with the row's counts not known: grouped again.
    record(&store, 2, &first[..1], Some(&covered)).await;
    assert_counts_hold(&store).await;
    let unknown = "UPDATE open_update_hosts SET extreme_counts = 0";
    (sqlx::query(unknown).execute(store.pool()).await).unwrap();
    shift_update(&store, "p0", 100).await;
    record(&store, 3, &[], Some(&covered)).await;
    let (stored, grouped) = both_sides(&store).await;
    assert_eq!(stored, grouped, "grouped again (the wrong row put right)");
    assert_counts_hold(&store).await;
}

/// A whole computation of a host with findings open covers every finding the host has open
/// before it and after it: its summaries follow from them, as a write in part's do. New texts
/// only leave the rows as stored (made wrong on purpose: a write that grouped again would put
/// them right); a write that closes, opens and moves findings, and flips a KEV, leaves the rows
/// and their counts at the extremes equal to the open findings grouped.
async fn a_whole_write_summarises_from_its_own_findings(backend: Backend) {
    let (_guard, store) = fresh_store(backend).await;
    common::enroll(&store, "h1").await;
    let first: Vec<CurrentFinding> = (0..8).map(|i| finding(i, "first", false)).collect();
    record(&store, 0, &first, None).await;
    shift_counts(&store, 100).await;
    let shifted = both_sides(&store).await.0;
    let second: Vec<CurrentFinding> = (0..8).map(|i| finding(i, "second", false)).collect();
    record(&store, 1, &second, None).await;
    assert_eq!(both_sides(&store).await.0, shifted, "not grouped again");
    shift_counts(&store, -100).await;

    // A2 closes, A4 moves to tier 3, A0's KEV flips, A9 opens (p1's update).
    let mut third: Vec<CurrentFinding> = second
        .iter()
        .filter(|f| f.advisory != "A2")
        .cloned()
        .collect();
    third.iter_mut().find(|f| f.advisory == "A4").unwrap().tier = 3;
    third[0] = finding(0, "second", true);
    third.push(finding(9, "third", false));
    record(&store, 2, &third, None).await;
    let (stored, grouped) = both_sides(&store).await;
    assert_eq!(
        stored, grouped,
        "after closing, opening and moving findings"
    );
    assert!(
        stored.iter().any(|row| row.contains(" 1 Some(0.25)")),
        "{stored:?}"
    );
    assert_counts_hold(&store).await;

    // Every finding of p0 closes: its row goes.
    let fourth: Vec<CurrentFinding> = third
        .iter()
        .filter(|f| f.binary != "p0-bin")
        .cloned()
        .collect();
    record(&store, 3, &fourth, None).await;
    let (stored, grouped) = both_sides(&store).await;
    assert_eq!(stored, grouped, "after an update's findings all closed");
    assert_counts_hold(&store).await;
}

/// Finding `index` of package `p{index}`: an update of its own.
fn of_own_update(index: u32, summary: &str, kev: bool) -> CurrentFinding {
    let mut found = finding(index, summary, kev);
    let (shared, own) = (format!("p{}", index % 2), format!("p{index}"));
    found.binary = format!("{own}-bin");
    found.json = (found.json)
        .replace(&format!("\"{shared}-bin\""), &format!("\"{own}-bin\""))
        .replace(&format!("\"{shared}\""), &format!("\"{own}\""));
    found
}

/// A write in part that touches more than 8 of a host's updates (its stored rows then read by
/// the host's key, not pair by pair) leaves the rows of the updates it does not touch as they
/// are: until `f039d43` they were compared with the covered findings' rows and deleted.
async fn a_write_in_part_touching_many_updates_keeps_the_others(backend: Backend) {
    let (_guard, store) = fresh_store(backend).await;
    common::enroll(&store, "h1").await;
    let first: Vec<CurrentFinding> = (0..20).map(|i| of_own_update(i, "first", false)).collect();
    record(&store, 0, &first, None).await;
    let rows = async || {
        let count = "SELECT COUNT(*) FROM open_update_hosts";
        let count: i64 = sqlx::query_scalar(count)
            .fetch_one(store.pool())
            .await
            .unwrap();
        count
    };
    assert_eq!(rows().await, 20, "an update each");
    // Findings 0–9 (ten updates) flip their KEV; 10–19 are not covered.
    let covered = Covered {
        binaries: Default::default(),
        keys: (0..10)
            .map(|i| (format!("p{i}-bin"), format!("A{i}")))
            .collect(),
    };
    let second: Vec<CurrentFinding> = (0..10).map(|i| of_own_update(i, "first", true)).collect();
    record(&store, 1, &second, Some(&covered)).await;
    assert_eq!(rows().await, 20, "every update's row kept");
    let (stored, grouped) = both_sides(&store).await;
    assert_eq!(stored, grouped);
    assert_counts_hold(&store).await;
}

on_both_backends!(
    a_write_in_part_touching_many_updates_keeps_the_others,
    a_write_of_new_texts_only_leaves_the_summaries,
    a_whole_write_summarises_from_its_own_findings,
    tier_counts_are_adjusted_not_counted_again,
    a_write_in_part_summarises_from_its_covered_rows,
    others_sharing_an_extreme_are_told_by_the_counts,
);
