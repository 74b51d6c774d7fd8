//! The console's paged reads on SQLite and PostgreSQL: hosts filtered by ids, name (any case),
//! OS prefix, tier and overdue findings with the total; updates grouped by package and fixed
//! version, filtered by advisory alias, tier and KEV; an update's advisories and hosts (also with
//! no fixed version); audit records filtered by actor, action prefix and subject.

use pw_store::{
    AuditFilter, Backend, CurrentFinding, FindingsSnapshot, HostFilter, PageRequest, Store,
    UpdateFilter,
};

#[macro_use]
mod common;

use common::{at, store_with_host};

const PAGE: PageRequest = PageRequest {
    offset: 0,
    limit: 50,
};

fn finding(
    package: &str,
    fixed: Option<&str>,
    advisory: &str,
    tier: u8,
    kev: bool,
) -> CurrentFinding {
    let json = serde_json::json!({
        "binary": package, "package": package, "advisory": advisory, "fixed": fixed,
        "aliases": [format!("CVE-{advisory}")], "kev": kev, "epss": 0.25,
    });
    CurrentFinding {
        binary: package.into(),
        advisory: advisory.into(),
        tier,
        deadline: Some(at("2026-02-01T00:00:00Z")),
        json: json.to_string(),
    }
}

/// Reports an inventory for `host` and records `current` as its findings.
async fn findings(
    store: &Store,
    host: &str,
    hostname: &str,
    tiers: &str,
    current: &[CurrentFinding],
) {
    let inventory = common::inventory("2026-01-02T00:00:00Z");
    store
        .store_inventory(host, hostname, inventory, None)
        .await
        .unwrap();
    let snapshot = FindingsSnapshot {
        host_id: host,
        inventory_collected_at: at("2026-01-02T00:00:00Z"),
        computed_at: at("2026-01-02T00:01:00Z"),
        source: "test",
        findings_json: "[]",
        tier_counts_json: tiers,
        current,
        backported: &[],
    };
    store.record_findings(&snapshot).await.unwrap();
}

async fn fleet(backend: Backend) -> (common::Guard, Store) {
    let (guard, store) = store_with_host(backend).await;
    common::enroll_named(&store, "h2", "DB-2").await;
    common::enroll_named(&store, "h3", "db-3").await;
    let ssl = finding("openssl", Some("3.0.1"), "A1", 1, true);
    let curl = finding("curl", None, "A2", 3, false);
    findings(
        &store,
        "h1",
        "web-1",
        "[0,1,0,1,0]",
        &[ssl.clone(), curl.clone()],
    )
    .await;
    findings(&store, "h2", "DB-2", "[0,1,0,0,0]", &[ssl]).await;
    findings(&store, "h3", "db-3", "[0,0,0,1,0]", &[curl]).await;
    (guard, store)
}

fn names(page: &pw_store::HostPage) -> Vec<&str> {
    page.hosts.iter().map(|h| h.hostname.as_str()).collect()
}

async fn hosts_are_filtered_and_paged_in_sql(backend: Backend) {
    let (_guard, store) = fleet(backend).await;
    let all = store.host_page(&HostFilter::default(), PAGE).await.unwrap();
    assert_eq!((all.total, names(&all)), (3, vec!["DB-2", "db-3", "web-1"]));
    let by_name = HostFilter {
        name: Some("db".into()),
        ..Default::default()
    };
    let page = store.host_page(&by_name, PAGE).await.unwrap();
    assert_eq!(names(&page), vec!["DB-2", "db-3"]);
    let second = PageRequest {
        offset: 1,
        limit: 1,
    };
    let page = store.host_page(&by_name, second).await.unwrap();
    assert_eq!((page.total, names(&page)), (2, vec!["db-3"]));
    let past_end = PageRequest {
        offset: 5,
        limit: 1,
    };
    let page = store.host_page(&by_name, past_end).await.unwrap();
    assert_eq!((page.total, page.hosts.len()), (2, 0));
    let tier_3_of_some = HostFilter {
        ids: Some(vec!["h1".into(), "h2".into()]),
        tier: Some(3),
        os: Some("DEBIAN:".into()),
        ..Default::default()
    };
    let page = store.host_page(&tier_3_of_some, PAGE).await.unwrap();
    assert_eq!(names(&page), vec!["web-1"]);
    let overdue = HostFilter {
        overdue_at: Some(at("2026-03-01T00:00:00Z")),
        ..Default::default()
    };
    assert_eq!(store.host_page(&overdue, PAGE).await.unwrap().total, 3);
}

