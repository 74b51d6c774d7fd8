//! A host's per-update summary rows after a computation in part (`findings_scope.rs`: a feed
//! import's re-rank), worked out from the rows as stored and the write's covered findings,
//! without grouping all the host's open findings with their texts again (that grouping was the
//! largest part of a re-rank's write: docs/PERFORMANCE.md, "Feed import re-rank: the writer's
//! own connection, open rows read early"). Pure: no I/O.
//!
//! A stored row `S` of update `U` aggregates the host's open findings of `U`: those the
//! computation covers, as they were before the write (`B`), and those it does not (`O`, which
//! the write leaves as they are). After the write the row aggregates `O` and the covered
//! findings as they are now (`A`). `O`'s count is `S`'s less `B`'s. Its most urgent tier (and
//! earliest deadline, KEV, highest EPSS) is not stored, but each is known where it decides the
//! row: when `S`'s value is more extreme than `B`'s, `O` holds it; when `B` holds `S`'s value
//! too, `O` holds it as well if `S` counts more findings at it than `B` does (migration 0055
//! stores how many findings hold each of a row's values); when `A`'s is at least as extreme,
//! `A`'s is the row's. Only when `B` held the extreme alone (or its count is not stored) and `A`
//! no longer reaches it may `O`'s value (unknown) be the row's — the update is then grouped
//! again, and the host whole when a stored row contradicts the covered findings.

use std::collections::BTreeMap;

use crate::update_summary::{HostUpdate, RowKey, UpdateKey};

/// A computation in part's covered open findings grouped by update: before the write and
/// after it.
#[derive(Debug, Default)]
pub(crate) struct CoveredUpdates {
    before: BTreeMap<UpdateKey, HostUpdate>,
    after: BTreeMap<UpdateKey, HostUpdate>,
}

/// A host's rows after a write in part: those told, and the updates whose rows are not.
#[derive(Debug, PartialEq)]
pub(crate) struct HostRows {
    pub(crate) rows: BTreeMap<RowKey, HostUpdate>,
    pub(crate) unknown: Vec<UpdateKey>,
}

/// An update's row after the write, as far as it can be told.
enum After {
    /// The row (`None`: the host has no open finding of the update any more).
    Row(Option<HostUpdate>),
    /// The others' value, unknown, may decide it.
    Unknown,
}

/// One open finding as the summaries count it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Counted {
    pub(crate) update: UpdateKey,
    pub(crate) tier: i64,
    /// Nanoseconds since the epoch (`instants.rs`).
    pub(crate) deadline: Option<i64>,
    /// 0 or 1.
    pub(crate) kev: i64,
    /// The probability, as the texts store it.
    pub(crate) epss: Option<f64>,
}

impl CoveredUpdates {
    /// Counts a covered open finding as it was before the write.
    pub(crate) fn was(&mut self, finding: Counted) {
        add(&mut self.before, finding);
    }

    /// Counts a covered open finding as it is after the write.
    pub(crate) fn is(&mut self, finding: Counted) {
        add(&mut self.after, finding);
    }

    /// The updates the covered findings touch (before or after the write): the host's only
    /// rows the write can change.
    pub(crate) fn touched(&self) -> Vec<UpdateKey> {
        let mut touched: Vec<UpdateKey> = self
            .before
            .keys()
            .chain(self.after.keys())
            .copied()
            .collect();
        touched.sort_unstable();
        touched.dedup();
        touched
    }

    /// The host's rows of the [`touched`](Self::touched) updates after the write, from `stored`
    /// (the rows as stored, of any hosts: those of the touched updates at least) and the
    /// covered findings, but for the updates whose rows they cannot tell (to group again,
    /// those alone); `None` when a stored row contradicts the covered findings (the host must
    /// be grouped again whole).
    pub(crate) fn rows(
        &self,
        host: i64,
        stored: &BTreeMap<RowKey, HostUpdate>,
    ) -> Option<HostRows> {
        let mut rows = HostRows {
            rows: BTreeMap::new(),
            unknown: Vec::new(),
        };
        for update in &self.touched() {
            let after = after_write(
                stored.get(&(host, *update)),
                self.before.get(update),
                self.after.get(update),
            )?;
            match after {
                After::Row(Some(row)) => {
                    rows.rows.insert((host, *update), row);
                }
                After::Row(None) => {}
                After::Unknown => rows.unknown.push(*update),
            }
        }
        Some(rows)
    }
}

