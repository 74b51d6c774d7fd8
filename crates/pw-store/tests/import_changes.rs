//! What a feed import changed, on SQLite and PostgreSQL (`feed_imports.changes`, migration
//! 0035): the first advisories stored are unbounded, a later OSV import names the packages and
//! CVEs of the records it inserted or replaced (the replaced record's too), an unchanged record
//! adds nothing, and KEV runs are unbounded.

use pw_store::{AdvisoryRow, Backend, ImportChanges, ImportCounts, KevRow, Store};

#[macro_use]
mod common;

fn advisory(id: &str, modified: &str, name: &str, cve: &str) -> AdvisoryRow {
    AdvisoryRow {
        id: id.into(),
        modified: modified.parse().unwrap(),
        published: None,
        withdrawn: None,
        summary: String::new(),
        packages: vec![("Debian:12".into(), name.into())],
        record: format!(r#"{{"id":"{id}","aliases":["{cve}"],"modified":"{modified}"}}"#),
    }
}

async fn import(store: &Store, rows: &[AdvisoryRow]) {
    let mut tx = store.begin_import().await.unwrap();
    let mut counts = ImportCounts::default();
    for row in rows {
        tx.upsert_advisory(row, "test", &mut counts).await.unwrap();
    }
    tx.record_run("osv", "test", counts).await.unwrap();
    tx.commit().await.unwrap();
}

fn changes(packages: &[&str], cves: &[&str], ids: &[&str]) -> Option<ImportChanges> {
    Some(ImportChanges {
        packages: packages.iter().map(|p| p.to_string()).collect(),
        cves: cves.iter().map(|c| c.to_string()).collect(),
        advisories: Some(ids.iter().map(|c| c.to_string()).collect()),
    })
}

async fn an_import_names_what_it_changed(backend: Backend) {
    let (_dir, store) = common::fresh_store(backend).await;
    let none = store.imports_since(None).await.unwrap();
    assert_eq!((none.last, none.changes), (None, changes(&[], &[], &[])));
    let t1 = "2024-05-01T00:00:00Z";
    import(
        &store,
        &[
            advisory("DSA-1", t1, "openssl", "CVE-2024-0001"),
            advisory("DSA-2", t1, "curl", "CVE-2024-0002"),
        ],
    )
    .await;
    // The first advisories: scans leave the built-in snapshot, anything may change.
    let first = store.imports_since(None).await.unwrap();
    assert!(first.last.is_some());
    assert_eq!(first.changes, None);

    // DSA-1 moves from openssl to libssl3 with another CVE; DSA-2 is unchanged; DSA-3 is new.
    let t2 = "2024-06-01T00:00:00Z";
    import(
        &store,
        &[
            advisory("DSA-1", t2, "libssl3", "CVE-2024-0009"),
            advisory("DSA-2", t1, "curl", "CVE-2024-0002"),
            advisory("DSA-3", t2, "zlib", "CVE-2024-0003"),
        ],
    )
    .await;
    let second = store.imports_since(first.last).await.unwrap();
    assert!(second.last > first.last);
    assert_eq!(
        second.changes,
        changes(
            &["libssl3", "openssl", "zlib"],
            &["CVE-2024-0001", "CVE-2024-0003", "CVE-2024-0009"],
            &["DSA-1", "DSA-3"]
        )
    );
    // Nothing after the last import; everything since the start is unbounded.
    let after = store.imports_since(second.last).await.unwrap();
    assert_eq!(
        (after.last, after.changes),
        (second.last, changes(&[], &[], &[]))
    );
    assert_eq!(store.imports_since(None).await.unwrap().changes, None);

    // A KEV run re-ranks by CVE anywhere: unbounded.
    let mut tx = store.begin_import().await.unwrap();
    let kev = [KevRow {
        cve_id: "CVE-2024-0002".into(),
        date_added: "2024-06-02".into(),
        due_date: None,
        vendor_project: "v".into(),
        product: "p".into(),
        name: "n".into(),
        ransomware: "Unknown".into(),
        short_description: String::new(),
        required_action: String::new(),
        notes: String::new(),
        cwes: Vec::new(),
    }];
    let counts = tx.replace_kev("2024.06.02", &kev).await.unwrap();
    tx.record_run("kev", "2024.06.02", counts).await.unwrap();
    tx.commit().await.unwrap();
    let third = store.imports_since(second.last).await.unwrap();
    assert!(third.last > second.last);
    assert_eq!(third.changes, None);
}

on_both_backends!(an_import_names_what_it_changed);
