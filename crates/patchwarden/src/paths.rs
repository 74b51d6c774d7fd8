//! Where patchwarden keeps its data by default.

use std::path::PathBuf;

/// The data directory: `$PATCHWARDEN_DATA_DIR`, else `$XDG_DATA_HOME/patchwarden`, else
/// `~/.local/share/patchwarden`, else `./patchwarden-data`.
pub fn default_data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PATCHWARDEN_DATA_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("patchwarden");
    }
    match std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        Some(home) => PathBuf::from(home).join(".local/share/patchwarden"),
        None => PathBuf::from("patchwarden-data"),
    }
}

/// The database file in the default data directory.
pub fn default_db() -> PathBuf {
    default_data_dir().join("patchwarden.db")
}

/// A Tokio runtime for commands that talk to the database or the network.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context;
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}
