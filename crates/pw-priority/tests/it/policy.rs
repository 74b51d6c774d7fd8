//! Policy TOML: defaults, a full example, and validation reporting every error with its path.

use jiff::SignedDuration;
use pw_priority::{PolicyErrors, PriorityPolicy, Tier, parse_duration};

fn errors(text: &str) -> Vec<String> {
    let e: PolicyErrors = PriorityPolicy::from_toml_str(text).unwrap_err();
    e.0.iter().map(ToString::to_string).collect()
}

#[test]
fn empty_policy_is_the_design_default() {
    let policy = PriorityPolicy::from_toml_str("").unwrap();
    assert_eq!(policy, PriorityPolicy::default());
    let rules = &policy.rules;
    assert_eq!(rules.t0.deadline, SignedDuration::from_hours(24));
    assert_eq!(rules.t1.deadline, SignedDuration::from_hours(7 * 24));
    assert_eq!(rules.t3.deadline, SignedDuration::from_hours(30 * 24));
    assert_eq!(
        (rules.t0.cvss_min, rules.t0.epss_min, rules.t0.epss_cvss_min),
        (9.0, 0.5, 7.0)
    );
    assert_eq!(
        (rules.t1.cvss_min, rules.t0.kev, rules.unknown_severity),
        (7.0, true, Tier::T3)
    );
    assert_eq!(policy.distro_severity["critical"], Tier::T0);
}

/// The example of docs/priority.md (its first toml block), with another section of the file.
fn example() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/priority.md");
    let doc = std::fs::read_to_string(path).unwrap();
    let start = doc.find("```toml\n").unwrap() + "```toml\n".len();
    let end = start + doc[start..].find("```").unwrap();
    format!(
        "{}\n[windows]\nother = \"sections belong to other parts\"\n",
        &doc[start..end]
    )
}

#[test]
fn full_example_as_a_section_of_a_larger_file() {
    let file: toml::Table = toml::from_str(&example()).unwrap();
    let policy = PriorityPolicy::from_toml_value(&file["priority"]).unwrap();
    assert_eq!(policy.distro_severity["critical"], Tier::T1);
    assert_eq!(policy.distro_severity["urgent"], Tier::T0);
    assert_eq!(policy.distro_severity["important"], Tier::T1);
    assert_eq!(policy.emergency[0].cve, "CVE-2024-3094");
    assert_eq!(policy.critical_fixes[0].advisory, "ALBA-2024:2203");
    let payments = policy.rules_for("payments");
    assert_eq!(payments.t0.deadline, SignedDuration::from_hours(6));
    assert_eq!(payments.t1.deadline, SignedDuration::from_hours(48));
    assert_eq!(payments.t1.cvss_min, 6.5);
    assert_eq!(payments.t3.deadline, SignedDuration::from_hours(30 * 24));
    assert_eq!(payments.unknown_severity, Tier::T1);
}

#[test]
fn every_error_is_reported_at_once_with_its_path() {
    let got = errors(
        r#"
        colour = "blue"
        unknown_severity = "T2"
        [tiers.t0]
        deadline = "-3h"
        cvss_min = 11
        epss_min = "high"
        kev = "yes"
        [tiers.t1]
        deadline = 7
        [tiers.t2]
        deadline = "2d"
        [tiers.t4]
        deadline = "90d"
        [distro_severity]
        Low = "T4"
        low = "T3"
        [[emergency]]
        cve = "CVE-24-1"
        reason = "x"
        [[emergency]]
        reason = ""
        [groups.db.tiers.t0]
        deadline = "30m"
        [groups.web]
        windows = "x"
        "#,
    );
    let expected = [
        "colour: unknown key; expected one of: tiers, unknown_severity, distro_severity, emergency, critical_fixes, groups",
        "unknown_severity: \"T2\" is not a security tier; expected \"T0\", \"T1\" or \"T3\"",
        "tiers.t4: unknown key; expected one of: t0, t1, t2, t3",
        "tiers.t0.deadline: \"-3h\" is not a positive duration like 24h or 2d",
        "tiers.t0.cvss_min: 11 is not a CVSS score from 0 to 10",
        "tiers.t0.epss_min: expected an EPSS probability from 0 to 1, found string \"high\"",
        "tiers.t0.kev: expected true or false, found string \"yes\"",
        "tiers.t1.deadline: expected a duration string like \"24h\" or \"7d\", found integer 7",
        "tiers.t2.deadline: T2 has no fixed deadline: it is planned into the next available window",
        "distro_severity.Low: \"T4\" is not a security tier; expected \"T0\", \"T1\" or \"T3\"",
        "distro_severity.low: the same word as distro_severity.Low (words are case-insensitive)",
        "emergency[0].cve: \"CVE-24-1\" is not a CVE id like CVE-2024-6387",
        "emergency[1].cve: missing; expected a CVE id like CVE-2024-6387",
        "emergency[1].reason: expected the reason, in plain words, found string \"\"",
        "groups.db.tiers.t0.deadline: \"30m\" is not a positive duration like 24h or 2d",
        "groups.web.windows: unknown key; expected one of: tiers, unknown_severity",
    ];
    assert_eq!(got, expected);
}

