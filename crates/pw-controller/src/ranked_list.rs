//! A host's ranked findings list as stored (`host_findings`: the JSON list of
//! `pw_model::Finding`, most urgent first), joined from its findings' JSON, and spliced: the
//! findings of some binaries replaced without parsing the others (a feed import's re-rank,
//! `rerank_scan.rs`). The other findings keep their JSON exactly as stored and their place by
//! urgency (pw-scan's `urgency`: tier, deadline, binary, advisory), so the spliced list is the
//! one a full scan ranks when their findings have not changed.

use std::borrow::Cow;
use std::collections::BTreeSet;

use anyhow::Context;
use foldhash::HashSet;
use jiff::Timestamp;
use pw_model::{Finding, Tier};
use pw_store::{Covered, CurrentFinding};

use crate::list_scan::{Head, binary_of, elements};
use crate::rerank_advisories::Named;

/// The ranked list's JSON, as `serde_json::to_string` of the findings gives it, from their
/// JSON in `current` (each finding serialized once, not twice).
pub fn list_json(current: &[CurrentFinding]) -> String {
    let commas = current.len().saturating_sub(1);
    let length = current.iter().map(|f| f.json.len()).sum::<usize>() + commas + 2;
    let mut json = String::with_capacity(length);
    json.push('[');
    for (at, finding) in current.iter().enumerate() {
        if at > 0 {
            json.push(',');
        }
        json.push_str(&finding.json);
    }
    json.push(']');
    json
}

/// A spliced list: its JSON and how many findings it holds per tier `[T0..T4]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Spliced {
    pub json: String,
    pub tiers: [usize; 5],
}

/// A stored ranked list: each finding's JSON and binary, the heads of the findings of some
/// binaries read from their JSON (the others are parsed only where a splice compares them),
/// and the counts per tier stored with it.
pub struct StoredList<'a> {
    findings: Vec<Element<'a>>,
    tiers: [usize; 5],
}

/// One finding of a stored list.
struct Element<'a> {
    text: &'a str,
    binary: Cow<'a, str>,
    /// Read for the binaries [`StoredList::parse`] was given.
    head: Option<Head<'a>>,
}

impl<'a> StoredList<'a> {
    /// Reads a ranked list's JSON with its stored counts per tier `[T0..T4]`: every finding's
    /// binary, and the heads of the findings of `binaries` (those a re-rank can replace).
    pub fn parse(
        stored: &'a str,
        tiers: [usize; 5],
        binaries: &BTreeSet<String>,
    ) -> anyhow::Result<StoredList<'a>> {
        let findings = (elements(stored)?.into_iter())
            .map(|text| {
                let (binary, head) = match binary_of(text) {
                    Some(binary) if !binaries.contains(binary) => (Cow::Borrowed(binary), None),
                    _ => {
                        let head = Head::of(text)?;
                        (head.binary.clone(), Some(head))
                    }
                };
                Ok(Element { text, binary, head })
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(StoredList { findings, tiers })
    }

    /// The findings of `binaries` (among those [`StoredList::parse`] read the heads of), as
    /// [`changed_keys`](crate::rerank_advisories::changed_keys) takes them.
    pub fn named(&self, binaries: &BTreeSet<String>) -> Vec<Named<'_>> {
        (self.findings.iter())
            .filter(|element| binaries.contains(element.binary.as_ref()))
            .filter_map(|element| element.head.as_ref())
            .map(|head| Named {
                binary: &head.binary,
                advisory: &head.advisory,
                ids: (head.aliases.iter().map(|id| id.0.as_ref()))
                    .chain([head.advisory.as_ref()])
                    .collect(),
            })
            .collect()
    }

