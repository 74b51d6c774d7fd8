//! OSV `ECOSYSTEM` range evaluation, with versions validated and events sorted once.
//!
//! The algorithm is the OSV specification's: sort the events of a range by version
//! (`introduced: "0"` first), then walk them; an `introduced` at or below the version makes it
//! affected, a `fixed` at or below the version makes it unaffected, a `last_affected` strictly
//! below the version makes it unaffected. The last event that applies decides. Several ranges
//! of one entry are ORed, and so is the entry's `versions` list (exact version equality under
//! the scheme's ordering, so `1.0` equals `0:1.0`). `limit` events are ignored: they bound
//! `GIT` ranges, and no distro feed uses them in `ECOSYSTEM` ranges.
//!
//! At equal versions the events sort `introduced` < `last_affected` < `fixed`, so that
//! `introduced X` + `fixed X` is empty and `introduced X` + `last_affected X` holds exactly X.

use std::cmp::Ordering;

use pw_version::Scheme;

use crate::advisory::Event;

/// The fix that ends the part of a range holding a version: `Some(version)`, or `None` when no
/// fixed version is known (no `fixed` event after it, or a `last_affected` first).
pub(crate) type Fix<'a> = Option<&'a str>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Introduced,
    LastAffected,
    Fixed,
}

#[derive(Debug, Clone)]
struct CompiledEvent {
    kind: Kind,
    /// `None` is `introduced: "0"`, below every version.
    version: Option<Box<str>>,
}

/// One range, events sorted.
#[derive(Debug, Clone)]
pub(crate) struct CompiledRange {
    events: Vec<CompiledEvent>,
}

impl CompiledRange {
    pub(crate) fn compile(scheme: Scheme, events: &[Event]) -> CompiledRange {
        let mut compiled: Vec<CompiledEvent> = events
            .iter()
            .filter_map(|event| {
                let (kind, version) = match event {
                    Event::IntroducedZero => (Kind::Introduced, None),
                    Event::Introduced(v) => (Kind::Introduced, Some(v)),
                    Event::LastAffected(v) => (Kind::LastAffected, Some(v)),
                    Event::Fixed(v) => (Kind::Fixed, Some(v)),
                    Event::Limit(_) => return None,
                };
                Some(CompiledEvent {
                    kind,
                    version: version.map(|v| v.as_str().into()),
                })
            })
            .collect();
        compiled.sort_by(|a, b| {
            compare_bound(scheme, a.version.as_deref(), b.version.as_deref())
                .then(a.kind.cmp(&b.kind))
        });
        CompiledRange { events: compiled }
    }

    /// `Some(fix)` when `version` is inside the range.
    pub(crate) fn evaluate(&self, scheme: Scheme, version: &str) -> Option<Fix<'_>> {
        let mut state = None;
        for (i, event) in self.events.iter().enumerate() {
            let applies = match (event.kind, event.version.as_deref()) {
                (_, None) => true,
                (Kind::Introduced | Kind::Fixed, Some(bound)) => {
                    scheme.compare_unchecked(bound, version) != Ordering::Greater
                }
                (Kind::LastAffected, Some(bound)) => {
                    scheme.compare_unchecked(bound, version) == Ordering::Less
                }
            };
            if applies {
                state = Some((event.kind == Kind::Introduced, i));
            }
        }
        match state {
            Some((true, i)) => Some(self.fix_after(i)),
            _ => None,
        }
    }

    /// The `fixed` version that ends the affected part starting after event `i`.
    fn fix_after(&self, i: usize) -> Fix<'_> {
        for event in &self.events[i + 1..] {
            match event.kind {
                Kind::Fixed => return event.version.as_deref(),
                Kind::LastAffected => return None,
                Kind::Introduced => {}
            }
        }
        None
    }

    /// The lowest `fixed` version above `version`, for versions matched only by a list.
    fn lowest_fix_above(&self, scheme: Scheme, version: &str) -> Option<&str> {
        self.events
            .iter()
            .filter(|e| e.kind == Kind::Fixed)
            .filter_map(|e| e.version.as_deref())
            .find(|f| scheme.compare_unchecked(f, version) == Ordering::Greater)
    }

    /// `Some(fixed)` when the range is exactly `introduced 0` + `fixed X`.
    pub(crate) fn as_zero_to_fixed(&self) -> Option<&str> {
        match &self.events[..] {
            [
                CompiledEvent {
                    kind: Kind::Introduced,
                    version: None,
                },
                CompiledEvent {
                    kind: Kind::Fixed,
                    version: Some(fixed),
                },
            ] => Some(fixed),
            _ => None,
        }
    }

    /// Whether the range is exactly `introduced 0` (everything affected, no fix).
    pub(crate) fn is_everything(&self) -> bool {
        matches!(
            &self.events[..],
            [CompiledEvent {
                kind: Kind::Introduced,
                version: None
            }]
        )
    }
}

/// An entry that is neither of the two common shapes: ranges plus an explicit versions list.
#[derive(Debug, Clone)]
pub(crate) struct GeneralClaim {
    ranges: Vec<CompiledRange>,
    /// Sorted by the scheme's ordering, for binary search.
    versions: Vec<Box<str>>,
}

impl GeneralClaim {
    pub(crate) fn new(
        scheme: Scheme,
        ranges: Vec<CompiledRange>,
        versions: &[String],
    ) -> GeneralClaim {
        let mut versions: Vec<Box<str>> = versions.iter().map(|v| v.as_str().into()).collect();
        versions.sort_by(|a, b| scheme.compare_unchecked(a, b));
        GeneralClaim { ranges, versions }
    }

