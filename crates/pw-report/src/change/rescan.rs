//! A downgrade's vulnerability re-scan compared with its plan's prediction (seed 003's
//! post-verify "vulnerabilities", docs/downgrade.md): the plan's `reintroduced` advisories for
//! a host against the advisories open on the host after the change, for the change's packages.
//! Pure: the host's scan is a fact read by the controller ([`HostRescan`]).
//!
//! Rules (decided here):
//! - A prediction and a finding are the same when they name the same binary and share an id
//!   (the advisory or any alias: the matcher merges aliases the same way for both).
//! - An open finding the plan did not predict is `seen_not_predicted` when its episode began
//!   at or after the change's install, and `already_open` when it was open before (a
//!   vulnerability present at the installed version is not brought back by the downgrade, so
//!   the plan rightly did not list it). Without an install time every unpredicted finding is
//!   `already_open`: nothing was installed.
//! - `status` is `compared` when the scanned inventory was collected after the install began,
//!   shows every package at the version the agent reported at the end of the change, and the
//!   scan is of that inventory or later; otherwise `not_rescanned` (the lists then compare what
//!   the last scan knew).

use std::collections::BTreeSet;

use jiff::Timestamp;
use serde::Serialize;

use crate::change::facts::{HostRescan, OpenAdvisory, PredictedAdvisory};

/// The comparison for one host change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VulnerabilityRescan {
    /// `compared` or `not_rescanned` (see the module's rules).
    pub status: String,
    /// When the host's findings were computed, and when the inventory they scanned was
    /// collected.
    pub scanned_at: Timestamp,
    pub inventory_at: Timestamp,
    pub predicted_and_seen: Vec<AdvisoryLine>,
    pub predicted_not_seen: Vec<AdvisoryLine>,
    pub seen_not_predicted: Vec<AdvisoryLine>,
    pub already_open: Vec<AdvisoryLine>,
}

/// One advisory on one package: the version it was predicted at (the target) or seen at.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct AdvisoryLine {
    pub binary: String,
    pub version: String,
    pub advisory: String,
    pub tier: String,
}

/// Compares the plan's predictions for one host with its scan after the change.
/// `finals` are the versions the agent reported at the end (`package`, `version`), and
/// `installed_at` when the change's install began.
pub fn compare(
    predicted: &[&PredictedAdvisory],
    scan: &HostRescan,
    finals: &[(String, Option<String>)],
    installed_at: Option<Timestamp>,
) -> VulnerabilityRescan {
    let same = |p: &PredictedAdvisory, o: &OpenAdvisory| {
        let ids = |first: &String, rest: &[String]| -> BTreeSet<String> {
            std::iter::once(first).chain(rest).cloned().collect()
        };
        p.binary == o.binary
            && !ids(&p.advisory, &p.aliases).is_disjoint(&ids(&o.advisory, &o.aliases))
    };
    let predicted_line = |p: &PredictedAdvisory| AdvisoryLine {
        binary: p.binary.clone(),
        version: p.target.clone(),
        advisory: p.advisory.clone(),
        tier: p.tier.clone(),
    };
    let open_line = |o: &OpenAdvisory| AdvisoryLine {
        binary: o.binary.clone(),
        version: o.installed.clone(),
        advisory: o.advisory.clone(),
        tier: o.tier.clone(),
    };
    let mut out = VulnerabilityRescan {
        status: status(scan, finals, installed_at).to_owned(),
        scanned_at: scan.scanned_at,
        inventory_at: scan.inventory_at,
        predicted_and_seen: Vec::new(),
        predicted_not_seen: Vec::new(),
        seen_not_predicted: Vec::new(),
        already_open: Vec::new(),
    };
    for p in predicted {
        match scan.open.iter().any(|o| same(p, o)) {
            true => out.predicted_and_seen.push(predicted_line(p)),
            false => out.predicted_not_seen.push(predicted_line(p)),
        }
    }
    for o in &scan.open {
        if predicted.iter().any(|p| same(p, o)) {
            continue;
        }
        let new = match (installed_at, o.first_seen) {
            (Some(installed), Some(first)) => first >= installed,
            (Some(_), None) => true,
            (None, _) => false,
        };
        match new {
            true => out.seen_not_predicted.push(open_line(o)),
            false => out.already_open.push(open_line(o)),
        }
    }
    for list in [
        &mut out.predicted_and_seen,
        &mut out.predicted_not_seen,
        &mut out.seen_not_predicted,
        &mut out.already_open,
    ] {
        list.sort();
        list.dedup();
    }
    out
}

