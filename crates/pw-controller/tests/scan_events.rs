//! A scan's notification events are those of its new urgent findings only (`ranked_write.rs`:
//! taken out of the ranking when it is prepared): a package newly installed with critical
//! advisories gives events of its own, the findings open before give none. On SQLite and
//! PostgreSQL, on the fleet of `rerank_fleet`.

mod rerank_fleet;

use pw_controller::findings::{IntelligenceCache, Scanned, Why, scan_stored};
use pw_notify::Detail;
use pw_store::Backend;
use rerank_fleet::{Path, at, fleet, inventory, package};

async fn events_are_of_new_urgent_findings_only(backend: Backend) {
    let (_dir, store, _) = fleet(backend, Path::Part).await;
    let cache = IntelligenceCache::new(store.clone());
    // host-0 (even) has no curl; its findings are open since the fleet's first scan.
    let (mut row, upgrades) = inventory(0);
    row.facts.collected_at = at("2026-03-06T00:00:00Z");
    store
        .store_inventory("host-0", "web-0", row.clone(), Some(&upgrades))
        .await
        .unwrap();
    let again = scan_stored(
        &cache,
        &store,
        "host-0",
        at("2026-03-07T00:00:00Z"),
        Why::Report,
    );
    let Scanned::Stored(count, events) = again.await.unwrap() else {
        panic!("a new inventory's scan is recorded");
    };
    assert!(count > 0, "host-0 has findings");
    assert!(events.is_empty(), "findings open before: {events:?}");
    // curl installed now: its urgent findings are new, the others still open.
    row.facts.collected_at = at("2026-03-08T00:00:00Z");
    row.packages.push(package("curl", "7.88.1-10", None));
    store
        .store_inventory("host-0", "web-0", row, Some(&upgrades))
        .await
        .unwrap();
    let with_curl = scan_stored(
        &cache,
        &store,
        "host-0",
        at("2026-03-09T00:00:00Z"),
        Why::Report,
    );
    let Scanned::Stored(_, events) = with_curl.await.unwrap() else {
        panic!("a new inventory's scan is recorded");
    };
    let packages: Vec<&str> = (events.iter())
        .map(|event| match &event.detail {
            Detail::NewFinding { package, .. } => package.as_str(),
            other => panic!("not a new finding's event: {other:?}"),
        })
        .collect();
    assert_eq!(packages, ["curl"], "{events:?}");
}

mod sqlite {
    use super::*;

    #[tokio::test]
    async fn events_are_of_new_urgent_findings_only() {
        super::events_are_of_new_urgent_findings_only(Backend::Sqlite).await;
    }
}

mod postgres {
    use super::*;

    #[tokio::test]
    async fn events_are_of_new_urgent_findings_only() {
        super::events_are_of_new_urgent_findings_only(Backend::Postgres).await;
    }
}
