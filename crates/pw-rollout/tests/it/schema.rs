//! The persisted schema: v1 documents under `tests/data/` keep deserializing (they are never
//! edited; a new schema version adds a new fixture and an upgrade arm), and the JSON shape of a
//! whole happy path is a reviewed snapshot.

use serde::{Deserialize, Serialize};

use pw_rollout::{
    BlockList, Event, Gates, GuardOutcome, GuardReason, GuardReport, HostChange, HostId, HostState,
    Policy, ProtectionRun, RollbackCause, RolloutControl, RolloutId, RolloutPlan, RolloutStatus,
    SchemaError, decide, from_json, step, to_json,
};

use crate::support::{after, before, start, target};

const HOST_CHANGE_V1: &str = include_str!("../data/host-change-v1.json");
const ROLLOUT_V1: &str = include_str!("../data/rollout-v1.json");

#[derive(Debug, Serialize, Deserialize)]
struct RolloutDoc {
    plan: RolloutPlan,
    control: RolloutControl,
    blocks: BlockList,
}

#[test]
fn a_v1_host_change_still_deserializes_and_steps() {
    let change: HostChange = from_json(HOST_CHANGE_V1).unwrap();
    assert_eq!(change.host, HostId("web-01".into()));
    let HostState::RollingBack {
        recorded,
        cause,
        progress,
        ..
    } = &change.state
    else {
        panic!("not rolling back: {:?}", change.state);
    };
    assert_eq!(
        recorded[1].version, None,
        "openssl was not installed before"
    );
    assert!(matches!(cause, RollbackCause::HealthCheckFailed { .. }));
    assert_eq!((progress.attempt, progress.tries), (2, 1));
    let event = Event::GuardReported {
        report: GuardReport {
            recorded: recorded.clone(),
            final_versions: recorded.clone(),
            ..GuardReport::untouched(GuardOutcome::RolledBack {
                reason: GuardReason::HealthCheckFailed,
                detail: "check http: 500".into(),
            })
        },
    };
    let decision = step(&change, &event, start(), &Policy::default()).unwrap();
    assert_eq!(decision.next.name(), pw_rollout::StateName::RolledBack);
}

#[test]
fn a_v1_rollout_still_deserializes_and_decides() {
    let doc: RolloutDoc = from_json(ROLLOUT_V1).unwrap();
    let decision = decide(
        &doc.plan,
        &std::collections::BTreeMap::<pw_rollout::HostId, pw_rollout::HostState>::new(),
        &doc.control,
        &doc.blocks,
        &Gates::default(),
    )
    .unwrap();
    assert_eq!(decision.status, RolloutStatus::Completed);
    assert_eq!(
        decision.skipped.len(),
        3,
        "every host targets the blocked version"
    );
}

#[test]
fn documents_are_written_with_the_current_version_and_read_back() {
    let change: HostChange = from_json(HOST_CHANGE_V1).unwrap();
    let text = to_json(&change).unwrap();
    assert!(text.starts_with(r#"{"version":1,"#), "{text}");
    assert_eq!(from_json::<HostChange>(&text).unwrap(), change);
    let doc: RolloutDoc = from_json(ROLLOUT_V1).unwrap();
    let again: RolloutDoc = from_json(&to_json(&doc).unwrap()).unwrap();
    assert_eq!(again.plan, doc.plan);
    assert_eq!(again.blocks, doc.blocks);
}

#[test]
fn unknown_versions_are_refused() {
    let newer = HOST_CHANGE_V1.replacen("\"version\": 1", "\"version\": 2", 1);
    assert!(matches!(
        from_json::<HostChange>(&newer),
        Err(SchemaError::TooNew {
            found: 2,
            supported: 1
        })
    ));
    let older = HOST_CHANGE_V1.replacen("\"version\": 1", "\"version\": 0", 1);
    assert!(matches!(
        from_json::<HostChange>(&older),
        Err(SchemaError::Unknown(0))
    ));
    let none = HOST_CHANGE_V1.replacen("\"version\": 1,", "", 1);
    assert!(matches!(
        from_json::<HostChange>(&none),
        Err(SchemaError::Json(_))
    ));
    let bad_version = HOST_CHANGE_V1.replacen("3.0.14-1~deb12u2", "--force-yes", 1);
    assert!(from_json::<HostChange>(&bad_version).is_err());
}

#[test]
fn the_happy_path_as_json() {
    let targets = vec![target("libssl3", "3.0.15-1~deb12u1")];
    let policy = Policy {
        health_checks: vec!["nginx-http".into()],
        protection_steps: vec!["lvm-snapshot".into()],
        ..Policy::default()
    };
    let mut change = HostChange::new(RolloutId("r1".into()), HostId("web-01".into()));
    let mut now = start();
    let mut trail = Vec::new();
    let events = [
        Event::Claimed {
            targets: targets.clone(),
        },
        Event::GuardReported {
            report: GuardReport {
                recorded: before(&targets),
                final_versions: after(&targets),
                installed_at: Some(start()),
                passed_checks: vec!["nginx-http".into()],
                protection: vec![ProtectionRun {
                    name: "lvm-snapshot".into(),
                    ok: true,
                    detail: "exit 0".into(),
                    from_journal: false,
                }],
                ..GuardReport::untouched(GuardOutcome::Done)
            },
        },
    ];
    for event in events {
        let decision = step(&change, &event, now, &policy).unwrap();
        trail.push(serde_json::json!({ "event": event, "decision": decision }));
        change.state = decision.next;
        now += jiff::SignedDuration::from_secs(150);
    }
    insta::assert_json_snapshot!(trail);
}