/// `compared` when the scan shows the change's end versions, else `not_rescanned`.
fn status(
    scan: &HostRescan,
    finals: &[(String, Option<String>)],
    installed_at: Option<Timestamp>,
) -> &'static str {
    let after_install = installed_at.is_none_or(|at| scan.inventory_at >= at);
    let shows_finals = !finals.is_empty()
        && finals.iter().all(|(package, version)| {
            scan.installed
                .iter()
                .any(|(name, seen)| name == package && seen == version)
        });
    if after_install && shows_finals && scan.scanned_at >= scan.inventory_at {
        "compared"
    } else {
        "not_rescanned"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn predicted(binary: &str, advisory: &str, aliases: &[&str]) -> PredictedAdvisory {
        PredictedAdvisory {
            host_id: "h1".into(),
            binary: binary.into(),
            target: "1.0-1".into(),
            advisory: advisory.into(),
            aliases: aliases.iter().map(|a| (*a).to_owned()).collect(),
            tier: "T1".into(),
        }
    }

    fn open(binary: &str, advisory: &str, aliases: &[&str], first: &str) -> OpenAdvisory {
        OpenAdvisory {
            binary: binary.into(),
            installed: "1.0-1".into(),
            advisory: advisory.into(),
            aliases: aliases.iter().map(|a| (*a).to_owned()).collect(),
            tier: "T2".into(),
            first_seen: Some(time(first)),
        }
    }

    fn scan(open: Vec<OpenAdvisory>, version: &str) -> HostRescan {
        HostRescan {
            scanned_at: time("2026-12-04T10:05:00Z"),
            inventory_at: time("2026-12-04T10:04:00Z"),
            installed: vec![("pw-demo".into(), Some(version.into()))],
            open,
        }
    }

    fn advisories(lines: &[AdvisoryLine]) -> Vec<&str> {
        lines.iter().map(|l| l.advisory.as_str()).collect()
    }

    #[test]
    fn sorts_predictions_and_findings_into_the_four_lists() {
        let p = [
            predicted("pw-demo", "DSA-1", &["CVE-2099-1"]),
            predicted("pw-demo", "PWTEST-2", &[]),
            predicted("pw-demo", "PWTEST-3", &[]),
        ];
        let refs: Vec<&PredictedAdvisory> = p.iter().collect();
        let installed = Some(time("2026-12-04T10:00:00Z"));
        let seen = scan(
            vec![
                // The same problem under another id, via its CVE alias.
                open("pw-demo", "CVE-2099-1", &[], "2026-12-04T10:05:00Z"),
                open("pw-demo", "PWTEST-2", &[], "2026-12-04T10:05:00Z"),
                // New since the install, not predicted (an advisory imported after planning).
                open("pw-demo", "PWTEST-9", &[], "2026-12-04T10:05:00Z"),
                // Open long before the change: not the downgrade's doing.
                open("pw-demo", "PWTEST-OLD", &[], "2026-11-01T00:00:00Z"),
                // Same id on another binary: not the prediction.
                open("pw-other", "PWTEST-3", &[], "2026-12-04T10:05:00Z"),
            ],
            "1.0-1",
        );
        let finals = [("pw-demo".to_owned(), Some("1.0-1".to_owned()))];
        let out = compare(&refs, &seen, &finals, installed);
        assert_eq!(out.status, "compared");
        assert_eq!(advisories(&out.predicted_and_seen), ["DSA-1", "PWTEST-2"]);
        assert_eq!(advisories(&out.predicted_not_seen), ["PWTEST-3"]);
        // By binary, then advisory.
        assert_eq!(
            advisories(&out.seen_not_predicted),
            ["PWTEST-9", "PWTEST-3"]
        );
        assert_eq!(out.seen_not_predicted[1].binary, "pw-other");
        assert_eq!(advisories(&out.already_open), ["PWTEST-OLD"]);
        // The prediction's version is the target; a finding's the version it was seen at.
        assert_eq!(out.predicted_and_seen[0].version, "1.0-1");
        assert_eq!(out.predicted_and_seen[0].tier, "T1");
    }

    #[test]
    fn a_rolled_back_host_shows_the_predictions_not_seen() {
        let p = [predicted("pw-demo", "PWTEST-2", &[])];
        let refs: Vec<&PredictedAdvisory> = p.iter().collect();
        let finals = [("pw-demo".to_owned(), Some("1.0-2".to_owned()))];
        let out = compare(&refs, &scan(vec![], "1.0-2"), &finals, None);
        assert_eq!(out.status, "compared");
        assert!(out.predicted_and_seen.is_empty());
        assert_eq!(advisories(&out.predicted_not_seen), ["PWTEST-2"]);
    }

    #[test]
    fn a_scan_of_an_inventory_from_before_the_end_is_not_a_rescan() {
        let finals = [("pw-demo".to_owned(), Some("1.0-1".to_owned()))];
        // The inventory still shows the version from before the change.
        let out = compare(&[], &scan(vec![], "1.0-2"), &finals, None);
        assert_eq!(out.status, "not_rescanned");
        // An inventory from before the install, even one showing the same versions (a
        // rollback's end versions are the ones before).
        let before = compare(
            &[],
            &scan(vec![], "1.0-1"),
            &finals,
            Some(time("2026-12-04T10:04:30Z")),
        );
        assert_eq!(before.status, "not_rescanned");
        // The findings were computed before that inventory arrived.
        let mut stale = scan(vec![], "1.0-1");
        stale.scanned_at = time("2026-12-04T10:03:00Z");
        assert_eq!(compare(&[], &stale, &finals, None).status, "not_rescanned");
        // Nothing reported at the end: nothing to tell the scan against.
        assert_eq!(
            compare(&[], &scan(vec![], "1.0-1"), &[], None).status,
            "not_rescanned"
        );
        // Without an install time, an unpredicted finding was not brought by the change.
        let out = compare(
            &[],
            &scan(
                vec![open("pw-demo", "X", &[], "2026-12-04T10:05:00Z")],
                "1.0-1",
            ),
            &finals,
            None,
        );
        assert_eq!(advisories(&out.already_open), ["X"]);
    }
}
