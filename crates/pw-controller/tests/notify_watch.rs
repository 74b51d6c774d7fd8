//! The periodic notification check (issue 12): deadlines near and past, silent agents —
//! emitted once each, time driven by the test's clock (no sleeping), delivered by the real
//! dispatcher to a real webhook receiver on 127.0.0.1 that checks the HMAC signature itself.
//! Real SQLite; findings recorded through pw-store as the scan records them.

mod common;

use common::{Harness, t};
use pw_controller::notify::{dispatch::dispatch_once, watch};
use pw_model::{Finding, Tier};
use pw_store::{ChannelSecret, CurrentFinding, FindingsSnapshot, NewAcceptedRisk};
use pw_testkit::webhook::{Receiver, signed};
use serde_json::Value;

const SECRET: &str = "whsec-watch-0123456789";

fn document(url: &str) -> String {
    format!(
        r#"
[notifications]
deadline_near = "48h"
agent_silent = "1h"

[groups.web]
environment = "test"
owners = ["web-team@example.com"]
windows = [{{ name = "nightly", rrule = "FREQ=DAILY;BYHOUR=1", dtstart = "2026-12-01T01:00:00", tz = "UTC", duration = "1h" }}]
[groups.web.members]
hostnames = ["web-*"]

[[channels]]
name = "ops-hook"
kind = "webhook"
url = "{url}"
language = "zh-CN"

[[routes]]
events = ["finding.deadline_near", "finding.overdue", "agent.silent"]
groups = ["web"]
channels = ["ops-hook"]
"#
    )
}

fn finding(binary: &str, advisory: &str, tier: Tier, deadline: &str) -> Finding {
    Finding {
        binary: binary.into(),
        installed: "1.0-1".into(),
        package: binary.into(),
        package_version: "1.0-1".into(),
        advisory: advisory.into(),
        aliases: vec![format!("CVE-2099-{}", &advisory[advisory.len() - 4..])],
        fixed: Some("1.0-2".into()),
        tier,
        deadline: Some(t(deadline)),
        reasons: Vec::new(),
        summary: format!("{binary} problem"),
        published: None,
        cvss: Some(7.5),
        epss: None,
        kev: false,
    }
}

async fn record(h: &Harness, host: &str, findings: &[Finding]) {
    let current: Vec<CurrentFinding> = findings
        .iter()
        .map(|f| CurrentFinding::of(f).unwrap())
        .collect();
    let now = h.controller.now();
    let snapshot = FindingsSnapshot {
        host_id: host,
        inventory_collected_at: now,
        computed_at: now,
        source: "test",
        findings_json: &serde_json::to_string(findings).unwrap(),
        tier_counts_json: "[0,0,0,0,0]",
        current: &current,
        backported: &[],
    };
    h.store().record_findings(&snapshot).await.unwrap();
}

async fn heartbeat(h: &Harness, host: &str) {
    let now = h.controller.now();
    h.store()
        .record_heartbeats(&[pw_store::HeartbeatRow {
            host_id: host.into(),
            at: now,
            agent_version: "test".into(),
            read_only: false,
            plan_changes: false,
        }])
        .await
        .unwrap();
}

