//! What the periodic notification check reads and marks (migration 0022), on both backends:
//! open findings due for a deadline notice in a time range, each episode once per notice;
//! agents silent since a time, each silence once; and the advisory names the CVE search reads.

use pw_store::{Backend, CurrentFinding, DeadlineNotice, FindingsSnapshot, UpdateFilter};

#[macro_use]
mod common;

use common::{at, store_with_host};

fn finding(binary: &str, advisory: &str, deadline: &str) -> CurrentFinding {
    let json = serde_json::json!({
        "binary": binary, "package": binary, "advisory": advisory, "fixed": "2",
        "aliases": [format!("CVE-2099-{advisory}")],
    });
    CurrentFinding {
        binary: binary.into(),
        advisory: advisory.into(),
        tier: 1,
        deadline: Some(at(deadline)),
        json: json.to_string(),
    }
}

async fn deadlines_are_due_once_per_notice(backend: Backend) {
    let (_guard, store) = store_with_host(backend).await;
    let current = [
        finding("libssl3", "0001", "2026-12-03T00:00:00Z"),
        finding("libssl3", "0002", "2026-12-10T00:00:00Z"),
        finding("curl", "0003", "2026-11-30T00:00:00Z"),
    ];
    let snapshot = FindingsSnapshot {
        host_id: "h1",
        inventory_collected_at: at("2026-11-01T00:00:00Z"),
        computed_at: at("2026-11-01T00:00:00Z"),
        source: "test",
        findings_json: "[]",
        tier_counts_json: "[0,3,0,0,0]",
        current: &current,
        backported: &[],
    };
    store.record_findings(&snapshot).await.unwrap();
    let now = at("2026-12-01T00:00:00Z");
    let near = store
        .deadlines_due(
            DeadlineNotice::Near,
            Some(now),
            at("2026-12-03T00:00:00Z"),
            10,
        )
        .await
        .unwrap();
    let names: Vec<_> = near.iter().map(|d| d.advisory.as_str()).collect();
    assert_eq!(names, ["0001"], "the range's upper end is included");
    assert_eq!((near[0].hostname.as_str(), near[0].episode), ("web-1", 1));
    let overdue = store
        .deadlines_due(DeadlineNotice::Overdue, None, now, 10)
        .await
        .unwrap();
    let names: Vec<_> = overdue.iter().map(|d| d.advisory.as_str()).collect();
    assert_eq!(names, ["0003"]);
    store
        .mark_deadline_notices(DeadlineNotice::Near, &near, now)
        .await
        .unwrap();
    // Marking again is a no-op; the other notice is not marked by it.
    store
        .mark_deadline_notices(DeadlineNotice::Near, &near, now)
        .await
        .unwrap();
    let later = at("2026-12-09T00:00:00Z");
    let near = store
        .deadlines_due(
            DeadlineNotice::Near,
            Some(later),
            at("2026-12-11T00:00:00Z"),
            10,
        )
        .await
        .unwrap();
    assert_eq!(near.len(), 1);
    assert_eq!(near[0].advisory, "0002");
    let overdue = store
        .deadlines_due(DeadlineNotice::Overdue, None, later, 1)
        .await
        .unwrap();
    let names: Vec<_> = overdue.iter().map(|d| d.advisory.as_str()).collect();
    assert_eq!(
        names,
        ["0003"],
        "earliest deadline first, at most the limit"
    );

    // The CVE search finds the update by an alias and by the advisory's own id.
    for name in ["cve-2099-0002", "0002"] {
        let filter = UpdateFilter {
            advisory: Some(name.into()),
            ..Default::default()
        };
        let page = store
            .update_page(
                &filter,
                pw_store::PageRequest {
                    offset: 0,
                    limit: 50,
                },
            )
            .await
            .unwrap();
        let found: Vec<_> = page.updates.iter().map(|u| u.package.as_str()).collect();
        assert_eq!(found, ["libssl3"], "{name}");
    }
}

async fn a_silence_is_due_once(backend: Backend) {
    let (_guard, store) = store_with_host(backend).await;
    // Never heard from since enrollment: not a silent agent.
    let none = store.silent_hosts(at("2026-12-01T00:00:00Z"), 10).await;
    assert!(none.unwrap().is_empty());
    let seen = at("2026-12-01T00:00:00Z");
    store
        .record_heartbeats(&[pw_store::HeartbeatRow {
            host_id: "h1".into(),
            at: seen,
            agent_version: "1".into(),
            read_only: false,
            plan_changes: false,
        }])
        .await
        .unwrap();
    assert!(store.silent_hosts(seen, 10).await.unwrap().is_empty());
    let silent = store
        .silent_hosts(at("2026-12-01T01:00:00Z"), 10)
        .await
        .unwrap();
    assert_eq!(silent.len(), 1);
    assert_eq!(
        (silent[0].hostname.as_str(), silent[0].last_seen),
        ("web-1", seen)
    );
    let now = at("2026-12-01T01:00:00Z");
    store.mark_silence_notices(&silent, now).await.unwrap();
    store.mark_silence_notices(&silent, now).await.unwrap();
    let later = at("2026-12-02T00:00:00Z");
    assert!(store.silent_hosts(later, 10).await.unwrap().is_empty());
    // Back, then silent again: another silence.
    store
        .record_heartbeats(&[pw_store::HeartbeatRow {
            host_id: "h1".into(),
            at: later,
            agent_version: "1".into(),
            read_only: false,
            plan_changes: false,
        }])
        .await
        .unwrap();
    let again = store
        .silent_hosts(at("2026-12-03T00:00:00Z"), 10)
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].last_seen, later);
}

