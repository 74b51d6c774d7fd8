//! Tier rules, boundaries, reasons and deadlines with the default policy (DESIGN.md §2).

use pw_priority::{
    CvssScore, CvssVersion, Deadline, EmergencyFlag, Evidence, FixKind, PriorityPolicy, Tier,
};

use crate::{security, ts};

/// One table row: evidence → expected tier and reasons.
fn check(evidence: Evidence, tier: Tier, reasons: &[&str]) {
    let got = PriorityPolicy::default().classify(&evidence);
    assert_eq!(got.tier, tier, "{evidence:?}");
    assert_eq!(got.reasons, reasons, "{evidence:?}");
}

#[test]
fn t0_rules_and_boundaries() {
    check(
        security(Some(9.0), None, None, None),
        Tier::T0,
        &["CVSS 9.0 (v3.1) ≥ 9.0"],
    );
    check(
        security(Some(8.9), None, None, None),
        Tier::T1,
        &["CVSS 8.9 (v3.1) ≥ 7.0"],
    );
    check(
        security(Some(9.8), None, None, None),
        Tier::T0,
        &["CVSS 9.8 (v3.1) ≥ 9.0"],
    );
    check(
        security(Some(7.0), Some(0.5), None, None),
        Tier::T0,
        &[
            "EPSS 0.5 ≥ 0.5 with CVSS 7.0 (CVE-2024-6387)",
            "CVSS 7.0 (v3.1) ≥ 7.0",
        ],
    );
    check(
        security(Some(7.0), Some(0.49999), None, None),
        Tier::T1,
        &["CVSS 7.0 (v3.1) ≥ 7.0", "EPSS 0.49999 (CVE-2024-6387)"],
    );
    check(
        security(Some(6.9), Some(0.97), None, None),
        Tier::T3,
        &["CVSS 6.9 (v3.1) < 7.0", "EPSS 0.97 (CVE-2024-6387)"],
    );
    // EPSS without any CVSS never reaches T0 through the EPSS rule
    check(
        security(None, Some(0.97), None, None),
        Tier::T3,
        &[
            "security fix of unknown severity (no CVSS score, no known distro severity)",
            "EPSS 0.97 (CVE-2024-6387)",
        ],
    );
    check(
        security(Some(5.3), None, Some("2024-07-01"), None),
        Tier::T0,
        &[
            "CVE-2024-6387 is in CISA KEV since 2024-07-01",
            "CVSS 5.3 (v3.1) < 7.0",
        ],
    );
    check(
        security(Some(8.1), Some(0.62), Some("2024-07-01"), Some("Important")),
        Tier::T0,
        &[
            "CVE-2024-6387 is in CISA KEV since 2024-07-01",
            "EPSS 0.62 ≥ 0.5 with CVSS 8.1 (CVE-2024-6387)",
            "CVSS 8.1 (v3.1) ≥ 7.0",
            "distro severity Important",
        ],
    );
}

#[test]
fn distro_severity_words() {
    check(
        security(None, None, None, Some("Critical")),
        Tier::T0,
        &["distro severity Critical"],
    );
    check(
        security(None, None, None, Some("Important")),
        Tier::T1,
        &["distro severity Important"],
    );
    check(
        security(None, None, None, Some("high")),
        Tier::T1,
        &["distro severity high"],
    );
    check(
        security(None, None, None, Some("Moderate")),
        Tier::T3,
        &["distro severity Moderate"],
    );
    check(
        security(None, None, None, Some("low")),
        Tier::T3,
        &["distro severity low"],
    );
    // CVSS and the word: the more urgent wins, the other is still shown
    check(
        security(Some(5.0), None, None, Some("Important")),
        Tier::T1,
        &["distro severity Important", "CVSS 5.0 (v3.1) < 7.0"],
    );
    check(
        security(Some(7.5), None, None, Some("Low")),
        Tier::T1,
        &["CVSS 7.5 (v3.1) ≥ 7.0", "distro severity Low"],
    );
    check(
        security(None, None, None, Some("weird")),
        Tier::T3,
        &[
            "security fix of unknown severity (no CVSS score, no known distro severity)",
            "distro severity \"weird\" is not in the policy's distro_severity words",
        ],
    );
}

#[test]
fn emergency_flags_from_evidence_and_policy() {
    let mut evidence = security(Some(4.0), None, None, None);
    evidence.emergency.push(EmergencyFlag {
        cve: "CVE-2024-6387".into(),
        reason: "exploit seen in our honeypots".into(),
    });
    check(
        evidence,
        Tier::T0,
        &[
            "operator emergency flag on CVE-2024-6387: exploit seen in our honeypots",
            "CVSS 4.0 (v3.1) < 7.0",
        ],
    );
    let policy = PriorityPolicy::from_toml_str(
        "[[emergency]]\ncve = \"cve-2024-6387\"\nreason = \"0-day intel\"\n",
    )
    .unwrap();
    let got = policy.classify(&security(None, None, None, Some("Low")));
    assert_eq!(got.tier, Tier::T0);
    assert_eq!(
        got.reasons[0],
        "operator emergency flag on CVE-2024-6387: 0-day intel"
    );
    // a flag on another CVE does not apply
    let other =
        PriorityPolicy::from_toml_str("[[emergency]]\ncve = \"CVE-2023-4911\"\nreason = \"x\"\n")
            .unwrap();
    assert_eq!(
        other
            .classify(&security(None, None, None, Some("Low")))
            .tier,
        Tier::T3
    );
}

