//! The versioned fleet document on SQLite and PostgreSQL: versions in order with their audit
//! records, the version guard (a stale apply writes nothing), and host labels.

use std::collections::BTreeMap;

#[macro_use]
mod common;

use jiff::Timestamp;
use pw_store::{Backend, ChainCheck, FleetRefusal, NewHost, Store};

fn t(text: &str) -> Timestamp {
    text.parse().unwrap()
}

async fn audit_actions(store: &Store) -> Vec<(String, String)> {
    store
        .audit_tail(100)
        .await
        .unwrap()
        .into_iter()
        .rev()
        .map(|r| (r.actor, r.action))
        .collect()
}

async fn versions_count_up_and_each_apply_is_audited_with_its_operator(backend: Backend) {
    let (_dir, store) = common::fresh_store(backend).await;
    assert_eq!(store.current_fleet().await.unwrap(), None);
    let first = store
        .apply_fleet(
            "# v1\n",
            "alice",
            Some(0),
            &["+ groups.web".into()],
            t("2026-11-01T00:00:00Z"),
        )
        .await
        .unwrap();
    assert_eq!(first.version, 1);
    use sha2::Digest;
    assert_eq!(first.sha256, hex::encode(sha2::Sha256::digest(b"# v1\n")));
    let second = store
        .apply_fleet(
            "# v2\n",
            "bob",
            None,
            &["~ x: 1 → 2".into()],
            t("2026-11-02T00:00:00Z"),
        )
        .await
        .unwrap();
    assert_eq!(second.version, 2);
    let current = store.current_fleet().await.unwrap().unwrap();
    assert_eq!(current, second);
    assert_eq!(current.document, "# v2\n");
    let versions = store.fleet_versions().await.unwrap();
    let listed: Vec<(i64, &str, &str)> = versions
        .iter()
        .map(|v| (v.version, v.operator.as_str(), v.document.as_str()))
        .collect();
    assert_eq!(listed, [(2, "bob", ""), (1, "alice", "")]);
    assert_eq!(versions[1].summary, ["+ groups.web"]);
    assert_eq!(
        audit_actions(&store).await,
        [
            ("alice".to_owned(), "fleet.applied".to_owned()),
            ("bob".to_owned(), "fleet.applied".to_owned())
        ]
    );
    let record = &store.audit_tail(1).await.unwrap()[0];
    assert_eq!(record.details["version"], 2);
    assert_eq!(record.details["summary"][0], "~ x: 1 → 2");
    assert_eq!(record.details["sha256"], second.sha256.as_str());
    assert!(matches!(
        store.verify_audit().await.unwrap(),
        ChainCheck::Intact { records: 2 }
    ));
}

async fn a_stale_expected_version_writes_nothing(backend: Backend) {
    let (_dir, store) = common::fresh_store(backend).await;
    store
        .apply_fleet("# v1\n", "alice", Some(0), &[], t("2026-11-01T00:00:00Z"))
        .await
        .unwrap();
    for expected in [0, 2] {
        let error = store
            .apply_fleet(
                "# late\n",
                "bob",
                Some(expected),
                &[],
                t("2026-11-02T00:00:00Z"),
            )
            .await
            .unwrap_err();
        assert_eq!(
            error.downcast_ref::<FleetRefusal>(),
            Some(&FleetRefusal::Stale {
                expected,
                current: 1
            })
        );
    }
    assert_eq!(store.fleet_versions().await.unwrap().len(), 1);
    assert_eq!(
        store.current_fleet().await.unwrap().unwrap().document,
        "# v1\n"
    );
    assert_eq!(
        audit_actions(&store).await.len(),
        1,
        "no audit record for a refusal"
    );
}

async fn host_labels_are_stored_and_audited_only_when_they_change(backend: Backend) {
    let (_dir, store) = common::fresh_store(backend).await;
    store
        .create_enrollment_token("tok1", "sha", t("2099-01-01T00:00:00Z"), None, "controller")
        .await
        .unwrap();
    let host = NewHost {
        id: "h1",
        hostname: "web-1",
        fingerprint: "fp",
        not_after: t("2099-01-01T00:00:00Z"),
    };
    store
        .enroll("sha", t("2026-11-01T00:00:00Z"), &host)
        .await
        .unwrap()
        .unwrap();
    assert!(store.host("h1").await.unwrap().unwrap().labels.is_empty());
    let labels: BTreeMap<String, String> = [("role".to_owned(), "web".to_owned())].into();
    assert!(store.set_host_labels("h1", &labels).await.unwrap());
    assert!(!store.set_host_labels("h1", &labels).await.unwrap());
    assert_eq!(store.host("h1").await.unwrap().unwrap().labels, labels);
    assert_eq!(store.hosts().await.unwrap()[0].labels, labels);
    let changes = audit_actions(&store)
        .await
        .into_iter()
        .filter(|(_, action)| action == "host.labels_changed")
        .collect::<Vec<_>>();
    assert_eq!(
        changes,
        [("agent:h1".to_owned(), "host.labels_changed".to_owned())]
    );
    assert!(store.set_host_labels("nope", &labels).await.is_err());
}

/// The facts epoch (migration 0051) counts enrollments and changed host names and labels, and
/// nothing else: not a heartbeat, an inventory under the same name, or the same labels again.
async fn the_host_facts_epoch_moves_only_when_a_hosts_name_or_labels_change(backend: Backend) {
    let (_dir, store) = common::fresh_store(backend).await;
    let start = store.host_facts_epoch().await.unwrap();
    common::enroll_named(&store, "h1", "web-1").await;
    let enrolled = store.host_facts_epoch().await.unwrap();
    assert_eq!(enrolled, start + 1, "an enrollment");
    let stored = |name: &str, collected: &str| {
        let store = store.clone();
        let (name, inventory) = (name.to_owned(), common::inventory(collected));
        async move {
            store
                .store_inventory("h1", &name, inventory, None)
                .await
                .unwrap();
            store.host_facts_epoch().await.unwrap()
        }
    };
    assert_eq!(stored("web-1", "2026-01-02T00:00:00Z").await, enrolled);
    let beat = pw_store::HeartbeatRow {
        host_id: "h1".into(),
        at: t("2026-01-02T00:01:00Z"),
        agent_version: "1.0".into(),
        read_only: false,
        plan_changes: false,
    };
    store.record_heartbeats(&[beat]).await.unwrap();
    assert_eq!(
        store.host_facts_epoch().await.unwrap(),
        enrolled,
        "a heartbeat"
    );
    let renamed = stored("web-1b", "2026-01-03T00:00:00Z").await;
    assert_eq!(renamed, enrolled + 1, "a new host name");
    let labels = BTreeMap::from([("role".to_owned(), "web".to_owned())]);
    assert!(store.set_host_labels("h1", &labels).await.unwrap());
    assert_eq!(
        store.host_facts_epoch().await.unwrap(),
        renamed + 1,
        "new labels"
    );
    assert!(!store.set_host_labels("h1", &labels).await.unwrap());
    assert_eq!(store.host_facts_epoch().await.unwrap(), renamed + 1);
    let names: Vec<(String, String, String)> = store.host_facts().await.unwrap();
    let facts = ("h1".into(), "web-1b".into(), r#"{"role":"web"}"#.into());
    assert_eq!(names, [facts]);
}

on_both_backends!(
    versions_count_up_and_each_apply_is_audited_with_its_operator,
    a_stale_expected_version_writes_nothing,
    host_labels_are_stored_and_audited_only_when_they_change,
    the_host_facts_epoch_moves_only_when_a_hosts_name_or_labels_change,
);
