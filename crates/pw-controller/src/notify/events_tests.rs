//! The events a scheduler pass emits, from before/after host states, and the new-finding
//! events of a computation.

use std::collections::BTreeMap;

use jiff::Timestamp;
use pw_model::{Finding, Tier};
use pw_notify::{Detail, EventKind};
use pw_rollout::plan::{BatchKind, BatchSpec, FailurePolicy, HostSpec, Mode, RolloutPlan};
use pw_rollout::{HostId, HostState, RolloutId, RolloutStatus, StopReason};
use serde_json::json;

use super::{RolloutNotes, new_findings};

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn state(value: serde_json::Value) -> HostState {
    serde_json::from_value(value).unwrap()
}

fn pending() -> HostState {
    state(json!({"state": "pending", "attempt": 1}))
}

fn done() -> HostState {
    state(
        json!({"state": "done", "targets": [], "recorded": [], "at": "2026-12-04T10:00:00Z", "passed": {}}),
    )
}

fn rolled_back() -> HostState {
    state(
        json!({"state": "rolled_back", "targets": [], "recorded": [],
        "cause": {"kind": "health_check_failed", "check": "web", "detail": "HTTP 503"},
        "at": "2026-12-04T10:05:00Z"}),
    )
}

fn batch(kind: BatchKind, hosts: &[&str]) -> BatchSpec {
    BatchSpec {
        group: "web".into(),
        kind,
        hosts: hosts
            .iter()
            .map(|h| HostSpec {
                id: HostId((*h).into()),
                targets: Vec::new(),
            })
            .collect(),
        not_before: None,
        not_after: None,
        drill: false,
    }
}

fn states(pairs: &[(&str, HostState)]) -> BTreeMap<HostId, HostState> {
    pairs
        .iter()
        .map(|(h, s)| (HostId((*h).into()), s.clone()))
        .collect()
}

fn kinds(events: &[pw_notify::Event]) -> Vec<&'static str> {
    events.iter().map(|e| e.kind().as_str()).collect()
}

#[test]
fn a_pass_reports_start_canary_rollback_and_finish_once() {
    let plan = RolloutPlan {
        id: RolloutId("r1".into()),
        batches: vec![
            batch(BatchKind::Canary, &["c1"]),
            batch(BatchKind::Wave, &["w1", "w2"]),
        ],
        budgets: BTreeMap::new(),
        failure: FailurePolicy {
            canary_max_failures: 0,
            max_failures: 1,
            continue_after_failed_batch: false,
        },
        mode: Mode::default(),
    };
    let groups: std::sync::Arc<BTreeMap<HostId, String>> = std::sync::Arc::new(
        ["c1", "w1", "w2"]
            .iter()
            .map(|h| (HostId((*h).into()), "web".to_owned()))
            .collect(),
    );
    let now = at("2026-12-04T10:10:00Z");
    let before = states(&[("c1", pending()), ("w1", pending()), ("w2", pending())]);
    let after = states(&[("c1", done()), ("w1", pending()), ("w2", pending())]);
    let notes = RolloutNotes::new("r1", &before, groups.clone());
    let events = notes.events(&plan, &after, "running", &RolloutStatus::Running, now);
    assert_eq!(kinds(&events), ["rollout.started", "rollout.canary_passed"]);
    assert_eq!(events[0].id, "rollout:r1:started");
    assert_eq!(events[0].groups, ["web"]);

    // The next pass: a wave host rolls back and the rollout completes.
    let before = after;
    let after = states(&[("c1", done()), ("w1", rolled_back()), ("w2", done())]);
    let notes = RolloutNotes::new("r1", &before, groups.clone());
    let events = notes.events(&plan, &after, "running", &RolloutStatus::Completed, now);
    assert_eq!(kinds(&events), ["rollout.rolled_back", "rollout.finished"]);
    match &events[0].detail {
        Detail::RolledBack { host, reason, .. } => {
            assert_eq!(host, "w1");
            assert_eq!(reason, "health check failed: web: HTTP 503");
        }
        other => panic!("{other:?}"),
    }
    match &events[1].detail {
        Detail::RolloutFinished {
            done,
            rolled_back,
            failed,
            ..
        } => {
            assert_eq!((*done, *rolled_back, *failed), (2, 1, 0));
        }
        other => panic!("{other:?}"),
    }
    // A pass after that (already completed, nothing new) reports nothing.
    let notes = RolloutNotes::new("r1", &after, groups.clone());
    assert!(
        notes
            .events(&plan, &after, "completed", &RolloutStatus::Completed, now)
            .is_empty()
    );
    // Stopped by its failures: one rollout.failed.
    let stopped = RolloutStatus::Stopped {
        reason: StopReason::CanaryFailed {
            failures: 1,
            allowed: 0,
        },
    };
    let notes = RolloutNotes::new("r1", &after, groups);
    let events = notes.events(&plan, &after, "running", &stopped, now);
    assert_eq!(kinds(&events), ["rollout.failed"]);
}

