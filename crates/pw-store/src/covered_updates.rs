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
//! and `A`'s is at least as extreme, `A`'s is the row's. Only when `B` held the extreme and
//! `A` no longer reaches it may `O`'s value (unknown) be the row's — the host is then grouped
//! again, as it is when a stored row contradicts the covered findings.

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

    /// The host's rows after the write, from `stored` (the rows as stored, of any hosts) and
    /// the covered findings, but for the updates whose rows they cannot tell (to group again,
    /// those alone); `None` when a stored row contradicts the covered findings (the host must
    /// be grouped again whole).
    pub(crate) fn rows(
        &self,
        host: i64,
        stored: &BTreeMap<RowKey, HostUpdate>,
    ) -> Option<HostRows> {
        let of_host = stored.range((host, UpdateKey::MIN)..=(host, UpdateKey::MAX));
        let mut rows = HostRows {
            rows: (of_host)
                .filter(|((_, update), _)| !self.touches(*update))
                .map(|(key, row)| (*key, row.clone()))
                .collect(),
            unknown: Vec::new(),
        };
        let mut touched: Vec<&UpdateKey> = self.before.keys().chain(self.after.keys()).collect();
        touched.sort_unstable();
        touched.dedup();
        for update in touched {
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

    fn touches(&self, update: UpdateKey) -> bool {
        self.before.contains_key(&update) || self.after.contains_key(&update)
    }
}

fn add(groups: &mut BTreeMap<UpdateKey, HostUpdate>, f: Counted) {
    let epss = f.epss.map(crate::epss_parts::parts);
    let row = groups.entry(f.update).or_insert(HostUpdate {
        findings: 0,
        tier: f.tier,
        deadline: f.deadline,
        kev: f.kev,
        epss,
    });
    row.findings += 1;
    row.tier = row.tier.min(f.tier);
    row.deadline = row.deadline.into_iter().chain(f.deadline).min();
    row.kev = row.kev.max(f.kev);
    row.epss = row.epss.max(epss);
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
    let field = |key: fn(&HostUpdate) -> i64| extreme(key(s), b.map_or(i64::MAX, key), a.map(key));
    let fields = [
        field(|r| r.tier),
        field(|r| deadline(r.deadline)),
        field(|r| -r.kev),
        field(|r| epss(r.epss)),
    ];
    if fields.contains(&Extreme::Contradicted) {
        return None;
    }
    let [Some(tier), Some(deadline), Some(kev), Some(epss)] = fields.map(Extreme::known) else {
        return Some(After::Unknown);
    };
    Some(After::Row(Some(HostUpdate {
        findings: others + count(a),
        tier,
        deadline: undeadline(deadline),
        kev: -kev,
        epss: unepss(epss),
    })))
}

/// One field of a row after the write.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Extreme {
    Known(i64),
    /// The others' value, unknown, may decide it.
    Unknown,
    /// The stored value is less extreme than the covered findings' before.
    Contradicted,
}

impl Extreme {
    fn known(self) -> Option<i64> {
        match self {
            Extreme::Known(value) => Some(value),
            _ => None,
        }
    }
}

/// One field after the write, as a key where smaller is more extreme: `s` stored (over the
/// others and the covered findings before), `b` of the covered findings before (`i64::MAX`:
/// none), `a` after (`None`: none).
fn extreme(s: i64, b: i64, a: Option<i64>) -> Extreme {
    if s > b {
        return Extreme::Contradicted;
    }
    if s < b {
        // The others hold the stored value.
        return Extreme::Known(a.map_or(s, |a| a.min(s)));
    }
    // The others' value is `s` or less extreme: the covered findings after decide it only by
    // reaching `s`.
    match a {
        Some(a) if a <= s => Extreme::Known(a),
        _ => Extreme::Unknown,
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
        match covered.rows(1, &stored) {
            Some(HostRows { rows, unknown }) => {
                assert!(unknown.is_empty() || !told, "not told: {case}");
                let mut expected = expected;
                for update in &unknown {
                    expected.remove(&(1, *update));
                }
                assert_eq!(rows, expected, "{case}");
            }
            None => assert!(!told, "contradicted: {case}"),
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
        let mut told = 0;
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
                    let rows = covered.rows(1, &stored);
                    told += usize::from(rows.is_some_and(|r| r.unknown.is_empty()));
                }
            }
        }
        // Most cases are told (the others rarely need to be known).
        assert!(told > 16 * 16 * 16 / 2, "told {told} of 4096");
    }
}
