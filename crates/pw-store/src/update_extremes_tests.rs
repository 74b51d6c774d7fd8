//! Tests of the update extremes' fold (`after`): pure, no database.

use super::*;

fn row(findings: i64, tier: i64, deadline: Option<i64>, kev: i64, epss: Option<i64>) -> HostUpdate {
    HostUpdate {
        findings,
        tier,
        deadline,
        kev,
        epss,
        at: [None; 4],
    }
}

fn change<'a>(removed: &[&'a HostUpdate], added: &[&'a HostUpdate]) -> UpdateChange<'a> {
    UpdateChange {
        removed: removed.to_vec(),
        added: added.to_vec(),
    }
}

fn kept(outcome: After) -> UpdateSummary {
    match outcome {
        After::Kept(summary) => summary,
        other => panic!("expected a summary, got {other:?}"),
    }
}

#[test]
fn a_new_update_takes_its_rows_extremes_and_how_many_hold_each() {
    let a = row(2, 3, Some(50), 0, None);
    let b = row(1, 1, Some(70), 0, Some(400));
    let c = row(4, 1, None, 1, Some(400));
    let s = kept(after(None, &change(&[], &[&a, &b, &c])));
    assert_eq!(
        s,
        UpdateSummary {
            hosts: 3,
            findings: 7,
            values: [Some(1), Some(50), Some(1), Some(400)],
            holders: [2, 1, 1, 2],
        }
    );
    // No row has a deadline or an EPSS: none is the extreme, held by every row.
    let d = row(1, 2, None, 0, None);
    let s = kept(after(None, &change(&[], &[&d, &d])));
    assert_eq!(s.values, [Some(2), None, Some(0), None]);
    assert_eq!(s.holders, [2, 2, 2, 2]);
}

#[test]
fn a_holder_leaving_lowers_the_count_and_the_last_one_needs_a_recount() {
    let a = row(1, 1, Some(50), 1, Some(900));
    let b = row(1, 1, Some(50), 1, Some(900));
    let c = row(1, 3, Some(90), 0, Some(100));
    let stored = kept(after(None, &change(&[], &[&a, &b, &c])));
    assert_eq!(stored.holders, [2, 2, 2, 2]);
    // One of two holders leaves: the values stay, one holder each.
    let one = kept(after(Some(&stored), &change(&[&a], &[])));
    assert_eq!(one.values, stored.values);
    assert_eq!((one.hosts, one.findings, one.holders), (2, 2, [1, 1, 1, 1]));
    // The last holder leaves: what the other rows hold is not known.
    assert_eq!(after(Some(&one), &change(&[&b], &[])), After::Recount);
    // ... unless a row that reaches the old value comes in with it.
    let d = row(1, 1, Some(50), 1, Some(900));
    let same = kept(after(Some(&one), &change(&[&b], &[&d])));
    assert_eq!((same.values, same.holders), (one.values, [1, 1, 1, 1]));
    // ... or one more extreme.
    let e = row(1, 0, Some(10), 1, Some(950));
    let more = kept(after(Some(&one), &change(&[&b], &[&e])));
    assert_eq!(more.values, [Some(0), Some(10), Some(1), Some(950)]);
    assert_eq!(more.holders, [1, 1, 1, 1]);
    // A row less extreme than the holders leaves: nothing else changes.
    let f = kept(after(Some(&stored), &change(&[&c], &[])));
    assert_eq!((f.values, f.holders), (stored.values, stored.holders));
    // Every host leaves: the update goes.
    assert_eq!(
        after(Some(&stored), &change(&[&a, &b, &c], &[])),
        After::Gone
    );
}

#[test]
fn the_earliest_deadline_alone_left_is_read_again_alone() {
    // Two hosts share the tier, KEV and EPSS; one holds the earliest deadline.
    let a = row(1, 1, Some(10), 0, Some(300));
    let b = row(2, 1, Some(20), 0, Some(300));
    let stored = kept(after(None, &change(&[], &[&a, &b])));
    assert_eq!(stored.holders, [2, 1, 2, 2]);
    // The holder of the 10th is re-ranked due on the 30th: only the deadline is not known.
    let later = row(1, 1, Some(30), 0, Some(300));
    let After::Deadline(partial) = after(Some(&stored), &change(&[&a], &[&later])) else {
        panic!("expected the deadline alone to be read again");
    };
    assert_eq!((partial.hosts, partial.findings), (2, 3));
    assert_eq!(
        (partial.values[0], partial.values[2], partial.values[3]),
        (Some(1), Some(0), Some(300))
    );
    assert_eq!(
        (partial.holders[0], partial.holders[2], partial.holders[3]),
        (2, 2, 2)
    );
    // When another extreme's holders leave too, everything is counted again.
    let calmer = row(1, 2, Some(30), 0, Some(300));
    let lone = kept(after(Some(&stored), &change(&[&b], &[])));
    assert_eq!(
        after(Some(&lone), &change(&[&a], &[&calmer])),
        After::Recount
    );
}

#[test]
fn a_summary_not_counted_or_contradicted_is_counted_again() {
    let a = row(1, 2, Some(50), 0, None);
    let mut stored = kept(after(None, &change(&[], &[&a])));
    // Stored before migration 0056: counts not known.
    stored.holders[1] = 0;
    assert_eq!(after(Some(&stored), &change(&[], &[&a])), After::Recount);
    // A removed row more extreme than the stored value, or a row removed from no summary.
    let stored = kept(after(None, &change(&[], &[&a, &a])));
    let urgent = row(1, 0, Some(50), 0, None);
    assert_eq!(
        after(Some(&stored), &change(&[&urgent], &[])),
        After::Recount
    );
    assert_eq!(after(None, &change(&[&a], &[&a])), After::Recount);
    // More findings or hosts removed than stored.
    let big = row(9, 2, Some(50), 0, None);
    assert_eq!(after(Some(&stored), &change(&[&big], &[])), After::Recount);
}

/// A small deterministic generator (the sequence must be the same on every run).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> i64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % below) as i64
    }

    fn row(&mut self) -> HostUpdate {
        let maybe = |rng: &mut Lcg, values: u64| match rng.next(values + 1) {
            0 => None,
            v => Some(v * 100),
        };
        let (deadline, epss) = (maybe(self, 3), maybe(self, 3));
        row(1 + self.next(3), self.next(5), deadline, self.next(2), epss)
    }
}