fn add(groups: &mut BTreeMap<UpdateKey, HostUpdate>, f: Counted) {
    let keys = [
        f.tier,
        deadline(f.deadline),
        -f.kev,
        epss(f.epss.map(crate::epss_parts::parts)),
    ];
    let row = groups
        .entry(f.update)
        .or_insert_with(|| row_of(0, keys, [Some(0); 4]));
    let mut extremes = row_keys(row);
    for i in 0..4 {
        if keys[i] < extremes[i] {
            extremes[i] = keys[i];
            row.at[i] = Some(1);
        } else if keys[i] == extremes[i] {
            row.at[i] = row.at[i].map(|n| n + 1);
        }
    }
    *row = row_of(row.findings + 1, extremes, row.at);
}

/// An update's row after the write from its stored row `s` and its covered findings before
/// (`b`) and after (`a`); `None` when `s` contradicts `b`.
fn after_write(
    s: Option<&HostUpdate>,
    b: Option<&HostUpdate>,
    a: Option<&HostUpdate>,
) -> Option<After> {
    let count = |row: Option<&HostUpdate>| row.map_or(0, |r| r.findings);
    let others = count(s) - count(b);
    if others < 0 {
        return None;
    }
    if others == 0 {
        return Some(After::Row(a.cloned()));
    }
    let s = s?;
    // Each field as (key, count at it): `b` none is the key `i64::MAX` held by none.
    let of = |row: &HostUpdate, i: usize| (row_keys(row)[i], row.at[i]);
    let fields: [Extreme; 4] = std::array::from_fn(|i| {
        let b = b.map_or((i64::MAX, Some(0)), |b| of(b, i));
        extreme(of(s, i), (b.0, b.1.unwrap_or(0)), a.map(|a| of(a, i)))
    });
    if fields.contains(&Extreme::Contradicted) {
        return None;
    }
    let [Some(tier), Some(deadline), Some(kev), Some(epss)] = fields.map(Extreme::known) else {
        return Some(After::Unknown);
    };
    let keys = [tier.0, deadline.0, kev.0, epss.0];
    let at = [tier.1, deadline.1, kev.1, epss.1];
    Some(After::Row(Some(row_of(others + count(a), keys, at))))
}

/// One field of a row after the write: its key and how many findings hold it (`None`: not
/// known).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Extreme {
    Known(i64, Option<i64>),
    /// The others' value, unknown, may decide it.
    Unknown,
    /// The stored row is less extreme than the covered findings' before, or counts fewer
    /// findings at its value than they hold.
    Contradicted,
}

impl Extreme {
    fn known(self) -> Option<(i64, Option<i64>)> {
        match self {
            Extreme::Known(key, at) => Some((key, at)),
            _ => None,
        }
    }
}

/// One field after the write, as a key where smaller is more extreme, with the count of
/// findings holding it: `s` stored (over the others and the covered findings before; its count
/// `None` where not stored), `b` of the covered findings before (`(i64::MAX, 0)`: none), `a`
/// after (`None`: none).
fn extreme(
    (s, s_at): (i64, Option<i64>),
    (b, b_at): (i64, i64),
    a: Option<(i64, Option<i64>)>,
) -> Extreme {
    if s > b {
        return Extreme::Contradicted;
    }
    // How many of the others hold `s`: all of the stored row's when the covered findings were
    // less extreme, else the stored count less theirs.
    let others_at = s_at.map(|n| if s < b { n } else { n - b_at });
    if others_at.is_some_and(|n| n < 0 || (s < b && n == 0)) {
        return Extreme::Contradicted;
    }
    // Whether the others hold `s` (`None`: not known).
    let others_hold = if s < b {
        Some(true)
    } else {
        others_at.map(|n| n > 0)
    };
    match (others_hold, a) {
        (_, Some((a, a_at))) if a < s => Extreme::Known(a, a_at),
        (Some(true), Some((a, a_at))) if a == s => {
            Extreme::Known(s, others_at.zip(a_at).map(|(o, a)| o + a))
        }
        (Some(true), _) => Extreme::Known(s, others_at),
        // The others' value is less extreme than `s`: the covered findings after decide it
        // only by reaching `s`.
        (Some(false), Some((a, a_at))) if a == s => Extreme::Known(s, a_at),
        // Not known whether the others hold `s`: they may add to its count.
        (None, Some((a, _))) if a == s => Extreme::Known(s, None),
        _ => Extreme::Unknown,
    }
}

/// A row's fields as keys where smaller is more extreme: tier, deadline, KEV, EPSS.
fn row_keys(row: &HostUpdate) -> [i64; 4] {
    [row.tier, deadline(row.deadline), -row.kev, epss(row.epss)]
}

