//! An inventory report equal to the stored one moves only its times (no audit record, nothing
//! to scan: `InventoryStored::Unchanged`); any difference — a package, the OS, the reboot facts,
//! the changelog history, the restart facts, the pending updates or whether they were reported —
//! stores it again (`Changed`), audited.

#[macro_use]
mod common;

use common::{at, store_with_host};
use pw_store::{Backend, InventoryRow, InventoryStored, PendingRow};

on_both_backends!(
    an_unchanged_report_only_moves_its_times,
    any_difference_stores_the_report_again
);

fn inventory(packages: &str) -> InventoryRow {
    InventoryRow {
        collected_at: at("2026-11-01T00:00:00Z"),
        os: "debian:12".into(),
        packages: packages.into(),
        package_count: 1,
        reboot_required: false,
        reboot_required_by: "[]".into(),
        backport_history: None,
        restart: None,
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

const BASH: &str = r#"[{"name":"bash","version":"5.2.15-2+b2","arch":"amd64"}]"#;
const BASH_NEWER: &str = r#"[{"name":"bash","version":"5.2.15-2+b7","arch":"amd64"}]"#;

async fn an_unchanged_report_only_moves_its_times(backend: Backend) {
    let (_dir, store) = store_with_host(backend).await;
    let offers = [offer("libssl3"), offer("zlib1g")];
    let first = store
        .store_inventory("h1", "web-1", &inventory(BASH), Some(&offers))
        .await
        .unwrap();
    assert_eq!(first, InventoryStored::Changed, "the first report is new");
    let audited = store.audit_tail(1000).await.unwrap().len();

    let mut again = inventory(BASH);
    again.collected_at = at("2026-11-02T00:00:00Z");
    // The same offers in another order are the same offers.
    let reordered = [offer("zlib1g"), offer("libssl3")];
    let second = store
        .store_inventory("h1", "web-1b", &again, Some(&reordered))
        .await
        .unwrap();
    assert_eq!(second, InventoryStored::Unchanged);
    assert_eq!(
        store.audit_tail(1000).await.unwrap().len(),
        audited,
        "no audit record"
    );
    let stored = store.inventory("h1").await.unwrap().unwrap();
    assert_eq!(
        stored.collected_at,
        at("2026-11-02T00:00:00Z"),
        "its time moved"
    );
    let host = store.host("h1").await.unwrap().unwrap();
    assert_eq!(host.hostname, "web-1b", "the host's name follows its agent");
    assert_eq!(store.pending_updates("h1").await.unwrap().unwrap().len(), 2);
}

async fn any_difference_stores_the_report_again(backend: Backend) {
    let (_dir, store) = store_with_host(backend).await;
    let base = || inventory(BASH);
    let offers = [offer("libssl3")];
    let store_it = async |row: &InventoryRow, pending: Option<&[PendingRow]>| {
        store
            .store_inventory("h1", "web-1", row, pending)
            .await
            .unwrap()
    };
    assert_eq!(
        store_it(&base(), Some(&offers)).await,
        InventoryStored::Changed
    );
    let variants: Vec<(&str, InventoryRow, Option<&[PendingRow]>)> = vec![
        ("a package version", inventory(BASH_NEWER), Some(&offers)),
        (
            "the OS",
            InventoryRow {
                os: "debian:13".into(),
                ..base()
            },
            Some(&offers),
        ),
        (
            "the reboot flag",
            InventoryRow {
                reboot_required: true,
                ..base()
            },
            Some(&offers),
        ),
        (
            "the changelog history",
            InventoryRow {
                backport_history: Some("{}".into()),
                ..base()
            },
            Some(&offers),
        ),
        (
            "the restart facts",
            InventoryRow {
                restart: Some("{}".into()),
                ..base()
            },
            Some(&offers),
        ),
        ("the pending updates", base(), Some(&[])),
        ("pending updates not reported", base(), None),
    ];
    let mut audited = store.audit_tail(1000).await.unwrap().len();
    for (what, row, pending) in variants {
        assert_eq!(
            store_it(&row, pending).await,
            InventoryStored::Changed,
            "{what}"
        );
        let now = store.audit_tail(1000).await.unwrap().len();
        assert_eq!(now, audited + 1, "{what}: audited");
        audited = now;
        // Then back to the base report: changed again.
        assert_eq!(
            store_it(&base(), Some(&offers)).await,
            InventoryStored::Changed,
            "{what}"
        );
        audited += 1;
    }
    let stored = store.inventory("h1").await.unwrap().unwrap();
    assert_eq!(stored.packages, BASH);
}
