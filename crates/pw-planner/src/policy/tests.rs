//! Policy parsing: defaults, overrides, and every error reported at once with its key path.

use super::*;

const WINDOW: &str = r#"{ name = "night", rrule = "FREQ=DAILY;BYHOUR=1", dtstart = "2026-01-01T01:00:00", tz = "UTC", duration = "4h" }"#;

fn group(name: &str, body: &str) -> String {
    format!("[groups.{name}]\nowners = [\"ops@example.com\"]\nwindows = [{WINDOW}]\n{body}\n")
}

fn errors(text: &str) -> Vec<PolicyError> {
    parse_policy(text).expect_err("policy should be refused").0
}

fn check_error(text: &str, path: &str, value: &str, reason: &str) {
    let all = errors(text);
    assert!(
        all.iter()
            .any(|e| e.path == path && e.value == value && e.reason.contains(reason)),
        "wanted {path} = {value}: {reason}\ngot {all:#?}"
    );
}

#[test]
fn minimal_group_gets_every_default() {
    let policy = parse_policy(&group("web", "environment = \"staging\"")).unwrap();
    let web = &policy.groups["web"];
    assert_eq!(web.rollout, RolloutPolicy::default());
    assert_eq!(web.rollout.canary_percent, 5.0);
    assert_eq!(web.rollout.max_in_flight, Amount::Percent(10.0));
    assert_eq!(web.rollout.canary_max_failures, Amount::Count(0));
    assert_eq!(web.rollout.rollback_buffer_percent, 30.0);
    assert_eq!(web.windows.len(), 1);
    assert_eq!(policy.estimates, Estimates::default());
    assert_eq!(policy.protection_required_below_rpo_seconds, 86_400);
}

#[test]
fn group_rollout_overrides_top_level_which_overrides_defaults() {
    let text = format!(
        "[priority]\nanything = 1\n[rollout]\nmax_in_flight = \"3\"\nverification = \"10m\"\nanti_affinity = [\"rack\"]\n{}{}",
        group(
            "a",
            "environment = \"production\"\nrto = \"30m\"\nrpo = \"4h\"\nprotection = [\"snapshot\"]\n[groups.a.rollout]\nmax_in_flight = \"25%\"\nrollback_buffer_percent = 40\ncanary_percent = \"10%\"\nmax_failures = 2\n"
        ),
        group("b", "environment = \"staging\""),
    );
    let policy = parse_policy(&text).unwrap();
    let a = &policy.groups["a"];
    assert_eq!(a.rollout.max_in_flight, Amount::Percent(25.0));
    assert_eq!(a.rollout.verification_seconds, 600);
    assert_eq!(a.rollout.anti_affinity, ["rack"]);
    assert_eq!(a.rollout.rollback_buffer_percent, 40.0);
    assert_eq!(a.rollout.canary_percent, 10.0);
    assert_eq!(a.rollout.max_failures, Amount::Count(2));
    assert_eq!((a.rto_seconds, a.rpo_seconds), (Some(1_800), Some(14_400)));
    assert_eq!(a.protection, [Protection::Snapshot]);
    assert!(a.is_production());
    let b = &policy.groups["b"];
    assert_eq!(b.rollout.max_in_flight, Amount::Count(3));
}