    /// `Some(fix)` when the entry affects `version`: inside any range, or listed. With several
    /// ranges holding it, the fix is the highest of their fixes (`None` if any has none). A
    /// version only listed gets the lowest `fixed` above it, if any.
    pub(crate) fn evaluate(&self, scheme: Scheme, version: &str) -> Option<Fix<'_>> {
        let mut result: Option<Fix<'_>> = None;
        for range in &self.ranges {
            if let Some(fix) = range.evaluate(scheme, version) {
                result = Some(match result {
                    None => fix,
                    Some(previous) => combine_fixes(scheme, previous, fix),
                });
            }
        }
        if result.is_none() && self.lists(scheme, version) {
            let lowest = self
                .ranges
                .iter()
                .filter_map(|r| r.lowest_fix_above(scheme, version))
                .min_by(|a, b| scheme.compare_unchecked(a, b));
            result = Some(lowest);
        }
        result
    }

    fn lists(&self, scheme: Scheme, version: &str) -> bool {
        self.versions
            .binary_search_by(|listed| scheme.compare_unchecked(listed, version))
            .is_ok()
    }
}

/// The version that fixes both: the higher of two fixes, or `None` when either has none.
pub(crate) fn combine_fixes<'a>(scheme: Scheme, a: Fix<'a>, b: Fix<'a>) -> Fix<'a> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if scheme.compare_unchecked(a, b) == Ordering::Less {
            b
        } else {
            a
        }),
        _ => None,
    }
}

fn compare_bound(scheme: Scheme, a: Option<&str>, b: Option<&str>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(a), Some(b)) => scheme.compare_unchecked(a, b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(events: &[Event]) -> CompiledRange {
        CompiledRange::compile(Scheme::Dpkg, events)
    }

    fn check(r: &CompiledRange, version: &str, expected: Option<Option<&str>>) {
        assert_eq!(r.evaluate(Scheme::Dpkg, version), expected, "{version}");
    }

    fn v(s: &str) -> String {
        s.to_owned()
    }

    #[test]
    fn introduced_zero_fixed() {
        let r = range(&[Event::Fixed(v("2.0-1")), Event::IntroducedZero]);
        assert_eq!(r.as_zero_to_fixed(), Some("2.0-1"));
        check(&r, "1.0", Some(Some("2.0-1")));
        check(&r, "2.0-1~deb12u1", Some(Some("2.0-1")));
        check(&r, "2.0-1", None);
        check(&r, "1:0.1", None);
    }

    #[test]
    fn reintroduction_in_one_range_sorted_by_version() {
        // Events deliberately out of order: sorting is the evaluator's job.
        let r = range(&[
            Event::Introduced(v("3.0")),
            Event::Fixed(v("2.0")),
            Event::Fixed(v("3.5")),
            Event::Introduced(v("1.0")),
        ]);
        check(&r, "0.9", None);
        check(&r, "1.0", Some(Some("2.0")));
        check(&r, "2.0", None);
        check(&r, "2.9", None);
        check(&r, "3.0", Some(Some("3.5")));
        check(&r, "3.4~rc1", Some(Some("3.5")));
        check(&r, "3.5", None);
    }

    #[test]
    fn last_affected_is_inclusive_and_has_no_known_fix() {
        let r = range(&[Event::Introduced(v("1.0")), Event::LastAffected(v("1.5"))]);
        check(&r, "1.5", Some(None));
        check(&r, "1.5+b1", None);
        check(&r, "1.0", Some(None));
        let same = range(&[Event::Introduced(v("1.0")), Event::LastAffected(v("1.0"))]);
        check(&same, "1.0", Some(None));
        check(&same, "1.0.1", None);
    }

    #[test]
    fn equal_introduced_and_fixed_is_empty() {
        let r = range(&[Event::Fixed(v("1.0")), Event::Introduced(v("1.0"))]);
        check(&r, "1.0", None);
        check(&r, "0.9", None);
    }

    #[test]
    fn limit_is_ignored_and_everything_shape_is_detected() {
        let r = range(&[Event::IntroducedZero, Event::Limit(v("2.0"))]);
        assert!(r.is_everything());
        check(&r, "99", Some(None));
    }

    #[test]
    fn general_claims_or_ranges_and_lists() {
        let ranges = vec![
            range(&[Event::IntroducedZero, Event::Fixed(v("1.2"))]),
            range(&[Event::Introduced(v("2.0")), Event::Fixed(v("2.3"))]),
        ];
        let claim = GeneralClaim::new(Scheme::Dpkg, ranges, &[v("1:1.0"), v("1.9"), v("3.0")]);
        let s = Scheme::Dpkg;
        assert_eq!(claim.evaluate(s, "1.1"), Some(Some("1.2")));
        assert_eq!(claim.evaluate(s, "2.1"), Some(Some("2.3")));
        assert_eq!(
            claim.evaluate(s, "1.9"),
            Some(Some("2.3")),
            "listed: lowest fix above"
        );
        assert_eq!(
            claim.evaluate(s, "3.0"),
            Some(None),
            "listed above every fix"
        );
        assert_eq!(
            claim.evaluate(s, "1:1.0"),
            Some(None),
            "epoch 1 sorts above all fixes"
        );
        assert_eq!(claim.evaluate(s, "1.5"), None);
    }

    #[test]
    fn fixes_combine_to_the_higher_or_none() {
        let s = Scheme::Rpm;
        assert_eq!(
            combine_fixes(s, Some("1:1.0-1.el9"), Some("2.0-1.el9")),
            Some("1:1.0-1.el9")
        );
        assert_eq!(combine_fixes(s, Some("1.0-1"), None), None);
    }
}
