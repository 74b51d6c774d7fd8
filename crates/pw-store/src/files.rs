//! Files of the data directory that only the controller's user may read: the directory itself
//! (0700), the database with its WAL and shared-memory files (0600; SQLite gives them the
//! database file's mode), keys and tokens (0600, written by pw-server's `write_private`).

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::Context;

/// Creates `dir` and any missing parents with mode 0700 (an existing directory is left as it
/// is; [`wider_than_private`] tells whether it is open to others).
pub fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating the data directory {}", dir.display()))
}

/// Creates `file` empty with mode 0600 unless it exists (an empty file is an empty SQLite
/// database, so SQLite keeps the mode).
pub fn create_private_file(file: &Path) -> anyhow::Result<()> {
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e).with_context(|| format!("creating {}", file.display())),
    }
}

/// The mode of `path` when group or others have any permission on it (`None` when private
/// or missing).
pub fn wider_than_private(path: &Path) -> Option<u32> {
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then_some(mode)
}