#[test]
fn rollback_buffer_below_thirty_percent_is_refused_precisely() {
    let text = group(
        "web",
        "environment = \"staging\"\n[groups.web.rollout]\nrollback_buffer_percent = 20\n",
    );
    check_error(
        &text,
        "groups.web.rollout.rollback_buffer_percent",
        "20",
        "at least 30%",
    );
    check_error(
        "[rollout]\nrollback_buffer_percent = \"29.5%\"\n",
        "rollout.rollback_buffer_percent",
        "\"29.5%\"",
        "can only be raised",
    );
    check_error(
        &group(
            "w",
            "environment = \"x\"\n[groups.w.rollout]\nrollback_buffer_percent = 95\n",
        ),
        "groups.w.rollout.rollback_buffer_percent",
        "95",
        "at most 90%",
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let text = format!(
        "colour = 1\n[rollout]\nmax_in_flight = \"0\"\ncanary_percent = 0\nverification = \"15\"\n[health_checks.web]\nkind = \"ping\"\n{}{}{}",
        group(
            "a",
            "staging_counterpart = \"nope\"\nprotection = [\"tape\"]\nhealth_checks = [\"web\", \"db\"]\nrto = \"0s\""
        ),
        "[groups.b]\nenvironment = \"production\"\nowners = []\nwindows = []\nrpo = \"1y\"\n",
        "[groups.c]\nenvironment = \"production\"\nowners = [\"x\"]\nwindows = [1]\nstaging_counterpart = \"b\"\n[groups.c.rollout]\nmax_in_flight = 2.5\ncanary_pct = 3\n",
    );
    let all = errors(&text);
    let paths: Vec<&str> = all.iter().map(|e| e.path.as_str()).collect();
    for expected in [
        "colour",
        "rollout.max_in_flight",
        "rollout.canary_percent",
        "rollout.verification",
        "health_checks.web.kind",
        "health_checks.web.target",
        "groups.a.environment",
        "groups.a.staging_counterpart",
        "groups.a.rto",
        "groups.a.protection[0]",
        "groups.a.health_checks[1]",
        "groups.b.owners",
        "groups.b.windows",
        "groups.b.rpo",
    ] {
        assert!(
            paths.contains(&expected),
            "missing {expected} in {paths:#?}"
        );
    }
    // Unknown keys inside a group are found with their path even though serde stops there.
    assert!(
        all.iter()
            .any(|e| e.path.starts_with("groups.c") && e.reason.contains("canary_pct")),
        "{all:#?}"
    );
    let shown = PolicyErrors(all).to_string();
    assert!(shown.starts_with("the policy has "), "{shown}");
    assert!(
        shown.contains("\n  - groups.b.rpo: unknown unit 'y'"),
        "{shown}"
    );
}

#[test]
fn counterpart_must_not_be_production_and_groups_are_required() {
    let text = format!(
        "{}{}",
        group(
            "p",
            "environment = \"production\"\nstaging_counterpart = \"q\""
        ),
        group("q", "environment = \"production\""),
    );
    check_error(
        &text,
        "groups.p.staging_counterpart",
        "\"q\"",
        "itself a production group",
    );
    check_error(
        &group(
            "p",
            "environment = \"production\"\nstaging_counterpart = \"p\"",
        ),
        "groups.p.staging_counterpart",
        "\"p\"",
        "its own",
    );
    check_error("", "groups", "nothing", "at least one");
    check_error(
        "[groups]\n\"bad name\" = {}\n",
        "groups.bad name",
        "\"bad name\"",
        "letters, digits",
    );
}

#[test]
fn amounts_and_estimates() {
    let text = format!(
        "[estimates]\napply = \"2m\"\nreboot = \"7m\"\n[estimates.packages.linux-image-amd64]\napply = \"10m\"\nreboot = true\n[estimates.packages.\"-x\"]\napply = \"1m\"\n{}",
        group(
            "w",
            "environment = \"staging\"\n[groups.w.rollout]\nmax_failures = \"10%\"\ncanary_max_failures = \"0\"\nmax_in_flight = \"150%\""
        ),
    );
    let all = errors(&text);
    assert!(
        all.iter().any(|e| e.path == "estimates.packages.-x"),
        "{all:#?}"
    );
    assert!(
        all.iter()
            .any(|e| e.path == "groups.w.rollout.max_in_flight" && e.value == "\"150%\""),
        "{all:#?}"
    );
    let ok = text
        .replace("[estimates.packages.\"-x\"]\napply = \"1m\"\n", "")
        .replace("\"150%\"", "\"50%\"");
    let policy = parse_policy(&ok).unwrap();
    assert_eq!(policy.estimates.apply_seconds, 120);
    assert_eq!(policy.estimates.reboot_seconds, 420);
    let kernel = &policy.estimates.packages["linux-image-amd64"];
    assert_eq!(
        (kernel.apply_seconds, kernel.reboot),
        (Some(600), Some(true))
    );
    assert_eq!(
        policy.groups["w"].rollout.max_failures,
        Amount::Percent(10.0)
    );
    assert_eq!(Amount::Percent(10.0).of(19), 1);
    assert_eq!(Amount::Percent(10.0).of(5), 0);
    assert_eq!(Amount::Percent(10.0).at_least_one_of(5), 1);
    assert_eq!(Amount::Percent(33.0).of(100), 33);
    assert_eq!(Amount::Count(4).of(2), 4);
}

#[test]
fn syntax_errors_are_reported_with_their_position() {
    let all = errors("[groups.web\nenvironment = 1\n");
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].path, "(file)");
    assert!(all[0].reason.contains("line 1"), "{}", all[0].reason);
}

#[test]
fn notification_thresholds_default_and_are_positive_durations() {
    let plain = parse_policy(&group("web", "environment = \"staging\"")).unwrap();
    assert_eq!(plain.deadline_near_seconds, 24 * 3_600);
    assert_eq!(plain.agent_silent_seconds, 30 * 60);
    let set = format!(
        "[notifications]\ndeadline_near = \"2d\"\nagent_silent = \"10m\"\n{}",
        group("web", "environment = \"staging\"")
    );
    let set = parse_policy(&set).unwrap();
    assert_eq!(set.deadline_near_seconds, 2 * 86_400);
    assert_eq!(set.agent_silent_seconds, 600);
    let zero = format!(
        "[notifications]\nagent_silent = \"0s\"\ndeadline_near = \"soon\"\n{}",
        group("web", "environment = \"staging\"")
    );
    check_error(
        &zero,
        "notifications.agent_silent",
        "\"0s\"",
        "longer than 0s",
    );
    check_error(&zero, "notifications.deadline_near", "\"soon\"", "");
}
