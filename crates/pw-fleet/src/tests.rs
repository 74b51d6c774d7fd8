//! Parsing, whole-document validation, resolution, emergency scope and diffs.

use std::collections::BTreeMap;

use jiff::Timestamp;
use pw_priority::{Evidence, Tier};

use crate::{ChangeKind, FleetDocument, HostFacts, Level, Resolution, diff, parse_fleet};

const WINDOW: &str = r#"windows = [{ name = "nightly", rrule = "FREQ=DAILY;BYHOUR=1", dtstart = "2026-11-01T01:00:00", tz = "Europe/Berlin", duration = "3h" }]"#;

fn example() -> String {
    format!(
        r#"
[priority.tiers.t0]
deadline = "12h"

[groups.web-staging]
environment = "staging"
owners = ["web-team@example.com"]
{WINDOW}
[groups.web-staging.members]
hostnames = ["stage-web-*"]

[groups.web-prod]
environment = "production"
staging_counterpart = "web-staging"
owners = ["web-team@example.com"]
{WINDOW}
[groups.web-prod.members]
hosts = ["lb1"]
hostnames = ["web-*"]
labels = {{ role = "web" }}

[groups.db]
environment = "production"
owners = ["dba@example.com"]
{WINDOW}
[groups.db.members]
hosts = ["db1"]
labels = {{ role = "db" }}

[[emergency]]
cve = "cve-2024-3094"
groups = ["web-prod"]
hosts = ["db1"]
reason = "xz backdoor"
expires = "2026-12-31T00:00:00Z"
"#
    )
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn resolve(doc: &FleetDocument, hostname: &str, pairs: &[(&str, &str)]) -> Resolution {
    let labels = labels(pairs);
    doc.resolve(HostFacts {
        hostname,
        labels: &labels,
    })
}

fn member(group: &str, level: Level) -> Resolution {
    Resolution::Member {
        group: group.into(),
        level,
    }
}

fn errors(text: &str) -> Vec<String> {
    parse_fleet(text)
        .unwrap_err()
        .0
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn the_example_parses_every_part() {
    let doc = parse_fleet(&example()).unwrap();
    assert_eq!(doc.policy.groups.len(), 3);
    assert_eq!(
        doc.policy.groups["web-prod"].staging_counterpart.as_deref(),
        Some("web-staging")
    );
    assert_eq!(doc.priority.rules.t0.deadline.as_hours(), 12);
    assert_eq!(doc.members["web-prod"].hosts, ["lb1"]);
    assert_eq!(doc.emergency[0].cve, "CVE-2024-3094");
    assert!(!doc.members.contains_key("missing"));
}

#[test]
fn resolution_goes_hosts_then_hostnames_then_labels() {
    let doc = parse_fleet(&example()).unwrap();
    assert_eq!(resolve(&doc, "lb1", &[]), member("web-prod", Level::Host));
    assert_eq!(resolve(&doc, "LB1", &[]), member("web-prod", Level::Host));
    assert_eq!(
        resolve(&doc, "web-7", &[]),
        member("web-prod", Level::Hostname)
    );
    // An explicit name beats a label selector of another group.
    assert_eq!(
        resolve(&doc, "db1", &[("role", "web")]),
        member("db", Level::Host)
    );
    // A hostname pattern beats labels of another group.
    assert_eq!(
        resolve(&doc, "stage-web-1", &[("role", "db")]),
        member("web-staging", Level::Hostname)
    );
    assert_eq!(
        resolve(&doc, "app9", &[("role", "db"), ("rack", "r1")]),
        member("db", Level::Labels)
    );
    assert_eq!(
        resolve(&doc, "app9", &[("role", "cache")]),
        Resolution::Ungrouped
    );
    assert_eq!(resolve(&doc, "app9", &[]), Resolution::Ungrouped);
}

#[test]
fn two_groups_at_the_same_level_are_a_conflict_and_the_host_is_in_neither() {
    let text = example().replace(
        r#"hostnames = ["stage-web-*"]"#,
        r#"hostnames = ["*web-*", "lb1"]"#,
    );
    let doc = parse_fleet(&text).unwrap();
    let conflict = resolve(&doc, "web-1", &[]);
    assert_eq!(
        conflict,
        Resolution::Conflict {
            level: Level::Hostname,
            groups: vec!["web-prod".into(), "web-staging".into()],
        }
    );
    assert_eq!(conflict.group(), None);
    // lb1 is explicit in web-prod and only a pattern in web-staging: no conflict.
    assert_eq!(resolve(&doc, "lb1", &[]), member("web-prod", Level::Host));
    let labelled = parse_fleet(&text.replace(r#"role = "db""#, r#"role = "web""#)).unwrap();
    assert_eq!(
        resolve(&labelled, "app1", &[("role", "web")]),
        Resolution::Conflict {
            level: Level::Labels,
            groups: vec!["db".into(), "web-prod".into()],
        }
    );
}

#[test]
fn every_problem_of_every_part_is_reported_with_its_path() {
    let text = format!(
        r#"
[priority.tiers.t0]
deadline = "30m"

[groups.web]
environment = "production"
owners = ["ops@example.com"]
windows = [{{ name = "bad", rrule = "FREQ=SOMETIMES", dtstart = "2026-11-01T01:00:00", tz = "Europe/Berlin", duration = "3h" }}]
[groups.web.rollout]
canary_pct = 3
[groups.web.members]
labels = {{ "Bad Key" = "web", role = "a b" }}
hostnames = ["web-*", "web!"]
hosts = ["db1", "DB1"]
colour = "red"

[groups.empty]
environment = "staging"
owners = ["ops@example.com"]
{WINDOW}
[groups.empty.members]

[[emergency]]
cve = "CVE-24-1"
groups = ["nope"]
reason = ""

[[emergency]]
cve = "CVE-2024-6387"
hosts = ["db1"]
reason = "regreSSHion"
expires = "next week"
"#
    );
    let found = errors(&text);
    let paths: Vec<&str> = found
        .iter()
        .map(|e| e.split(": ").next().unwrap())
        .collect();
    for expected in [
        "groups.web.rollout.canary_pct",
        "priority.tiers.t0.deadline",
        "groups.web.windows[0]",
        "groups.web.members.colour",
        "groups.web.members.labels.Bad Key",
        "groups.web.members.labels.role",
        "groups.web.members.hostnames[1]",
        "groups.web.members.hosts[1]",
        "groups.empty.members",
        "emergency[0].cve",
        "emergency[0].reason",
        "emergency[0].groups[0]",
        "emergency[0].expires",
        "emergency[1].expires",
    ] {
        assert!(
            paths.contains(&expected),
            "{expected} missing from {found:#?}"
        );
    }
    assert!(
        found.contains(
            &"emergency[0].groups[0]: \"nope\" is not a group of this document".to_owned()
        ),
        "{found:#?}"
    );
    assert!(
        found.contains(&"groups.web.members.hosts[1]: \"DB1\" is listed twice".to_owned()),
        "{found:#?}"
    );
}

#[test]
fn not_toml_is_one_problem_for_the_file() {
    let found = errors("[groups\n");
    assert_eq!(found.len(), 1);
    assert!(found[0].starts_with("(file): not valid TOML"), "{found:?}");
}

#[test]
fn a_flag_already_expired_cannot_be_applied_but_a_stored_one_still_reads() {
    let text = example();
    let later: Timestamp = "2027-01-01T00:00:00Z".parse().unwrap();
    let problems = FleetDocument::for_apply(&text, later).unwrap_err().0;
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].path, "emergency[0].expires");
    assert!(parse_fleet(&text).is_ok());
    let earlier: Timestamp = "2026-12-01T00:00:00Z".parse().unwrap();
    assert!(FleetDocument::for_apply(&text, earlier).is_ok());
}

#[test]
fn emergency_flags_cover_only_their_hosts_and_groups_until_they_expire() {
    let doc = parse_fleet(&example()).unwrap();
    let now: Timestamp = "2026-12-01T00:00:00Z".parse().unwrap();
    let after: Timestamp = "2026-12-31T00:00:00Z".parse().unwrap();
    let none = BTreeMap::new();
    let host = |hostname| HostFacts {
        hostname,
        labels: &none,
    };
    assert_eq!(doc.emergency_flags(host("web-3"), now).len(), 1, "by group");
    assert_eq!(doc.emergency_flags(host("db1"), now).len(), 1, "by host");
    assert!(doc.emergency_flags(host("stage-web-1"), now).is_empty());
    assert!(
        doc.emergency_flags(host("db1"), after).is_empty(),
        "expired"
    );

    let evidence = Evidence {
        advisory: "DSA-5000-1".into(),
        cves: vec!["CVE-2024-3094".into()],
        ..Evidence::default()
    };
    let (covered, group) = doc.priority_for(host("web-3"), now);
    assert_eq!(group.as_deref(), Some("web-prod"));
    let ranked = covered.classify_for_group("web-prod", &evidence);
    assert_eq!(ranked.tier, Tier::T0);
    assert!(
        ranked.reasons[0].contains("xz backdoor"),
        "{:?}",
        ranked.reasons
    );
    let (other, _) = doc.priority_for(host("stage-web-1"), now);
    assert_ne!(other.classify(&evidence).tier, Tier::T0);
}

#[test]
fn the_diff_lists_changed_added_and_removed_paths() {
    let old = parse_fleet(&example()).unwrap();
    let text = example()
        .replace(r#"deadline = "12h""#, r#"deadline = "6h""#)
        .replace(
            "[groups.db.members]",
            "[groups.db.rollout]\nmax_in_flight = 2\n[groups.db.members]",
        )
        .replace(r#"hosts = ["lb1"]"#, "");
    let new = parse_fleet(&text).unwrap();
    let changes = diff(Some(&old.table), &new.table);
    let shown: Vec<String> = changes.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "+ groups.db.rollout = { max_in_flight = 2 }",
            "- groups.web-prod.members.hosts (was [\"lb1\"])",
            "~ priority.tiers.t0.deadline: \"12h\" → \"6h\"",
        ]
    );
    assert_eq!(changes[0].kind, ChangeKind::Added);
    assert!(diff(Some(&new.table), &new.table).is_empty());
    // A first apply lists each group (and each other top-level entry) on its own line.
    let first = diff(None, &new.table);
    assert!(first.iter().all(|c| c.kind == ChangeKind::Added));
    let paths: Vec<&str> = first.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "emergency",
            "groups.db",
            "groups.web-prod",
            "groups.web-staging",
            "priority.tiers"
        ]
    );
    let gone = diff(Some(&new.table), &toml::Table::new());
    assert_eq!(gone.len(), first.len());
    assert!(gone.iter().all(|c| c.kind == ChangeKind::Removed));
}

#[test]
fn the_example_of_the_docs_is_valid_and_resolves_as_documented() {
    let docs = include_str!("../../../docs/fleet.md");
    let start = docs
        .find("```toml\n")
        .expect("docs/fleet.md has a TOML example")
        + 8;
    let text = &docs[start..start + docs[start..].find("```").unwrap()];
    let doc = parse_fleet(text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(doc.policy.groups.len(), 3);
    assert_eq!(
        resolve(&doc, "lb1", &[("role", "db"), ("env", "prod")]),
        member("web-prod", Level::Host)
    );
    assert_eq!(
        resolve(&doc, "stage-web-1", &[("role", "web")]),
        member("web-staging", Level::Hostname)
    );
    assert_eq!(
        resolve(&doc, "pg-3", &[("role", "db"), ("env", "prod")]),
        member("db", Level::Labels)
    );
}
