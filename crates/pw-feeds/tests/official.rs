//! Official data through pw-feeds and a real SQLite database: the Debian Security Tracker's JSON
//! (import by content or by name, sync from a loopback server, dated by the file or the HTTP
//! `Last-Modified`), which source wins for a Debian host, and Ubuntu's OSV records for Ubuntu
//! hosts.
//!
//! Data: `crates/pw-advisory/tests/data/debian-tracker-sample.json` — written by hand from the
//! format's documentation, **not** a copy of the tracker (PROVENANCE.md there) — and the
//! shipped snapshot's official Ubuntu records (`snapshot/osv-ubuntu-sample.jsonl.gz`).

use std::path::{Path, PathBuf};

use pw_advisory::AdvisoryIndex;
use pw_feeds::{Input, Kind, Silent, SyncSources, download, import, load_for_release, read_paths};
use pw_model::{InstalledPackage, OsRelease};
use pw_store::Store;

fn tracker_sample() -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../pw-advisory/tests/data/debian-tracker-sample.json"),
    )
    .unwrap()
}

fn snapshot(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("snapshot")
        .join(name)
}

fn deb(name: &str, source: &str, version: &str) -> InstalledPackage {
    InstalledPackage {
        name: name.into(),
        version: version.into(),
        arch: "amd64".into(),
        source: Some(source.into()),
        source_version: None,
    }
}

/// (binary, CVEs, fixed) of every match of `installed` on `os` against the database at `db`.
async fn findings(
    db: &Path,
    os: &str,
    installed: &[InstalledPackage],
) -> Vec<(String, String, Option<String>)> {
    let os = OsRelease::parse(os).unwrap();
    let (mut parsed, source) = load_for_release(db, &os).await.unwrap();
    assert!(source.starts_with("database"), "{source}");
    let index = AdvisoryIndex::new(parsed.advisories());
    index
        .match_packages(&os, false, installed)
        .iter()
        .map(|m| {
            (
                m.installed.name.clone(),
                m.cves.join(","),
                m.fixed.map(str::to_owned),
            )
        })
        .collect()
}

#[tokio::test]
async fn imports_the_tracker_dated_by_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("feeds/tracker.json");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, tracker_sample()).unwrap();
    let mtime = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_764_489_600);
    std::fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let store = Store::open(&dir.path().join("db/pw.db")).await.unwrap();
    let inputs = read_paths(&[dir.path().join("feeds")]).unwrap();
    let report = import(&store, &inputs, &Silent).await.unwrap();
    // 7 CVE issues in the sample; 1 has only sid. The TEMP- issue is not a CVE.
    assert_eq!((report.osv.records, report.osv.inserted), (6, 6));
    let less = store
        .advisory("DEBTRACKER-CVE-2024-32487:less")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(less.modified.to_string(), "2025-11-30T08:00:00Z");
    let again = import(&store, &inputs, &Silent).await.unwrap();
    assert_eq!((again.osv.inserted, again.osv.unchanged), (0, 6));

    // A tracker document whose first package has no issues is not recognised by content; named
    // with --format (Input::kind) it is read.
    let odd = format!(
        "{{\"aaa\": {{}}, {}",
        &String::from_utf8(tracker_sample()).unwrap().trim_start()[1..]
    );
    let mut input = Input::new("odd.json", odd.into_bytes());
    let error = import(&store, std::slice::from_ref(&input), &Silent)
        .await
        .unwrap_err();
    assert!(error.to_string().starts_with("odd.json: "), "{error}");
    input.kind = Some(Kind::DebianTracker);
    let named = import(&store, &[input], &Silent).await.unwrap();
    assert_eq!(named.osv.records, 6);
}

#[tokio::test]
async fn the_tracker_wins_over_the_changelog_snapshot_on_debian() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("pw.db");
    let store = Store::open(&db).await.unwrap();
    let snapshot_only = read_paths(&[snapshot("osv-debian12-changelogs.jsonl.gz")]).unwrap();
    import(&store, &snapshot_only, &Silent).await.unwrap();
    store.close().await;
    let host = [
        deb("libssl3", "openssl", "3.0.8-1"),
        deb("less", "less", "590-2.1~deb12u2"),
        deb("libc6", "glibc", "2.36-9+deb12u1"),
    ];
    let before = findings(&db, "debian:12", &host).await;
    // The changelog snapshot: openssl's CVE-2023-0464 is fixed in 3.0.9-1 (unstable).
    assert!(
        before.contains(&(
            "libssl3".into(),
            "CVE-2023-0464".into(),
            Some("3.0.9-1".into())
        )),
        "{before:?}"
    );

    let store = Store::open(&db).await.unwrap();
    let tracker = Input::new("tracker.json", tracker_sample());
    import(&store, &[tracker], &Silent).await.unwrap();
    store.close().await;
    let after = findings(&db, "debian:12", &host).await;
    // The tracker says bookworm's fix is 3.0.8-1: CVE-2023-0464 is gone, although the
    // snapshot's record is still stored. CVE-2024-2511 is open in the tracker (no fix) while
    // the snapshot calls 3.0.14-1~deb12u1 a fix: the tracker's "no fix" wins.
    assert!(
        !after.iter().any(|f| f.1.contains("CVE-2023-0464")),
        "{after:?}"
    );
    assert!(
        after.contains(&("libssl3".into(), "CVE-2024-2511".into(), None)),
        "{after:?}"
    );
    assert!(!after.iter().any(|f| f.0 == "less"), "{after:?}");
    assert!(
        after.contains(&(
            "libc6".into(),
            "CVE-2023-4911".into(),
            Some("2.36-9+deb12u3".into())
        )),
        "{after:?}"
    );
}