#[test]
fn deadline_order_and_threshold_constraints() {
    assert_eq!(
        errors("[tiers.t0]\ndeadline = \"8d\"\n[tiers.t3]\ndeadline = \"5d\"\n"),
        [
            "tiers.t0.deadline: 8d is longer than the T1 deadline 7d; a more urgent tier needs a shorter or equal deadline",
            "tiers.t1.deadline: 7d is longer than the T3 deadline 5d; a more urgent tier needs a shorter or equal deadline",
        ]
    );
    assert_eq!(
        errors("[groups.db.tiers.t1]\ndeadline = \"12h\"\ncvss_min = 9.5\n"),
        [
            "groups.db.tiers.t0.deadline: 1d is longer than the T1 deadline 12h; a more urgent tier needs a shorter or equal deadline",
            "groups.db.tiers.t1.cvss_min: 9.5 is above the T0 threshold 9.0; T1 must start at or below T0",
        ]
    );
    assert_eq!(
        errors("[tiers.t0]\ndeadline = \"0h\"\n[tiers.t3]\ndeadline = \"400d\"\n"),
        [
            "tiers.t0.deadline: \"0h\" is not a positive duration like 24h or 2d",
            "tiers.t3.deadline: \"400d\" is longer than 365d, the longest deadline",
        ]
    );
    // equal deadlines are allowed: T0 = T1 = T3 = 1h
    let same = "[tiers.t0]\ndeadline = \"1h\"\n[tiers.t1]\ndeadline = \"1h\"\n[tiers.t3]\ndeadline = \"1h\"\n";
    assert!(PriorityPolicy::from_toml_str(same).is_ok());
}

#[test]
fn syntax_errors_and_prefixes() {
    let e = PriorityPolicy::from_toml_str("[tiers.t0\n").unwrap_err();
    assert_eq!(e.0.len(), 1);
    assert!(e.to_string().starts_with("not valid TOML: "), "{e}");
    let value: toml::Value = toml::from_str::<toml::Table>("[priority]\nx = 1\n")
        .unwrap()
        .into();
    let e = PriorityPolicy::from_toml_value(&value["priority"])
        .unwrap_err()
        .with_prefix("priority");
    assert_eq!(
        e.to_string(),
        "priority.x: unknown key; expected one of: tiers, unknown_severity, distro_severity, emergency, critical_fixes, groups"
    );
    let e = PriorityPolicy::from_toml_value(&toml::Value::Integer(3)).unwrap_err();
    assert_eq!(e.to_string(), "expected a table, found integer 3");
}

#[test]
fn durations() {
    for (text, hours) in [
        ("24h", 24),
        ("7d", 168),
        ("2w", 336),
        ("1d12h", 36),
        (" 3h ", 3),
        ("60m", 1),
        // the grammar has no length limit of its own; the policy reader refuses more than 365d
        ("9999999d", 9_999_999 * 24),
    ] {
        assert_eq!(
            parse_duration(text),
            Some(SignedDuration::from_hours(hours)),
            "{text}"
        );
    }
    for bad in [
        "", "-3h", "+3h", "3", "h", "3x", "1.5d", "0d", "3 h", "30m", "90m", "1h1d", "1h1h",
    ] {
        assert_eq!(parse_duration(bad), None, "{bad}");
    }
}

#[test]
fn emergency_cve_ids_use_the_shared_syntax_in_any_case() {
    for (written, stored) in [
        ("cve-2024-6387", "CVE-2024-6387"),
        ("Cve-2024-6387", "CVE-2024-6387"),
        ("CVE-2024-12345678901", "CVE-2024-12345678901"),
    ] {
        let text = format!("[[emergency]]\ncve = \"{written}\"\nreason = \"x\"\n");
        let policy = PriorityPolicy::from_toml_str(&text).unwrap();
        assert_eq!(policy.emergency[0].cve, stored, "{written}");
    }
    assert_eq!(
        errors("[[emergency]]\ncve = \"cve-2024-638\"\nreason = \"x\"\n"),
        ["emergency[0].cve: \"cve-2024-638\" is not a CVE id like CVE-2024-6387"]
    );
}
