//! pw-feeds against real files and a real SQLite database: imports of the real shared data
//! (gzip, JSONL, directories, zip), idempotent re-imports, corrupt inputs that change nothing,
//! and `sync` against a local HTTP server.

use std::io::Write;
use std::path::{Path, PathBuf};

use pw_feeds::{Silent, SyncSources, download, import, read_paths};
use pw_store::{Store, StoreCounts};

fn snapshot(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("snapshot")
        .join(name)
}

async fn store(dir: &Path) -> Store {
    Store::open(&dir.join("db/patchwarden.db")).await.unwrap()
}

const ALL: [&str; 5] = [
    "osv-debian12-changelogs.jsonl.gz",
    "osv-ubuntu-sample.jsonl.gz",
    "osv-almalinux.jsonl.gz",
    "kev.json.gz",
    "epss-sample.csv.gz",
];

#[tokio::test]
async fn imports_the_real_feeds_idempotently() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path()).await;
    let paths: Vec<PathBuf> = ALL.iter().map(|n| snapshot(n)).collect();
    let inputs = read_paths(&paths).unwrap();
    let report = import(&store, &inputs, &Silent).await.unwrap();
    // 3,633 Debian + 6 Ubuntu + 5,680 AlmaLinux records (shared/data/README.md), of which 43
    // AlmaLinux ids appear twice (the same record in the almalinux8 and almalinux9 folders,
    // checked with python): stored once, the second copy counts as unchanged.
    assert_eq!(report.osv.records, 3633 + 6 + 5680);
    assert_eq!(
        (report.osv.inserted, report.osv.unchanged),
        (3633 + 6 + 5637, 43)
    );
    assert_eq!(report.kev.unwrap().inserted, 1404);
    assert_eq!(report.epss.unwrap().records, 1071);
    assert_eq!(
        store.counts().await.unwrap(),
        StoreCounts {
            advisories: 9276,
            kev: 1404,
            epss: 1071
        }
    );
    let usn = store.advisory("USN-6859-1").await.unwrap().unwrap();
    // The record's own date (from the file, checked with python), not the import time.
    assert_eq!(
        usn.modified,
        "2025-07-16T04:45:20Z".parse::<jiff::Timestamp>().unwrap()
    );

    let again = import(&store, &inputs, &Silent).await.unwrap();
    assert_eq!(
        (again.osv.inserted, again.osv.updated, again.osv.unchanged),
        (0, 0, 9319)
    );
    assert_eq!(again.kev.unwrap().unchanged, 1404);
    assert_eq!(again.epss.unwrap().unchanged, 1071);
    let usn_again = store.advisory("USN-6859-1").await.unwrap().unwrap();
    assert_eq!(
        usn_again.modified, usn.modified,
        "modified dates are the records' own"
    );
}

#[tokio::test]
async fn reads_directories_plain_files_and_zip_archives() {
    let dir = tempfile::tempdir().unwrap();
    let feeds = dir.path().join("feeds/nested");
    std::fs::create_dir_all(&feeds).unwrap();
    std::fs::copy(
        snapshot("osv-ubuntu-sample.jsonl.gz"),
        feeds.join("ubuntu.jsonl.gz"),
    )
    .unwrap();
    std::fs::write(feeds.join("README.txt"), "not a feed; skipped by name").unwrap();
    // One plain JSON record, and a zip of two records as OSV's all.zip exports are laid out.
    let inputs = read_paths(&[snapshot("osv-debian12-changelogs.jsonl.gz")]).unwrap();
    let text = String::from_utf8(inputs[0].bytes.clone()).unwrap();
    let lines: Vec<&str> = text.lines().take(3).collect();
    std::fs::write(dir.path().join("feeds/one.json"), lines[0]).unwrap();
    let zip_path = dir.path().join("feeds/all.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&zip_path).unwrap());
    for (i, line) in lines[1..].iter().enumerate() {
        zip.start_file(
            format!("R-{i}.json"),
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        zip.write_all(line.as_bytes()).unwrap();
    }
    zip.finish().unwrap();

    let inputs = read_paths(&[dir.path().join("feeds")]).unwrap();
    let origins: Vec<String> = inputs
        .iter()
        .map(|i| i.origin.rsplit('/').next().unwrap().to_owned())
        .collect();
    assert_eq!(
        origins,
        [
            "all.zip!R-0.json",
            "all.zip!R-1.json",
            "ubuntu.jsonl.gz",
            "one.json"
        ]
    );
    let store = store(dir.path()).await;
    let report = import(&store, &inputs, &Silent).await.unwrap();
    assert_eq!(report.osv.inserted, 2 + 6 + 1);
}

#[tokio::test]
async fn a_corrupt_file_fails_the_import_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path()).await;
    import(
        &store,
        &read_paths(&[snapshot("osv-ubuntu-sample.jsonl.gz")]).unwrap(),
        &Silent,
    )
    .await
    .unwrap();
    let before = store.counts().await.unwrap();

    // A good file first, then one truncated in the middle of its third line.
    let debian = read_paths(&[snapshot("osv-debian12-changelogs.jsonl.gz")]).unwrap();
    let text = String::from_utf8(debian[0].bytes.clone()).unwrap();
    let cut: usize = text.lines().take(2).map(|l| l.len() + 1).sum::<usize>() + 40;
    let bad = dir.path().join("truncated.jsonl");
    std::fs::write(&bad, &text[..cut]).unwrap();
    let mut inputs = debian;
    inputs.extend(read_paths(std::slice::from_ref(&bad)).unwrap());
    let error = import(&store, &inputs, &Silent)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with(&format!("{}: line 3", bad.display())),
        "{error}"
    );
    assert_eq!(store.counts().await.unwrap(), before);

    // A gzip file cut short is reported by name too.
    let gz = std::fs::read(snapshot("kev.json.gz")).unwrap();
    let short = dir.path().join("kev.json.gz");
    std::fs::write(&short, &gz[..gz.len() / 2]).unwrap();
    let error = read_paths(std::slice::from_ref(&short))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("kev.json.gz: corrupt or truncated gzip"),
        "{error}"
    );
    assert_eq!(store.counts().await.unwrap(), before);
}