#[test]
fn non_security_fixes() {
    let bugfix = Evidence {
        advisory: "ALBA-2024:0001".into(),
        kind: FixKind::Bugfix,
        ..Evidence::default()
    };
    check(bugfix.clone(), Tier::T3, &["bug fix"]);
    check(
        Evidence {
            critical_fix: Some("data corruption in ext4".into()),
            ..bugfix.clone()
        },
        Tier::T2,
        &["critical fix: data corruption in ext4", "bug fix"],
    );
    check(
        Evidence {
            distro_severity: Some("Critical".into()),
            ..bugfix.clone()
        },
        Tier::T2,
        &["advisory severity Critical marks a critical fix", "bug fix"],
    );
    let enhancement = Evidence {
        kind: FixKind::Enhancement,
        ..bugfix.clone()
    };
    check(enhancement.clone(), Tier::T4, &["feature enhancement only"]);
    let policy = PriorityPolicy::from_toml_str(
        "[[critical_fixes]]\nadvisory = \"ALBA-2024:0001\"\nreason = \"crash on boot\"\n",
    )
    .unwrap();
    let got = policy.classify(&enhancement);
    assert_eq!(got.tier, Tier::T2);
    assert_eq!(
        got.reasons,
        [
            "operator marked ALBA-2024:0001 critical: crash on boot",
            "feature enhancement only"
        ]
    );
    assert_eq!(got.deadline, Deadline::NextWindow);
    // a bug fix naming a CVE is a security fix
    let with_cve = Evidence {
        cves: vec!["CVE-2024-1".into()],
        cvss: vec![CvssScore {
            score: 9.1,
            version: CvssVersion::V4_0,
        }],
        ..bugfix
    };
    check(with_cve, Tier::T0, &["CVSS 9.1 (v4.0) ≥ 9.0"]);
}

#[test]
fn highest_scores_count_and_invalid_scores_are_ignored() {
    let mut evidence = security(None, None, None, None);
    evidence.cvss = vec![
        CvssScore {
            score: 7.5,
            version: CvssVersion::V3_1,
        },
        CvssScore {
            score: 9.3,
            version: CvssVersion::V2,
        },
        CvssScore {
            score: f64::NAN,
            version: CvssVersion::V4_0,
        },
        CvssScore {
            score: 11.0,
            version: CvssVersion::V4_0,
        },
    ];
    check(evidence, Tier::T0, &["CVSS 9.3 (v2.0) ≥ 9.0"]);
}

#[test]
fn deadlines_start_at_the_later_of_publication_and_first_sight() {
    let policy = PriorityPolicy::default();
    let mut evidence = security(Some(9.8), None, None, None);
    let got = policy.classify(&evidence);
    assert_eq!(got.deadline, Deadline::At(ts("2024-07-02T08:00:00Z")));
    assert!(!got.is_overdue(ts("2024-07-02T08:00:00Z")));
    assert!(got.is_overdue(ts("2024-07-02T08:00:01Z")));
    evidence.first_seen = Some(ts("2024-07-10T00:00:00Z"));
    assert_eq!(
        policy.classify(&evidence).deadline_at(),
        Some(ts("2024-07-11T00:00:00Z"))
    );
    evidence.first_seen = Some(ts("2024-06-01T00:00:00Z"));
    assert_eq!(
        policy.classify(&evidence).deadline_at(),
        Some(ts("2024-07-02T08:00:00Z"))
    );
    evidence.published = None;
    assert_eq!(
        policy.classify(&evidence).deadline_at(),
        Some(ts("2024-06-02T00:00:00Z"))
    );
    evidence.first_seen = None;
    let got = policy.classify(&evidence);
    assert_eq!(
        got.deadline,
        Deadline::Within(jiff::SignedDuration::from_hours(24))
    );
    assert!(!got.is_overdue(ts("2100-01-01T00:00:00Z")));
    let t1 = policy.classify(&security(Some(7.0), None, None, None));
    assert_eq!(t1.deadline_at(), Some(ts("2024-07-08T08:00:00Z")));
    let t3 = policy.classify(&security(Some(4.0), None, None, None));
    assert_eq!(t3.deadline_at(), Some(ts("2024-07-31T08:00:00Z")));
    let t4 = policy.classify(&Evidence {
        kind: FixKind::Enhancement,
        ..Evidence::default()
    });
    assert_eq!(
        (t4.deadline, t4.is_overdue(ts("2100-01-01T00:00:00Z"))),
        (Deadline::None, false)
    );
}

#[test]
fn group_overrides_change_thresholds_and_deadlines() {
    let policy = PriorityPolicy::from_toml_str(
        r#"
        [groups.payments.tiers.t0]
        deadline = "6h"
        cvss_min = 8.5
        [groups.payments.tiers.t1]
        deadline = "3d"
        "#,
    )
    .unwrap();
    let evidence = security(Some(8.6), None, None, None);
    assert_eq!(policy.classify(&evidence).tier, Tier::T1);
    let payments = policy.classify_for_group("payments", &evidence);
    assert_eq!(payments.tier, Tier::T0);
    assert_eq!(payments.reasons, ["CVSS 8.6 (v3.1) ≥ 8.5"]);
    assert_eq!(payments.deadline_at(), Some(ts("2024-07-01T14:00:00Z")));
    let unknown_group = policy.classify_for_group("nobody", &evidence);
    assert_eq!(unknown_group, policy.classify(&evidence));
}

#[test]
fn kev_can_be_demoted_to_context_by_policy() {
    let policy = PriorityPolicy::from_toml_str("[tiers.t0]\nkev = false\n").unwrap();
    let got = policy.classify(&security(Some(5.0), None, Some("2023-10-03"), None));
    assert_eq!(got.tier, Tier::T3);
    assert_eq!(
        got.reasons,
        [
            "CVSS 5.0 (v3.1) < 7.0",
            "CVE-2024-6387 is in CISA KEV since 2023-10-03"
        ]
    );
}