/// The heartbeats of a second written together: each host's instant and flags, a host gone
/// skipped.
async fn heartbeats_are_written_together(backend: Backend) {
    let (_dir, store) = store_with_host(backend).await;
    let seen = at("2026-12-01T00:00:00Z");
    let beat = |host: &str| pw_store::HeartbeatRow {
        host_id: host.to_owned(),
        at: seen,
        agent_version: "2.0".to_owned(),
        read_only: true,
        plan_changes: false,
    };
    store
        .record_heartbeats(&[beat("h1"), beat("gone")])
        .await
        .unwrap();
    store.record_heartbeats(&[]).await.unwrap();
    assert!(store.silent_hosts(seen, 10).await.unwrap().is_empty());
    let silent = store
        .silent_hosts(at("2026-12-01T01:00:00Z"), 10)
        .await
        .unwrap();
    assert_eq!((silent.len(), silent[0].last_seen), (1, seen));
    let host = store.host("h1").await.unwrap().unwrap();
    assert_eq!(host.agent_version.as_deref(), Some("2.0"));
}

/// 10,000 agents' first heartbeats come in one write: 300 hosts (several statements) each get
/// their own instant and flags, a host heard twice in the write ends as its later heartbeat
/// said.
async fn three_hundred_hosts_heartbeats_in_one_write(backend: Backend) {
    let (_dir, store) = common::fresh_store(backend).await;
    let hosts: Vec<String> = (0..300).map(|i| format!("h{i:03}")).collect();
    for host in &hosts {
        common::enroll(&store, host).await;
    }
    let beat = |i: usize, version: &str| pw_store::HeartbeatRow {
        host_id: hosts[i].clone(),
        at: at("2026-12-01T00:00:00Z") + jiff::SignedDuration::from_secs(i as i64),
        agent_version: version.to_owned(),
        read_only: i.is_multiple_of(3),
        plan_changes: i.is_multiple_of(2),
    };
    let again = |i: usize| pw_store::HeartbeatRow {
        at: at("2026-12-02T00:00:00Z"),
        ..beat(i, "1.1")
    };
    // Hosts 7 and 200 heard again, their agents upgraded, within the same statement's hosts:
    // the later heartbeat stands.
    let mut beats = Vec::new();
    for i in 0..300 {
        beats.push(beat(i, "1.0"));
        if i == 7 || i == 200 {
            beats.push(again(i));
        }
    }
    store.record_heartbeats(&beats).await.unwrap();
    let mut stored = store.last_heartbeats().await.unwrap();
    stored.sort_by(|a, b| a.host_id.cmp(&b.host_id));
    assert_eq!(stored.len(), 300);
    for (i, row) in stored.iter().enumerate() {
        let mut expected = match i {
            7 | 200 => again(i),
            _ => beat(i, "1.0"),
        };
        expected.plan_changes &= expected.read_only;
        assert_eq!(row, &expected, "host {i}");
    }
}

/// What a restarted controller starts from: the last heartbeat stored for each host heard
/// from (plan changes stored only for a read-only host), none for a host never heard from.
async fn the_last_heartbeats_are_read_back(backend: Backend) {
    let (_dir, store) = store_with_host(backend).await;
    assert!(store.last_heartbeats().await.unwrap().is_empty());
    let beat = pw_store::HeartbeatRow {
        host_id: "h1".to_owned(),
        at: at("2026-12-01T00:00:00.5Z"),
        agent_version: "2.1".to_owned(),
        read_only: false,
        plan_changes: true,
    };
    store
        .record_heartbeats(std::slice::from_ref(&beat))
        .await
        .unwrap();
    let stored = store.last_heartbeats().await.unwrap();
    let expected = pw_store::HeartbeatRow {
        plan_changes: false,
        ..beat.clone()
    };
    assert_eq!(stored, [expected]);
    assert!(stored[0].says_same(&beat), "the same flags as stored");
    let read_only = pw_store::HeartbeatRow {
        read_only: true,
        ..beat
    };
    assert!(!stored[0].says_same(&read_only));
}

on_both_backends!(
    deadlines_are_due_once_per_notice,
    a_silence_is_due_once,
    heartbeats_are_written_together,
    three_hundred_hosts_heartbeats_in_one_write,
    the_last_heartbeats_are_read_back
);
