//! A host's ranked findings list as stored (`host_findings`: the JSON list of
//! `pw_model::Finding`, most urgent first), joined from its findings' JSON, and spliced: the
//! findings of some binaries replaced without parsing the others (a feed import's re-rank,
//! `rerank_scan.rs`). The other findings keep their JSON exactly as stored and their place by
//! urgency (pw-scan's `urgency`: tier, deadline, binary, advisory), so the spliced list is the
//! one a full scan ranks when their findings have not changed.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashSet};

use anyhow::Context;
use jiff::Timestamp;
use pw_model::{Finding, Tier};
use pw_store::{Covered, CurrentFinding};

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

impl Spliced {
    /// How many findings the list holds.
    pub fn count(&self) -> usize {
        self.tiers.iter().sum()
    }
}

/// A stored ranked list, each finding's place read from its JSON (the rest left as text).
pub struct StoredList<'a> {
    findings: Vec<(Head<'a>, &'a str)>,
}

impl<'a> StoredList<'a> {
    /// Reads a ranked list's JSON.
    pub fn parse(stored: &'a str) -> anyhow::Result<StoredList<'a>> {
        let findings = (elements(stored)?.into_iter())
            .map(|text| {
                Ok((
                    serde_json::from_str(text).context("a stored finding")?,
                    text,
                ))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(StoredList { findings })
    }

    /// The findings of `binaries`, as [`changed_keys`](crate::rerank_advisories::changed_keys)
    /// takes them.
    pub fn named(&self, binaries: &BTreeSet<String>) -> Vec<Named<'_>> {
        (self.findings.iter())
            .filter(|(head, _)| binaries.contains(head.binary.as_ref()))
            .map(|(head, _)| Named {
                binary: &head.binary,
                advisory: &head.advisory,
                ids: (head.aliases.iter().map(|id| id.0.as_ref()))
                    .chain([head.advisory.as_ref()])
                    .collect(),
            })
            .collect()
    }

    /// The list without the findings `covered` covers, merged with `fresh`: their findings as
    /// ranked now (most urgent first) with their JSON.
    pub fn splice(&self, covered: &Covered, fresh: &[(&Finding, &str)]) -> Spliced {
        let keys: HashSet<(&str, &str)> = (covered.keys.iter())
            .map(|(binary, advisory)| (binary.as_str(), advisory.as_str()))
            .collect();
        let kept: Vec<&(Head, &str)> = (self.findings.iter())
            .filter(|(head, _)| {
                !covered.binaries.contains(head.binary.as_ref())
                    && !keys.contains(&(head.binary.as_ref(), head.advisory.as_ref()))
            })
            .collect();
        let length: usize = (kept.iter().map(|(_, text)| text.len() + 1))
            .chain(fresh.iter().map(|(_, text)| text.len() + 1))
            .sum();
        let mut spliced = Spliced {
            json: String::with_capacity(length + 2),
            tiers: [0; 5],
        };
        spliced.json.push('[');
        let mut push = |tier: Tier, text: &str| {
            if spliced.json.len() > 1 {
                spliced.json.push(',');
            }
            spliced.json.push_str(text);
            spliced.tiers[tier.index()] += 1;
        };
        let (mut kept, mut fresh) = (kept.into_iter().peekable(), fresh.iter().peekable());
        // The two sides hold different keys (binary, advisory): never equal in urgency.
        while let (Some((head, _)), Some((finding, _))) = (kept.peek(), fresh.peek()) {
            let urgency = pw_scan::urgency(
                (head.tier, head.deadline, &head.binary, &head.advisory),
                (
                    finding.tier,
                    finding.deadline,
                    &finding.binary,
                    &finding.advisory,
                ),
            );
            if urgency.is_le() {
                push(head.tier, kept.next().map_or("", |(_, text)| text));
            } else {
                push(finding.tier, fresh.next().map_or("", |(_, text)| text));
            }
        }
        kept.for_each(|(head, text)| push(head.tier, text));
        fresh.for_each(|(finding, text)| push(finding.tier, text));
        spliced.json.push(']');
        spliced
    }
}

/// What a finding's place in the list needs, read from its JSON.
#[derive(serde::Deserialize)]
struct Head<'a> {
    #[serde(borrow)]
    binary: Cow<'a, str>,
    #[serde(borrow)]
    advisory: Cow<'a, str>,
    #[serde(borrow)]
    aliases: Vec<Id<'a>>,
    tier: Tier,
    deadline: Option<Timestamp>,
}

/// An id in a finding's JSON, borrowed from it unless escaped.
#[derive(serde::Deserialize)]
struct Id<'a>(#[serde(borrow)] Cow<'a, str>);

/// The elements of a JSON array, as text (objects, in the compact form [`list_json`] writes).
fn elements(list: &str) -> anyhow::Result<Vec<&str>> {
    let inner = (list.trim().strip_prefix('['))
        .and_then(|rest| rest.strip_suffix(']'))
        .context("a stored findings list is not a JSON array")?;
    let mut out = Vec::new();
    let (mut depth, mut in_string, mut escaped, mut start) = (0usize, false, false, 0);
    for (at, byte) in inner.bytes().enumerate() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth = depth.checked_sub(1).context("unbalanced findings list")?,
            b',' if depth == 0 => {
                out.push(&inner[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    if !inner.trim().is_empty() {
        out.push(&inner[start..]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use pw_model::Finding;
    use pw_store::{Covered, CurrentFinding};
    use serde_json::json;

    use super::{StoredList, elements, list_json};

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
        let list = StoredList::parse(&stored).unwrap();
        let spliced = list.splice(&curl, &fresh);
        let mut whole: Vec<Finding> = (before.iter())
            .filter(|f| f.binary != "curl")
            .chain(&after)
            .cloned()
            .collect();
        pw_scan::sort_findings(&mut whole);
        assert_eq!(spliced.json, serde_json::to_string(&whole).unwrap());
        assert_eq!(spliced.tiers, crate::findings::tier_counts(&whole));
        // Nothing fresh: the binary's findings are gone; nothing of it stored: only added.
        let gone = list.splice(&curl, &[]);
        assert_eq!(gone.count(), 3);
        assert!(!gone.json.contains("\"curl\""));
        let empty = StoredList::parse("[]").unwrap().splice(&curl, &fresh);
        assert_eq!(empty.json, list_json(&fresh_current));
        assert!(StoredList::parse("{}").is_err());
    }

    #[test]
    fn a_splice_by_key_replaces_those_findings_only() {
        let before = vec![
            finding("bash", "DSA-1", "T1", None),
            finding("bash", "DSA-5", "T2", None),
            finding("curl", "DSA-2", "T3", None),
        ];
        let list_text = list_json(&current(&before));
        let list = StoredList::parse(&list_text).unwrap();
        let bash: BTreeSet<String> = ["bash".to_owned()].into();
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
        let spliced = list.splice(&covered, &fresh);
        let whole = [after[0].clone(), before[0].clone(), before[2].clone()];
        assert_eq!(spliced.json, serde_json::to_string(&whole).unwrap());
    }
}
