//! `patchwarden up` on an empty data directory (the built binary as a child process): it comes
//! up, serves `/` with this machine's host name and lists it under `/api/v1/hosts`; then
//! `patchwarden audit verify` passes, and fails naming the row after one row is tampered with.

mod up_process;

use std::io::Read;
use std::process::Command;

use std::time::{Duration, Instant};
use up_process::start_up;

/// A GET with extra header lines (each ending in \r\n); status, head and body.
fn request(addr: &str, path: &str, headers: &str) -> Option<(u16, String, String)> {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{headers}\r\n"
    )
    .ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, head.to_owned(), body.to_owned()))
}

fn get(addr: &str, path: &str, headers: &str) -> Option<(u16, String)> {
    request(addr, path, headers).map(|(status, _, body)| (status, body))
}

/// A GET that returns status, body and the `pw_session=…` cookie it set (empty when none).
fn get_with_cookie(addr: &str, path: &str) -> (u16, String, String) {
    let (status, head, body) = request(addr, path, "").unwrap();
    let cookie = head
        .lines()
        .filter_map(|l| l.strip_prefix("set-cookie: "))
        .find(|c| c.starts_with("pw_session="))
        .and_then(|c| c.split(';').next())
        .unwrap_or("")
        .to_owned();
    (status, body, cookie)
}

fn this_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_owned()
}

#[test]
fn up_serves_this_machine_and_the_audit_chain_verifies_until_tampered() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let started = Instant::now();
    let (child, first_line) = start_up(&data);
    let url = first_line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL printed: {first_line:?}"))
        .to_owned();
    let (addr, login_path) =
        url["http://".len()..].split_at(url["http://".len()..].find('/').unwrap());
    let (addr, login_path) = (addr.to_owned(), login_path.to_owned());
    assert!(login_path.starts_with("/login?ticket=pwl_"), "{url}");
    // The first start created the local admin; its token is in the data directory, 0600.
    let token_file = data.join("admin.token");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&token_file.metadata().unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    let token = std::fs::read_to_string(&token_file).unwrap();
    let bearer = format!("Authorization: Bearer {}\r\n", token.trim());
    assert_eq!(get(&addr, "/api/v1/hosts", "").unwrap().0, 401);
    let hostname = this_hostname();
    let mut listed = false;
    // Bounded: the inventory of a real machine arrives within seconds.
    for _ in 0..300 {
        if let Some((200, hosts)) = get(&addr, "/api/v1/hosts", &bearer)
            && hosts.contains(&format!("\"hostname\":\"{hostname}\""))
        {
            listed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        listed,
        "{hostname} not listed after {:?}",
        started.elapsed()
    );
    eprintln!("up: host listed {:?} after start", started.elapsed());
    // The printed link signs the browser in (once) and continues to the page.
    assert_eq!(
        get(&addr, "/", "").unwrap().0,
        303,
        "no page without a session"
    );
    let (status, signed_in, cookie) = get_with_cookie(&addr, &login_path);
    assert_eq!(status, 200, "{signed_in}");
    assert!(signed_in.contains("url=/?lang="), "{signed_in}");
    assert_eq!(
        get_with_cookie(&addr, &login_path).0,
        401,
        "the link works once"
    );
    let (status, page) = get(&addr, "/", &format!("Cookie: {cookie}\r\n")).unwrap();
    assert_eq!(status, 200);
    assert!(
        page.contains(&format!("<td class=\"hostname\">{hostname}</td>")),
        "{page}"
    );
    let (_, metrics) = get(&addr, "/metrics", "").unwrap();
    assert!(
        metrics.contains("patchwarden_agent_inventory_reports_total"),
        "{metrics}"
    );
    drop(child);

    // Every start prints a new single-use link; the admin and its token file stay as they were.
    let (again, line) = start_up(&data);
    let (ticket, new_ticket) = (login_path.split('=').nth(1), line.split('=').nth(1));
    assert!(new_ticket.is_some() && new_ticket != ticket, "{line}");
    assert_eq!(std::fs::read_to_string(&token_file).unwrap(), token);
    drop(again);

    let db = data.join("patchwarden.db");
    let verify = || {
        Command::new(env!("CARGO_BIN_EXE_patchwarden"))
            .args(["audit", "verify", "--db"])
            .arg(&db)
            .output()
            .unwrap()
    };
    let intact = verify();
    let stdout = String::from_utf8_lossy(&intact.stdout);
    assert!(intact.status.success(), "{stdout}");
    assert!(stdout.contains("audit chain intact"), "{stdout}");

    tamper(&db, 2);
    let broken = verify();
    let stdout = String::from_utf8_lossy(&broken.stdout);
    assert_eq!(broken.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("broken at record 2"), "{stdout}");
}

/// Rewrites one audit row the way someone with the file could (dropping the guard trigger).
fn tamper(db: &std::path::Path, seq: i64) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = pw_store::Store::open(db).await.unwrap();
        let pool = store.pool();
        sqlx::query("DROP TRIGGER audit_no_update")
            .execute(pool)
            .await
            .unwrap();
        sqlx::query("UPDATE audit SET actor = 'nobody' WHERE seq = ?")
            .bind(seq)
            .execute(pool)
            .await
            .unwrap();
        store.close().await;
    });
}