/// Over a long pseudo-random sequence of writes (rows added, rewritten, removed; several at
/// once), the kept summary equals the one counted from all rows whenever the fold tells it, a
/// recount is asked only when a holder left, and most writes need none.
#[test]
fn the_kept_summary_is_always_the_one_counted_from_every_row() {
    let mut rng = Lcg(7);
    let mut rows: BTreeMap<i64, HostUpdate> = BTreeMap::new();
    let mut stored: Option<UpdateSummary> = None;
    let (mut told, mut recounts, mut deadlines) = (0, 0, 0);
    for round in 0..5_000 {
        let old = rows.clone();
        for _ in 0..1 + rng.next(3) {
            let host = rng.next(12);
            match rng.next(4) {
                0 => rows.remove(&host),
                _ => rows.insert(host, rng.row()),
            };
        }
        let mut ch = UpdateChange::default();
        for (host, row) in &rows {
            if old.get(host) != Some(row) {
                ch.removed.extend(old.get(host));
                ch.added.push(row);
            }
        }
        ch.removed.extend(
            old.iter()
                .filter(|(h, _)| !rows.contains_key(h))
                .map(|(_, r)| r),
        );
        let whole = after(None, &change(&[], &rows.values().collect::<Vec<_>>()));
        let outcome = after(stored.as_ref(), &ch);
        match (&outcome, &whole) {
            (After::Recount, _) => {
                recounts += 1;
                assert!(
                    !ch.removed.is_empty(),
                    "round {round}: a recount with no row removed"
                );
            }
            (After::Deadline(partial), After::Kept(whole)) => {
                deadlines += 1;
                let mut read = partial.clone();
                (read.values[1], read.holders[1]) = (whole.values[1], whole.holders[1]);
                assert_eq!(&read, whole, "round {round}");
            }
            _ => {
                told += 1;
                assert_eq!(outcome, whole, "round {round}");
            }
        }
        stored = match whole {
            After::Kept(summary) => Some(summary),
            _ => None,
        };
    }
    assert!(
        told > 4 * (recounts + deadlines),
        "{told} told, {recounts} recounted, {deadlines} deadlines read"
    );
    assert!(
        recounts > 0 && deadlines > 0,
        "{recounts} recounted, {deadlines} deadlines read"
    );
}
