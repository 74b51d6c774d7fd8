//! A finding text's id kept by the process once committed (issue 15: a first scan's ~1,000 text
//! lookups were 10.8 ms of its turn in the writers' line at 10,000 hosts): a second host shown
//! the same findings names the stored texts without looking them up by digest. Shown by
//! changing the stored digests behind the store's back (a lookup would then miss and store the
//! texts again). The same for a text's advisory names (the console's CVE search): recorded
//! once a process, shown by deleting them behind the store's back. On SQLite and PostgreSQL.

#[macro_use]
mod common;

use common::{at, fresh_store};
use pw_store::{Backend, Computation, CurrentFinding, Store};
use sqlx::Row;

fn finding(index: u32) -> CurrentFinding {
    let deadline = at("2026-03-01T00:00:00Z");
    let json = serde_json::json!({
        "binary": "p-bin", "package": "p", "advisory": format!("A{index}"), "fixed": "1.1",
        "kev": false, "epss": 0.25, "deadline": deadline.to_string(),
        "aliases": [format!("CVE-2026-{index:04}")],
    });
    CurrentFinding {
        binary: "p-bin".into(),
        advisory: format!("A{index}"),
        tier: 2,
        deadline: Some(deadline),
        json: json.to_string(),
    }
}

/// The text ids of `host`'s open findings, by key.
async fn text_ids(store: &Store, host: &str) -> Vec<(String, i64)> {
    let rows = sqlx::query(
        "SELECT advisory, text_id FROM open_findings_named WHERE host_id = $1 ORDER BY advisory",
    )
    .bind(host)
    .fetch_all(store.pool())
    .await
    .unwrap();
    (rows.iter())
        .map(|row| (row.get("advisory"), row.get("text_id")))
        .collect()
}

async fn a_text_committed_is_named_again_without_a_lookup(backend: Backend) {
    let (_guard, store) = fresh_store(backend).await;
    for host in ["h1", "h2"] {
        common::enroll(&store, host).await;
    }
    let current: Vec<CurrentFinding> = (0..3).map(finding).collect();
    let whole = Computation::default();
    common::record_round(&store, ("h1", 0), &current, whole).await;
    let first = text_ids(&store, "h1").await;
    assert_eq!(first.len(), 3);

    // Every stored digest changed: a lookup by digest finds none of them now.
    let drop = match backend {
        Backend::Sqlite => "DROP TRIGGER finding_texts_final",
        Backend::Postgres => "DROP TRIGGER finding_texts_final ON finding_texts",
    };
    (sqlx::query(drop).execute(store.pool()).await).unwrap();
    for (_, id) in &first {
        let other = vec![u8::try_from(*id).unwrap(); 16];
        let change = "UPDATE finding_texts SET digest = $1 WHERE id = $2";
        let query = sqlx::query(change).bind(other).bind(*id);
        query.execute(store.pool()).await.unwrap();
    }
    let count = "SELECT COUNT(*) AS n FROM finding_texts";
    let texts = |row: sqlx::any::AnyRow| row.get::<i64, _>("n");
    let before = texts(sqlx::query(count).fetch_one(store.pool()).await.unwrap());

    common::record_round(&store, ("h2", 0), &current, whole).await;
    assert_eq!(text_ids(&store, "h2").await, first, "the same texts named");
    let after = texts(sqlx::query(count).fetch_one(store.pool()).await.unwrap());
    assert_eq!(after, before, "no text stored again");
}

/// The stored advisory names, sorted.
async fn names(store: &Store) -> Vec<(String, String)> {
    let all = "SELECT alias, advisory FROM advisory_aliases ORDER BY alias, advisory";
    let rows = sqlx::query(all).fetch_all(store.pool()).await.unwrap();
    (rows.iter())
        .map(|row| (row.get("alias"), row.get("advisory")))
        .collect()
}

async fn a_text_named_is_not_named_again_by_the_process(backend: Backend) {
    let (_guard, store) = fresh_store(backend).await;
    for host in ["h1", "h2", "h3"] {
        common::enroll(&store, host).await;
    }
    let current: Vec<CurrentFinding> = (0..2).map(finding).collect();
    let whole = Computation::default();
    common::record_round(&store, ("h1", 0), &current, whole).await;
    let named = names(&store).await;
    let expected = ["A0", "A1", "CVE-2026-0000", "CVE-2026-0001"];
    assert_eq!(
        named.iter().map(|n| n.0.as_str()).collect::<Vec<_>>(),
        expected
    );

    // Gone behind the store's back: the same texts on another host are not named again ...
    let delete = sqlx::query("DELETE FROM advisory_aliases");
    delete.execute(store.pool()).await.unwrap();
    common::record_round(&store, ("h2", 0), &current, whole).await;
    assert_eq!(names(&store).await, [], "named once by this process");
    // ... a new text is ...
    let more: Vec<CurrentFinding> = (0..3).map(finding).collect();
    common::record_round(&store, ("h2", 1), &more, whole).await;
    let new = [("A2", "A2"), ("CVE-2026-0002", "A2")].map(|(a, b)| (a.into(), b.into()));
    assert_eq!(names(&store).await, new);
    // ... and another process names every text it writes once.
    let other = Store::connect(store.url()).await.unwrap();
    common::record_round(&other, ("h3", 0), &more, whole).await;
    let all = names(&other).await;
    assert_eq!(all.len(), 6, "every name again: {all:?}");
}

on_both_backends!(
    a_text_committed_is_named_again_without_a_lookup,
    a_text_named_is_not_named_again_by_the_process
);
