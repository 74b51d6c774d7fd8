//! A group's findings write (`ranked_write.rs`) on SQLite and PostgreSQL: a host whose write
//! fails fails alone, and every other host of the group gets its own list.

use pw_store::{Backend, DatabaseUrl, NewHost, Store};
use pw_testkit::at;

use crate::findings::Scanned;
use crate::ranked_write::{Write, record};

async fn fresh_store(backend: Backend) -> (Option<tempfile::TempDir>, Store) {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open(&dir.path().join("patchwarden.db"))
                .await
                .unwrap();
            (Some(dir), store)
        }
        Backend::Postgres => {
            let cluster = pw_testbed::postgres::shared();
            let url = DatabaseUrl::parse(&cluster.database().unwrap()).unwrap();
            (None, Store::connect(&url).await.unwrap())
        }
    }
}

async fn enroll(store: &Store, id: &str) {
    let expires = at("2100-01-01T00:00:00Z");
    let token = format!("sha-{id}");
    (store.create_enrollment_token(&format!("tok-{id}"), &token, expires, None, "alice"))
        .await
        .unwrap();
    let host = NewHost {
        id,
        hostname: id,
        fingerprint: &format!("fp-{id}"),
        not_after: expires,
    };
    let enrolled = store.enroll(&token, at("2026-01-15T00:00:00Z"), &host);
    enrolled.await.unwrap().unwrap();
}

/// An empty ranking of `host_id` from a source named after it.
fn write(host_id: &str) -> Write {
    Write {
        host_id: host_id.to_owned(),
        inventory_collected_at: at("2026-02-01T00:00:00Z"),
        basis: None,
        group: None,
        computed_at: at("2026-02-02T00:00:00Z"),
        findings_json: "[]".to_owned(),
        packed: pw_store::PackedList::of("[]").unwrap(),
        tier_counts_json: "[0,0,0,0,0]".to_owned(),
        count: 0,
        current: Vec::new(),
        backported: Vec::new(),
        texts: Default::default(),
        only: None,
        source: format!("source of {host_id}"),
        urgent: Vec::new(),
    }
}

async fn a_failed_host_fails_alone(backend: Backend) {
    let (_dir, store) = fresh_store(backend).await;
    enroll(&store, "h1").await;
    enroll(&store, "h2").await;
    // `ghost` is not enrolled: its write fails, and so does the group's transaction.
    let outcomes = record(&store, &[write("h1"), write("ghost"), write("h2")]).await;
    assert!(
        matches!(outcomes[0], Ok(Scanned::Stored(0, _))),
        "{outcomes:?}"
    );
    let error = format!("{:#}", outcomes[1].as_ref().unwrap_err());
    assert!(error.contains("ghost"), "{error}");
    assert!(
        matches!(outcomes[2], Ok(Scanned::Stored(0, _))),
        "{outcomes:?}"
    );
    for host in ["h1", "h2"] {
        let stored = store.findings(host).await.unwrap().unwrap();
        assert_eq!(stored.source, format!("source of {host}"));
    }
    assert!(store.findings("ghost").await.unwrap().is_none());
}

#[tokio::test]
async fn a_failed_host_fails_alone_sqlite() {
    a_failed_host_fails_alone(Backend::Sqlite).await
}

#[tokio::test]
async fn a_failed_host_fails_alone_postgres() {
    a_failed_host_fails_alone(Backend::Postgres).await
}
