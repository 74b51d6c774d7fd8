//! What several controllers on one database share (issue 15 item 2): secrets sealed with the
//! operator's key — created once, opened by every controller with the same key, refused with
//! another — and the announcement of new commands to every controller's long-polls
//! (PostgreSQL LISTEN/NOTIFY, sent when the queuing transaction commits).

use std::path::Path;
use std::time::Duration;

use pw_store::{Backend, SecretKey};

#[macro_use]
mod common;

fn key(byte: u8) -> SecretKey {
    SecretKey::from_bytes(&[byte; 32], Path::new("/etc/patchwarden/secret.key")).unwrap()
}

async fn a_secret_is_created_once_and_opens_only_with_its_key(backend: Backend) {
    let (_guard, store) = common::fresh_store(backend).await;
    assert!(store.shared_secret_names().await.unwrap().is_empty());
    let first = store
        .shared_secret(&key(7), "ca", || Ok(b"the CA".to_vec()))
        .await
        .unwrap();
    assert_eq!(first, b"the CA");
    let again = store
        .shared_secret(&key(7), "ca", || panic!("created twice"))
        .await
        .unwrap();
    assert_eq!(again, b"the CA");
    let error = store
        .shared_secret(&key(8), "ca", || panic!("created under another key"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("/etc/patchwarden/secret.key") && error.contains("does not open"),
        "{error}"
    );
    assert_eq!(store.shared_secret_names().await.unwrap(), ["ca"]);
    // Nothing readable is stored.
    let sealed: String = sqlx::query_scalar("SELECT sealed FROM controller_secrets")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert!(!sealed.contains(&hex_of(b"the CA")));
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn new_commands_are_announced_to_every_listening_controller(backend: Backend) {
    let (_guard, store) = common::store_with_host(backend).await;
    let listener = store.listen_for_commands().await.unwrap();
    if backend == Backend::Sqlite {
        assert!(listener.is_none(), "one controller per SQLite file");
        return;
    }
    let mut listener = listener.unwrap();
    store
        .create_command(
            "cmd-1",
            "h1",
            "inventory",
            "{\"kind\":\"inventory\"}",
            "alice",
        )
        .await
        .unwrap();
    let hosts = tokio::time::timeout(Duration::from_secs(5), listener.next())
        .await
        .expect("announced within 5 s")
        .unwrap();
    assert_eq!(hosts, Some(vec!["h1".to_owned()]));
}

#[tokio::test]
async fn a_failed_batch_announces_nothing_and_the_next_command_is_heard() {
    let (_guard, store) = common::store_with_host(Backend::Postgres).await;
    let mut listener = store.listen_for_commands().await.unwrap().unwrap();
    // A batch naming an unknown host fails as a whole: nothing is announced for it.
    let bad = [
        pw_store::NewCommand {
            id: "cmd-a",
            host_id: "h1",
            kind: "inventory",
            payload_json: "{}",
        },
        pw_store::NewCommand {
            id: "cmd-b",
            host_id: "nobody",
            kind: "inventory",
            payload_json: "{}",
        },
    ];
    assert!(store.create_commands(&bad, "alice").await.is_err());
    store
        .create_command("cmd-c", "h1", "inventory", "{}", "alice")
        .await
        .unwrap();
    let hosts = tokio::time::timeout(Duration::from_secs(5), listener.next())
        .await
        .expect("announced within 5 s")
        .unwrap();
    assert_eq!(hosts, Some(vec!["h1".to_owned()]));
    let rows = store.take_open_commands("h1").await.unwrap();
    assert_eq!(rows.len(), 1, "only the committed command");
    assert_eq!(rows[0].id, "cmd-c");
}

on_both_backends!(
    a_secret_is_created_once_and_opens_only_with_its_key,
    new_commands_are_announced_to_every_listening_controller,
);
