//! A host's ranked findings list as stored (`host_findings`: the JSON list of
//! `pw_model::Finding`, most urgent first), joined from its findings' JSON, and spliced: the
//! findings of some binaries replaced without parsing the others (a feed import's re-rank,
//! `rerank_scan.rs`). The other findings keep their JSON exactly as stored and their place by
//! urgency (pw-scan's `urgency`: tier, deadline, binary, advisory), so the spliced list is the
//! one a full scan ranks when their findings have not changed.

use std::borrow::Cow;
use std::collections::BTreeSet;

use anyhow::Context;
use jiff::Timestamp;
use pw_model::{Finding, Tier};
use pw_store::CurrentFinding;

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

/// `stored` (a ranked list's JSON) without the findings of `binaries`, merged with `fresh`:
/// their findings as ranked now (most urgent first) with their JSON.
pub fn splice(
    stored: &str,
    binaries: &BTreeSet<String>,
    fresh: &[(&Finding, &str)],
) -> anyhow::Result<Spliced> {
    let mut kept = Vec::new();
    for text in elements(stored)? {
        let head: Head = serde_json::from_str(text).context("a stored finding")?;
        if !binaries.contains(head.binary.as_ref()) {
            kept.push((head, text));
        }
    }
    let fresh_length: usize = fresh.iter().map(|(_, text)| text.len() + 1).sum();
    let mut spliced = Spliced {
        json: String::with_capacity(stored.len() + fresh_length),
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
    let (mut kept, mut fresh) = (kept.iter().peekable(), fresh.iter().peekable());
    loop {
        // The two sides hold different binaries: never equal in urgency.
        let from_kept = match (kept.peek(), fresh.peek()) {
            (Some((head, _)), Some((finding, _))) => pw_scan::urgency(
                (head.tier, head.deadline, &head.binary, &head.advisory),
                (
                    finding.tier,
                    finding.deadline,
                    &finding.binary,
                    &finding.advisory,
                ),
            )
            .is_le(),
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        if from_kept {
            let (head, text) = kept.next().context("a kept finding")?;
            push(head.tier, text);
        } else {
            let (finding, text) = fresh.next().context("a fresh finding")?;
            push(finding.tier, text);
        }
    }
    spliced.json.push(']');
    Ok(spliced)
}

/// What a finding's place in the list needs, read from its JSON.
#[derive(serde::Deserialize)]
struct Head<'a> {
    #[serde(borrow)]
    binary: Cow<'a, str>,
    #[serde(borrow)]
    advisory: Cow<'a, str>,
    tier: Tier,
    deadline: Option<Timestamp>,
}

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
    use pw_store::CurrentFinding;
    use serde_json::json;

    use super::{elements, list_json, splice};

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
        let curl: BTreeSet<String> = ["curl".to_owned()].into();
        let spliced = splice(&stored, &curl, &fresh).unwrap();
        let mut whole: Vec<Finding> = (before.iter())
            .filter(|f| f.binary != "curl")
            .chain(&after)
            .cloned()
            .collect();
        pw_scan::sort_findings(&mut whole);
        assert_eq!(spliced.json, serde_json::to_string(&whole).unwrap());
        assert_eq!(spliced.tiers, crate::findings::tier_counts(&whole));
        // Nothing fresh: the binary's findings are gone; nothing of it stored: only added.
        let gone = splice(&stored, &curl, &[]).unwrap();
        assert_eq!(gone.count(), 3);
        assert!(!gone.json.contains("\"curl\""));
        let empty = splice("[]", &curl, &fresh).unwrap();
        assert_eq!(empty.json, list_json(&fresh_current));
        assert!(splice("{}", &curl, &fresh).is_err());
    }
}