    /// The list without the findings `covered` covers, merged with `fresh`: their findings as
    /// ranked now (most urgent first) with their JSON. The kept findings stay in their order;
    /// each fresh one goes before the first kept one it is more urgent than, found by a binary
    /// search (a few heads parsed, not the list's).
    pub fn splice(&self, covered: &Covered, fresh: &[(&Finding, &str)]) -> anyhow::Result<Spliced> {
        let keys: HashSet<(&str, &str)> = (covered.keys.iter())
            .map(|(binary, advisory)| (binary.as_str(), advisory.as_str()))
            .collect();
        let by_key: HashSet<&str> = keys.iter().map(|(binary, _)| *binary).collect();
        let mut tiers = self.tiers;
        let mut kept = Vec::with_capacity(self.findings.len());
        for element in &self.findings {
            let binary = element.binary.as_ref();
            if !covered.binaries.contains(binary) && !by_key.contains(binary) {
                kept.push(element);
                continue;
            }
            let parsed;
            let head = match &element.head {
                Some(head) => head,
                None => {
                    parsed = Head::of(element.text)?;
                    &parsed
                }
            };
            if covered.binaries.contains(binary) || keys.contains(&(binary, &head.advisory)) {
                let count = &mut tiers[head.tier.index()];
                *count = (count.checked_sub(1))
                    .context("the stored tier counts are not the stored list's")?;
            } else {
                kept.push(element);
            }
        }
        let length: usize = (kept.iter().map(|element| element.text.len() + 1))
            .chain(fresh.iter().map(|(_, text)| text.len() + 1))
            .sum();
        let mut spliced = Spliced {
            json: String::with_capacity(length + 2),
            tiers,
        };
        spliced.json.push('[');
        let mut push = |text: &str| {
            if spliced.json.len() > 1 {
                spliced.json.push(',');
            }
            spliced.json.push_str(text);
        };
        let mut from = 0;
        for (finding, text) in fresh {
            // The two sides hold different keys (binary, advisory): never equal in urgency.
            let place = (
                finding.tier,
                finding.deadline,
                finding.binary.as_str(),
                finding.advisory.as_str(),
            );
            let before = first_not_before(&kept[from..], place)?;
            kept[from..from + before]
                .iter()
                .for_each(|element| push(element.text));
            from += before;
            push(text);
            spliced.tiers[finding.tier.index()] += 1;
        }
        kept[from..].iter().for_each(|element| push(element.text));
        spliced.json.push(']');
        Ok(spliced)
    }
}