/// A minimal HTTP/1.1 file server on a loopback port chosen by the kernel.
async fn serve(files: Vec<(&'static str, Vec<u8>)>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let files = files.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let line = String::from_utf8_lossy(&request)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_owned();
                let path = line.split(' ').nth(1).unwrap_or("/");
                let response = match files.iter().find(|(name, _)| path == format!("/{name}")) {
                    Some((_, body)) => {
                        let mut r = format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        )
                        .into_bytes();
                        r.extend_from_slice(body);
                        r
                    }
                    None => {
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                            .to_vec()
                    }
                };
                let _ = socket.write_all(&response).await;
            });
        }
    });
    base
}

#[tokio::test]
async fn sync_downloads_from_configured_locations() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let read = |n: &str| std::fs::read(snapshot(n)).unwrap();
    let base = serve(vec![
        ("osv/ubuntu.jsonl.gz", read("osv-ubuntu-sample.jsonl.gz")),
        ("kev.json.gz", read("kev.json.gz")),
        ("epss.csv.gz", read("epss-sample.csv.gz")),
    ])
    .await;
    let sources = SyncSources {
        osv: vec![format!("{base}/osv/ubuntu.jsonl.gz")],
        kev: Some(format!("{base}/kev.json.gz")),
        epss: Some(format!("{base}/epss.csv.gz")),
        debian_tracker: None,
    };
    let inputs = download(&sources, &Silent).await.unwrap();
    assert_eq!(inputs.len(), 3);
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path()).await;
    let report = import(&store, &inputs, &Silent).await.unwrap();
    assert_eq!(report.osv.inserted, 6);
    assert_eq!(
        store.counts().await.unwrap(),
        StoreCounts {
            advisories: 6,
            kev: 1404,
            epss: 1071
        }
    );

    let missing = SyncSources {
        osv: vec![format!("{base}/nope.zip")],
        kev: None,
        epss: None,
        debian_tracker: None,
    };
    let error = download(&missing, &Silent).await.unwrap_err().to_string();
    assert!(
        error.contains("nope.zip") && error.contains("404"),
        "{error}"
    );
}

#[tokio::test]
async fn sync_says_clearly_when_offline() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // A port nobody listens on: bind, learn the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let sources = SyncSources {
        osv: vec![format!("http://127.0.0.1:{port}/all.zip")],
        kev: None,
        epss: None,
        debian_tracker: None,
    };
    let error = download(&sources, &Silent).await.unwrap_err().to_string();
    assert!(
        error.contains(&format!("cannot download http://127.0.0.1:{port}/all.zip")),
        "{error}"
    );
    assert!(error.contains("offline"), "{error}");
    assert!(error.contains("feeds import"), "{error}");
}

#[test]
fn default_sources_are_the_public_locations() {
    let sources = SyncSources::default();
    assert!(sources.osv.iter().any(|u| u.ends_with("/Debian/all.zip")));
    assert!(sources.kev.unwrap().starts_with("https://www.cisa.gov/"));
    assert!(sources.epss.unwrap().contains("epss"));
}