async fn updates_are_grouped_filtered_and_listed(backend: Backend) {
    let (_guard, store) = fleet(backend).await;
    let page = store
        .update_page(&UpdateFilter::default(), PAGE)
        .await
        .unwrap();
    let rows: Vec<_> = page
        .updates
        .iter()
        .map(|u| {
            (
                u.package.as_str(),
                u.fixed.as_deref(),
                u.tier,
                u.hosts,
                u.kev,
            )
        })
        .collect();
    assert_eq!(page.total, 2);
    assert_eq!(
        rows,
        vec![
            ("openssl", Some("3.0.1"), 1, 2, true),
            ("curl", None, 3, 2, false)
        ]
    );
    assert_eq!(page.updates[0].epss, Some(0.25));
    let by_alias = UpdateFilter {
        advisory: Some("cve-a2".into()),
        ..Default::default()
    };
    let page = store.update_page(&by_alias, PAGE).await.unwrap();
    assert_eq!(page.updates.len(), 1);
    assert_eq!(page.updates[0].package, "curl");
    let kev = UpdateFilter {
        kev_only: true,
        package: Some("SSL".into()),
        tier: Some(1),
        ..Default::default()
    };
    assert_eq!(store.update_page(&kev, PAGE).await.unwrap().total, 1);
    // One call for several updates (as a console page asks): answers in the order asked, a
    // repeated update answered at each place, an update nobody needs answered empty.
    let asked = [
        ("curl", None),
        ("openssl", Some("3.0.1")),
        ("openssl", None),
        ("curl", None),
    ];
    let advisories = store.updates_advisories(&asked).await.unwrap();
    let counts: Vec<(usize, u64)> = advisories
        .iter()
        .map(|a| (a.len(), a.first().map_or(0, |a| a.hosts)))
        .collect();
    assert_eq!(counts, [(1, 2), (1, 2), (0, 0), (1, 2)]);
    let finding: serde_json::Value = serde_json::from_str(&advisories[0][0].finding).unwrap();
    assert_eq!(
        (&finding["package"], &finding["advisory"]),
        (&"curl".into(), &"A2".into())
    );
    let hosts = store.updates_hosts(&asked, 10).await.unwrap();
    let named = |i: usize| -> Vec<&str> { hosts[i].iter().map(|(_, n)| n.as_str()).collect() };
    assert_eq!(
        hosts[1],
        [
            ("h2".to_owned(), "DB-2".to_owned()),
            ("h1".into(), "web-1".into())
        ]
    );
    assert!(hosts[2].is_empty());
    assert_eq!(named(0), ["db-3", "web-1"]);
    assert_eq!(named(3), named(0));
    // At most `limit` per update, the first by name.
    let first = store.updates_hosts(&asked[1..2], 1).await.unwrap();
    assert_eq!(first, [vec![("h2".to_owned(), "DB-2".to_owned())]]);
    // More updates than one statement names: each still answered at its own place.
    let mut many: Vec<(&str, Option<&str>)> = vec![("none", None); 120];
    many[57] = ("openssl", Some("3.0.1"));
    many[119] = ("curl", None);
    let hosts = store.updates_hosts(&many, 10).await.unwrap();
    let advisories = store.updates_advisories(&many).await.unwrap();
    let answered: Vec<usize> = (0..many.len()).filter(|&i| !hosts[i].is_empty()).collect();
    assert_eq!(answered, [57, 119]);
    let answered: Vec<usize> = (0..many.len())
        .filter(|&i| !advisories[i].is_empty())
        .collect();
    assert_eq!(answered, [57, 119]);
    let binaries = store.update_binaries("curl", None).await.unwrap();
    assert_eq!(binaries, vec!["curl".to_owned()]);
    let binaries = store
        .update_binaries("openssl", Some("3.0.1"))
        .await
        .unwrap();
    assert_eq!(binaries, vec!["openssl".to_owned()]);
}

async fn audit_records_are_filtered(backend: Backend) {
    let (_guard, store) = fleet(backend).await;
    let filter = AuditFilter {
        actor: Some("alice".into()),
        action: Some("ENROLLMENT_token.".into()),
        subject: Some("tok-h2".into()),
    };
    let records = store.audit_filtered(&filter, None, 10).await.unwrap();
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].action, "enrollment_token.created");
    let all = store
        .audit_filtered(&AuditFilter::default(), None, 500)
        .await
        .unwrap();
    let older = store
        .audit_filtered(&AuditFilter::default(), Some(all[0].seq), 500)
        .await
        .unwrap();
    assert_eq!(older.len(), all.len() - 1);
}

on_both_backends!(
    hosts_are_filtered_and_paged_in_sql,
    updates_are_grouped_filtered_and_listed,
    audit_records_are_filtered,
);
