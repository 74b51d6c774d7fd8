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

#[test]
fn protection_providers_become_agent_steps_pause_first() {
    let body = r#"environment = "production"
rpo = "1h"
protection = ["backup", "pause-writes", "snapshot"]
[[groups.db.providers.backup]]
kind = "postgres"
database = "app"
dir = "/var/backups/pw"
retention = "3d"
timeout = "30m"
[[groups.db.providers.backup]]
kind = "files"
paths = ["/etc/app", "/srv/app/data"]
dir = "/var/backups/pw-files"
[[groups.db.providers.pause-writes]]
pause = ["/usr/local/sbin/app-ctl", "pause"]
resume = ["/usr/local/sbin/app-ctl", "resume"]
[[groups.db.providers.snapshot]]
kind = "qemu"
image = "/var/lib/vm/db.qcow2"
"#;
    let policy = parse_policy(&group("db", body)).unwrap();
    let steps: Vec<(&str, &str, u64)> = policy.groups["db"]
        .providers
        .iter()
        .map(|p| {
            let provider = p.step.provider.as_ref().unwrap();
            (
                p.step.name.as_str(),
                provider.kind(),
                p.step.timeout_seconds,
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            ("pause-writes", "pause_writes", 600),
            ("snapshot", "qemu_snapshot", 600),
            ("backup", "postgres_backup", 1800),
            ("backup-2", "files_backup", 600),
        ]
    );
    let Some(pw_protocol::ProtectionProvider::PostgresBackup {
        os_user,
        retention_seconds,
        ..
    }) = &policy.groups["db"].providers[2].step.provider
    else {
        panic!("{:?}", policy.groups["db"].providers);
    };
    assert_eq!(
        (os_user.as_str(), *retention_seconds),
        ("postgres", 3 * 86_400)
    );
    let snapshot = &policy.groups["db"].providers[1].step.provider;
    assert!(
        matches!(snapshot, Some(pw_protocol::ProtectionProvider::QemuSnapshot { retention_seconds, .. }) if *retention_seconds == DEFAULT_RETENTION_SECS)
    );
}

#[test]
fn bad_providers_are_refused_with_their_key_paths() {
    let body = r#"environment = "staging"
protection = ["backup"]
[[groups.db.providers.backup]]
kind = "postgres"
database = "app; drop table x"
dir = "backups"
[[groups.db.providers.backup]]
kind = "tape"
[[groups.db.providers.backup]]
kind = "files"
paths = ["/etc"]
dir = "/b"
image = "/x.qcow2"
timeout = "2d"
[[groups.db.providers.snapshot]]
kind = "qemu"
image = "/x.qcow2"
[[groups.db.providers.pause-writes]]
pause = ["x"]
"#;
    let text = group("db", body);
    check_error(
        &text,
        "groups.db.providers.backup[0].database",
        "\"app; drop table x\"",
        "letters, digits",
    );
    check_error(
        &text,
        "groups.db.providers.backup[1].kind",
        "\"tape\"",
        "\"files\" or \"postgres\"",
    );
    check_error(
        &text,
        "groups.db.providers.backup[2].image",
        "set",
        "not used by a files_backup",
    );
    check_error(
        &text,
        "groups.db.providers.backup[2].timeout",
        "172800 s",
        "at most 24h",
    );
    check_error(
        &text,
        "groups.db.providers.snapshot",
        "\"snapshot\"",
        "does not name",
    );
    check_error(
        &text,
        "groups.db.providers.pause-writes[0].resume",
        "nothing",
        "argv is empty",
    );
    let text = group(
        "db",
        "environment = \"staging\"\n[[groups.db.providers.tape]]\nkind = \"x\"\n",
    );
    check_error(
        &text,
        "groups.db.providers.tape",
        "\"tape\"",
        "unknown protection",
    );
}