/// How many of `kept` (in urgency order) are ranked before a finding at `place`: a binary
/// search over their heads.
fn first_not_before(
    kept: &[&Element<'_>],
    place: (Tier, Option<Timestamp>, &str, &str),
) -> anyhow::Result<usize> {
    let (mut low, mut high) = (0, kept.len());
    while low < high {
        let middle = low + (high - low) / 2;
        let element = kept[middle];
        let head = Head::of(element.text)?;
        let at = (
            head.tier,
            head.deadline,
            head.binary.as_ref(),
            head.advisory.as_ref(),
        );
        if pw_scan::urgency(at, place).is_le() {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    Ok(low)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use pw_model::Finding;
    use pw_store::{Covered, CurrentFinding};
    use serde_json::json;

    use super::{StoredList, list_json};
    use crate::list_scan::elements;

    fn finding(binary: &str, advisory: &str, tier: &str, deadline: Option<&str>) -> Finding {
        serde_json::from_value(json!({
            "binary": binary, "installed": "1.0-1", "package": binary, "package_version": "1.0-1",
            "advisory": advisory, "aliases": ["CVE-2026-1"], "fixed": null, "tier": tier,
            "deadline": deadline, "reasons": ["a \"quoted\", [reason]}"],
            "summary": "{,}", "published": null, "cvss": 7.5, "epss": 0.25, "kev": true
        }))
        .unwrap()
    }

    fn current(findings: &[Finding]) -> Vec<CurrentFinding> {
        findings
            .iter()
            .map(|f| CurrentFinding::of(f).unwrap())
            .collect()
    }

    /// The spliced list is the `kept` and `fresh` findings sorted together, counted per tier.
    fn assert_sorted_together<'a>(
        spliced: &super::Spliced,
        kept: impl Iterator<Item = &'a Finding>,
        fresh: &'a [Finding],
    ) {
        let mut whole: Vec<Finding> = kept.chain(fresh).cloned().collect();
        pw_scan::sort_findings(&mut whole);
        assert_eq!(spliced.json, serde_json::to_string(&whole).unwrap());
        assert_eq!(spliced.tiers, crate::findings::tier_counts(&whole));
    }

    #[test]
    fn the_list_is_the_findings_serialized_together() {
        for findings in [
            vec![],
            vec![finding("curl", "DSA-1", "T1", None)],
            vec![
                finding("curl", "DSA-1", "T1", None),
                finding("bash", "]", "T2", None),
                finding("zlib", ",", "T3", None),
            ],
        ] {
            let current = current(&findings);
            let list = list_json(&current);
            assert_eq!(list, serde_json::to_string(&findings).unwrap());
            assert_eq!(list.capacity(), list.len(), "allocated once");
            let texts: Vec<&str> = current.iter().map(|f| f.json.as_str()).collect();
            assert_eq!(elements(&list).unwrap(), texts);
        }
    }

    #[test]
    fn a_splice_ranks_as_sorting_the_whole_list_does() {
        let day = |d: u32| format!("2026-12-{d:02}T00:00:00Z");
        let before = vec![
            finding("bash", "DSA-1", "T0", Some(&day(3))),
            finding("curl", "DSA-2", "T1", Some(&day(1))),
            finding("zlib", "DSA-3", "T1", Some(&day(2))),
            finding("curl", "DSA-4", "T3", None),
            finding("bash", "DSA-5", "T4", None),
        ];
        let mut after = vec![
            finding("curl", "DSA-2", "T0", Some(&day(9))),
            finding("curl", "DSA-6", "T1", Some(&day(2))),
            finding("curl", "DSA-4", "T1", Some(&day(2))),
        ];
        pw_scan::sort_findings(&mut after);
        let stored = list_json(&current(&before));
        let fresh_current = current(&after);
        let fresh: Vec<(&Finding, &str)> = (after.iter())
            .zip(fresh_current.iter().map(|f| f.json.as_str()))
            .collect();
        let curl = Covered::binaries(["curl".to_owned()].into());
        let tiers = crate::findings::tier_counts(&before);
        let list = StoredList::parse(&stored, tiers, &curl.binaries).unwrap();
        let spliced = list.splice(&curl, &fresh).unwrap();
        let kept = before.iter().filter(|f| f.binary != "curl");
        assert_sorted_together(&spliced, kept, &after);
        // Nothing fresh: the binary's findings are gone; nothing of it stored: only added.
        let gone = list.splice(&curl, &[]).unwrap();
        assert_eq!(gone.tiers.iter().sum::<usize>(), 3);
        assert!(!gone.json.contains("\"curl\""));
        let empty = StoredList::parse("[]", [0; 5], &curl.binaries).unwrap();
        let empty = empty.splice(&curl, &fresh).unwrap();
        assert_eq!(empty.json, list_json(&fresh_current));
        assert!(StoredList::parse("{}", [0; 5], &curl.binaries).is_err());
    }

    #[test]
    fn a_splice_by_key_replaces_those_findings_only() {
        let before = vec![
            finding("bash", "DSA-1", "T1", None),
            finding("bash", "DSA-5", "T2", None),
            finding("curl", "DSA-2", "T3", None),
        ];
        let list_text = list_json(&current(&before));
        let bash: BTreeSet<String> = ["bash".to_owned()].into();
        let tiers = crate::findings::tier_counts(&before);
        let list = StoredList::parse(&list_text, tiers, &bash).unwrap();
        let named = list.named(&bash);
        let shown: Vec<(&str, &str, &[&str])> = (named.iter())
            .map(|n| (n.binary, n.advisory, n.ids.as_slice()))
            .collect();
        assert_eq!(
            shown,
            [
                ("bash", "DSA-1", &["CVE-2026-1", "DSA-1"][..]),
                ("bash", "DSA-5", &["CVE-2026-1", "DSA-5"][..])
            ]
        );
        let after = [finding("bash", "DSA-5", "T0", None)];
        let after_current = current(&after);
        let fresh = [(&after[0], after_current[0].json.as_str())];
        let covered = Covered {
            binaries: BTreeSet::new(),
            keys: [("bash".to_owned(), "DSA-5".to_owned())].into(),
        };
        let spliced = list.splice(&covered, &fresh).unwrap();
        let whole = [after[0].clone(), before[0].clone(), before[2].clone()];
        assert_eq!(spliced.json, serde_json::to_string(&whole).unwrap());
    }

    #[test]
    fn a_splice_places_each_fresh_finding_as_a_sort_of_the_whole_list() {
        // Many lists, covered sets and fresh findings (a fixed pseudo-random sequence): the
        // splice's binary search gives what sorting the kept and fresh findings together gives.
        let mut seed = 0x2545_f491_u64;
        let mut next = |below: u64| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (seed >> 33) % below
        };
        let tiers = ["T0", "T1", "T2", "T3", "T4"];
        let binaries = ["bash", "curl", "libc6", "zlib1g", "b\\in"];
        let draw = |next: &mut dyn FnMut(u64) -> u64, count: u64, advisory: &str| {
            (0..count)
                .map(|n| {
                    let day = format!("2026-12-{:02}T00:00:00Z", 1 + next(5));
                    let deadline = (next(3) > 0).then_some(day.as_str());
                    let binary = binaries[next(5) as usize];
                    let tier = tiers[next(5) as usize];
                    finding(binary, &format!("{advisory}-{n}"), tier, deadline)
                })
                .collect::<Vec<_>>()
        };
        for _ in 0..200 {
            let (count_before, count_after) = (next(40), next(8));
            let mut before = draw(&mut next, count_before, "DSA");
            let mut after = draw(&mut next, count_after, "DLA");
            pw_scan::sort_findings(&mut before);
            pw_scan::sort_findings(&mut after);
            let covered = Covered {
                binaries: [binaries[next(5) as usize].to_owned()].into(),
                keys: (before.iter().filter(|_| next(4) == 0))
                    .map(|f| (f.binary.clone(), f.advisory.clone()))
                    .collect(),
            };
            let stored = list_json(&current(&before));
            let import: BTreeSet<String> = (covered.binaries.iter().cloned())
                .chain(covered.keys.iter().map(|(binary, _)| binary.clone()))
                .collect();
            let tiers = crate::findings::tier_counts(&before);
            let list = StoredList::parse(&stored, tiers, &import).unwrap();
            let after_current = current(&after);
            let fresh: Vec<(&Finding, &str)> = (after.iter())
                .zip(after_current.iter().map(|f| f.json.as_str()))
                .collect();
            let spliced = list.splice(&covered, &fresh).unwrap();
            let kept = before.iter().filter(|f| {
                !covered.binaries.contains(&f.binary)
                    && !(covered.keys).contains(&(f.binary.clone(), f.advisory.clone()))
            });
            assert_sorted_together(&spliced, kept, &after);
        }
    }

    #[test]
    fn a_splice_refuses_tier_counts_that_are_not_the_lists() {
        let before = [finding("curl", "DSA-1", "T1", None)];
        let stored = list_json(&current(&before));
        let curl = Covered::binaries(["curl".to_owned()].into());
        let list = StoredList::parse(&stored, [0; 5], &curl.binaries).unwrap();
        assert!(list.splice(&curl, &[]).is_err());
    }
}
