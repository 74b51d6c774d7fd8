//! `patchwarden server --database postgres://…` end to end, on a real PostgreSQL server (a
//! throwaway cluster from `pw_testbed::postgres`): an operator added with `operators
//! --database`, a fleet document applied over the API and read back — also from a second
//! controller on another port and data directory with the same database and token — and no
//! SQLite file written. A database URL that is wrong, or names a server that does not answer,
//! stops the start with an error naming the URL without its password.
//!
//! Replicas with the operator's `--secret-key-file` share the controller CA and the login
//! form's key through the database (sealed): the same CA certificate on both, a login form
//! served by one accepted by the other and its session valid on both; a replica with another
//! key, or with none, is refused at start with an error naming the key file and nothing secret.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

mod up_process;

use pw_testkit::http::set_cookie;
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
    start_command(server(data, database))
}

/// [`server`] with `--secret-key-file key`.
fn server_with_key(data: &Path, database: &str, key: &Path) -> Command {
    let mut command = server(data, database);
    command.arg("--secret-key-file").arg(key);
    command
}

/// `command` (a [`server`]) started, and its base URL (from its first line).
fn start_command(mut command: Command) -> (Killed, String) {
    let child = command
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
    failed(server(dir.path(), database))
}

/// `command` run to its end, which must be a failure: its stderr.
fn failed(mut command: Command) -> String {
    let out = command.output().unwrap();
    assert!(!out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A key file of 64 hex digits (0600).
fn key_file(path: &Path, byte: u8) -> String {
    use std::os::unix::fs::PermissionsExt;
    let hex = format!("{byte:02x}").repeat(32);
    std::fs::write(path, format!("{hex}\n")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    hex
}

/// Signs in through the login form served by `form_from`, posted to `post_to`: the session
/// cookie (`pw_session=…`).
async fn sign_in_across(form_from: &str, post_to: &str, token: &str) -> String {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = http.get(format!("{form_from}/login")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let cookie = set_cookie(&page, "pw_login_csrf").expect("no pw_login_csrf cookie");
    let html = page.text().await.unwrap();
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no csrf field: {html}"))
        .to_owned();
    let answer = http
        .post(format!("{post_to}/login"))
        .header("cookie", cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        // Both are URL-safe as they are (pwo_/pwc_ hex, digits and dots).
        .body(format!("token={token}&csrf={csrf}"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 303, "{}", answer.text().await.unwrap());
    set_cookie(&answer, "pw_session").expect("no pw_session cookie")
}

#[tokio::test]
async fn replicas_with_one_secret_key_share_the_ca_and_sign_ins_and_another_key_is_refused() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let database = pw_testbed::postgres::shared().database().unwrap();
    let token = add_admin(&database);
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("secret.key");
    key_file(&key, 0x5a);
    let (_a, first) = start_command(server_with_key(&dir.path().join("a"), &database, &key));
    let (_b, second) = start_command(server_with_key(&dir.path().join("b"), &database, &key));
    let ca_a = std::fs::read_to_string(dir.path().join("a/ca/ca.pem")).unwrap();
    let ca_b = std::fs::read_to_string(dir.path().join("b/ca/ca.pem")).unwrap();
    assert_eq!(ca_a, ca_b, "one CA for both replicas");
    assert!(
        !dir.path().join("a/ca/ca.key").exists(),
        "the key stays sealed"
    );
    // Enrollment tokens from either replica carry that CA.
    for base in [&first, &second] {
        let answer = reqwest::Client::new()
            .post(format!("{base}/api/v1/enrollment-tokens"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"ttl_secs": 60}))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 201);
        let body: serde_json::Value = answer.json().await.unwrap();
        assert_eq!(body["ca_certificate_pem"], ca_a.as_str());
    }
    // A login form from one replica is accepted by the other; the session works on both.
    let session = sign_in_across(&first, &second, &token).await;
    for base in [&first, &second] {
        let page = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .get(format!("{base}/"))
            .header("cookie", &session)
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200, "{base}");
        assert!(page.text().await.unwrap().contains("alice"), "{base}");
    }

    // Another key: refused at start, naming the key file, showing no key.
    let wrong = dir.path().join("wrong.key");
    let wrong_hex = key_file(&wrong, 0x33);
    let stderr = failed(server_with_key(&dir.path().join("c"), &database, &wrong));
    assert!(
        stderr.contains("does not open the controller secret"),
        "{stderr}"
    );
    assert!(stderr.contains(&wrong.display().to_string()), "{stderr}");
    assert!(
        !stderr.contains(&wrong_hex) && !stderr.contains("5a5a5a"),
        "{stderr}"
    );
    // No key on a database whose controllers share one: refused too.
    let stderr = failed(server(&dir.path().join("d"), &database));
    assert!(stderr.contains("--secret-key-file"), "{stderr}");
    // A key file that is not a key.
    std::fs::write(&wrong, "hunter2").unwrap();
    let stderr = failed(server_with_key(&dir.path().join("e"), &database, &wrong));
    assert!(stderr.contains("64 hex digits"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
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
