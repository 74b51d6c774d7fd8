//! Helpers shared by pw-store's integration tests: instants, and a fresh database with one
//! enrolled host `h1` (`web-1`).

use jiff::Timestamp;
use pw_store::{NewHost, Store};

pub fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

/// A new database in a temporary directory with host `h1` enrolled.
pub async fn store_with_host() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("patchwarden.db"))
        .await
        .unwrap();
    let expires = at("2100-01-01T00:00:00Z");
    store
        .create_enrollment_token("tok-1", "sha", expires, None, "alice")
        .await
        .unwrap();
    let host = NewHost {
        id: "h1",
        hostname: "web-1",
        fingerprint: "fp",
        not_after: expires,
    };
    store
        .enroll("sha", at("2026-01-01T00:00:00Z"), &host)
        .await
        .unwrap()
        .unwrap();
    (dir, store)
}