/// A row of `findings` findings from its fields' keys ([`row_keys`]) and counts at them.
fn row_of(
    findings: i64,
    [tier, deadline, kev, epss]: [i64; 4],
    at: [Option<i64>; 4],
) -> HostUpdate {
    HostUpdate {
        findings,
        tier,
        deadline: undeadline(deadline),
        kev: -kev,
        epss: unepss(epss),
        at,
    }
}

/// A deadline as a key: no deadline is the least extreme.
fn deadline(d: Option<i64>) -> i64 {
    d.unwrap_or(i64::MAX)
}

fn undeadline(key: i64) -> Option<i64> {
    (key != i64::MAX).then_some(key)
}

/// An EPSS in parts (never negative) as a key where a higher probability is smaller; none is
/// the least extreme.
fn epss(e: Option<i64>) -> i64 {
    e.map_or(1, |e| -e)
}

fn unepss(key: i64) -> Option<i64> {
    (key != 1).then_some(-key)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A finding of update 7.
    fn f(tier: i64, deadline: Option<i64>, kev: i64, epss: Option<f64>) -> Counted {
        Counted {
            update: 7,
            tier,
            deadline,
            kev,
            epss,
        }
    }

    /// The groups of `groups` after the write, as host 1's rows.
    fn keyed(groups: CoveredUpdates) -> BTreeMap<RowKey, HostUpdate> {
        (groups.after.into_iter())
            .map(|(u, r)| ((1, u), r))
            .collect()
    }

    /// `rows` as stored before migration 0055: without counts at their extremes.
    fn uncounted(rows: BTreeMap<RowKey, HostUpdate>) -> BTreeMap<RowKey, HostUpdate> {
        (rows.into_iter())
            .map(|(key, row)| {
                (
                    key,
                    HostUpdate {
                        at: [None; 4],
                        ..row
                    },
                )
            })
            .collect()
    }

    /// The rows every way: stored from `others` and `before`, then after the write from
    /// `rows` and by grouping `others` with `after` — `None` from `rows` is allowed only when
    /// told so.
    fn check(others: &[Counted], before: &[Counted], after: &[Counted], told: bool) {
        let mut stored_groups = CoveredUpdates::default();
        let mut truth = CoveredUpdates::default();
        let mut covered = CoveredUpdates::default();
        for o in others {
            stored_groups.is(*o);
            truth.is(*o);
        }
        for b in before {
            stored_groups.is(*b);
            covered.was(*b);
        }
        for a in after {
            truth.is(*a);
            covered.is(*a);
        }
        let stored = keyed(stored_groups);
        let expected = keyed(truth);
        let case = format!("{others:?} {before:?} {after:?}");
        // Only the touched updates' rows are worked out.
        let touched = covered.touched();
        let expected: BTreeMap<RowKey, HostUpdate> = (expected.into_iter())
            .filter(|((_, update), _)| touched.contains(update))
            .collect();
        match covered.rows(1, &stored) {
            Some(HostRows { rows, unknown }) => {
                assert!(unknown.is_empty() || !told, "not told: {case}");
                let mut expected = expected.clone();
                for update in &unknown {
                    expected.remove(&(1, *update));
                }
                assert_eq!(rows, expected, "{case}");
            }
            None => assert!(!told, "contradicted: {case}"),
        }
        // Stored without counts (rows from before migration 0055): the values are still
        // right where told, the counts right or not known.
        let uncounted = uncounted(stored);
        if let Some(HostRows { rows, unknown }) = covered.rows(1, &uncounted) {
            assert_eq!(rows.len() + unknown.len(), expected.len(), "{case}");
            for (key, row) in rows {
                let truth = &expected[&key];
                let values = |r: &HostUpdate| (r.findings, r.tier, r.deadline, r.kev, r.epss);
                assert_eq!(values(&row), values(truth), "{case}");
                for (at, true_at) in row.at.iter().zip(truth.at) {
                    assert!(at.is_none() || *at == true_at, "{case}");
                }
            }
        }
    }

    #[test]
    fn rows_follow_when_the_others_hold_the_extremes() {
        let o = [f(1, Some(50), 1, Some(0.5)), f(3, None, 0, None)];
        let b = [f(2, Some(60), 0, Some(0.1))];
        // The covered finding moves, less or more extreme than the others, or closes.
        check(&o, &b, &[f(4, Some(90), 0, None)], true);
        check(&o, &b, &[f(0, Some(10), 1, Some(0.9))], true);
        check(&o, &b, &[], true);
        // No others: the covered findings are the row; all closed: no row.
        check(&[], &b, &[f(4, None, 0, None)], true);
        check(&[], &b, &[], true);
        // A new update for the host.
        check(&[], &[], &[f(2, None, 1, Some(0.2))], true);
        check(&o, &[], &[f(2, Some(55), 0, Some(0.7))], true);
    }

    #[test]
    fn rows_follow_when_the_covered_findings_keep_the_extremes() {
        let o = [f(3, Some(80), 0, None)];
        let b = [f(1, Some(50), 1, Some(0.5))];
        check(&o, &b, &[f(1, Some(50), 1, Some(0.5))], true);
        check(&o, &b, &[f(0, Some(40), 1, Some(0.6))], true);
    }

    #[test]
    fn a_covered_extreme_given_up_is_grouped_again() {
        let o = [f(3, Some(80), 0, None)];
        let b = [f(1, Some(50), 1, Some(0.5))];
        for after in [
            vec![f(2, Some(50), 1, Some(0.5))],
            vec![f(1, Some(70), 1, Some(0.5))],
            vec![f(1, Some(50), 0, Some(0.5))],
            vec![f(1, Some(50), 1, Some(0.4))],
            vec![],
        ] {
            let mut covered = CoveredUpdates::default();
            covered.was(b[0]);
            for a in &after {
                covered.is(*a);
            }
            let mut stored = CoveredUpdates::default();
            stored.is(o[0]);
            stored.is(b[0]);
            let stored = keyed(stored);
            let unknown = HostRows {
                rows: BTreeMap::new(),
                unknown: vec![7],
            };
            assert_eq!(covered.rows(1, &stored), Some(unknown), "{after:?}");
            check(&o, &b, &after, false);
        }
    }

    #[test]
    fn others_sharing_a_given_up_extreme_are_told_by_the_counts() {
        // One of the others shares every value of the covered finding before: the stored
        // counts show it, so the row is told after the covered finding gives them all up.
        let b = [f(1, Some(50), 1, Some(0.5))];
        let o = [f(1, Some(50), 1, Some(0.5)), f(3, Some(80), 0, None)];
        for after in [vec![f(2, Some(70), 0, Some(0.4))], vec![]] {
            check(&o, &b, &after, true);
        }
        // The others share only the deadline: the tier given up is not told.
        let o = [f(3, Some(50), 0, None)];
        check(&o, &b, &[], false);
        let mut covered = CoveredUpdates::default();
        covered.was(b[0]);
        let mut stored = CoveredUpdates::default();
        stored.is(o[0]);
        stored.is(b[0]);
        assert_eq!(covered.rows(1, &keyed(stored)).unwrap().unknown, vec![7]);
    }

    #[test]
    fn a_stored_row_contradicting_the_covered_findings_is_grouped_again() {
        let mut covered = CoveredUpdates::default();
        covered.was(f(1, None, 0, None));
        covered.was(f(1, None, 0, None));
        covered.is(f(1, None, 0, None));
        let mut one = CoveredUpdates::default();
        one.is(f(1, None, 0, None));
        let stored = keyed(one);
        assert_eq!(covered.rows(1, &stored), None);
    }

    /// Every small case, against grouping: the rows are right whenever they are told.
    #[test]
    fn rows_agree_with_grouping_on_every_small_case() {
        let values = [
            f(0, Some(10), 1, Some(0.9)),
            f(2, Some(20), 0, Some(0.3)),
            f(2, None, 0, None),
            f(4, Some(20), 1, None),
        ];
        let subsets: Vec<Vec<Counted>> = (0..16u32)
            .map(|mask| {
                (0..4)
                    .filter(|i| mask & (1 << i) != 0)
                    .map(|i| values[i])
                    .collect()
            })
            .collect();
        let (mut told, mut told_uncounted) = (0, 0);
        for o in &subsets {
            for b in &subsets {
                for a in &subsets {
                    check(o, b, a, false);
                    let mut covered = CoveredUpdates::default();
                    b.iter().for_each(|x| covered.was(*x));
                    a.iter().for_each(|x| covered.is(*x));
                    let mut stored = CoveredUpdates::default();
                    o.iter().chain(b).for_each(|x| stored.is(*x));
                    let stored = keyed(stored);
                    let is_told = |rows: Option<HostRows>| {
                        usize::from(rows.is_some_and(|r| r.unknown.is_empty()))
                    };
                    told += is_told(covered.rows(1, &stored));
                    told_uncounted += is_told(covered.rows(1, &uncounted(stored)));
                }
            }
        }
        // Most cases are told (the others rarely need to be known), more with the counts.
        assert!(
            told_uncounted > 16 * 16 * 16 / 2,
            "told {told_uncounted} of 4096"
        );
        assert!(
            told > told_uncounted,
            "told {told} with counts, {told_uncounted} without"
        );
    }
}
