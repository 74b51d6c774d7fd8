//! Findings history and accepted risks on SQLite and PostgreSQL: history kept across
//! computations (first_seen stays, fixed_at set when gone, a finding that comes back opens a new
//! episode; `fixed_episodes` reads the closed ones), stale computations refused, history rows
//! undeletable, acceptances audited.

use pw_store::{
    Backend, CurrentFinding, FindingsSnapshot, HistoryChange, NewAcceptedRisk, Recorded,
    RevokeOutcome, Store,
};

#[macro_use]
mod common;

use common::{at, store_with_host};
use pw_store::BackportedFinding;

async fn report_inventory(store: &Store, collected_at: &str) {
    let inventory = common::inventory(collected_at);
    store
        .store_inventory("h1", "web-1", inventory, None)
        .await
        .unwrap();
}

fn finding(binary: &str, advisory: &str) -> CurrentFinding {
    CurrentFinding {
        binary: binary.into(),
        advisory: advisory.into(),
        tier: 1,
        deadline: Some(at("2026-02-01T00:00:00Z")),
        json: format!(r#"{{"binary":"{binary}","advisory":"{advisory}"}}"#),
    }
}

/// Records a computation of the inventory collected at `collected_at`, computed at `computed_at`.
async fn record(
    store: &Store,
    collected_at: &str,
    computed_at: &str,
    current: &[CurrentFinding],
) -> Recorded {
    let snapshot = FindingsSnapshot {
        host_id: "h1",
        inventory_collected_at: at(collected_at),
        computed_at: at(computed_at),
        source: "test",
        findings_json: "[]",
        tier_counts_json: "[0,0,0,0,0]",
        current,
        backported: &[],
    };
    store.record_findings(&snapshot).await.unwrap()
}

fn change(opened: usize, reopened: usize, kept: usize, fixed: usize) -> Recorded {
    Recorded::Recorded(HistoryChange {
        opened,
        reopened,
        kept,
        fixed,
    })
}

async fn history_is_kept_across_inventories(backend: Backend) {
    let (_dir, store) = store_with_host(backend).await;
    let (ssl, curl) = (finding("libssl3", "CVE-1"), finding("curl", "CVE-2"));
    report_inventory(&store, "2026-01-02T00:00:00Z").await;
    let first = record(
        &store,
        "2026-01-02T00:00:00Z",
        "2026-01-02T00:01:00Z",
        &[ssl.clone(), curl.clone(), ssl.clone()],
    )
    .await;
    assert_eq!(first, change(2, 0, 0, 0));
    let open = store.open_episodes(Some("h1")).await.unwrap();
    let ssl_open = open.iter().find(|e| e.binary == "libssl3").unwrap();
    assert_eq!(
        (ssl_open.episode, ssl_open.first_seen),
        (1, at("2026-01-02T00:01:00Z"))
    );
    assert_eq!(open.len(), 2);
    let sights = store.first_sights("h1").await.unwrap();
    assert_eq!(sights.len(), 2);
    assert_eq!(
        (sights.get("libssl3", "CVE-1"), sights.get("curl", "CVE-2")),
        (
            Some(at("2026-01-02T00:01:00Z")),
            Some(at("2026-01-02T00:01:00Z"))
        )
    );
    assert_eq!(sights.get("curl", "CVE-1"), None);

    // The second inventory no longer has curl's problem: fixed, still in history.
    report_inventory(&store, "2026-01-03T00:00:00Z").await;
    let second = record(
        &store,
        "2026-01-03T00:00:00Z",
        "2026-01-03T00:01:00Z",
        std::slice::from_ref(&ssl),
    )
    .await;
    assert_eq!(second, change(0, 0, 1, 1));
    let history = store.finding_history("h1").await.unwrap();
    assert_eq!(history.len(), 2);
    let (open, fixed) = (&history[0], &history[1]);
    assert_eq!((open.binary.as_str(), open.fixed_at), ("libssl3", None));
    assert_eq!(
        open.first_seen,
        at("2026-01-02T00:01:00Z"),
        "first_seen stays"
    );
    assert_eq!(open.last_seen, at("2026-01-03T00:01:00Z"));
    assert_eq!(fixed.binary, "curl");
    assert_eq!(fixed.fixed_at, Some(at("2026-01-03T00:01:00Z")));
    assert_eq!(fixed.hostname, "web-1");
    let open = store.open_episodes(None).await.unwrap();
    assert_eq!(
        open.iter().map(|e| e.binary.as_str()).collect::<Vec<_>>(),
        ["libssl3"]
    );
    let sights = store.first_sights("h1").await.unwrap();
    assert_eq!(sights.len(), 1, "a fixed finding is not open");
    assert_eq!(
        sights.get("libssl3", "CVE-1"),
        Some(at("2026-01-02T00:01:00Z"))
    );
    assert!(store.first_sights("h2").await.unwrap().is_empty());

    // curl's problem comes back: a new episode with its own first_seen; the fixed one stays.
    report_inventory(&store, "2026-01-04T00:00:00Z").await;
    let third = record(
        &store,
        "2026-01-04T00:00:00Z",
        "2026-01-04T00:01:00Z",
        &[ssl, curl],
    )
    .await;
    assert_eq!(third, change(0, 1, 1, 0));
    let history = store.finding_history("h1").await.unwrap();
    let curl_episodes: Vec<_> = history
        .iter()
        .filter(|r| r.binary == "curl")
        .map(|r| (r.episode, r.first_seen, r.fixed_at))
        .collect();
    assert_eq!(
        curl_episodes,
        vec![
            (2, at("2026-01-04T00:01:00Z"), None),
            (
                1,
                at("2026-01-02T00:01:00Z"),
                Some(at("2026-01-03T00:01:00Z"))
            ),
        ]
    );
    // The reports' read: every closed episode, none of the open ones.
    let fixed: Vec<_> = store
        .fixed_episodes()
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.host_id, r.binary, r.episode, r.fixed_at))
        .collect();
    assert_eq!(
        fixed,
        [(
            "h1".to_owned(),
            "curl".to_owned(),
            1,
            Some(at("2026-01-03T00:01:00Z"))
        )]
    );
    // Nothing is ever deleted, and a closed episode cannot be changed.
    // (Closed episodes are stored per host and computation, migration 0037.)
    let delete = sqlx::query("DELETE FROM closed_findings")
        .execute(store.pool())
        .await;
    assert!(delete.unwrap_err().to_string().contains("never deleted"));
    let reopen = sqlx::query("UPDATE closed_findings SET episodes = episodes")
        .execute(store.pool())
        .await;
    assert!(reopen.unwrap_err().to_string().contains("final"));
}

