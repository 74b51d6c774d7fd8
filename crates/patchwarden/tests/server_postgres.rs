//! `patchwarden server --database postgres://…` end to end, on a real PostgreSQL server (a
//! throwaway cluster from `pw_testbed::postgres`): an operator added with `operators
//! --database`, a fleet document applied over the API and read back — also from a second
//! controller on another port and data directory with the same database and token — and no
//! SQLite file written. A database URL that is wrong, or names a server that does not answer,
//! stops the start with an error naming the URL without its password.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

mod up_process;

use up_process::Killed;

const FLEET: &str = r#"
[groups.web]
environment = "production"
owners = ["web-team@example.com"]
windows = [{ name = "nightly", rrule = "FREQ=DAILY;BYHOUR=1", dtstart = "2026-11-01T01:00:00", tz = "UTC", duration = "4h" }]
[groups.web.members]
hostnames = ["web-*"]
"#;

/// `patchwarden server` on `data` and `database`, listening on a free port.
fn server(data: &Path, database: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_patchwarden"));
    command
        .args([
            "server",
            "--listen",
            "127.0.0.1:0",
            "--database",
            database,
            "--data-dir",
        ])
        .arg(data)
        .env("RUST_LOG", "warn");
    command
}

/// [`server`] started, and its base URL (from its first line).
fn start_server(data: &Path, database: &str) -> (Killed, String) {
    let child = server(data, database)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = Killed(child);
    let mut first = String::new();
    BufReader::new(child.0.stdout.as_mut().unwrap())
        .read_line(&mut first)
        .unwrap();
    let url = first
        .strip_prefix("patchwarden controller: ")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .trim()
        .trim_end_matches('/')
        .to_owned();
    (child, url)
}

fn add_admin(database: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_patchwarden"))
        .args([
            "operators",
            "add",
            "alice",
            "--role",
            "admin",
            "--database",
            database,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

async fn fleet_version(base: &str, token: &str) -> serde_json::Value {
    let answer = reqwest::Client::new()
        .get(format!("{base}/api/v1/fleet"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    answer.json().await.unwrap()
}

#[tokio::test]
async fn a_controller_on_postgres_keeps_its_data_there_and_a_second_one_serves_it() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let database = pw_testbed::postgres::shared().database().unwrap();
    let token = add_admin(&database);
    let dir = tempfile::tempdir().unwrap();
    let (first, base) = start_server(&dir.path().join("a"), &database);
    let applied = reqwest::Client::new()
        .put(format!("{base}/api/v1/fleet"))
        .bearer_auth(&token)
        .header("content-type", "application/toml")
        .body(FLEET)
        .send()
        .await
        .unwrap();
    assert_eq!(applied.status(), 200, "{}", applied.text().await.unwrap());
    let fleet = fleet_version(&base, &token).await;
    assert_eq!(fleet["version"], 1, "{fleet}");
    assert_eq!(fleet["operator"], "alice");
    assert!(!dir.path().join("a/patchwarden.db").exists());

    // Another controller, its own port and data directory, the same database: same data,
    // same token, and it continues the same version sequence.
    let (_second, other) = start_server(&dir.path().join("b"), &database);
    assert_eq!(fleet_version(&other, &token).await, fleet);
    drop(first);
    let (_third, again) = start_server(&dir.path().join("a"), &database);
    assert_eq!(fleet_version(&again, &token).await["document"], FLEET);
}

fn failed_start(database: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = server(dir.path(), database).output().unwrap();
    assert!(!out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_bad_or_unreachable_database_is_named_without_its_password() {
    let stderr = failed_start("postgress://pw:hunter2@db.example/x");
    assert!(stderr.contains("database: "), "{stderr}");
    assert!(stderr.contains("postgress://pw@db.example/x"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");

    // A port nothing listens on (taken and released here).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let stderr = failed_start(&format!("postgres://pw:hunter2@127.0.0.1:{port}/x"));
    let shown = format!("connecting to the database postgres://pw@127.0.0.1:{port}/x");
    assert!(stderr.contains(&shown), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
}
