//! `[[channels]]` and `[[routes]]`: parsed into pw-notify's types, every problem located, no
//! secret accepted in the document.

use pw_model::Tier;
use pw_notify::{ChannelKind, EventKind, Language};

use crate::parse_fleet;

const GROUPS: &str = r#"
[groups.web]
environment = "production"
owners = ["web@example.com"]
windows = [{ name = "nightly", rrule = "FREQ=DAILY;BYHOUR=1", dtstart = "2026-11-01T01:00:00", tz = "Europe/Berlin", duration = "3h" }]

[groups.db]
environment = "production"
owners = ["dba@example.com"]
windows = [{ name = "nightly", rrule = "FREQ=DAILY;BYHOUR=1", dtstart = "2026-11-01T01:00:00", tz = "Europe/Berlin", duration = "3h" }]
"#;

fn problems(extra: &str) -> Vec<String> {
    match parse_fleet(&format!("{GROUPS}{extra}")) {
        Ok(_) => Vec::new(),
        Err(errors) => errors.0.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn channels_and_routes_parse() {
    let doc = parse_fleet(&format!(
        r#"{GROUPS}
[[channels]]
name = "ops-dingtalk"
kind = "dingtalk"
url = "https://oapi.dingtalk.com/robot/send?access_token={{token}}"
language = "zh-CN"

[[channels]]
name = "owners-mail"
kind = "email"
url = "smtp://mail.example.com:587"
from = "patchwarden@example.com"
to = ["owners", "noc@example.com"]

[[routes]]
events = ["finding.new", "plan.needs_approval"]
groups = ["web"]
tiers = ["T0", "T1"]
channels = ["ops-dingtalk", "owners-mail"]
"#
    ))
    .unwrap();
    assert_eq!(doc.channels.len(), 2);
    assert_eq!(doc.channels[0].kind, ChannelKind::Dingtalk);
    assert_eq!(doc.channels[0].language, Language::ZhCn);
    assert_eq!(doc.channels[1].to, ["owners", "noc@example.com"]);
    assert_eq!(doc.channels[1].language, Language::En);
    let route = &doc.routes[0];
    assert!(route.events.contains(&EventKind::NewFinding));
    assert_eq!(route.tiers, [Tier::T0, Tier::T1]);
    assert_eq!(route.groups, ["web"]);
    assert_eq!(doc.owners("db"), ["dba@example.com"]);
}

#[test]
fn every_channel_and_route_problem_is_located() {
    let found = problems(
        r#"
[[channels]]
name = "Ops Team"
kind = "pager"
url = "ftp://x"
secret = "s3cret"

[[channels]]
name = "hook"
kind = "webhook"
url = "https://user:pw@example.com/hook"
to = ["a@example.com"]

[[channels]]
name = "mail"
kind = "email"
url = "https://mail.example.com"

[[routes]]
events = ["plan.approve"]
groups = ["nope"]
tiers = ["T9"]
channels = ["missing"]

[[routes]]
channels = ["hook"]
"#,
    );
    let expected = [
        "channels[0].secret: secrets are not kept in the fleet document",
        "channels[0].name: \"Ops Team\" is not a channel name",
        "channels[0].kind: unknown channel kind \"pager\"",
        "channels[1].url: a password in the URL is a secret",
        "channels[1].to: only an email channel has recipients",
        "channels[2].url: \"https://mail.example.com\" is not a smtp:// URL",
        "channels[2].from: an email channel needs a sender address",
        "channels[2].to: an email channel needs recipients",
        "routes[0].events[0]: unknown event \"plan.approve\"",
        "routes[0].groups[0]: \"nope\" is not a group of this document",
        "routes[0].tiers[0]: \"T9\" is not a tier",
        "routes[0].channels[0]: \"missing\" is not a channel of this document",
        "routes[1].events: missing; a route names its events",
    ];
    for want in expected {
        assert!(
            found.iter().any(|p| p.starts_with(want)),
            "no problem starting with {want:?} in {found:#?}"
        );
    }
    assert_eq!(found.len(), expected.len(), "{found:#?}");
}

#[test]
fn duplicate_channel_names_and_a_second_token_are_refused() {
    let found = problems(
        r#"
[[channels]]
name = "a"
kind = "slack"
url = "https://hooks.slack.com/services/{token}/{token}"

[[channels]]
name = "b"
kind = "wecom"
url = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={token}"

[[channels]]
name = "b"
kind = "slack"
url = "https://hooks.slack.com/services/{token}"
"#,
    );
    assert_eq!(
        found,
        [
            "channels[0].url: \"https://hooks.slack.com/services/{token}/{token}\" has {token} more than once",
            "channels[2].name: \"b\" names two channels",
        ]
    );
}