async fn a_computation_for_an_older_inventory_is_not_recorded(backend: Backend) {
    let (_dir, store) = store_with_host(backend).await;
    report_inventory(&store, "2026-01-03T00:00:00Z").await;
    let current = [finding("libssl3", "CVE-1")];
    let stale = record(
        &store,
        "2026-01-02T00:00:00Z",
        "2026-01-03T00:05:00Z",
        &current,
    )
    .await;
    assert_eq!(stale, Recorded::Stale);
    assert!(store.findings("h1").await.unwrap().is_none());
    assert!(store.finding_history("h1").await.unwrap().is_empty());
    let fresh = record(
        &store,
        "2026-01-03T00:00:00Z",
        "2026-01-03T00:05:00Z",
        &current,
    )
    .await;
    assert_eq!(fresh, change(1, 0, 0, 0));
    // An earlier computation of the same inventory, finishing late, does not undo it.
    let late = record(&store, "2026-01-03T00:00:00Z", "2026-01-03T00:04:00Z", &[]).await;
    assert_eq!(late, Recorded::Stale);
    assert_eq!(store.finding_history("h1").await.unwrap()[0].fixed_at, None);
    let row = store.findings("h1").await.unwrap().unwrap();
    assert_eq!(row.computed_at, at("2026-01-03T00:05:00Z"));
}

