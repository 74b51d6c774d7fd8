//! An inventory report equal to the stored one moves only its times (no audit record, nothing
//! to scan: `InventoryStored::Unchanged`); any difference — a package, the OS, the reboot facts,
//! the changelog history, the restart facts, the pending updates or whether they were reported —
//! stores it again (`Changed`), audited. A delta applies only to its base and only when the
//! result's digest checks out; otherwise nothing is stored and the agent must report in full.

#[macro_use]
mod common;

use common::{at, store_with_host};
use pw_model::InstalledPackage;
use pw_protocol::{BackportHistory, ContentDelta, InventoryContent};
use pw_store::{Backend, ContentChange, InventoryRow, InventoryStored, PendingRow, Store};

on_both_backends!(
    an_unchanged_report_only_moves_its_times,
    any_difference_stores_the_report_again,
    a_delta_applies_to_its_base_only,
    an_unchanged_delta_is_settled_by_its_digest,
);

fn package(name: &str, version: &str) -> InstalledPackage {
    InstalledPackage {
        name: name.into(),
        version: version.into(),
        arch: "amd64".into(),
        source: None,
        source_version: None,
    }
}

fn inventory(packages: &[InstalledPackage]) -> InventoryRow {
    InventoryRow {
        packages: packages.to_vec(),
        ..common::inventory("2026-11-01T00:00:00Z")
    }
}

fn offer(package: &str) -> PendingRow {
    PendingRow {
        package: package.into(),
        arch: "amd64".into(),
        from_version: "1.0-1".into(),
        to_version: "1.0-2".into(),
        origin: "Debian-Security".into(),
        suite: "bookworm-security".into(),
        cves: None,
    }
}

fn bash() -> Vec<InstalledPackage> {
    vec![package("bash", "5.2.15-2+b2")]
}

async fn audited(store: &Store) -> usize {
    store.audit_tail(1000).await.unwrap().len()
}

async fn an_unchanged_report_only_moves_its_times(backend: Backend) {
    let (_dir, store) = store_with_host(backend).await;
    let offers = [offer("libssl3"), offer("zlib1g")];
    let first = store
        .store_inventory("h1", "web-1", inventory(&bash()), Some(&offers))
        .await
        .unwrap();
    assert_eq!(
        first.outcome,
        InventoryStored::Changed,
        "the first report is new"
    );
    assert_eq!(first.packages, 1);
    assert_eq!(
        first.digest,
        InventoryContent::new(bash(), None).digest(),
        "the digest is the protocol's"
    );
    let before = audited(&store).await;

    let mut again = inventory(&bash());
    again.facts.collected_at = at("2026-11-02T00:00:00Z");
    // The same offers in another order are the same offers.
    let reordered = [offer("zlib1g"), offer("libssl3")];
    let second = store
        .store_inventory("h1", "web-1b", again, Some(&reordered))
        .await
        .unwrap();
    assert_eq!(second.outcome, InventoryStored::Unchanged);
    assert_eq!(second.digest, first.digest);
    assert_eq!(audited(&store).await, before, "no audit record");
    let stored = store.inventory("h1").await.unwrap().unwrap();
    assert_eq!(
        stored.facts.collected_at,
        at("2026-11-02T00:00:00Z"),
        "its time moved"
    );
    let host = store.host("h1").await.unwrap().unwrap();
    assert_eq!(host.hostname, "web-1b", "the host's name follows its agent");
    assert_eq!(store.pending_updates("h1").await.unwrap().unwrap().len(), 2);
}

async fn any_difference_stores_the_report_again(backend: Backend) {
    let (_dir, store) = store_with_host(backend).await;
    let base = || inventory(&bash());
    let offers = [offer("libssl3")];
    let store_it = async |row: InventoryRow, pending: Option<&[PendingRow]>| {
        let stored = store.store_inventory("h1", "web-1", row, pending).await;
        stored.unwrap().outcome
    };
    assert_eq!(
        store_it(base(), Some(&offers)).await,
        InventoryStored::Changed
    );
    let with = |edit: &dyn Fn(&mut InventoryRow)| {
        let mut row = base();
        edit(&mut row);
        row
    };
    let variants: Vec<(&str, InventoryRow, Option<&[PendingRow]>)> = vec![
        (
            "a package version",
            inventory(&[package("bash", "5.2.15-2+b7")]),
            Some(&offers),
        ),
        (
            "the OS",
            with(&|r| r.facts.os = "debian:13".into()),
            Some(&offers),
        ),
        (
            "the reboot flag",
            with(&|r| r.facts.reboot_required = true),
            Some(&offers),
        ),
        (
            "the changelog history",
            with(&|r| r.backport_history = Some(BackportHistory::new())),
            Some(&offers),
        ),
        (
            "the restart facts",
            with(&|r| r.facts.restart = Some("{}".into())),
            Some(&offers),
        ),
        ("the pending updates", base(), Some(&[])),
        ("pending updates not reported", base(), None),
    ];
    let mut count = audited(&store).await;
    for (what, row, pending) in variants {
        assert_eq!(
            store_it(row, pending).await,
            InventoryStored::Changed,
            "{what}"
        );
        let now = audited(&store).await;
        assert_eq!(now, count + 1, "{what}: audited");
        // Then back to the base report: changed again.
        assert_eq!(
            store_it(base(), Some(&offers)).await,
            InventoryStored::Changed,
            "{what}"
        );
        count = now + 1;
    }
    let stored = store.inventory("h1").await.unwrap().unwrap();
    assert_eq!(stored.packages, bash());
}

