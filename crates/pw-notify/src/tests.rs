//! Unit tests: signatures against published vectors (GitHub's webhook example for the generic
//! HMAC, vectors computed with Python's hmac/base64/urllib for DingTalk and Feishu), request
//! shapes per vendor, the vendors' error answers, rendering and routing.

use std::collections::BTreeSet;

use jiff::Timestamp;
use pw_model::Tier;

use crate::*;

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn plan_event() -> Event {
    Event {
        id: "plan:p-1:needs_approval".into(),
        at: at("2026-12-04T10:00:00Z"),
        groups: vec!["web-prod".into()],
        tier: None,
        detail: Detail::PlanNeedsApproval {
            plan_id: "p-1".into(),
            title: "openssl for web".into(),
            author: "alice".into(),
        },
    }
}

fn finding_event(tier: Tier) -> Event {
    Event {
        id: "finding:h1:openssl:new".into(),
        at: at("2026-12-04T10:00:00Z"),
        groups: vec!["db".into()],
        tier: Some(tier),
        detail: Detail::NewFinding {
            host: "db1".into(),
            package: "openssl".into(),
            to_version: Some("3.0.15-1~deb12u1".into()),
            advisories: vec!["CVE-2024-5535".into()],
            deadline: Some(at("2026-12-05T10:00:00Z")),
        },
    }
}

#[test]
fn webhook_signature_matches_githubs_published_example() {
    // docs.github.com "Validating webhook deliveries": secret and payload → this digest.
    assert_eq!(
        webhook_signature("It's a Secret to Everybody", b"Hello, World!"),
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    );
}

#[test]
fn dingtalk_and_feishu_signatures_match_reference_vectors() {
    assert_eq!(
        dingtalk_sign(1_700_000_000_000, "secret"),
        "OuzzJR5+xZ4/EYwqtNt6sMYZQMTa/HEGvc9miJe7XzY="
    );
    assert_eq!(
        feishu_sign(1_599_360_473, "test-secret"),
        "wSds2BzzFIIGf/WrhUO+NI1q/9j+FRJd3JNHKAq0NZY="
    );
}

fn delivery<'a>(event: &'a Event, message: &'a Message, secret: Option<&'a str>) -> Delivery<'a> {
    Delivery {
        key: "plan:p-1:needs_approval/ops",
        event,
        message,
        secret,
    }
}

#[test]
fn webhook_request_is_signed_json_with_the_key() {
    let event = plan_event();
    let message = render(&event, Language::En, "https://pw.example.com/");
    let request = build_request(
        ChannelKind::Webhook,
        "http://127.0.0.1:9/hook",
        &delivery(&event, &message, Some("s3cret")),
        event.at,
    )
    .unwrap();
    assert_eq!(request.url, "http://127.0.0.1:9/hook");
    assert_eq!(
        request.header(SIGNATURE_HEADER),
        Some(webhook_signature("s3cret", &request.body).as_str())
    );
    assert_eq!(
        request.header(IDEMPOTENCY_HEADER),
        Some("plan:p-1:needs_approval/ops")
    );
    let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(body["event"], "plan.needs_approval");
    assert_eq!(body["link"], "https://pw.example.com/plans/p-1");
    assert_eq!(body["groups"], serde_json::json!(["web-prod"]));
    assert_eq!(body["detail"]["author"], "alice");
    let unsigned = build_request(
        ChannelKind::Webhook,
        "http://127.0.0.1:9/hook",
        &delivery(&event, &message, None),
        event.at,
    )
    .unwrap();
    assert_eq!(unsigned.header(SIGNATURE_HEADER), None);
}

#[test]
fn dingtalk_request_carries_timestamp_and_encoded_sign_in_the_query() {
    let event = plan_event();
    let message = render(&event, Language::ZhCn, "https://pw.example.com");
    let now = Timestamp::from_millisecond(1_700_000_000_000).unwrap();
    let request = build_request(
        ChannelKind::Dingtalk,
        "https://oapi.dingtalk.com/robot/send?access_token=abc",
        &delivery(&event, &message, Some("secret")),
        now,
    )
    .unwrap();
    assert_eq!(
        request.url,
        "https://oapi.dingtalk.com/robot/send?access_token=abc&timestamp=1700000000000\
         &sign=OuzzJR5%2BxZ4%2FEYwqtNt6sMYZQMTa%2FHEGvc9miJe7XzY%3D"
    );
    let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(body["msgtype"], "markdown");
    assert_eq!(body["markdown"]["title"], "变更计划待审批：openssl for web");
    assert!(
        body["markdown"]["text"]
            .as_str()
            .unwrap()
            .contains("(https://pw.example.com/plans/p-1)")
    );
}

#[test]
fn feishu_request_carries_timestamp_seconds_and_sign_in_the_body() {
    let event = plan_event();
    let message = render(&event, Language::En, "https://pw.example.com");
    let now = Timestamp::from_second(1_599_360_473).unwrap();
    let request = build_request(
        ChannelKind::Feishu,
        "https://open.feishu.cn/open-apis/bot/v2/hook/x",
        &delivery(&event, &message, Some("test-secret")),
        now,
    )
    .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(body["timestamp"], "1599360473");
    assert_eq!(body["sign"], "wSds2BzzFIIGf/WrhUO+NI1q/9j+FRJd3JNHKAq0NZY=");
    assert_eq!(body["msg_type"], "text");
    assert!(
        body["content"]["text"]
            .as_str()
            .unwrap()
            .starts_with("Plan needs approval: openssl for web\n")
    );
    assert_eq!(
        request.url,
        "https://open.feishu.cn/open-apis/bot/v2/hook/x"
    );
}