async fn accepted_risks_are_audited_and_revoked_without_deleting(backend: Backend) {
    let (_dir, store) = store_with_host(backend).await;
    let risk = NewAcceptedRisk {
        id: "risk-1",
        host_id: Some("h1"),
        advisory: "CVE-2024-0727",
        package: Some("openssl"),
        reason: "compensating control: no PKCS12 parsing",
        accepted_by: "carol",
        accepted_at: at("2026-01-01T00:00:00Z"),
        expires_at: at("2026-01-02T00:00:00Z"),
    };
    store.accept_risk(&risk).await.unwrap();
    let everywhere = NewAcceptedRisk {
        id: "risk-2",
        host_id: None,
        package: None,
        ..risk.clone()
    };
    store.accept_risk(&everywhere).await.unwrap();
    let rows = store.accepted_risks().await.unwrap();
    assert_eq!(
        rows.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["risk-2", "risk-1"]
    );
    let one = &rows[1];
    assert_eq!(one.accepted_by, "carol");
    assert_eq!(one.hostname.as_deref(), Some("web-1"));
    assert!(one.in_force(at("2026-01-01T12:00:00Z")));
    assert!(
        !one.in_force(at("2026-01-02T00:00:00Z")),
        "expired at its expiry"
    );
    assert!(rows[0].applies_to_host("any") && !one.applies_to_host("h2"));

    let unknown_host = NewAcceptedRisk {
        id: "risk-3",
        host_id: Some("nope"),
        ..risk.clone()
    };
    assert!(store.accept_risk(&unknown_host).await.is_err());
    // Several at once are all or nothing.
    let fine = NewAcceptedRisk {
        id: "risk-4",
        ..risk.clone()
    };
    assert!(store.accept_risks(&[fine, unknown_host]).await.is_err());
    assert!(store.accepted_risk("risk-4").await.unwrap().is_none());

    let now = at("2026-01-01T06:00:00Z");
    assert_eq!(
        store
            .revoke_accepted_risk("risk-1", "dave", now)
            .await
            .unwrap(),
        RevokeOutcome::Revoked
    );
    assert_eq!(
        store
            .revoke_accepted_risk("risk-1", "erin", now)
            .await
            .unwrap(),
        RevokeOutcome::AlreadyRevoked { by: "dave".into() }
    );
    assert_eq!(
        store
            .revoke_accepted_risk("risk-9", "erin", now)
            .await
            .unwrap(),
        RevokeOutcome::NotFound
    );
    let revoked = store.accepted_risk("risk-1").await.unwrap().unwrap();
    assert_eq!(
        (revoked.revoked_by.as_deref(), revoked.revoked_at),
        (Some("dave"), Some(now))
    );
    assert!(!revoked.in_force(at("2026-01-01T07:00:00Z")));
    let audit = store.audit_tail(10).await.unwrap();
    let actions: Vec<_> = audit
        .iter()
        .filter(|r| r.action.starts_with("risk."))
        .map(|r| (r.action.as_str(), r.actor.as_str(), r.subject.as_str()))
        .collect();
    assert_eq!(actions.len(), 3, "{actions:?}");
    assert!(actions.contains(&("risk.accepted", "carol", "risk-1")));
    assert!(actions.contains(&("risk.revoked", "dave", "risk-1")));
}

/// A finding the changelog shows fixed by a backport: its open episode closes with the reason;
/// one never recorded gets a single closed episode with the reason, not one per computation.
async fn backported_findings_close_with_their_reason_once(backend: Backend) {
    let (_dir, store) = store_with_host(backend).await;
    let (less, xml) = (finding("less", "CVE-1"), finding("libxml2", "CVE-2"));
    report_inventory(&store, "2026-01-02T00:00:00Z").await;
    record(
        &store,
        "2026-01-02T00:00:00Z",
        "2026-01-02T00:01:00Z",
        std::slice::from_ref(&less),
    )
    .await;
    let reason = |f: &CurrentFinding| BackportedFinding {
        finding: f.clone(),
        reason: format!(
            "fixed by a backport: the changelog of {} names CVE-x",
            f.binary
        ),
    };
    let backported = [reason(&less), reason(&xml)];
    for minute in ["02", "03"] {
        let snapshot = FindingsSnapshot {
            host_id: "h1",
            inventory_collected_at: at("2026-01-02T00:00:00Z"),
            computed_at: at(&format!("2026-01-02T00:{minute}:00Z")),
            source: "test",
            findings_json: "[]",
            tier_counts_json: "[0,0,0,0,0]",
            current: &[],
            backported: &backported,
        };
        store.record_findings(&snapshot).await.unwrap();
    }
    let history = store.finding_history("h1").await.unwrap();
    assert_eq!(history.len(), 2, "{history:?}");
    for row in &history {
        assert_eq!(
            row.fixed_by.as_deref(),
            Some(
                format!(
                    "fixed by a backport: the changelog of {} names CVE-x",
                    row.binary
                )
                .as_str()
            )
        );
        assert_eq!(row.episode, 1);
    }
    let less_row = history.iter().find(|r| r.binary == "less").unwrap();
    assert_eq!(less_row.first_seen, at("2026-01-02T00:01:00Z"));
    assert_eq!(less_row.fixed_at, Some(at("2026-01-02T00:02:00Z")));
    let xml_row = history.iter().find(|r| r.binary == "libxml2").unwrap();
    assert_eq!(xml_row.fixed_at, Some(at("2026-01-02T00:02:00Z")));
    assert!(store.open_episodes(Some("h1")).await.unwrap().is_empty());
}

