//! Files of the data directory (issue 14.7): `patchwarden up` on a new data directory creates
//! it 0700 and the database, its WAL, the CA key, the admin token and the agent's key 0600;
//! started on a directory and database open to others it warns, naming each with a chmod.

mod up_process;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// `patchwarden up` on `data` after its first line; its stderr lines arrive on the channel.
fn start_up(data: &Path) -> (up_process::Killed, mpsc::Receiver<String>) {
    let (child, first_line, lines) = up_process::start_up_logging(data);
    assert!(first_line.contains("patchwarden is up"), "{first_line}");
    (child, lines)
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn a_new_data_directory_is_private_and_a_wider_one_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let data = dir.path().join("data");
    let (up, _) = start_up(&data);
    assert_eq!(mode(&data), 0o700, "data directory");
    for file in [
        "patchwarden.db",
        "patchwarden.db-wal",
        "ca/ca.key",
        "admin.token",
    ] {
        assert_eq!(mode(&data.join(file)), 0o600, "{file}");
    }
    assert_eq!(mode(&data.join("ca")), 0o700, "ca");
    drop(up);

    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let db = data.join("patchwarden.db");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (_up, lines) = start_up(&data);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut warned = Vec::new();
    while warned.len() < 2 {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(line) = lines.recv_timeout(left) else {
            panic!("no warning for both within 20 s; saw {warned:?}");
        };
        if line.contains("is open to other users") {
            warned.push(line);
        }
    }
    assert!(
        warned
            .iter()
            .any(|l| l.contains("(mode 755); run: chmod 700")),
        "{warned:?}"
    );
    assert!(
        warned
            .iter()
            .any(|l| l.contains("patchwarden.db is open") && l.contains("chmod 600")),
        "{warned:?}"
    );
}