/// A pass at `now`: (near, overdue, silent) events enqueued.
async fn pass_at(h: &Harness, now: &str) -> (usize, usize, usize) {
    h.set_now(now);
    let done = watch::pass(&h.controller).await.unwrap();
    (done.deadline_near, done.overdue, done.silent)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadlines_and_silent_agents_are_announced_once_each_to_a_real_receiver() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let h = Harness::start("2026-12-01T00:00:00Z").await;
    let received = Receiver::default();
    let url = received.start().await;
    let ids = h.enroll(&["web-1", "web-2"]).await;
    // Before a fleet document: no routes, nothing announced, nothing marked.
    assert_eq!(pass_at(&h, "2026-12-01T00:00:00Z").await, (0, 0, 0));
    h.apply_fleet(&document(&url)).await;
    let secret = ChannelSecret {
        secret: Some(SECRET.into()),
        token: None,
    };
    let now = h.controller.now();
    h.store()
        .set_channel_secret("ops-hook", &secret, "alice", now)
        .await
        .unwrap();
    for id in &ids {
        heartbeat(&h, id).await;
    }
    record(
        &h,
        &ids[0],
        &[
            finding("libssl3", "PW-2026-0001", Tier::T1, "2026-12-03T00:00:00Z"),
            finding("libssl3", "PW-2026-0002", Tier::T2, "2026-12-10T00:00:00Z"),
            finding("curl", "PW-2026-0003", Tier::T1, "2026-12-02T12:00:00Z"),
        ],
    )
    .await;
    // curl's advisory is accepted on web-1: never announced.
    let risk = NewAcceptedRisk {
        id: "risk-1",
        host_id: Some(&ids[0]),
        advisory: "CVE-2099-0003",
        package: None,
        reason: "no network listener",
        accepted_by: "alice",
        accepted_at: now,
        expires_at: t("2027-01-01T00:00:00Z"),
    };
    h.store().accept_risk(&risk).await.unwrap();

    // Within 48 h of libssl3's first deadline: near, once.
    assert_eq!(pass_at(&h, "2026-12-01T00:00:00Z").await, (1, 0, 0));
    h.set_now("2026-12-01T06:00:00Z");
    heartbeat(&h, &ids[0]).await;
    heartbeat(&h, &ids[1]).await;
    assert_eq!(pass_at(&h, "2026-12-01T06:00:00Z").await, (0, 0, 0));
    // One second past it: overdue; web-1's agent silent for over an hour (web-2 is alive).
    h.set_now("2026-12-03T00:00:01Z");
    heartbeat(&h, &ids[1]).await;
    assert_eq!(pass_at(&h, "2026-12-03T00:00:01Z").await, (0, 1, 1));
    h.set_now("2026-12-03T00:30:00Z");
    heartbeat(&h, &ids[1]).await;
    assert_eq!(pass_at(&h, "2026-12-03T00:30:00Z").await, (0, 0, 0));
    // The second libssl3 deadline comes near; web-2 falls silent; web-1 is still the same
    // silence.
    assert_eq!(pass_at(&h, "2026-12-08T12:00:00Z").await, (1, 0, 1));
    // web-1's agent comes back and falls silent again: a new silence, a new event.
    heartbeat(&h, &ids[0]).await;
    assert_eq!(pass_at(&h, "2026-12-08T13:00:00Z").await, (0, 0, 0));
    assert_eq!(pass_at(&h, "2026-12-08T14:00:01Z").await, (0, 0, 1));

    // The dispatcher delivers each once, signed, in the channel's language.
    let sent = dispatch_once(&h.controller).await.unwrap();
    assert_eq!(sent, 6);
    assert_eq!(dispatch_once(&h.controller).await.unwrap(), 0);
    let got = received.received();
    assert_eq!(got.len(), 6);
    let mut kinds: Vec<String> = Vec::new();
    for (headers, body) in &got {
        assert!(signed(SECRET, headers, body), "bad signature on {body:?}");
        let message: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(message["groups"], serde_json::json!(["web"]), "{message}");
        kinds.push(message["event"].as_str().unwrap().to_owned());
        let text = format!("{}\n{}", message["title"], message["text"]);
        match message["event"].as_str().unwrap() {
            "finding.deadline_near" => {
                assert!(text.contains("libssl3") && text.contains("修复"), "{text}")
            }
            "finding.overdue" => {
                assert!(text.contains("已逾期"), "{text}");
                assert!(
                    text.contains("CVE-2099-0001") && !text.contains("0003"),
                    "{text}"
                );
                assert_eq!(message["tier"], "T1");
            }
            "agent.silent" => assert!(text.contains("代理失联"), "{text}"),
            other => panic!("unexpected event {other}"),
        }
    }
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "agent.silent",
            "agent.silent",
            "agent.silent",
            "finding.deadline_near",
            "finding.deadline_near",
            "finding.overdue"
        ]
    );
    let keys: std::collections::BTreeSet<_> = got
        .iter()
        .map(|(h, _)| {
            h["x-patchwarden-idempotency-key"]
                .to_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(keys.len(), 6, "each message its own idempotency key");
}