/// Findings at once (the multi-row statements of the write path: more than two statements'
/// worth, 500 rows each on SQLite): opened, kept untouched while unchanged (last seen = the
/// host's latest computation), one changed finding refreshed, all closed with the previous
/// computation as their last sight.
async fn many_findings_open_stay_and_close_together(backend: Backend) {
    const MANY: usize = 1_100;
    let (_dir, store) = store_with_host(backend).await;
    let many: Vec<CurrentFinding> = (0..MANY)
        .map(|i| finding(&format!("bin{}", i % 7), &format!("CVE-2026-{i:05}")))
        .collect();
    report_inventory(&store, "2026-01-02T00:00:00Z").await;
    let first = record(
        &store,
        "2026-01-02T00:00:00Z",
        "2026-01-02T00:01:00Z",
        &many,
    )
    .await;
    assert_eq!(first, change(MANY, 0, 0, 0));
    let mut changed = many.clone();
    // More refreshed findings than one statement of the write path holds (18 rows).
    let refreshed: Vec<usize> = [17].into_iter().chain(100..140).collect();
    for &i in &refreshed {
        changed[i].tier = 0;
        changed[i].deadline = Some(at("2026-01-20T00:00:00Z"));
        changed[i].json = format!(r#"{{"changed":{i}}}"#);
    }
    let second = record(
        &store,
        "2026-01-02T00:00:00Z",
        "2026-01-02T00:02:00Z",
        &changed,
    )
    .await;
    assert_eq!(second, change(0, 0, MANY, 0));
    let history = store.finding_history("h1").await.unwrap();
    assert_eq!(history.len(), MANY);
    assert!(
        history
            .iter()
            .all(|r| r.last_seen == at("2026-01-02T00:02:00Z"))
    );
    for i in refreshed {
        let row = history
            .iter()
            .find(|r| r.advisory == format!("CVE-2026-{i:05}"))
            .unwrap();
        assert_eq!(
            (row.tier, row.deadline, row.finding.clone()),
            (0, Some(at("2026-01-20T00:00:00Z")), changed[i].json.clone()),
            "finding {i} refreshed"
        );
        assert_eq!(
            (row.episode, row.first_seen, row.fixed_at),
            (1, at("2026-01-02T00:01:00Z"), None),
            "finding {i} keeps its episode"
        );
    }
    let untouched = history
        .iter()
        .find(|r| r.advisory == "CVE-2026-00018")
        .unwrap();
    assert_eq!(untouched.finding, many[18].json);

    let third = record(&store, "2026-01-02T00:00:00Z", "2026-01-02T00:03:00Z", &[]).await;
    assert_eq!(third, change(0, 0, 0, MANY));
    let history = store.finding_history("h1").await.unwrap();
    assert!(
        history
            .iter()
            .all(|r| r.fixed_at == Some(at("2026-01-02T00:03:00Z")))
    );
    assert!(
        history
            .iter()
            .all(|r| r.last_seen == at("2026-01-02T00:02:00Z")),
        "a closed finding was last seen by the computation before the one that closed it"
    );
    let fourth = record(
        &store,
        "2026-01-02T00:00:00Z",
        "2026-01-02T00:04:00Z",
        &many,
    )
    .await;
    assert_eq!(fourth, change(0, MANY, 0, 0));
    assert_eq!(store.open_episodes(Some("h1")).await.unwrap().len(), MANY);
}

/// Two stores on one database (two controller replicas): each names the open findings the
/// other opened (finding keys it has not seen: read from the database, `finding_keys.rs`) and
/// gives a finding it stores the key the other stored.
async fn replicas_share_finding_keys(backend: Backend) {
    let (_dir, store) = store_with_host(backend).await;
    let other = Store::connect(store.url()).await.unwrap();
    let [a, b, c, d] = ["CVE-1", "CVE-2", "CVE-3", "CVE-4"].map(|cve| finding("curl", cve));
    report_inventory(&store, "2026-01-02T00:00:00Z").await;
    let at_minute = |m: u32| format!("2026-01-02T00:{m:02}:00Z");
    let first = record(
        &store,
        "2026-01-02T00:00:00Z",
        &at_minute(1),
        &[a.clone(), b],
    )
    .await;
    assert_eq!(first, change(2, 0, 0, 0));
    let second = record(
        &other,
        "2026-01-02T00:00:00Z",
        &at_minute(2),
        &[a.clone(), c.clone()],
    )
    .await;
    assert_eq!(second, change(1, 0, 1, 1));
    let third = record(&store, "2026-01-02T00:00:00Z", &at_minute(3), &[a, c, d]).await;
    assert_eq!(
        third,
        change(1, 0, 2, 0),
        "c, opened by the other store, is kept"
    );
    let open = store.open_episodes(Some("h1")).await.unwrap();
    let named: Vec<(&str, jiff::Timestamp)> = open
        .iter()
        .map(|e| (e.advisory.as_str(), e.first_seen))
        .collect::<std::collections::BTreeMap<_, _>>()
        .into_iter()
        .collect();
    assert_eq!(
        named,
        [
            ("CVE-1", at(&at_minute(1))),
            ("CVE-3", at(&at_minute(2))),
            ("CVE-4", at(&at_minute(3)))
        ]
    );
    let keys: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM finding_keys")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(keys, 4, "one key per finding, whichever store stored it");
}

on_both_backends!(
    replicas_share_finding_keys,
    history_is_kept_across_inventories,
    many_findings_open_stay_and_close_together,
    a_computation_for_an_older_inventory_is_not_recorded,
    accepted_risks_are_audited_and_revoked_without_deleting,
    backported_findings_close_with_their_reason_once,
);
