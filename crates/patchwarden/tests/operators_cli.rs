//! `patchwarden operators add|list|revoke` on a data directory (the built binary), and a real
//! `patchwarden up` with debug logs: no token, login link, session or CSRF value ever appears in
//! its logs, and no token in the database files.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn patchwarden(args: &[&str], dir: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_patchwarden"))
        .args(["operators"])
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .env("USER", "tester")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn operators_are_added_listed_and_revoked_with_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let missing = patchwarden(&["list"], &data);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        text(&missing.stderr).contains("no database at"),
        "{missing:?}"
    );

    let added = patchwarden(&["add", "alice", "--role", "admin"], &data);
    assert!(added.status.success(), "{added:?}");
    let token = text(&added.stdout).trim().to_owned();
    assert!(token.starts_with("pwo_") && token.len() == 68, "{token}");
    assert!(text(&added.stderr).contains("shown this once"));

    let twice = patchwarden(&["add", "alice", "--role", "viewer"], &data);
    assert_eq!(twice.status.code(), Some(1));
    assert!(text(&twice.stderr).contains("already exists"), "{twice:?}");
    let bad_role = patchwarden(&["add", "bob", "--role", "root"], &data);
    assert_eq!(bad_role.status.code(), Some(2));
    let stderr = text(&bad_role.stderr);
    assert!(
        stderr.contains("unknown role \"root\"") && stderr.contains("approver"),
        "{stderr}"
    );
    let bad_name = patchwarden(&["add", "bob smith", "--role", "viewer"], &data);
    assert_eq!(bad_name.status.code(), Some(1));
    assert!(
        text(&bad_name.stderr).contains("contains ' '"),
        "{bad_name:?}"
    );
    let reserved = patchwarden(&["add", "controller", "--role", "viewer"], &data);
    assert!(text(&reserved.stderr).contains("reserved"), "{reserved:?}");
    assert!(
        patchwarden(&["add", "bob", "--role", "viewer"], &data)
            .status
            .success()
    );

    let table = text(&patchwarden(&["list"], &data).stdout);
    assert!(table.starts_with("NAME"), "{table}");
    let alice = table.lines().find(|l| l.starts_with("alice")).unwrap();
    assert!(
        alice.contains("admin") && alice.contains("cli:tester"),
        "{alice}"
    );
    assert!(!table.contains(&token));

    let revoked = patchwarden(&["revoke", "bob"], &data);
    assert!(revoked.status.success(), "{revoked:?}");
    assert!(text(&revoked.stdout).contains("bob revoked"));
    let again = patchwarden(&["revoke", "bob"], &data);
    assert!(text(&again.stderr).contains("already revoked"), "{again:?}");
    let nobody = patchwarden(&["revoke", "nobody"], &data);
    assert!(text(&nobody.stderr).contains("no operator named \"nobody\""));
    let json = patchwarden(&["list", "--format", "json"], &data);
    let listed: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let bob = &listed.as_array().unwrap()[1];
    assert_eq!(bob["name"], "bob");
    assert!(bob["revoked_at"].is_string(), "{listed}");
    assert!(bob.get("token_sha256").is_none());
}

/// One raw HTTP/1.1 exchange; the whole answer (head and body).
fn exchange(addr: &str, request: &str) -> String {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

fn cookie_of(answer: &str, name: &str) -> String {
    answer
        .lines()
        .filter_map(|l| l.strip_prefix("set-cookie: "))
        .find(|c| c.starts_with(&format!("{name}=")))
        .and_then(|c| c.split(';').next())
        .unwrap_or_else(|| panic!("no {name} cookie in {answer}"))
        .to_owned()
}

#[test]
fn no_secret_reaches_the_logs_or_the_database_files() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log_path = dir.path().join("up.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_patchwarden"))
        .args(["up", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut first)
        .unwrap();
    let url = first.split_whitespace().last().unwrap().to_owned();
    let rest = url.strip_prefix("http://").unwrap();
    let (addr, link) = rest.split_at(rest.find('/').unwrap());
    let ticket = link.split("ticket=").nth(1).unwrap().to_owned();
    let token = std::fs::read_to_string(data.join("admin.token")).unwrap();
    let token = token.trim();
    let head = |path: &str, extra: &str| {
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{extra}\r\n")
    };

    let signed_in = exchange(addr, &head(link, ""));
    let session = cookie_of(&signed_in, "pw_session");
    let page = exchange(addr, &head("/", &format!("Cookie: {session}\r\n")));
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    let marker = "name=\"csrf\" value=\"";
    let csrf = page[page.find(marker).unwrap() + marker.len()..]
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let api = exchange(
        addr,
        &head(
            "/api/v1/hosts",
            &format!("Authorization: Bearer {token}\r\n"),
        ),
    );
    assert!(api.starts_with("HTTP/1.1 200"), "{api}");
    let wrong = "pwo_1111111111111111111111111111111111111111111111111111111111111111";
    let refused = exchange(
        addr,
        &head(
            "/api/v1/hosts",
            &format!("Authorization: Bearer {wrong}\r\n"),
        ),
    );
    assert!(refused.starts_with("HTTP/1.1 401"), "{refused}");
    let form = exchange(addr, &head("/login", ""));
    let login_csrf = cookie_of(&form, "pw_login_csrf");
    let body = format!(
        "csrf={}&token={token}",
        &login_csrf["pw_login_csrf=".len()..]
    );
    let posted = exchange(
        addr,
        &format!(
            "POST /login HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nCookie: {login_csrf}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    );
    assert!(posted.starts_with("HTTP/1.1 303"), "{posted}");
    let second_session = cookie_of(&posted, "pw_session");
    stop(&mut child);

    let logs = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        logs.contains("signed in"),
        "debug logs were not captured: {logs}"
    );
    let secrets = [
        token,
        wrong,
        &ticket,
        &session["pw_session=".len()..],
        &second_session["pw_session=".len()..],
        &csrf,
        &login_csrf["pw_login_csrf=".len()..],
    ];
    for secret in secrets {
        assert!(secret.len() >= 64, "{secret}");
        assert!(!logs.contains(secret), "a secret is in the logs: {secret}");
    }
    // The database keeps hashes only (the CSRF token of a session is stored by design).
    for file in std::fs::read_dir(&data).unwrap() {
        let path = file.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            let content = String::from_utf8_lossy(&bytes);
            if path.ends_with("admin.token") {
                continue;
            }
            for secret in &secrets[..5] {
                assert!(
                    !content.contains(secret),
                    "{} holds a secret",
                    path.display()
                );
            }
        }
    }
}

/// Stops the child (SIGKILL through std) and waits for it.
fn stop(child: &mut std::process::Child) {
    let _ = child.kill();
    let _ = child.wait();
}