#[test]
fn wecom_and_slack_bodies() {
    let event = plan_event();
    let message = render(&event, Language::En, "https://pw.example.com");
    let wecom = build_request(
        ChannelKind::Wecom,
        "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k",
        &delivery(&event, &message, None),
        event.at,
    )
    .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&wecom.body).unwrap();
    assert_eq!(body["msgtype"], "markdown");
    assert!(
        body["markdown"]["content"]
            .as_str()
            .unwrap()
            .starts_with("### Plan needs approval")
    );
    let slack = build_request(
        ChannelKind::Slack,
        "https://hooks.slack.com/services/T/B/X",
        &delivery(&event, &message, None),
        event.at,
    )
    .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&slack.body).unwrap();
    assert_eq!(
        body["text"],
        "*Plan needs approval: openssl for web*\nPlan p-1, submitted by alice\nGroups: web-prod\n\
         <https://pw.example.com/plans/p-1|Open in patchwarden>"
    );
}

#[test]
fn bad_urls_and_email_are_refused() {
    let event = plan_event();
    let message = render(&event, Language::En, "https://pw.example.com");
    let d = delivery(&event, &message, None);
    for url in ["ftp://x/y", "not a url", "file:///etc/passwd"] {
        assert!(matches!(
            build_request(ChannelKind::Webhook, url, &d, event.at),
            Err(VendorError::BadUrl { .. })
        ));
    }
    assert_eq!(
        build_request(ChannelKind::Email, "http://x", &d, event.at),
        Err(VendorError::NotHttp)
    );
}

#[test]
fn vendor_error_answers_are_failures() {
    use ChannelKind::*;
    assert!(check_response(Dingtalk, 200, r#"{"errcode":0,"errmsg":"ok"}"#).is_ok());
    let refused = check_response(
        Dingtalk,
        200,
        r#"{"errcode":310000,"errmsg":"sign not match"}"#,
    )
    .unwrap_err();
    assert_eq!(refused.status, 200);
    assert!(refused.body.contains("sign not match"));
    assert!(
        check_response(
            Wecom,
            200,
            r#"{"errcode":93000,"errmsg":"invalid webhook url"}"#
        )
        .is_err()
    );
    assert!(check_response(Feishu, 200, r#"{"code":0,"msg":"success","data":{}}"#).is_ok());
    assert!(check_response(Feishu, 200, r#"{"StatusCode":0,"StatusMessage":"success"}"#).is_ok());
    assert!(check_response(Feishu, 200, r#"{"code":19021,"msg":"sign match fail"}"#).is_err());
    assert!(check_response(Feishu, 200, "not json").is_err());
    assert!(check_response(Slack, 200, "ok").is_ok());
    let slack = check_response(Slack, 400, "invalid_payload").unwrap_err();
    assert_eq!(
        slack.to_string(),
        "the receiver answered HTTP 400: invalid_payload"
    );
    assert!(check_response(Webhook, 204, "").is_ok());
    assert!(check_response(Webhook, 500, "boom").is_err());
}

#[test]
fn every_event_renders_in_both_languages_with_a_link() {
    let events = [plan_event(), finding_event(Tier::T0)];
    for event in &events {
        let en = render(event, Language::En, "http://c");
        let zh = render(event, Language::ZhCn, "http://c");
        assert!(en.link.starts_with("http://c/"));
        assert_eq!(en.link, zh.link);
        assert_ne!(en.title, zh.title);
        assert!(zh.plain_text().contains("在 patchwarden 中查看"));
    }
    let finding = render(&events[1], Language::En, "http://c");
    assert_eq!(finding.title, "New T0 finding: openssl on db1");
    assert!(
        finding
            .lines
            .contains(&"Deadline: 2026-12-05 10:00 UTC".to_owned())
    );
    assert_eq!(finding.link, "http://c/findings?host=db1");
}

#[test]
fn event_names_round_trip() {
    for kind in EventKind::ALL {
        assert_eq!(kind.as_str().parse::<EventKind>(), Ok(kind));
        assert_eq!(
            serde_json::to_value(kind).unwrap(),
            serde_json::Value::from(kind.as_str())
        );
    }
    assert!(
        "plan.approve"
            .parse::<EventKind>()
            .unwrap_err()
            .contains("plan.approved")
    );
}

#[test]
fn routes_filter_by_event_group_and_tier() {
    let channel = |name: &str| Channel {
        name: name.into(),
        kind: ChannelKind::Webhook,
        url: "http://x".into(),
        language: Language::En,
        to: vec![],
        from: None,
    };
    let channels = [channel("ops"), channel("dba"), channel("all")];
    let routes = [
        Route {
            events: BTreeSet::from([EventKind::NewFinding]),
            groups: vec!["db".into()],
            tiers: vec![Tier::T0],
            channels: vec!["dba".into()],
        },
        Route {
            events: BTreeSet::from([EventKind::NewFinding, EventKind::PlanNeedsApproval]),
            groups: vec![],
            tiers: vec![],
            channels: vec!["all".into(), "ops".into()],
        },
    ];
    let names = |event: &Event| -> Vec<String> {
        channels_for(&channels, &routes, event)
            .into_iter()
            .map(|c| c.name.clone())
            .collect()
    };
    assert_eq!(names(&finding_event(Tier::T0)), ["ops", "dba", "all"]);
    assert_eq!(names(&finding_event(Tier::T1)), ["ops", "all"]);
    assert_eq!(names(&plan_event()), ["ops", "all"]);
    let mut other = finding_event(Tier::T0);
    other.groups.clear();
    assert_eq!(names(&other), ["ops", "all"]);
}