#[tokio::test]
async fn sync_reads_the_tracker_url_dated_by_last_modified() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let base = serve_once(tracker_sample()).await;
    let sources = SyncSources {
        osv: vec![],
        kev: None,
        epss: None,
        debian_tracker: Some(format!("{base}/tracker/data/json")),
    };
    let inputs = download(&sources, &Silent).await.unwrap();
    assert_eq!(inputs[0].kind, Some(Kind::DebianTracker));
    assert_eq!(
        inputs[0].date.map(|d| d.to_string()).as_deref(),
        Some("2026-11-30T06:00:00Z")
    );
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("pw.db")).await.unwrap();
    let report = import(&store, &inputs, &Silent).await.unwrap();
    assert_eq!(report.osv.inserted, 6);
}

/// An HTTP server on a loopback port answering every request with `body` and a Last-Modified.
async fn serve_once(body: Vec<u8>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let Ok((mut socket, _)) = listener.accept().await else {
            return;
        };
        let mut request = Vec::new();
        let mut buf = [0u8; 1024];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => request.extend_from_slice(&buf[..n]),
            }
        }
        let mut response = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nLast-Modified: Mon, 30 Nov 2026 06:00:00 GMT\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        response.extend_from_slice(&body);
        let _ = socket.write_all(&response).await;
    });
    base
}

#[tokio::test]
async fn ubuntu_hosts_are_matched_by_ubuntus_own_records() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("pw.db");
    let store = Store::open(&db).await.unwrap();
    let inputs = read_paths(&[
        snapshot("osv-ubuntu-sample.jsonl.gz"),
        snapshot("osv-debian12-changelogs.jsonl.gz"),
    ])
    .unwrap();
    import(&store, &inputs, &Silent).await.unwrap();
    store.close().await;
    let jammy = [
        deb("openssh-server", "openssh", "1:8.9p1-3ubuntu0.7"),
        deb("sudo", "sudo", "1.9.9-1ubuntu2.4"),
        deb("libc6", "glibc", "2.35-0ubuntu3.4"),
        deb("nginx", "nginx", "1.18.0-6ubuntu14.4"),
    ];
    let found = findings(&db, "ubuntu:22.04", &jammy).await;
    let expected: Vec<(String, String, Option<String>)> = [
        ("openssh-server", "CVE-2024-6387", "1:8.9p1-3ubuntu0.10"),
        ("sudo", "CVE-2025-32462,CVE-2025-32463", "1.9.9-1ubuntu2.5"),
        ("nginx", "CVE-2024-7347", "1.18.0-6ubuntu14.5"),
    ]
    .iter()
    .map(|(b, c, f)| (b.to_string(), c.to_string(), Some(f.to_string())))
    .collect();
    // USN-7604-1 names two CVEs and merges them; glibc 2.35-0ubuntu3.4 is the fix itself; no
    // Debian record reaches an Ubuntu host.
    assert_eq!(found, expected);
    let noble = [deb("openssh-server", "openssh", "1:9.6p1-3ubuntu3")];
    let found = findings(&db, "ubuntu:24.04", &noble).await;
    assert_eq!(
        found,
        [(
            "openssh-server".to_string(),
            "CVE-2024-6387".to_string(),
            Some("1:9.6p1-3ubuntu13.3".to_string())
        )]
    );
}

#[tokio::test]
async fn an_unreachable_tracker_stops_the_sync_before_anything_is_written() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // A port nobody listens on: bind, learn the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/tracker/data/json");
    let sources = SyncSources {
        osv: vec![],
        kev: None,
        epss: None,
        debian_tracker: Some(url.clone()),
    };
    let error = download(&sources, &Silent).await.unwrap_err().to_string();
    assert!(error.contains(&format!("cannot download {url}")), "{error}");
    assert!(error.contains("offline"), "{error}");
    assert!(error.contains("--debian-tracker-url"), "{error}");
}