fn finding(binary: &str, advisory: &str, tier: Tier) -> Finding {
    serde_json::from_value(json!({
        "binary": binary, "installed": "1.0-1", "package": binary, "package_version": "1.0-1",
        "advisory": advisory, "aliases": [format!("CVE-2026-{}", advisory.len())],
        "fixed": "1.0-2", "tier": tier, "deadline": "2026-12-05T10:00:00Z", "reasons": [],
        "summary": "s", "published": null, "cvss": null, "epss": null, "kev": false
    }))
    .unwrap()
}

#[test]
fn only_t0_and_t1_findings_not_open_before_are_new_one_event_per_package() {
    let findings = [
        finding("openssl", "DSA-1", Tier::T1),
        finding("openssl", "DSA-22", Tier::T0),
        finding("bash", "DSA-333", Tier::T1),
        finding("curl", "DSA-4444", Tier::T3),
    ];
    let now = at("2026-12-04T10:00:00Z");
    let events = new_findings(
        "h1",
        "web-1",
        Some("web"),
        &findings,
        |b, _| b == "bash",
        now,
    );
    assert_eq!(events.len(), 1, "{events:#?}");
    let event = &events[0];
    assert_eq!(event.kind(), EventKind::NewFinding);
    assert_eq!(
        event.tier,
        Some(Tier::T0),
        "the most urgent of the package's findings"
    );
    assert_eq!(event.groups, ["web"]);
    match &event.detail {
        Detail::NewFinding {
            host,
            package,
            advisories,
            to_version,
            ..
        } => {
            assert_eq!((host.as_str(), package.as_str()), ("web-1", "openssl"));
            assert_eq!(advisories, &["CVE-2026-5", "CVE-2026-6"]);
            assert_eq!(to_version.as_deref(), Some("1.0-2"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_observation_alert_links_to_its_rollout_and_renders_in_both_languages() {
    let at = at("2026-12-05T03:00:00Z");
    let event = super::observation_alert(
        "r1",
        ("h-1", "web-1"),
        Some("web"),
        "error-rate",
        "5xx ratio 4.2% > 1%",
        at,
    );
    assert_eq!(event.kind(), EventKind::ObservationAlert);
    assert_eq!(event.console_path(), "/rollouts/r1");
    assert_eq!(event.groups, ["web"]);
    assert_eq!(
        event.id,
        format!(
            "rollout:r1:host:h-1:observation:error-rate:{}",
            at.as_millisecond()
        )
    );
    let en = pw_notify::render(&event, pw_notify::Language::En, "https://pw.example");
    assert!(en.title.contains("error-rate on web-1"), "{en:?}");
    let zh = pw_notify::render(&event, pw_notify::Language::ZhCn, "https://pw.example");
    assert!(zh.title.contains("观察期告警"), "{zh:?}");
}