async fn a_delta_applies_to_its_base_only(backend: Backend) {
    let (_dir, store) = store_with_host(backend).await;
    let facts = common::inventory("2026-11-03T00:00:00Z").facts;
    let base = InventoryContent::new(
        vec![
            package("bash", "5.2.15-2+b2"),
            package("curl", "7.88.1-10+deb12u5"),
        ],
        None,
    );
    let new = InventoryContent::new(
        vec![
            package("bash", "5.2.15-2+b2"),
            package("curl", "7.88.1-10+deb12u12"),
        ],
        None,
    );
    let changes = base.delta_to(&new);
    let (base_digest, new_digest) = (base.digest(), new.digest());
    let change = ContentChange {
        base: &base_digest,
        result: &new_digest,
        changes: &changes,
    };
    let delta = async |change: ContentChange<'_>| {
        store
            .store_inventory_delta(("h1", "web-1"), &facts, change, None)
            .await
            .unwrap()
    };
    assert_eq!(delta(change).await, None, "no stored inventory: no base");

    let (packages, _) = base.clone().into_parts();
    store
        .store_inventory("h1", "web-1", inventory(&packages), None)
        .await
        .unwrap();
    let before = audited(&store).await;
    let wrong = "sha256:0".to_owned();
    let lying = ContentChange {
        result: &wrong,
        ..change
    };
    assert_eq!(
        delta(lying).await,
        None,
        "a result digest that does not check out"
    );
    let elsewhere = ContentChange {
        base: &wrong,
        ..change
    };
    assert_eq!(delta(elsewhere).await, None, "another base");
    assert_eq!(audited(&store).await, before, "nothing stored");
    assert_eq!(
        store.inventory("h1").await.unwrap().unwrap().packages,
        packages
    );

    let applied = delta(change).await.expect("applies to its base");
    assert_eq!(applied.outcome, InventoryStored::Changed);
    assert_eq!(
        (applied.digest.as_str(), applied.packages),
        (new_digest.as_str(), 2)
    );
    assert_eq!(audited(&store).await, before + 1, "audited");
    let stored = store.inventory("h1").await.unwrap().unwrap();
    assert_eq!(stored.packages, new.clone().into_parts().0);
    assert_eq!(stored.facts.collected_at, facts.collected_at);
    assert_eq!(
        delta(change).await,
        None,
        "the same delta again: its base is gone"
    );
}

async fn an_unchanged_delta_is_settled_by_its_digest(backend: Backend) {
    let (_dir, store) = store_with_host(backend).await;
    let history = BackportHistory::from([("bash".to_owned(), vec!["CVE-2022-3715".to_owned()])]);
    let row = InventoryRow {
        backport_history: Some(history.clone()),
        ..inventory(&bash())
    };
    let first = store
        .store_inventory("h1", "web-1", row, None)
        .await
        .unwrap();
    let before = audited(&store).await;
    let mut facts = common::inventory("2026-11-04T00:00:00Z").facts;
    let none = ContentDelta {
        backport_history: Some(Default::default()),
        ..ContentDelta::default()
    };
    let unchanged = ContentChange {
        base: &first.digest,
        result: &first.digest,
        changes: &none,
    };
    let settle = async |facts: &pw_store::InventoryFacts, change: ContentChange<'_>| {
        store
            .store_inventory_delta(("h1", "web-1"), facts, change, None)
            .await
            .unwrap()
    };
    let stored = settle(&facts, unchanged).await.unwrap();
    assert_eq!(stored.outcome, InventoryStored::Unchanged);
    assert_eq!(
        stored.packages, 1,
        "the stored count, without reading the list"
    );
    assert_eq!(audited(&store).await, before, "no audit record");
    let inventory = store.inventory("h1").await.unwrap().unwrap();
    assert_eq!(
        inventory.facts.collected_at, facts.collected_at,
        "its time moved"
    );
    assert_eq!(inventory.backport_history, Some(history));

    // Claiming "unchanged" while dropping the history: the result is not the base.
    let dropped = ContentDelta::default();
    let dropping = ContentChange {
        changes: &dropped,
        ..unchanged
    };
    assert_eq!(settle(&facts, dropping).await, None);
    // The content unchanged but a fact changed: stored and audited, no list rewritten.
    facts.reboot_required = true;
    let stored = settle(&facts, unchanged).await.unwrap();
    assert_eq!(stored.outcome, InventoryStored::Changed);
    assert_eq!(audited(&store).await, before + 1);
    let inventory = store.inventory("h1").await.unwrap().unwrap();
    assert!(inventory.facts.reboot_required);
    assert_eq!(inventory.packages, bash());
}
